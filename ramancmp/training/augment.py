"""Realistic augmentation of Raman spectra: what really differs between two measurements of one mineral.

:class:`RealisticAugment` distorts a batch of spectra the way instruments, samples and preprocessing do, each
distortion with its own strength (0 switches it off), in torch, on every training batch, with a seeded
``torch.Generator`` (same generator state -> same output):

* ``shift`` and ``stretch``: the wavenumber axis moves by up to ``shift`` points and is stretched about its centre by
  a factor in ``[1 - stretch, 1 + stretch]`` -- calibration offset and dispersion differences between spectrometers
  (linear interpolation, edge values repeated);
* ``broaden``: convolution with a Gaussian of standard deviation up to ``broaden`` points -- a lower spectral
  resolution, or a less crystalline sample with wider bands;
* ``baseline``: a smooth quadratic baseline of amplitude up to ``baseline`` x the spectrum's maximum -- what the
  baseline correction left behind, or fluorescence;
* ``mix``: a share up to ``mix`` of another spectrum of the batch is added (the label stays the major phase's) --
  a minor second phase, as in many RRUFF samples;
* ``scale``: intensity x a factor in ``[1 - scale, 1 + scale]`` -- laser power, focus;
* ``noise``: Gaussian noise of standard deviation ``noise`` x the spectrum's maximum -- detector noise.

The order is physical: the band positions and widths change first, then a baseline and a second phase are added,
then the detector scales and adds noise. Input ``(N, L)`` or ``(N, C, L)`` float tensors (every channel of a
spectrum gets the same distortion); the output has the input's shape and dtype.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

__all__ = ["RealisticAugment"]


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


@dataclass
class RealisticAugment:
    """Label-preserving, physically motivated distortions of a batch of spectra (see the module docstring)."""

    shift: float = 3.0  # points
    stretch: float = 0.01  # relative
    broaden: float = 1.5  # Gaussian sd in points
    baseline: float = 0.05  # relative to each spectrum's maximum
    mix: float = 0.15  # largest share of another spectrum added
    scale: float = 0.1  # relative
    noise: float = 0.01  # relative to each spectrum's maximum

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"RealisticAugment.{name} must be a finite number >= 0, got {value!r}")
        if self.stretch >= 0.5 or self.mix >= 1 or self.scale >= 1:
            raise ValueError(f"RealisticAugment: stretch must be < 0.5, mix and scale < 1; got {self}")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.ndim not in (2, 3) or not x.is_floating_point():
            raise ValueError(f"RealisticAugment expects a float (N, L) or (N, C, L) tensor, got {tuple(x.shape)} "
                             f"{x.dtype}")
        shape, dtype = x.shape, x.dtype
        z = (x.unsqueeze(1) if x.ndim == 2 else x).to(torch.float64)  # (n, c, L)
        n, c, length = z.shape
        if n == 0:
            return x
        view = (n, 1, 1)
        if self.shift > 0 or self.stretch > 0:
            s = _uniform(n, -self.shift, self.shift, generator)
            a = _uniform(n, 1 - self.stretch, 1 + self.stretch, generator)
            centre = (length - 1) / 2
            grid = torch.arange(length, dtype=torch.float64)
            pos = ((grid[None] - centre) / a[:, None] + centre - s[:, None]).clamp_(0, length - 1)  # (n, L)
            lo = pos.floor().long()
            hi = (lo + 1).clamp_(max=length - 1)
            w = (pos - lo)[:, None].expand(-1, c, -1)
            lo, hi = (t[:, None].expand(-1, c, -1) for t in (lo, hi))
            z = z.gather(-1, lo) * (1 - w) + z.gather(-1, hi) * w
        if self.broaden > 0:
            sigma = _uniform(n, 0.0, self.broaden, generator)
            half = max(1, math.ceil(3 * self.broaden))
            t = torch.arange(-half, half + 1, dtype=torch.float64)
            kernel = torch.exp(-0.5 * (t[None] / sigma.clamp(min=1e-3)[:, None]) ** 2)
            kernel = kernel / kernel.sum(dim=1, keepdim=True)  # (n, K); sigma -> 0 is the identity
            weight = kernel.repeat_interleave(c, dim=0)[:, None]  # (n*c, 1, K)
            padded = F.pad(z.reshape(1, n * c, length), (half, half), mode="replicate")
            z = F.conv1d(padded, weight, groups=n * c).reshape(n, c, length)
        amp = z.abs().flatten(1).amax(dim=1).view(view)
        if self.baseline > 0:
            t = torch.linspace(-1, 1, length, dtype=torch.float64)
            coef = _uniform(3 * n, -self.baseline, self.baseline, generator).view(n, 3)
            curve = coef[:, :1] + coef[:, 1:2] * t + coef[:, 2:] * (1.5 * t ** 2 - 0.5)  # Legendre P0, P1, P2
            z = z + curve[:, None] * amp / 3
        if self.mix > 0 and n > 1:
            partner = torch.randperm(n, generator=generator)
            share = _uniform(n, 0.0, self.mix, generator).view(view)
            z = (1 - share) * z + share * z[partner]
        if self.scale > 0:
            z = z * _uniform(n, 1 - self.scale, 1 + self.scale, generator).view(view)
        if self.noise > 0:
            z = z + torch.randn(z.shape, generator=generator, dtype=torch.float64) * (self.noise * amp)
        return z.to(dtype).reshape(shape)
