"""Input representations computed inside the network: spectrum, first derivative, square-root intensity.

:class:`SpectrumInputs` turns ``(N, L)`` spectra into ``(N, C, L)`` channels, one per named input:

* ``"spectrum"``: the spectrum as it is;
* ``"derivative"``: its first derivative along the wavenumber axis (central differences, one-sided at the edges),
  scaled per spectrum to a maximum of 1 -- it is zero on flat stretches and baseline residues, and its zero
  crossings mark band centres, so a band's position stands out independently of its height;
* ``"sqrt"``: a softened square root, ``sign(x) (sqrt(|x| + e) - sqrt(e)) / (sqrt(1 + e) - sqrt(e))`` with
  ``e = SQRT_SOFTENING`` -- compresses the dynamic range, so weak bands count more next to a dominant one, while
  near zero it stays linear with a finite slope: a plain ``sqrt`` has an infinite slope at 0 and turns noise of 1 %
  of the maximum into 10 % (with the book's noise augmentation, the training spectra then look nothing like the
  clean validation spectra, and a network trained on them fails).

:func:`multi_input` (registered as ``"multi_input"``) wraps any registered network: it builds the backbone with
``in_channels = len(inputs)`` and feeds it the channels. The wrapper still takes plain ``(N, L)`` spectra, so it
trains, augments (the raw spectrum, before the derivative is taken), checkpoints and predicts like every other
network of the book.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ramancmp.models.base import SpectrumClassifier
from ramancmp.models.registry import create_model, register_model

__all__ = ["INPUTS", "SQRT_SOFTENING", "MultiInput", "SpectrumInputs", "multi_input"]

INPUTS = ("spectrum", "derivative", "sqrt")
SQRT_SOFTENING = 0.01


def _soft_sqrt(x: torch.Tensor, e: float = SQRT_SOFTENING) -> torch.Tensor:
    root_e = e ** 0.5
    return torch.sign(x) * (torch.sqrt(x.abs() + e) - root_e) / ((1 + e) ** 0.5 - root_e)


def _derivative(x: torch.Tensor) -> torch.Tensor:
    d = torch.empty_like(x)
    d[..., 1:-1] = (x[..., 2:] - x[..., :-2]) / 2
    d[..., 0] = x[..., 1] - x[..., 0]
    d[..., -1] = x[..., -1] - x[..., -2]
    return d / d.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12)


class SpectrumInputs(nn.Module):
    """``(N, L)`` or ``(N, 1, L)`` spectra -> ``(N, len(inputs), L)`` channels (no trainable parameters)."""

    def __init__(self, inputs: Sequence[str] = ("spectrum", "derivative")):
        super().__init__()
        inputs = tuple(inputs)
        unknown = [i for i in inputs if i not in INPUTS]
        if not inputs or unknown or len(set(inputs)) != len(inputs):
            raise ValueError(f"inputs must be distinct names from {INPUTS}, got {inputs}")
        self.inputs = inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 2:
            raise ValueError(f"SpectrumInputs expects (N, L) or (N, 1, L) spectra, got shape {tuple(x.shape)}")
        make = {"spectrum": lambda: x, "derivative": lambda: _derivative(x),
                "sqrt": lambda: _soft_sqrt(x)}
        return torch.stack([make[name]() for name in self.inputs], dim=1)


class MultiInput(SpectrumClassifier):
    """A backbone network fed with :class:`SpectrumInputs` channels; takes one spectrum per row like any network."""

    def __init__(self, backbone: nn.Module, inputs: Sequence[str]):
        super().__init__()
        self.transform = SpectrumInputs(inputs)
        self.backbone = backbone
        self.in_channels, self.in_length = 1, backbone.in_length
        self.num_classes, self.num_features = backbone.num_classes, backbone.num_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(self.transform(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_head(features)


@register_model("multi_input")
def multi_input(num_classes: int, in_length: int = 1024, backbone: str = "cnn",
                inputs: Sequence[str] = ("spectrum", "derivative"), **kwargs) -> MultiInput:
    """Registered network ``backbone`` (keyword arguments ``kwargs``) on the channels ``inputs`` of each spectrum."""
    if backbone == "multi_input":
        raise ValueError("multi_input cannot wrap itself")
    inputs = tuple(inputs)
    SpectrumInputs(inputs)  # validates the names before the backbone is built
    return MultiInput(create_model(backbone, num_classes, in_length, in_channels=len(inputs), **kwargs), inputs)
