"""Layers shared by the book's networks: one module for each building block, so no architecture redefines another's.

* :class:`ConvBNAct` -- conv ("same" padding) -> BatchNorm -> activation (EfficientNet's and the stems' block)
* :class:`StochasticDepth` -- drop a residual branch per sample (EfficientNet)
* :func:`make_divisible` -- round channel counts to multiples of 8 (EfficientNet's width scaling)
* :func:`init_weights` -- torchvision's initialisation (every network)
* :func:`fold_spectrum`, :func:`unfold_spectrum`, :class:`FoldSpectrum` -- "channel conversion" by folding a
  spectrum into ``k`` channels (the folded DRSN, :mod:`ramancmp.models.folded`)
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FOLD_MODES", "ConvBNAct", "FoldSpectrum", "StochasticDepth", "check_fold", "fold_spectrum",
           "init_weights", "make_divisible", "unfold_spectrum"]


def init_weights(module: nn.Module) -> None:
    """torchvision's EfficientNet/ResNet initialisation: He (fan-out) convs, unit BN, small uniform linears."""
    for m in module.modules():
        if isinstance(m, nn.Conv1d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / m.out_features ** 0.5
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``v`` to a multiple of ``divisor``, never going more than 10 % below ``v`` (from the TF reference)."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNAct(nn.Sequential):
    """conv(kernel, stride, "same" padding, groups, no bias) -> BatchNorm1d -> ``act`` (none if ``act=None``)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 act: type[nn.Module] | None = nn.SiLU):
        layers: list[nn.Module] = [nn.Conv1d(in_ch, out_ch, kernel, stride, (kernel - 1) // 2, groups=groups,
                                             bias=False), nn.BatchNorm1d(out_ch)]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class StochasticDepth(nn.Module):
    """Drop the whole residual branch per sample with probability ``p`` during training ("row" mode).

    Survivors are scaled by ``1 / (1 - p)`` so the expected output is unchanged; in eval mode this is the identity.
    """

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


FOLD_MODES = ("interleaved", "contiguous")


def check_fold(length: int, k: int, mode: str) -> None:
    """Raise a ``ValueError`` unless ``length`` points fold into ``k`` channels in ``mode``."""
    if mode not in FOLD_MODES:
        raise ValueError(f"fold mode must be one of {FOLD_MODES}, got {mode!r}")
    if int(k) != k or k < 1:
        raise ValueError(f"the number of channels k must be a positive integer, got {k!r}")
    if length % k:
        raise ValueError(f"spectrum length {length} is not divisible by k={k}; resample to a multiple of {k} "
                         f"(e.g. {length - length % k} or {length + k - length % k} points) or choose another k")


def fold_spectrum(x: torch.Tensor, channels: int, mode: str = "contiguous") -> torch.Tensor:
    """Fold ``(N, L)`` or ``(N, 1, L)`` spectra into ``(N, k, L/k)`` (the "channel conversion" of RamanCMP).

    ``contiguous``:  ``out[n, c, j] = x[n, c*(L/k) + j]`` -- channel ``c`` is the ``c``-th wavenumber window.
    ``interleaved``: ``out[n, c, j] = x[n, j*k + c]`` -- channel ``c`` is ``x[..., c::k]``, so each position holds
    ``k`` neighbouring wavenumbers (see :mod:`ramancmp.models.folded` for why that matters).
    """
    if x.ndim == 3:
        if x.shape[1] != 1:
            raise ValueError(f"can only fold single-channel spectra (N, 1, L), got shape {tuple(x.shape)}")
        x = x[:, 0]
    if x.ndim != 2:
        raise ValueError(f"expected spectra of shape (N, L) or (N, 1, L), got {tuple(x.shape)}")
    length = int(x.shape[1])  # a constant in an exported graph (only the batch dimension is dynamic)
    check_fold(length, channels, mode)
    if mode == "contiguous":
        return x.reshape(-1, channels, length // channels)
    return x.reshape(-1, length // channels, channels).transpose(1, 2)


def unfold_spectrum(z: torch.Tensor, mode: str = "interleaved") -> torch.Tensor:
    """The inverse of :func:`fold_spectrum`: ``(N, k, L/k)`` -> ``(N, L)``."""
    if z.ndim != 3:
        raise ValueError(f"expected folded spectra (N, k, L/k), got {tuple(z.shape)}")
    n, k, m = z.shape
    check_fold(k * m, k, mode)
    if mode == "contiguous":
        return z.reshape(n, k * m)
    return z.transpose(1, 2).reshape(n, k * m)


class FoldSpectrum(nn.Module):
    """:func:`fold_spectrum` as a layer, so the reshape is part of the model (FLOP counters see it as 0 operations)."""

    def __init__(self, k: int, mode: str = "interleaved"):
        super().__init__()
        check_fold(k, k, mode)
        self.k, self.mode = int(k), mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fold_spectrum(x, self.k, self.mode)

    def extra_repr(self) -> str:
        return f"k={self.k}, mode={self.mode!r}"
