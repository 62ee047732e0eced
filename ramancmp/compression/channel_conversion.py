""""Channel conversion" of the DRSN: three readings of a method the paper names but does not define.

RamanCMP reports that "channel conversion" cuts the DRSN's inference time by 60 %. We implement, measure and
compare three plausible readings, alone and combined:

(a) **Folding the spectrum into channels** (space-to-depth): a ``1 x L`` spectrum becomes ``k x L/k``, so every
    layer of the trunk runs on a ``k``-times shorter sequence. Two layouts
    (:class:`~ramancmp.models.layers.FoldSpectrum`):

    * ``"interleaved"`` (default): channel ``c`` holds points ``c, c+k, c+2k, ...`` -- each channel is the whole
      spectrum downsampled by ``k`` with a phase offset, and at every position the ``k`` channels hold ``k``
      *neighbouring* wavenumbers. The stem convolution therefore still sees a contiguous window of ``k x kernel``
      points: nothing is lost, a band is never split between far-apart channels, and a shift of the spectrum
      stays (almost) a shift of every channel.
    * ``"contiguous"``: channel ``c`` holds the ``c``-th window ``c*L/k ... (c+1)*L/k - 1``
      (:func:`ramancmp.models.layers.fold_spectrum`). The stem mixes wavenumbers ``L/k`` points apart -- unrelated bands
      -- at every position, which the network has to undo; kept for comparison.

    This is the reading that can give large speed-ups: FLOPs drop about ``k``-fold after the stem.
(b) **Channel-wise -> channel-shared thresholds** (DRSN-CW -> DRSN-CS, Zhao et al. 2020): one threshold per sample
    instead of one per channel; the threshold network's last layer shrinks from ``C x C`` to ``C x 1``. A small
    saving, since that layer is a tiny fraction of the work.
(c) **Narrower channels** (``width_mult``): all stage widths scaled, FLOPs ~ ``width_mult^2``.

:func:`~ramancmp.models.folded.channel_converted_drsn` (registered in :mod:`ramancmp.models` as ``"drsn_folded"``)
builds any combination; the fold is a module inside the network (:class:`~ramancmp.models.layers.FoldSpectrum`), so
an exported or compiled model includes the reshape and takes plain ``(N, L)`` / ``(N, 1, L)`` spectra like every
other model. :data:`CONVERSION_VARIANTS` lists every variant the book can measure (a profile chooses which, see
:class:`ramancmp.config.Profile`); the book's "channel-converted DRSN" is picked from those numbers by the rule in
:mod:`ramancmp.experiments.claims`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ramancmp.models.folded import FoldedDRSN, channel_converted_drsn
from ramancmp.models.layers import FOLD_MODES, FoldSpectrum, fold_spectrum, unfold_spectrum

__all__ = ["BOOK_VARIANT", "CONVERSION_VARIANTS", "FOLD_MODES", "ConversionVariant", "FoldSpectrum", "FoldedDRSN",
           "channel_converted_drsn", "conversion_variants", "fold_spectrum", "unfold_spectrum"]


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


#: Every variant measured against DRSN-CW (the baseline is not in the list), in the order the tables show them.
CONVERSION_VARIANTS: tuple[ConversionVariant, ...] = (
    ConversionVariant("DRSN-CS", "drsn_cs", {}, "(b) CW -> CS"),
    ConversionVariant("width x0.5", "drsn_folded", {"k": 1, "width_mult": 0.5}, "(c) narrower"),
    ConversionVariant("fold k=4 (contiguous)", "drsn_folded", {"k": 4, "fold_mode": "contiguous"}, "(a) fold"),
    BOOK_VARIANT,
    ConversionVariant("fold k=8 (interleaved)", "drsn_folded", {"k": 8, "fold_mode": "interleaved"}, "(a) fold"),
    ConversionVariant("fold k=4 + CS", "drsn_folded", {"k": 4, "shrinkage": "cs"}, "(a) + (b)"),
    ConversionVariant("fold k=8 + CS + x0.5", "drsn_folded", {"k": 8, "shrinkage": "cs", "width_mult": 0.5},
                      "(a) + (b) + (c)"),
)


def conversion_variants(labels: tuple[str, ...] | None = None) -> list[ConversionVariant]:
    """The variants with these ``labels`` (all of :data:`CONVERSION_VARIANTS` for ``None``), in table order."""
    if labels is None:
        return list(CONVERSION_VARIANTS)
    known = {v.label for v in CONVERSION_VARIANTS}
    unknown = [label for label in labels if label not in known]
    if unknown:
        raise ValueError(f"unknown channel-conversion variant(s) {unknown}; known: {sorted(known)}")
    return [v for v in CONVERSION_VARIANTS if v.label in labels]
