"""What every network in the package shares: input layouts, the features/head split and the device helper
(building blocks are in :mod:`ramancmp.models.layers`).

All networks take spectra as ``(N, L)`` or ``(N, C, L)`` float tensors and expose the timm-style split
``forward_features(x) -> (N, F)`` (pooled features) and ``forward_head(features) -> logits``, so feature extraction,
distillation and pruning code never needs to know which architecture it is working on.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ramancmp.models.layers import fold_spectrum


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> the CPU (the book pins a CPU-only torch); anything else is passed to :class:`torch.device`."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}; use 'auto' or 'cpu'") from exc


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
