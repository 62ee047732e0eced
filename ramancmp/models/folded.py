"""The folded DRSN: the "channel conversion" reading (a) of RamanCMP as a registered network (``"drsn_folded"``).

A ``1 x L`` spectrum becomes ``k x L/k`` (:class:`~ramancmp.models.layers.FoldSpectrum`, a layer inside the
network), so every layer of the trunk runs on a ``k``-times shorter sequence. Two layouts:

* ``"interleaved"`` (default): channel ``c`` holds points ``c, c+k, c+2k, ...`` -- at every position the ``k``
  channels hold ``k`` *neighbouring* wavenumbers, so the stem still sees a contiguous window and a band is never
  split between far-apart channels.
* ``"contiguous"``: channel ``c`` holds the ``c``-th window of the spectrum; the stem mixes unrelated bands at every
  position. Kept for comparison.

:func:`channel_converted_drsn` also combines folding with the other two readings measured in the book:
channel-shared thresholds (``shrinkage="cs"``) and narrower channels (``width_mult``); see
:mod:`ramancmp.compression.channel_conversion`. Registered here, with every other builder, so a checkpoint of a
folded DRSN is rebuilt by :func:`ramancmp.models.create_model` like any other network.
"""

from __future__ import annotations

from typing import Any

import torch

from ramancmp.models.drsn import DRSN, PAPER_DRSN_KWARGS, DRSNConfig
from ramancmp.models.layers import FoldSpectrum, check_fold
from ramancmp.models.registry import register_model

__all__ = ["FoldedDRSN", "channel_converted_drsn", "paper_drsn_folded"]


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


@register_model("drsn_paper_folded")
def paper_drsn_folded(num_classes: int, in_length: int = 1024, k: int = 4, fold_mode: str = "interleaved",
                      **kwargs: Any) -> DRSN:
    """The paper-faithful full-resolution DRSN (:func:`ramancmp.models.drsn.drsn_paper`) folded into ``k``
    channels: channel conversion reading (a) applied to the network the paper most likely converted."""
    return channel_converted_drsn(num_classes, in_length, k=k, fold_mode=fold_mode,
                                  **{**PAPER_DRSN_KWARGS, **kwargs})
