"""What every network in the package shares: input layouts, the features/head split and the device helper.

All networks take spectra as ``(N, L)`` or ``(N, C, L)`` float tensors and expose the timm-style split
``forward_features(x) -> (N, F)`` (pooled features) and ``forward_head(features) -> logits``, so feature extraction,
distillation and pruning code never needs to know which architecture it is working on.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; anything else is passed to :class:`torch.device`."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc


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
    ``k`` neighbouring wavenumbers (see :mod:`ramancmp.compression.channel_conversion` for why that matters).
    """
    if x.ndim == 3:
        if x.shape[1] != 1:
            raise ValueError(f"can only fold single-channel spectra (N, 1, L), got shape {tuple(x.shape)}")
        x = x[:, 0]
    if x.ndim != 2:
        raise ValueError(f"expected spectra of shape (N, L) or (N, 1, L), got {tuple(x.shape)}")
    n, length = x.shape
    check_fold(length, channels, mode)
    if mode == "contiguous":
        return x.reshape(n, channels, length // channels)
    return x.reshape(n, length // channels, channels).transpose(1, 2)


class SpectrumClassifier(nn.Module):
    """Base class: input-layout handling, ``forward = forward_head(forward_features(x))`` and the stored config.

    Subclasses set ``self.in_channels`` and ``self.in_length`` and implement ``_features(x)`` on ``(N, C, L)`` input
    and ``forward_head``. ``default_cfg`` (set by :func:`ramancmp.models.create_model`) holds the builder name and
    keyword arguments, which is all a checkpoint needs to rebuild the network.
    """

    in_channels: int = 1
    in_length: int = 1024
    num_classes: int
    num_features: int
    default_cfg: dict[str, Any]

    def _as_input(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:
            x = x.unsqueeze(1) if self.in_channels == 1 else fold_spectrum(x, self.in_channels)
        elif x.ndim == 3 and x.shape[1] == 1 and self.in_channels > 1:
            x = fold_spectrum(x, self.in_channels)
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects (N, L) or (N, {self.in_channels}, L) input, "
                             f"got shape {tuple(x.shape)}")
        return x

    def _features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(N, num_features)``: everything but the classifier."""
        return self._features(self._as_input(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_config(self) -> dict[str, Any]:
        """A JSON-able copy of ``default_cfg`` (builder name, num_classes, in_length, kwargs)."""
        return copy.deepcopy(getattr(self, "default_cfg", {}))


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
