"""Statistics over repeated splits: intervals for a mean and for a paired difference between two models.

The book's repeats are *overlapping* resamples (every repeat trains on most of the same spectra and the test parts of
different seeds share samples), so the repeats are not independent and the plain standard error ``sd / sqrt(J)``
is too small. Nadeau & Bengio (2003, *Machine Learning* 52, 239) correct the variance of the mean of ``J`` such
repeats by the test/train size ratio:

    var_corrected = (1 / J + n_test / n_train) * s^2,

with ``s^2`` the sample variance over repeats, and use Student's t with ``J - 1`` degrees of freedom. Applied to the
per-split *differences* between two models measured on the same splits, it is the **corrected resampled t-test**;
its interval is what the book prints beside every difference and every verdict (one interval rule). Beside it, the
**sign test** over the splits (:func:`sign_test`: wins / ties / losses and the exact two-sided binomial p): a
difference is *beyond noise* only when its interval excludes 0 AND the sign test reaches p < 0.05
(:attr:`Interval.call`), because a near-constant difference (one test spectrum on every split) has a zero-width
interval that excludes 0 however few the splits; with five splits no sign test can reach 0.05 (0.0625 at best), and
the call is then *too few splits to call*. A difference whose interval covers 0 is *within noise*.
:func:`paired_bootstrap` is a percentile bootstrap on the per-split differences (``scipy.stats.bootstrap``); with
few repeats it is narrower than the corrected t interval (for five values it covers about 84 %, not 95 %) because it
ignores the overlap, so no table and no verdict of the book uses it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["BEYOND_NOISE", "SIGN_ALPHA", "TOO_FEW_SPLITS", "WITHIN_NOISE", "Interval", "Ratio", "SignTest", "Speedup",
           "Stat", "TimingCell", "corrected_interval", "format_interval", "paired_bootstrap", "paired_difference",
           "sign_test", "unpaired_difference", "within_noise"]


# ------------------------------------------------------------------------------------------------ typed statistics
class _Record:
    """Shared by the statistics types: ``to_dict`` (the JSON layout) and ``from_dict`` (tolerant of older layouts).
    Fields are read as attributes (``s.mean``, ``iv.lo``); the types are not dicts (no ``s["mean"]``)."""

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
class SignTest(_Record):
    """The exact two-sided sign test of per-split values against a ``threshold`` (0 for a paired difference):
    ``wins`` (values above it), ``ties`` (equal to it: dropped) and ``losses`` (below it), and ``p``, the two-sided
    binomial p-value of wins among ``wins + losses`` at one half (``scipy.stats.binomtest``). JSON: ``{"wins",
    "ties", "losses", "p"}``.

    Why beside the corrected t interval: a difference that is nearly the same on every split (one test spectrum on
    each of five splits) has a near-zero sd, so its t interval shrinks to a point and excludes 0 whatever the number
    of splits. The sign test asks only how many splits went which way; with ``n`` untied splits its smallest
    two-sided p is ``2 / 2**n`` (:attr:`min_p`), 0.0625 for five splits: five splits cannot call anything at 0.05.
    """

    wins: int
    ties: int
    losses: int
    p: float

    @property
    def n(self) -> int:
        """The untied splits the test counts."""
        return self.wins + self.losses

    @property
    def min_p(self) -> float:
        """The smallest two-sided p these untied splits could give (all of them one way): ``min(1, 2 / 2**n)``."""
        return min(1.0, 2.0 * 0.5 ** self.n)

    @property
    def can_reach(self) -> bool:
        """Whether these splits could reach p < :data:`SIGN_ALPHA` at all."""
        return self.min_p < SIGN_ALPHA

    @classmethod
    def of(cls, wins: int | None, ties: int | None, losses: int | None, p: float | None) -> SignTest | None:
        """The test from the counts a record stores (``None`` where it carries none: no per-split values)."""
        if wins is None or p is None:
            return None
        return cls(wins, ties or 0, losses or 0, p)

    def text(self) -> str:
        """``"5/0/0 (sign p 0.062)"``: wins / ties / losses over the splits and the sign-test p."""
        return f"{self.wins}/{self.ties}/{self.losses} (sign p {self.p:.3g})"


#: The level a sign test must reach for a call "beyond noise" (and for a claim's "reached" / "not reached").
SIGN_ALPHA = 0.05
#: Per-split values closer than this to the threshold count as ties (accuracies of the same test part that differ
#: by no spectrum are equal up to rounding).
TIE_TOLERANCE = 1e-9


def sign_test(values: Sequence[float] | np.ndarray, threshold: float = 0.0) -> SignTest:
    """The exact two-sided sign test of per-split ``values`` against ``threshold`` (ties dropped): a
    :class:`SignTest`. For a paired difference, ``values`` are the per-split differences and ``threshold`` is 0."""
    arr = _values(values, "values") - float(threshold)
    wins, losses = int((arr > TIE_TOLERANCE).sum()), int((arr < -TIE_TOLERANCE).sum())
    ties = int(arr.size - wins - losses)
    p = 1.0 if wins + losses == 0 else float(stats.binomtest(wins, wins + losses, 0.5).pvalue)
    return SignTest(wins, ties, losses, p)


#: The three calls on a difference (:attr:`Interval.call`).
BEYOND_NOISE, WITHIN_NOISE, TOO_FEW_SPLITS = "beyond noise", "within noise", "too few splits to call"


@dataclass(frozen=True)
class Interval(_Record):
    """An estimate (``mean``: of per-split values, or of a difference between two rows) with its interval
    ``[lo, hi]`` at ``confidence``; ``lo``/``hi`` are ``None`` where one split cannot give an interval. ``se``,
    ``df`` and ``p`` (two-sided, "the mean is 0") come with the t intervals; a paired difference also carries its
    sign test over the splits (``wins``, ``ties``, ``losses``, ``sign_p``: :func:`sign_test`). JSON: ``{"mean",
    "lo", "hi", "se", "df", "p", "n", "confidence"}`` (+ ``"wins", "ties", "losses", "sign_p"``), plus
    ``"within_noise"`` for a difference (:attr:`call` follows from the fields)."""

    mean: float
    lo: float | None = None
    hi: float | None = None
    se: float | None = None
    df: float | None = None
    p: float | None = None
    n: int | None = None
    confidence: float = 0.95
    wins: int | None = None
    ties: int | None = None
    losses: int | None = None
    sign_p: float | None = None
    difference: bool = field(default=False, repr=False)  # an interval of a difference (adds "within_noise")

    _OPTIONAL = ("wins", "ties", "losses", "sign_p")

    @property
    def within_noise(self) -> bool:
        """The interval covers 0, or is undefined (one split cannot tell)."""
        return self.lo is None or self.hi is None or self.lo <= 0.0 <= self.hi

    @property
    def sign(self) -> SignTest | None:
        """The sign test over the splits, where this difference carries one."""
        return SignTest.of(self.wins, self.ties, self.losses, self.sign_p)

    @property
    def call(self) -> str:
        """The book's one rule for a difference: :data:`BEYOND_NOISE` needs BOTH the interval to exclude 0 AND the
        sign test over the splits (where the difference carries one) to reach p < :data:`SIGN_ALPHA` -- the interval
        alone calls a near-constant difference (one spectrum on every split) certain. :data:`TOO_FEW_SPLITS` where
        the interval excludes 0 but the untied splits are too few for any sign test to reach 0.05 (five splits:
        0.0625 at best); :data:`WITHIN_NOISE` otherwise."""
        if self.within_noise:
            return WITHIN_NOISE
        s = self.sign
        if s is None:
            return BEYOND_NOISE
        if not s.can_reach:
            return TOO_FEW_SPLITS
        return BEYOND_NOISE if s.p < SIGN_ALPHA else WITHIN_NOISE

    @property
    def beyond_noise(self) -> bool:
        return self.call == BEYOND_NOISE

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

    Returns :func:`corrected_interval` of the differences with their :func:`sign_test` (wins / ties / losses and
    the exact sign-test p), an :class:`Interval` of a difference: its ``within_noise`` says the interval covers 0
    (or is undefined), its ``call`` applies the book's one rule (beyond noise, within noise, too few splits).
    """
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same splits: {a.size} values vs {b.size}")
    out = corrected_interval(a - b, test_train_ratio, confidence, difference=True)
    s = sign_test(a - b)
    return dataclasses.replace(out, wins=s.wins, ties=s.ties, losses=s.losses, sign_p=s.p)


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


def within_noise(interval: Interval) -> bool:
    """True when the interval of a difference covers 0 (or is undefined: one split cannot tell)."""
    return Interval.from_dict(interval).within_noise


def format_interval(interval: Interval | Mapping[str, Any] | None, scale: float = 100.0, digits: int = 2,
                    signed: bool = False) -> str:
    """``"+1.23 [-0.40, +2.86] 3/1/1 (sign p 0.625) within noise"`` (``signed``: a difference, with its wins / ties /
    losses over the splits where it carries them and its :attr:`Interval.call` unless beyond noise) or ``"95.12
    [93.80, 96.44]"``; ``"–"`` for ``None``."""
    if not interval:
        return "–"
    iv = interval if isinstance(interval, Interval) else Interval.from_dict(interval)
    f = f"{{:{'+' if signed else ''}.{digits}f}}"
    text = f.format(scale * iv.mean)
    if iv.has_interval:
        text += f" [{f.format(scale * iv.lo)}, {f.format(scale * iv.hi)}]"
    if signed and iv.sign is not None:
        text += f" {iv.sign.text()}"
    if signed and not iv.beyond_noise:
        text += f" {iv.call}"
    return text
