"""Statistics over repeated splits: intervals for a mean and for a paired difference between two models.

The book's repeats are *overlapping* resamples (every repeat trains on most of the same spectra and the test parts of
different seeds share samples), so the repeats are not independent and the plain standard error ``sd / sqrt(J)``
is too small. Nadeau & Bengio (2003, *Machine Learning* 52, 239) correct the variance of the mean of ``J`` such
repeats by the test/train size ratio:

    var_corrected = (1 / J + n_test / n_train) * s^2,

with ``s^2`` the sample variance over repeats, and use Student's t with ``J - 1`` degrees of freedom. Applied to the
per-split *differences* between two models measured on the same splits, it is the **corrected resampled t-test**;
its interval is what the book prints beside every difference, and a difference whose interval covers 0 is reported
as *within noise*. :func:`paired_bootstrap` is the distribution-free alternative on the per-split differences
(``scipy.stats.bootstrap``); with few repeats it is narrower than the corrected t interval, because it ignores the
overlap, so the book's verdicts use the corrected t-test.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["WITHIN_NOISE", "Interval", "Ratio", "Speedup", "Stat", "TimingCell", "corrected_interval",
           "format_interval", "paired_bootstrap", "paired_difference", "unpaired_difference", "within_noise"]


# ------------------------------------------------------------------------------------------------ typed statistics
class _Record:
    """Shared by the statistics types: ``to_dict`` (the JSON layout), ``from_dict`` (tolerant of older layouts) and
    read-only ``s["key"]`` / ``s.get("key")`` for code written against the dicts these types replace."""

    _OPTIONAL: tuple[str, ...] = ()  # fields left out of ``to_dict`` while ``None`` (absent from the older dicts)

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            if not f.repr:
                continue
            v = getattr(self, f.name)
            if f.name in self._OPTIONAL and v is None:
                continue
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def from_dict(cls, d: Any) -> Any:
        if d is None or isinstance(d, cls):
            return d
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in dict(d).items() if k in names})

    def __getitem__(self, key: str) -> Any:  # legacy read access: what the dicts these types replace held
        try:
            v = getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None
        return list(v) if isinstance(v, tuple) else v

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float("nan") if v is None else float(v) for v in values)  # None: a NaN saved as JSON null


@dataclass(frozen=True)
class Stat(_Record):
    """A per-split statistic: the ``mean`` of the per-split ``values`` (fractions for accuracies) and their ``sd``
    (``ddof=1``; ``None`` for one value). JSON: ``{"mean", "sd", "values"}``."""

    mean: float
    sd: float | None = None
    values: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _floats(self.values))

    @classmethod
    def of(cls, values: Any) -> Stat | None:
        """The statistic of per-split ``values`` (non-finite ones dropped); ``None`` when none is left."""
        if values is None:
            return None
        vals = [float(v) for v in np.atleast_1d(np.asarray(values, dtype=float)) if np.isfinite(v)]
        if not vals:
            return None
        return cls(float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else None, tuple(vals))

    @classmethod
    def from_dict(cls, d: Any) -> Stat | None:
        """From ``{"mean", "sd", "values"}``; also a bare number (one value) or a list of per-split values."""
        if d is None or isinstance(d, cls):
            return d
        if isinstance(d, (int, float)):
            return cls(float(d), None, (float(d),))
        if isinstance(d, (list, tuple)):
            return cls.of(d)
        d = dict(d)
        if d.get("mean") is None:  # {"mean": None, "values": []}: nothing measured
            return cls.of(d.get("values") or None)
        return cls(float(d["mean"]), d.get("sd", d.get("std")), tuple(d.get("values") or ()))

    @property
    def n(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Interval(_Record):
    """An estimate (``mean``: of per-split values, or of a difference between two rows) with its interval
    ``[lo, hi]`` at ``confidence``; ``lo``/``hi`` are ``None`` where one split cannot give an interval. ``se``,
    ``df`` and ``p`` (two-sided, "the mean is 0") come with the t intervals. JSON: ``{"mean", "lo", "hi", "se",
    "df", "p", "n", "confidence"}``, plus ``"within_noise"`` for a difference."""

    mean: float
    lo: float | None = None
    hi: float | None = None
    se: float | None = None
    df: float | None = None
    p: float | None = None
    n: int | None = None
    confidence: float = 0.95
    difference: bool = field(default=False, repr=False)  # an interval of a difference (adds "within_noise")

    @property
    def within_noise(self) -> bool:
        """The interval covers 0, or is undefined (one split cannot tell)."""
        return self.lo is None or self.hi is None or self.lo <= 0.0 <= self.hi

    @property
    def has_interval(self) -> bool:
        return self.lo is not None and self.hi is not None

    def clipped(self, lo: float, hi: float) -> Interval:
        """The interval with its ends kept within ``[lo, hi]`` (fractions cannot leave [0, 1])."""
        if self.lo is None:
            return self
        return dataclasses.replace(self, lo=max(self.lo, lo), hi=min(self.hi, hi))

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.difference:
            out["within_noise"] = self.within_noise
        return out

    @classmethod
    def from_dict(cls, d: Any) -> Interval | None:
        if d is None or isinstance(d, cls):
            return d
        d = dict(d)
        names = {f.name for f in dataclasses.fields(cls)} - {"difference"}
        return cls(**{k: v for k, v in d.items() if k in names}, difference="within_noise" in d)


@dataclass(frozen=True)
class Speedup(_Record):
    """Per cent less time than a reference, ``pct``, with its 95 % interval (``100 (1 - ratio)`` of a
    :class:`Ratio`). JSON: ``{"pct", "lo", "hi"}``."""

    pct: float
    lo: float | None = None
    hi: float | None = None


@dataclass(frozen=True)
class Ratio(_Record):
    """A ratio of two times with its 95 % interval: of medians with a paired bootstrap over the rounds of one
    process, or over several processes the geometric mean of the per-process ratios of medians with the interval
    of :func:`ramancmp.metrics.timing.across_processes`. JSON: ``{"ratio", "lo", "hi"}``."""

    ratio: float
    lo: float | None = None
    hi: float | None = None

    def speedup(self) -> Speedup:
        """``100 (1 - ratio)``: per cent less time (the interval's ends swap)."""
        return Speedup(100.0 * (1.0 - self.ratio), 100.0 * (1.0 - self.hi), 100.0 * (1.0 - self.lo))


@dataclass(frozen=True)
class TimingCell(_Record):
    """One timing cell: milliseconds per spectrum with its 95 % interval. Timed in one process: the median over
    rounds and the bootstrap interval of that median; timed in several: ``process_ms`` (each process's median) and
    the geometric mean of those with the interval of :func:`ramancmp.metrics.timing.across_processes` (the field
    keeps its name ``median_ms``). ``samples_ms`` (every round's sample) and ``reps`` are kept by
    :class:`~ramancmp.metrics.timing.SpeedComparison` only. JSON: ``{"median_ms", "lo_ms", "hi_ms"}`` (+
    ``"process_ms"``, ``"samples_ms"``, ``"reps"``)."""

    median_ms: float
    lo_ms: float | None = None
    hi_ms: float | None = None
    samples_ms: tuple[float, ...] | None = None
    reps: int | None = None
    process_ms: tuple[float, ...] | None = None

    _OPTIONAL = ("samples_ms", "reps", "process_ms")

    def __post_init__(self) -> None:
        for name in ("samples_ms", "process_ms"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _floats(getattr(self, name)))

    @property
    def ci_ms(self) -> list[float | None]:
        return [self.lo_ms, self.hi_ms]

    def without_samples(self, keep_reps: bool = False) -> TimingCell:
        """The cell without every round's sample (what rows and summaries keep: the per-process medians stay);
        ``reps`` with ``keep_reps``."""
        return TimingCell(self.median_ms, self.lo_ms, self.hi_ms, reps=self.reps if keep_reps else None,
                          process_ms=self.process_ms)

#: The words the book prints wherever an interval of a difference covers 0.
WITHIN_NOISE = "within noise"


def _values(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(f"{what} must be a non-empty sequence of finite numbers, got {values!r}")
    return arr


def corrected_interval(values: Sequence[float] | np.ndarray, test_train_ratio: float = 0.0,
                       confidence: float = 0.95, *, difference: bool = False) -> Interval:
    """Mean of per-split ``values`` with a Student-t interval on the Nadeau–Bengio corrected variance.

    ``test_train_ratio`` is ``n_test / n_train`` of the splits (0 gives the uncorrected interval, right only for
    independent repeats). Returns an :class:`Interval` (``mean, lo, hi, se, df, p, n, confidence``); ``p`` is the
    two-sided p-value of "the mean is 0" (meaningful for differences, ``difference=True``). With one value the
    interval is undefined: ``lo``, ``hi``, ``se`` and ``p`` are ``None``.
    """
    arr = _values(values, "values")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if test_train_ratio < 0 or not math.isfinite(test_train_ratio):
        raise ValueError(f"test_train_ratio must be a finite number >= 0, got {test_train_ratio!r}")
    n, mean = arr.size, float(arr.mean())
    out = Interval(mean, df=n - 1, n=n, confidence=confidence, difference=difference)
    if n < 2:
        return out
    se = math.sqrt((1.0 / n + test_train_ratio) * float(arr.var(ddof=1)))
    if se == 0.0:
        return dataclasses.replace(out, lo=mean, hi=mean, se=0.0, p=1.0 if mean == 0 else 0.0)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return dataclasses.replace(out, lo=mean - half, hi=mean + half, se=se, p=p)


def paired_difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                      test_train_ratio: float = 0.0, confidence: float = 0.95) -> Interval:
    """The corrected resampled t-test of ``a - b`` (per-split values of two models on the SAME splits, in order).

    Returns :func:`corrected_interval` of the differences, an :class:`Interval` of a difference (its
    ``within_noise``: the interval covers 0, or is undefined).
    """
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same splits: {a.size} values vs {b.size}")
    return corrected_interval(a - b, test_train_ratio, confidence, difference=True)


def unpaired_difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                        test_train_ratio: float = 0.0, confidence: float = 0.95) -> Interval:
    """``mean(a) - mean(b)`` for values measured on DIFFERENT splits (e.g. random vs by-sample splits): the two
    corrected variances add (Welch), with the Welch–Satterthwaite degrees of freedom. An :class:`Interval` of a
    difference, as :func:`paired_difference`."""
    a, b = _values(a, "a"), _values(b, "b")
    mean = float(a.mean() - b.mean())
    out = Interval(mean, n=min(a.size, b.size), confidence=confidence, difference=True)
    if a.size >= 2 and b.size >= 2:
        va = (1.0 / a.size + test_train_ratio) * float(a.var(ddof=1))
        vb = (1.0 / b.size + test_train_ratio) * float(b.var(ddof=1))
        se = math.sqrt(va + vb)
        if se > 0:
            df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
            half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
            out = dataclasses.replace(out, lo=mean - half, hi=mean + half, se=se, df=df,
                                      p=float(2 * stats.t.sf(abs(mean) / se, df)))
        else:
            out = dataclasses.replace(out, lo=mean, hi=mean, se=0.0)
    return out


def paired_bootstrap(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, confidence: float = 0.95,
                     n_resamples: int = 9999, seed: int = 0) -> Interval:
    """A percentile bootstrap interval (``scipy.stats.bootstrap``) of the mean of the paired differences ``a - b``
    (an :class:`Interval` of a difference without ``se``, ``df``, ``p``)."""
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same splits: {a.size} values vs {b.size}")
    diff = a - b
    out = Interval(float(diff.mean()), n=diff.size, confidence=confidence, difference=True)
    if diff.size >= 2 and np.ptp(diff) > 0:
        res = stats.bootstrap((diff,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                              method="percentile", rng=np.random.default_rng(seed))
        out = dataclasses.replace(out, lo=float(res.confidence_interval.low), hi=float(res.confidence_interval.high))
    elif diff.size >= 2:
        out = dataclasses.replace(out, lo=out.mean, hi=out.mean)
    return out


def within_noise(interval: Interval | Mapping[str, Any]) -> bool:
    """True when the interval of a difference covers 0 (or is undefined: one split cannot tell)."""
    lo, hi = interval.get("lo"), interval.get("hi")
    return lo is None or hi is None or lo <= 0.0 <= hi


def format_interval(interval: Interval | Mapping[str, Any] | None, scale: float = 100.0, digits: int = 2,
                    signed: bool = False) -> str:
    """``"+1.23 [-0.40, +2.86] within noise"`` (``signed``) or ``"95.12 [93.80, 96.44]"``; ``"–"`` for ``None``."""
    if not interval:
        return "–"
    iv = interval if isinstance(interval, Interval) else Interval.from_dict(interval)
    f = f"{{:{'+' if signed else ''}.{digits}f}}"
    text = f.format(scale * iv.mean)
    if iv.has_interval:
        text += f" [{f.format(scale * iv.lo)}, {f.format(scale * iv.hi)}]"
    if signed and iv.within_noise:
        text += f" {WITHIN_NOISE}"
    return text
