"""The plain 1D CNN: a LeNet-like stack of conv-BN-ReLU-maxpool stages and a linear head.

In the spirit of Liu et al. (2017, "Deep convolutional neural networks for Raman spectrum recognition"), the first
deep model applied to RRUFF. It is deliberately small and shallow -- a dozen layers, a few thousand parameters per
stage -- because it is the *student* of the distillation chapter: at batch size 1 its latency is dominated by the
handful of kernel launches, an order of magnitude below EfficientNet-B0-1D's hundred-odd layers.

The head keeps coarse *position*: features are average-pooled to ``head_bins`` bins along the wavenumber axis and
flattened, rather than pooled globally, because for a Raman spectrum *where* a band sits matters as much as its
shape. (``head_bins=1`` gives the usual global average pooling.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ramancmp.models.base import SpectrumClassifier
from ramancmp.models.layers import init_weights
from ramancmp.models.registry import register_model


@dataclass
class CNNConfig:
    in_channels: int = 1
    channels: tuple[int, ...] = (16, 32, 64, 64)
    kernel_sizes: tuple[int, ...] = (7, 5, 5, 5)
    pool: int = 2
    head_bins: int = 8
    dropout: float = 0.2

    def __post_init__(self) -> None:
        self.channels, self.kernel_sizes = tuple(self.channels), tuple(self.kernel_sizes)
        if len(self.channels) != len(self.kernel_sizes) or not self.channels:
            raise ValueError(f"channels {self.channels} and kernel_sizes {self.kernel_sizes} must have the same, "
                             "non-zero length")
        if any(k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(f"kernel sizes must be odd ('same' padding), got {self.kernel_sizes}")
        if self.head_bins < 1 or self.pool < 1 or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"invalid CNN head/pool/dropout settings: {self}")


class ConvStage(nn.Sequential):
    """conv(k, 'same') -> BN -> ReLU -> maxpool(p)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, pool: int):
        super().__init__(nn.Conv1d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=False),
                         nn.BatchNorm1d(out_ch), nn.ReLU(inplace=True), nn.MaxPool1d(pool))


class CNN1D(SpectrumClassifier):
    def __init__(self, num_classes: int, in_length: int = 1024, config: CNNConfig | None = None):
        super().__init__()
        cfg = config or CNNConfig()
        self.config, self.num_classes = cfg, num_classes
        self.in_channels, self.in_length = cfg.in_channels, in_length
        if in_length // cfg.pool ** len(cfg.channels) < 1:
            raise ValueError(f"in_length {in_length} is too short for {len(cfg.channels)} pooling stages")
        chans = (cfg.in_channels, *cfg.channels)
        self.stages = nn.Sequential(*(ConvStage(chans[i], chans[i + 1], k, cfg.pool)
                                      for i, k in enumerate(cfg.kernel_sizes)))
        self.pool = nn.AdaptiveAvgPool1d(cfg.head_bins)
        self.num_features = cfg.channels[-1] * cfg.head_bins
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(self.num_features, num_classes)
        init_weights(self)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.stages(x)).flatten(1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(features))


#: The book's CNN, every architecture argument explicit: a changed :class:`CNNConfig` default does not change it.
BOOK_CNN_KWARGS: dict = {"channels": (16, 32, 64, 64), "kernel_sizes": (7, 5, 5, 5), "pool": 2,
                         "head_bins": 8, "dropout": 0.2}


@register_model()
def cnn(num_classes: int, in_length: int = 1024, **kwargs) -> CNN1D:
    """The plain 1D CNN (4 stages, 16-32-64-64 channels, kernels 7/5/5/5, max-pool 2, 8-bin head:
    :data:`BOOK_CNN_KWARGS`; keyword arguments override)."""
    return CNN1D(num_classes, in_length, CNNConfig(**{**BOOK_CNN_KWARGS, **kwargs}))


__all__ = ["BOOK_CNN_KWARGS", "CNN1D", "CNNConfig", "cnn"]
