""""Channel conversion" of the DRSN: three readings of a method the paper names but does not define.

RamanCMP reports that "channel conversion" cuts the DRSN's inference time by 60 %. We implement, measure and
compare three plausible readings, alone and combined:

(a) **Folding the spectrum into channels** (space-to-depth): a ``1 x L`` spectrum becomes ``k x L/k``, so every
    layer of the trunk runs on a ``k``-times shorter sequence. Two layouts (:class:`FoldSpectrum`):

    * ``"interleaved"`` (default): channel ``c`` holds points ``c, c+k, c+2k, ...`` -- each channel is the whole
      spectrum downsampled by ``k`` with a phase offset, and at every position the ``k`` channels hold ``k``
      *neighbouring* wavenumbers. The stem convolution therefore still sees a contiguous window of ``k x kernel``
      points: nothing is lost, a band is never split between far-apart channels, and a shift of the spectrum
      stays (almost) a shift of every channel.
    * ``"contiguous"``: channel ``c`` holds the ``c``-th window ``c*L/k ... (c+1)*L/k - 1``
      (:func:`ramancmp.models.fold_spectrum`). The stem mixes wavenumbers ``L/k`` points apart -- unrelated bands
      -- at every position, which the network has to undo; kept for comparison.

    This is the reading that can give large speed-ups: FLOPs drop about ``k``-fold after the stem.
(b) **Channel-wise -> channel-shared thresholds** (DRSN-CW -> DRSN-CS, Zhao et al. 2020): one threshold per sample
    instead of one per channel; the threshold network's last layer shrinks from ``C x C`` to ``C x 1``. A small
    saving, since that layer is a tiny fraction of the work.
(c) **Narrower channels** (``width_mult``): all stage widths scaled, FLOPs ~ ``width_mult^2``.

:func:`channel_converted_drsn` (registered as ``"drsn_folded"``) builds any combination; the fold is a module
inside the network (:class:`FoldSpectrum`), so an exported or compiled model includes the reshape and takes plain
``(N, L)`` / ``(N, 1, L)`` spectra like every other model. :func:`conversion_variants` lists the variants the
chapter and ``python -m ramancmp bench compression`` measure; the book's "channel-converted DRSN" is picked from
those numbers by :func:`ramancmp.compression.experiments.pick_fastest_within` (the fastest variant within one point
of DRSN-CW's accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ramancmp.config import get_profile
from ramancmp.models.base import FOLD_MODES, check_fold, fold_spectrum
from ramancmp.models.drsn import DRSN, DRSNConfig
from ramancmp.models.registry import register_model

__all__ = ["FOLD_MODES", "fold", "unfold", "FoldSpectrum", "FoldedDRSN", "channel_converted_drsn",
           "ConversionVariant", "conversion_variants", "BOOK_VARIANT"]

def fold(x: torch.Tensor, k: int, mode: str = "interleaved") -> torch.Tensor:
    """``(N, L)`` or ``(N, 1, L)`` -> ``(N, k, L/k)``, interleaved by default (:func:`ramancmp.models.fold_spectrum`).

    ``interleaved``: ``out[n, c, j] = x[n, j*k + c]`` (channel ``c`` = ``x[..., c::k]``).
    ``contiguous``:  ``out[n, c, j] = x[n, c*(L/k) + j]`` (channel ``c`` = the ``c``-th window).
    """
    return fold_spectrum(x, k, mode)


def unfold(z: torch.Tensor, mode: str = "interleaved") -> torch.Tensor:
    """The inverse of :func:`fold`: ``(N, k, L/k)`` -> ``(N, L)``."""
    if z.ndim != 3:
        raise ValueError(f"expected folded spectra (N, k, L/k), got {tuple(z.shape)}")
    n, k, m = z.shape
    check_fold(k * m, k, mode)
    if mode == "contiguous":
        return z.reshape(n, k * m)
    return z.transpose(1, 2).reshape(n, k * m)


class FoldSpectrum(nn.Module):
    """:func:`fold` as a layer, so the reshape is part of the model (FLOP counters see it as 0 operations)."""

    def __init__(self, k: int, mode: str = "interleaved"):
        super().__init__()
        check_fold(k, k, mode)
        self.k, self.mode = int(k), mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fold(x, self.k, self.mode)

    def extra_repr(self) -> str:
        return f"k={self.k}, mode={self.mode!r}"


class FoldedDRSN(DRSN):
    """A DRSN whose trunk runs on the spectrum folded into ``k`` channels.

    From outside it is an ordinary single-channel model: ``in_channels == 1``, ``in_length == L`` (the spectrum
    length), input ``(N, L)`` or ``(N, 1, L)``; :attr:`fold` turns it into ``(N, k, L/k)`` for the stem.
    ``forward_features`` and ``stage_features`` work as for :class:`~ramancmp.models.DRSN`.
    """

    def __init__(self, num_classes: int, in_length: int = 1024, k: int = 4, mode: str = "interleaved",
                 config: DRSNConfig | None = None):
        cfg = config or DRSNConfig()
        check_fold(in_length, k, mode)
        if cfg.in_channels != k:
            raise ValueError(f"the trunk of a DRSN folded into k={k} channels needs in_channels={k}, "
                             f"got {cfg.in_channels}")
        super().__init__(num_classes, in_length // k, cfg)
        self.fold = FoldSpectrum(k, mode)
        self.in_channels, self.in_length = 1, in_length

    def _as_input(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3 and x.shape[1] == self.fold.k and x.shape[2] * self.fold.k == self.in_length:
            return x  # already folded
        if x.shape[-1] != self.in_length:
            raise ValueError(f"{type(self).__name__} expects spectra of {self.in_length} points, "
                             f"got shape {tuple(x.shape)}")
        return self.fold(x)


@register_model("drsn_folded")
def channel_converted_drsn(num_classes: int, in_length: int = 1024, k: int = 4, fold_mode: str = "interleaved",
                           shrinkage: str = "cw", width_mult: float = 1.0, **kwargs: Any) -> DRSN:
    """A channel-converted DRSN: fold into ``k`` channels, ``shrinkage`` "cw"/"cs", widths x ``width_mult``.

    ``k=1`` means no folding (a plain :class:`~ramancmp.models.DRSN`); other keyword arguments go to
    :class:`~ramancmp.models.DRSNConfig` (e.g. ``units=(1, 1, 1)``).
    """
    if width_mult <= 0:
        raise ValueError(f"width_mult must be > 0, got {width_mult}")
    if "in_channels" in kwargs:
        raise ValueError("drsn_folded sets in_channels from k; pass k= instead")
    widths = tuple(max(4, int(round(w * width_mult))) for w in kwargs.pop("widths", DRSNConfig.widths))
    if int(k) == 1:
        return DRSN(num_classes, in_length, DRSNConfig(widths=widths, shrinkage=shrinkage, **kwargs))
    cfg = DRSNConfig(in_channels=int(k), widths=widths, shrinkage=shrinkage, **kwargs)
    return FoldedDRSN(num_classes, in_length, int(k), fold_mode, cfg)


@dataclass(frozen=True)
class ConversionVariant:
    """One measured variant: a label, the registry model and its keyword arguments, and which reading it tests."""

    label: str
    model: str
    kwargs: dict = field(default_factory=dict)
    reading: str = ""

    def to_dict(self) -> dict:
        return {"label": self.label, "model": self.model, "kwargs": dict(self.kwargs), "reading": self.reading}


#: The representative fold (4 interleaved channels, channel-wise thresholds kept), measured in every profile. It is a
#: candidate, not the answer: the book's channel-converted DRSN is picked from the measurements (see the docstring).
BOOK_VARIANT = ConversionVariant("fold k=4 (interleaved)", "drsn_folded", {"k": 4, "fold_mode": "interleaved"},
                                 "(a) fold")


def conversion_variants(profile: Any = "quick") -> list[ConversionVariant]:
    """The variants measured against DRSN-CW (the baseline is not in the list); quick runs a representative few."""
    prof = get_profile(profile)
    variants = [
        ConversionVariant("DRSN-CS", "drsn_cs", {}, "(b) CW -> CS"),
        ConversionVariant("width x0.5", "drsn_folded", {"k": 1, "width_mult": 0.5}, "(c) narrower"),
        ConversionVariant("fold k=4 (contiguous)", "drsn_folded", {"k": 4, "fold_mode": "contiguous"}, "(a) fold"),
        BOOK_VARIANT,
        ConversionVariant("fold k=8 (interleaved)", "drsn_folded", {"k": 8, "fold_mode": "interleaved"}, "(a) fold"),
        ConversionVariant("fold k=4 + CS", "drsn_folded", {"k": 4, "shrinkage": "cs"}, "(a) + (b)"),
        ConversionVariant("fold k=8 + CS + x0.5", "drsn_folded", {"k": 8, "shrinkage": "cs", "width_mult": 0.5},
                          "(a) + (b) + (c)"),
    ]
    if prof.name == "quick":
        keep = {"DRSN-CS", BOOK_VARIANT.label, "fold k=8 + CS + x0.5"}
        variants = [v for v in variants if v.label in keep]
    return variants
