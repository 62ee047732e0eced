"""Preprocessing: one wavenumber grid, optional smoothing, one normalisation.

RRUFF spectra come on different grids (start 0-303 cm^-1, end 854-4,244 cm^-1, step ~0.5 cm^-1), so every model
sees them only after :func:`preprocess_spectrum` has put them on one common grid. The same function is used when
training and when predicting, and its settings travel with every checkpoint as :class:`PreprocessConfig`, so a model
can never be fed spectra processed differently from those it learned on.

The steps, in order:

1. **Coverage check.** A spectrum must span the grid to within ``coverage_tolerance`` cm^-1 on each side
   (default 5 cm^-1). Inside the tolerance the edge value is repeated; a spectrum that stops further from the grid
   edge is *not* extrapolated but rejected (``ValueError`` here, "not covering grid" in a task's summary), because
   inventing a tenth of the fingerprint region would teach a model artefacts. For the same reason no gap between
   measured points on the grid may be wider than ``max_gap`` (default 20 cm^-1, about a band's width; the widest gap
   in the 2019 RRUFF archive's covering spectra is 2.5 cm^-1), which also rejects a handful of points spread over
   the grid. Finally at least ``min_nonnegative`` (default 50 %) of the points on the grid must not be below zero
   ("mostly negative" otherwise: an inverted or badly offset spectrum; in the 2019 archive's covering spectra at
   least 90 % of the points are above zero).
2. **Resampling** onto the grid by linear interpolation (:func:`numpy.interp`). RRUFF steps (~0.5 cm^-1) are finer
   than the default grid step (~1.03 cm^-1), so linear interpolation loses little.
3. **Smoothing** (optional): a Savitzky-Golay filter on the uniform grid, window in grid points.
4. **Normalisation**: ``minmax`` (default, as in the paper: each spectrum to [0, 1]), ``vector`` (unit L2 norm),
   ``area`` (sum of |intensity| over the grid = 1, i.e. unit area in grid steps) or ``none``. A spectrum with no
   signal on the grid (constant after resampling) cannot be normalised: it raises ``ValueError`` instead of
   producing NaN. The three normalisations do not depend on a spectrum's scale, so each spectrum is first divided by
   its largest absolute value: intensities anywhere in float64's range (up to +-1e308, down to 1e-310) give the same
   result as the same shape in counts, instead of overflowing (max - min = inf) and being called "constant". With
   ``none`` the values are kept, so intensities beyond float32's range (about 3.4e38, the models' input type) are
   rejected ("out of range") rather than turned into infinities.
5. **Squashing** (optional, ``squash="sqrt"``): the signed square root of the normalised spectrum, which lifts weak
   bands relative to the strongest one (a common step before full-spectrum matching of minerals).

``outside="zero"`` (instead of the default ``"reject"``) relaxes step 1 for grids wider than a spectrum: the grid
points outside the measured range are set to 0 (:func:`coverage_mask` tells which points were measured), so the same
spectra can be compared on a wider range (chapter 12). Steps that are not part of the model input but of cleaning a
raw measurement -- baseline correction (:func:`correct_baseline`, with pybaselines) and cosmic-ray spike removal
(:func:`remove_spikes`) -- are here too; RRUFF's Processed spectra have had both done already.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

NORMALISATIONS = ("minmax", "vector", "area", "none")
SQUASHES = (None, "sqrt")
OUTSIDE = ("reject", "zero")
# settings added after checkpoints and caches were first keyed: stored (and hashed) only when they differ from these
# defaults, so every existing cache file and checkpoint keeps its key
_LATER_DEFAULTS = {"squash": None, "outside": "reject"}


def make_grid(start: float = 150.0, stop: float = 1200.0, n: int = 1024) -> np.ndarray:
    """A uniform wavenumber grid (cm^-1), both ends included, float64."""
    if not (np.isfinite(start) and np.isfinite(stop)) or stop <= start:
        raise ValueError(f"grid needs finite start < stop, got start={start}, stop={stop}")
    if int(n) != n or n < 2:
        raise ValueError(f"grid needs an integer number of points >= 2, got {n!r}")
    return np.linspace(float(start), float(stop), int(n))


DEFAULT_GRID = make_grid()


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything that decides what a model's input looks like; stored in checkpoints and cache keys."""

    grid_start: float = 150.0  # cm^-1
    grid_stop: float = 1200.0  # cm^-1
    n_points: int = 1024
    normalisation: str = "minmax"  # one of NORMALISATIONS
    smoothing: int | None = None  # Savitzky-Golay window in grid points (odd), or None for no smoothing
    smoothing_polyorder: int = 3
    coverage_tolerance: float = 5.0  # cm^-1 a spectrum may fall short of each grid end
    max_gap: float = 20.0  # cm^-1: the widest gap between measured points allowed on the grid (about a band's width)
    min_nonnegative: float = 0.5  # the smallest share of points on the grid with intensity >= 0
    squash: str | None = None  # None, or "sqrt": signed square root after normalisation (one of SQUASHES)
    outside: str = "reject"  # grid points outside the measured range: "reject" the spectrum, or "zero" (OUTSIDE)

    def __post_init__(self) -> None:
        make_grid(self.grid_start, self.grid_stop, self.n_points)  # validates the grid
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"unknown normalisation {self.normalisation!r}; choose one of {list(NORMALISATIONS)}")
        if self.smoothing is not None:
            _check_savgol(self.smoothing, self.smoothing_polyorder, self.n_points)
        if not np.isfinite(self.coverage_tolerance) or self.coverage_tolerance < 0:
            raise ValueError(f"coverage_tolerance must be a finite number >= 0, got {self.coverage_tolerance!r}")
        if not np.isfinite(self.max_gap) or self.max_gap <= 0:
            raise ValueError(f"max_gap must be a finite number > 0, got {self.max_gap!r}")
        if not 0.0 <= self.min_nonnegative <= 1.0:
            raise ValueError(f"min_nonnegative must be in [0, 1], got {self.min_nonnegative!r}")
        if self.squash not in SQUASHES:
            raise ValueError(f"unknown squash {self.squash!r}; choose one of {list(SQUASHES)}")
        if self.outside not in OUTSIDE:
            raise ValueError(f"unknown outside {self.outside!r}; choose one of {list(OUTSIDE)}")

    @property
    def grid(self) -> np.ndarray:
        return make_grid(self.grid_start, self.grid_stop, self.n_points)

    def to_dict(self) -> dict[str, Any]:
        """The settings; those added later (``squash``, ``outside``) only when they differ from their defaults."""
        return {k: v for k, v in asdict(self).items() if k not in _LATER_DEFAULTS or v != _LATER_DEFAULTS[k]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown preprocessing settings {unknown}; known: {sorted(known)}")
        return cls(**data)

    def key(self) -> str:
        """A short stable digest of the settings (for cache file names)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _check_savgol(window: int, polyorder: int, n_points: int) -> None:
    if int(window) != window or window < 3 or window % 2 == 0:
        raise ValueError(f"Savitzky-Golay window must be an odd integer >= 3 (grid points), got {window!r}")
    if int(polyorder) != polyorder or not 0 <= polyorder < window:
        raise ValueError(f"Savitzky-Golay polyorder must be an integer in [0, window), got {polyorder!r}")
    if window > n_points:
        raise ValueError(f"Savitzky-Golay window {window} is longer than the grid ({n_points} points)")


def _arrays(spectrum_or_arrays: Any) -> tuple[np.ndarray, np.ndarray, str]:
    """(wavenumber, intensity, source) from a Spectrum-like object or a (wavenumber, intensity) pair."""
    if hasattr(spectrum_or_arrays, "wavenumber") and hasattr(spectrum_or_arrays, "intensity"):
        wn, inten = spectrum_or_arrays.wavenumber, spectrum_or_arrays.intensity
        source = str(getattr(spectrum_or_arrays, "source", "spectrum"))
    else:
        try:
            wn, inten = spectrum_or_arrays
        except (TypeError, ValueError):
            raise ValueError("expected a Spectrum or a (wavenumber, intensity) pair of arrays") from None
        source = "spectrum"
    wn = np.asarray(wn, dtype=np.float64)
    inten = np.asarray(inten, dtype=np.float64)
    if wn.ndim != 1 or inten.shape != wn.shape or wn.size < 2:
        raise ValueError(f"{source}: wavenumber and intensity must be 1-D arrays of the same length >= 2, "
                         f"got shapes {wn.shape} and {inten.shape}")
    if not (np.all(np.isfinite(wn)) and np.all(np.isfinite(inten))):
        raise ValueError(f"{source}: wavenumber and intensity must be finite")
    if np.any(np.diff(wn) <= 0):
        raise ValueError(f"{source}: wavenumbers must be strictly increasing")
    return wn, inten, source


def coverage_problem(wavenumber: np.ndarray, config: PreprocessConfig,
                     intensity: np.ndarray | None = None) -> str | None:
    """Why a spectrum measured at ``wavenumber`` (with ``intensity``) cannot be put on the grid, or None if it can.

    The rules (module docstring, step 1): both grid ends covered within ``coverage_tolerance``; no gap wider than
    ``max_gap`` between measured points on the grid (a hole in the fingerprint region would be filled by a straight
    line); at least ``min_nonnegative`` of the points on the grid not below zero (a processed Raman spectrum is a
    baseline-corrected, mostly positive signal; an inverted or offset one is not).
    """
    lo, hi = float(wavenumber[0]), float(wavenumber[-1])
    tol = config.coverage_tolerance
    if config.outside == "zero" and (hi < config.grid_start or lo > config.grid_stop):
        return (f"not covering grid: spectrum spans {lo:.1f}-{hi:.1f} cm^-1, outside the grid "
                f"{config.grid_start:g}-{config.grid_stop:g} cm^-1")
    if config.outside == "reject" and (lo > config.grid_start + tol or hi < config.grid_stop - tol):
        return (f"not covering grid: spectrum spans {lo:.1f}-{hi:.1f} cm^-1, the grid "
                f"{config.grid_start:g}-{config.grid_stop:g} cm^-1 (tolerance {tol:g} cm^-1)")
    inside = (wavenumber >= config.grid_start - tol) & (wavenumber <= config.grid_stop + tol)
    w = wavenumber[inside]
    gaps = np.diff(w)
    if len(w) < 2 or gaps.max() > config.max_gap:
        if len(w) < 2:
            return f"not covering grid: {len(w)} measured point(s) on the grid"
        i = int(np.argmax(gaps))
        return (f"not covering grid: no measured point between {w[i]:.1f} and {w[i + 1]:.1f} cm^-1 (a gap of "
                f"{gaps[i]:.1f} cm^-1, more than max_gap {config.max_gap:g} cm^-1; {len(w)} points on the grid)")
    if intensity is not None and config.min_nonnegative > 0:
        share = float(np.mean(np.asarray(intensity)[inside] >= 0))
        if share < config.min_nonnegative:
            return (f"mostly negative: {1 - share:.0%} of the points on the grid are below zero (at most "
                    f"{1 - config.min_nonnegative:.0%} allowed); not a baseline-corrected Raman spectrum (inverted, or "
                    "offset?)")
    return None


def resample(spectrum_or_arrays: Any, grid: np.ndarray = DEFAULT_GRID) -> np.ndarray:
    """Linear interpolation onto ``grid`` (float64). Grid points outside the spectrum get the edge value;
    callers decide whether that is acceptable (see :func:`coverage_problem`)."""
    wn, inten, _ = _arrays(spectrum_or_arrays)
    return np.interp(np.asarray(grid, dtype=np.float64), wn, inten)


def smooth(X: np.ndarray, window: int = 11, polyorder: int = 3) -> np.ndarray:
    """Savitzky-Golay smoothing along the last axis (the grid must be uniform, as :func:`make_grid`'s is)."""
    from scipy.signal import (
        savgol_filter,  # imported here: scipy.signal takes seconds to import, most runs never smooth
    )

    X = np.asarray(X, dtype=np.float64)
    _check_savgol(window, polyorder, X.shape[-1])
    return savgol_filter(X, window_length=int(window), polyorder=int(polyorder), axis=-1, mode="interp")


def _scale(X: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) per row for ``method``; scale is 0 where a row cannot be normalised."""
    if method == "minmax":
        lo, hi = X.min(axis=-1, keepdims=True), X.max(axis=-1, keepdims=True)
        return lo, hi - lo
    if method == "vector":
        return np.zeros_like(X[..., :1]), np.linalg.norm(X, axis=-1, keepdims=True)
    if method == "area":  # sum of |intensity| = 1 (area in units of the grid step; sign-safe for negative values)
        return np.zeros_like(X[..., :1]), np.abs(X).sum(axis=-1, keepdims=True)
    if method == "none":
        return np.zeros_like(X[..., :1]), np.ones_like(X[..., :1])
    raise ValueError(f"unknown normalisation {method!r}; choose one of {list(NORMALISATIONS)}")


def _flat_rows(scale: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Rows whose scale is zero or negligible compared with their magnitude (constant spectra)."""
    mag = np.abs(X).max(axis=-1, keepdims=True)
    return (~np.isfinite(scale) | (scale <= 1e-12 * np.maximum(mag, 1e-300))).reshape(X.shape[:-1])


def _unit_peak(X: np.ndarray) -> np.ndarray:
    """Each row divided by its largest absolute value (rows of zeros or with non-finite values are left as they are).

    minmax, vector and area normalisation are scale-free, so this changes none of their results; it keeps max - min,
    the L2 norm and the sum finite for values near float64's limits (+-1e308) and away from subnormals (1e-310).
    """
    mag = np.abs(X).max(axis=-1, keepdims=True)
    ok = np.isfinite(mag) & (mag > 0)
    return np.divide(X, mag, out=np.array(X, dtype=np.float64), where=ok)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def normalise(X: np.ndarray, method: str = "minmax") -> np.ndarray:
    """Normalise each spectrum (last axis). Raises ``ValueError`` naming the rows that are constant (or hold
    non-finite values). Any finite float64 values are accepted: the result does not depend on a row's scale."""
    X = np.asarray(X, dtype=np.float64)
    if method not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {method!r}; choose one of {list(NORMALISATIONS)}")
    if method == "none":
        return X.copy()
    bad = ~np.isfinite(X).all(axis=-1)
    if np.any(bad):
        rows = np.flatnonzero(bad)
        raise ValueError(f"cannot {method}-normalise spectra with NaN or infinite values: rows "
                         f"{rows[:10].tolist()}{' ...' if rows.size > 10 else ''}")
    X = _unit_peak(X)
    offset, scale = _scale(X, method)
    flat = _flat_rows(scale, X)
    if np.any(flat):
        rows = np.flatnonzero(flat)
        raise ValueError(f"cannot {method}-normalise constant spectra (no signal on the grid): rows "
                         f"{rows[:10].tolist()}{' ...' if rows.size > 10 else ''}")
    return (X - offset) / scale


def _on_grid(wn: np.ndarray, inten: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """The spectrum interpolated onto the grid; for a scale-free normalisation first divided by its largest absolute
    value, so that neither the interpolation (a difference of values near +-1e308 overflows) nor the smoothing nor the
    normalisation meets an overflow or a subnormal number."""
    if config.normalisation != "none":
        inten = _unit_peak(inten[None, :])[0]
    if config.outside == "zero":
        return np.interp(config.grid, wn, inten, left=0.0, right=0.0)
    return np.interp(config.grid, wn, inten)


def _finish(R: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    if config.smoothing is not None:
        R = smooth(R, config.smoothing, config.smoothing_polyorder)
    return R


def squash(X: np.ndarray, method: str | None = "sqrt") -> np.ndarray:
    """Intensity squashing: ``sqrt`` is the signed square root ``sign(x) sqrt(|x|)`` (on min-max spectra, in [0, 1],
    the plain square root); ``None`` returns ``X`` unchanged."""
    if method not in SQUASHES:
        raise ValueError(f"unknown squash {method!r}; choose one of {list(SQUASHES)}")
    X = np.asarray(X, dtype=np.float64)
    return X if method is None else np.sign(X) * np.sqrt(np.abs(X))


def coverage_mask(wavenumber: np.ndarray, grid: np.ndarray = DEFAULT_GRID) -> np.ndarray:
    """Which points of ``grid`` lie inside the measured range ``[wavenumber[0], wavenumber[-1]]`` (boolean)."""
    wn = np.asarray(wavenumber, dtype=np.float64)
    if wn.ndim != 1 or wn.size < 2:
        raise ValueError(f"wavenumber must be a 1-D array of length >= 2, got shape {wn.shape}")
    grid = np.asarray(grid, dtype=np.float64)
    return (grid >= wn[0]) & (grid <= wn[-1])


BASELINE_METHODS = ("asls", "arpls", "airpls", "modpoly", "imodpoly", "snip", "rolling_ball")


def correct_baseline(spectrum_or_arrays: Any, method: str = "arpls", **params: Any) -> tuple[np.ndarray, np.ndarray]:
    """Estimate and subtract a spectrum's baseline (fluorescence background) with pybaselines [Erb2022].

    ``method`` is one of :data:`BASELINE_METHODS` -- penalised least squares (``asls``, ``arpls``, ``airpls``),
    polynomials (``modpoly``, ``imodpoly``), morphology/smoothing (``snip``, ``rolling_ball``) -- and ``params`` go to
    pybaselines' method of that name (e.g. ``lam=1e6`` for ``arpls``, ``poly_order=5`` for ``imodpoly``,
    ``max_half_window=40`` for ``snip``). Returns ``(corrected, baseline)`` on the spectrum's own wavenumbers.
    """
    from pybaselines import Baseline  # imported here: most runs never correct a baseline

    if method not in BASELINE_METHODS:
        raise ValueError(f"unknown baseline method {method!r}; choose one of {list(BASELINE_METHODS)}")
    wn, inten, _ = _arrays(spectrum_or_arrays)
    base = np.asarray(getattr(Baseline(x_data=wn), method)(inten, **params)[0], dtype=np.float64)
    return inten - base, base


def remove_spikes(intensity: np.ndarray, threshold: float = 8.0, max_width: int = 2,
                  width: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Remove cosmic-ray spikes by the modified z-score of the first difference (after Whitaker and Hayes 2018
    [Whitaker2018]).

    A Raman band rises and falls over several points, a cosmic-ray spike within one or two: its first difference
    jumps up and, at most ``max_width`` points later, down -- both outliers by the modified z-score (median and median
    absolute deviation of the differences, robust to the spikes themselves) above ``threshold``. Requiring the jump
    down keeps the steep flank of a strong, sharp band from being taken for a spike. The spike's points and ``width``
    points either side are replaced by linear interpolation from the points around them. Returns ``(cleaned,
    spike_mask)``.
    """
    from scipy.ndimage import binary_dilation

    y = np.asarray(intensity, dtype=np.float64)
    if y.ndim != 1 or y.size < 4 or not np.all(np.isfinite(y)):
        raise ValueError(f"remove_spikes needs a finite 1-D intensity array of length >= 4, got shape {y.shape}")
    if not threshold > 0 or int(width) != width or width < 0 or int(max_width) != max_width or max_width < 1:
        raise ValueError(f"threshold must be > 0, max_width an integer >= 1 and width an integer >= 0, got "
                         f"{threshold!r}, {max_width!r}, {width!r}")
    d = np.diff(y)
    mad = np.median(np.abs(d - np.median(d)))
    spikes = np.zeros(y.size, dtype=bool)
    if mad == 0:
        return y.copy(), spikes
    z = 0.6745 * (d - np.median(d)) / mad
    for i in np.flatnonzero(z > threshold):  # d[i] = y[i + 1] - y[i]: a jump up into point i + 1 ...
        down = np.flatnonzero(z[i + 1:i + 1 + int(max_width)] < -threshold)  # ... and out of it again soon after
        if down.size:
            spikes[i + 1:i + 2 + int(down[0])] = True
    if width and spikes.any():
        spikes = binary_dilation(spikes, iterations=int(width))
    if not spikes.any() or spikes.all():
        return y.copy(), np.zeros(y.size, dtype=bool)
    idx = np.arange(y.size)
    cleaned = y.copy()
    cleaned[spikes] = np.interp(idx[spikes], idx[~spikes], y[~spikes])
    return cleaned, spikes


def _out_of_range(R: np.ndarray) -> np.ndarray:
    """Rows that do not fit the models' float32 input (only possible with normalisation ``none``)."""
    return ~(np.abs(R) <= _FLOAT32_MAX).all(axis=-1)


def _range_reason(row: np.ndarray) -> str:
    return (f"out of range: intensities up to {np.abs(row).max():.3g} do not fit float32 (the models' input, at most "
            f"{_FLOAT32_MAX:.3g}) with normalisation 'none'; rescale the file or normalise (minmax)")


def preprocess_spectrum(spectrum: Any, config: PreprocessConfig | None = None) -> np.ndarray:
    """One spectrum -> float32 vector on ``config.grid``: the code path shared by training and prediction.

    Raises ``ValueError`` naming the spectrum's source when it does not cover the grid or has no signal on it.
    """
    config = config or PreprocessConfig()
    wn, inten, source = _arrays(spectrum)
    problem = coverage_problem(wn, config, inten)
    if problem:
        raise ValueError(f"{source}: {problem}")
    R = _finish(_on_grid(wn, inten, config)[None, :], config)
    if _out_of_range(R)[0]:
        raise ValueError(f"{source}: {_range_reason(R[0])}")
    try:
        return squash(normalise(R, config.normalisation), config.squash)[0].astype(np.float32)
    except ValueError:
        raise ValueError(f"{source}: flat: constant after resampling, cannot {config.normalisation}-normalise") \
            from None


def preprocess_many(spectra: Sequence[Any] | Iterable[Any], config: PreprocessConfig | None = None
                    ) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Preprocess many spectra, dropping the ones that cannot be used instead of raising.

    Returns ``(X, kept, reasons)``: ``X`` float32 ``(kept.sum(), n_points)`` for the kept spectra in input order,
    ``kept`` a boolean mask over the input, and ``reasons[i]`` None for kept spectra, else why spectrum ``i`` was
    dropped (starting with ``"not covering grid"``, ``"mostly negative"``, ``"flat"`` or ``"out of range"``). Gives
    the same rows as :func:`preprocess_spectrum`.
    """
    config = config or PreprocessConfig()
    spectra = list(spectra)
    grid = config.grid
    reasons: list[str | None] = [None] * len(spectra)
    R = np.empty((len(spectra), grid.size), dtype=np.float64)
    for i, s in enumerate(spectra):
        wn, inten, _ = _arrays(s)
        reasons[i] = coverage_problem(wn, config, inten)
        if reasons[i] is None:
            R[i] = _on_grid(wn, inten, config)
    kept = np.array([r is None for r in reasons], dtype=bool)
    R = _finish(R[kept], config)
    huge = _out_of_range(R)
    if np.any(huge):
        for i, row in zip(np.flatnonzero(kept)[huge], R[huge]):
            reasons[i] = _range_reason(row)
        R, kept[np.flatnonzero(kept)[huge]] = R[~huge], False
    if config.normalisation != "none" and R.shape[0]:
        offset, scale = _scale(R, config.normalisation)
        flat = _flat_rows(scale, R)
        for i in np.flatnonzero(kept)[flat]:
            reasons[i] = f"flat: constant after resampling, cannot {config.normalisation}-normalise"
        R, kept[np.flatnonzero(kept)[flat]] = R[~flat], False
    X = squash(normalise(R, config.normalisation), config.squash) if R.shape[0] else R
    return X.astype(np.float32).reshape(-1, grid.size), kept, reasons
