"""EfficientNet-B0 in one dimension: the lightweight backbone of RamanCMP.

The layout follows torchvision's ``efficientnet_b0`` (Tan & Le, 2019) block for block, with every 2D operation
replaced by its 1D counterpart: a stride-2 stem, seven stages of MBConv blocks (1x1 expansion, depthwise conv,
squeeze-and-excitation, 1x1 projection) and a 1x1 head conv to 1280 channels, global average pooling, dropout and a
linear classifier. ``width_mult`` and ``depth_mult`` scale channels (rounded to multiples of 8) and block counts
(rounded up) exactly as in the paper's compound scaling.

Kernel sizes stay B0's 3 and 5: Raman bands of minerals are narrow (a few to ~20 points on a 1024-point grid), and
after the stride-2 stem a 3-5 tap kernel already spans a band; the receptive field grows with depth and stride.
On 1024 points the total stride of 32 leaves 32 positions before pooling.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from ramancmp.models.base import SpectrumClassifier
from ramancmp.models.layers import ConvBNAct, StochasticDepth, init_weights, make_divisible
from ramancmp.models.registry import register_model


@dataclass
class MBConvConfig:
    expand_ratio: float
    kernel: int
    stride: int
    input_channels: int
    out_channels: int
    num_layers: int

    def scaled(self, width_mult: float, depth_mult: float) -> MBConvConfig:
        cfg = copy.copy(self)
        cfg.input_channels = make_divisible(self.input_channels * width_mult)
        cfg.out_channels = make_divisible(self.out_channels * width_mult)
        cfg.num_layers = int(math.ceil(self.num_layers * depth_mult))
        return cfg


# EfficientNet-B0: expand ratio, kernel, stride, in, out, layers (torchvision's table).
B0_SETTING = (
    MBConvConfig(1, 3, 1, 32, 16, 1),
    MBConvConfig(6, 3, 2, 16, 24, 2),
    MBConvConfig(6, 5, 2, 24, 40, 2),
    MBConvConfig(6, 3, 2, 40, 80, 3),
    MBConvConfig(6, 5, 1, 80, 112, 3),
    MBConvConfig(6, 5, 2, 112, 192, 4),
    MBConvConfig(6, 3, 1, 192, 320, 1),
)


class SqueezeExcitation(nn.Module):
    """Channel attention: GAP -> 1x1 conv -> SiLU -> 1x1 conv -> sigmoid, multiplied back onto the input."""

    def __init__(self, channels: int, squeeze_channels: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool1d(1)
        self.fc1 = nn.Conv1d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv1d(squeeze_channels, channels, 1)
        self.activation = nn.SiLU(inplace=True)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * scale


class MBConv(nn.Module):
    """Inverted residual block: expand (1x1) -> depthwise (k, stride) -> SE -> project (1x1), + residual."""

    def __init__(self, cfg: MBConvConfig, stochastic_depth_prob: float):
        super().__init__()
        if cfg.stride not in (1, 2):
            raise ValueError(f"MBConv stride must be 1 or 2, got {cfg.stride}")
        self.use_res_connect = cfg.stride == 1 and cfg.input_channels == cfg.out_channels
        expanded = make_divisible(cfg.input_channels * cfg.expand_ratio)
        layers: list[nn.Module] = []
        if expanded != cfg.input_channels:
            layers.append(ConvBNAct(cfg.input_channels, expanded, 1))
        layers += [ConvBNAct(expanded, expanded, cfg.kernel, cfg.stride, groups=expanded),
                   SqueezeExcitation(expanded, max(1, cfg.input_channels // 4)),
                   ConvBNAct(expanded, cfg.out_channels, 1, act=None)]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return out


class EfficientNet1D(SpectrumClassifier):
    """``head_bins > 1`` average-pools the last feature map to that many wavenumber bins and flattens them instead
    of pooling globally (position-aware head, as in the CNN and DRSN); the default 1 is B0's global pooling."""

    def __init__(self, num_classes: int, in_length: int = 1024, width_mult: float = 1.0, depth_mult: float = 1.0,
                 dropout: float = 0.2, stochastic_depth_prob: float = 0.2, in_channels: int = 1,
                 stem_kernel: int = 3, stem_stride: int = 2, head_bins: int = 1):
        super().__init__()
        if width_mult <= 0 or depth_mult <= 0:
            raise ValueError(f"width_mult and depth_mult must be positive, got {width_mult}, {depth_mult}")
        if stem_stride < 1 or stem_kernel < stem_stride:
            raise ValueError(f"need 1 <= stem_stride <= stem_kernel (a kernel shorter than its stride skips input "
                             f"points), got stem_kernel={stem_kernel}, stem_stride={stem_stride}")
        if head_bins < 1:
            raise ValueError(f"head_bins must be >= 1, got {head_bins}")
        self.num_classes, self.in_channels, self.in_length = num_classes, in_channels, in_length
        # the architecture's settings in effect (after a builder's defaults), as CNN1D and DRSN keep theirs
        self.config = {"width_mult": width_mult, "depth_mult": depth_mult, "dropout": dropout,
                       "stochastic_depth_prob": stochastic_depth_prob, "in_channels": in_channels,
                       "stem_kernel": stem_kernel, "stem_stride": stem_stride, "head_bins": head_bins}
        setting = [c.scaled(width_mult, depth_mult) for c in B0_SETTING]
        self.setting = setting

        layers: list[nn.Module] = [ConvBNAct(in_channels, setting[0].input_channels, stem_kernel, stride=stem_stride)]
        total_blocks = sum(c.num_layers for c in setting)
        block_id = 0
        for stage_cfg in setting:
            stage: list[nn.Module] = []
            for i in range(stage_cfg.num_layers):
                cfg = copy.copy(stage_cfg)
                if i > 0:  # only the first block of a stage changes resolution and width
                    cfg.input_channels, cfg.stride = cfg.out_channels, 1
                # drop probability grows linearly with depth, as in the paper
                stage.append(MBConv(cfg, stochastic_depth_prob * block_id / total_blocks))
                block_id += 1
            layers.append(nn.Sequential(*stage))
        last_in = setting[-1].out_channels
        head_channels = 4 * last_in  # 1280 for B0
        layers.append(ConvBNAct(last_in, head_channels, 1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool1d(head_bins)
        self.num_features = head_channels * head_bins
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True),
                                        nn.Linear(self.num_features, num_classes))
        init_weights(self)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.avgpool(self.features(x)).flatten(1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features)


@register_model()
def efficientnet_b0(num_classes: int, in_length: int = 1024, **kwargs) -> EfficientNet1D:
    """EfficientNet-B0-1D (width 1.0, depth 1.0, dropout 0.2): ~4 M parameters, 16 MBConv blocks."""
    kwargs = {"width_mult": 1.0, "depth_mult": 1.0, **kwargs}
    return EfficientNet1D(num_classes, in_length, **kwargs)


@register_model()
def efficientnet_lite(num_classes: int, in_length: int = 1024, **kwargs) -> EfficientNet1D:
    """A half-width, half-depth EfficientNet-1D (width 0.5, depth 0.5): ~4x fewer FLOPs, quick to train."""
    kwargs = {"width_mult": 0.5, "depth_mult": 0.5, **kwargs}
    return EfficientNet1D(num_classes, in_length, **kwargs)


@register_model()
def efficientnet_small(num_classes: int, in_length: int = 1024, **kwargs) -> EfficientNet1D:
    """The book's EfficientNet-1D: :func:`efficientnet_lite` (width 0.5, depth 0.5) with a stride-8, kernel-9 stem.

    Same MBConv + SE + stochastic-depth blocks as B0, but the stem cuts 1024 points to 128 at once (kernel 9 >=
    stride 8, so every point is seen). The depthwise convolutions then run on 8x shorter sequences, which makes an
    epoch on two CPU cores several times cheaper than the stride-2 stem, and on rruff-groups-10 it was also *more*
    accurate on the validation parts: the deeper blocks see a wider window of the spectrum. The total stride is
    128, so a 1024-point spectrum leaves 8 positions before global pooling.
    """
    return EfficientNet1D(num_classes, in_length, **{**BOOK_EFFICIENTNET_KWARGS, **kwargs})


#: The book's EfficientNet (:func:`efficientnet_small`), every architecture argument explicit: a changed
#: :class:`EfficientNet1D` default does not change it.
BOOK_EFFICIENTNET_KWARGS: dict = {"width_mult": 0.5, "depth_mult": 0.5, "dropout": 0.2, "stochastic_depth_prob": 0.2,
                                  "stem_kernel": 9, "stem_stride": 8, "head_bins": 1}


__all__ = ["B0_SETTING", "BOOK_EFFICIENTNET_KWARGS", "EfficientNet1D", "MBConv", "MBConvConfig", "SqueezeExcitation",
           "StochasticDepth",
           "efficientnet_b0", "efficientnet_lite", "efficientnet_small"]
