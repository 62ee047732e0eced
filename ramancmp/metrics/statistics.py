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

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["WITHIN_NOISE", "corrected_interval", "format_interval", "paired_bootstrap", "paired_difference",
           "unpaired_difference", "within_noise"]

#: The words the book prints wherever an interval of a difference covers 0.
WITHIN_NOISE = "within noise"


def _values(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(f"{what} must be a non-empty sequence of finite numbers, got {values!r}")
    return arr


def corrected_interval(values: Sequence[float] | np.ndarray, test_train_ratio: float = 0.0,
                       confidence: float = 0.95) -> dict[str, Any]:
    """Mean of per-split ``values`` with a Student-t interval on the Nadeau–Bengio corrected variance.

    ``test_train_ratio`` is ``n_test / n_train`` of the splits (0 gives the uncorrected interval, right only for
    independent repeats). Returns ``{"mean", "lo", "hi", "se", "df", "p", "n", "confidence"}``; ``p`` is the
    two-sided p-value of "the mean is 0" (meaningful for differences). With one value the interval is undefined:
    ``lo``, ``hi``, ``se`` and ``p`` are ``None``.
    """
    arr = _values(values, "values")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if test_train_ratio < 0 or not math.isfinite(test_train_ratio):
        raise ValueError(f"test_train_ratio must be a finite number >= 0, got {test_train_ratio!r}")
    n, mean = arr.size, float(arr.mean())
    out: dict[str, Any] = {"mean": mean, "lo": None, "hi": None, "se": None, "df": n - 1, "p": None, "n": n,
                           "confidence": confidence}
    if n < 2:
        return out
    se = math.sqrt((1.0 / n + test_train_ratio) * float(arr.var(ddof=1)))
    if se == 0.0:
        out.update(lo=mean, hi=mean, se=0.0, p=1.0 if mean == 0 else 0.0)
        return out
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    out.update(lo=mean - half, hi=mean + half, se=se, p=p)
    return out


def paired_difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                      test_train_ratio: float = 0.0, confidence: float = 0.95) -> dict[str, Any]:
    """The corrected resampled t-test of ``a - b`` (per-split values of two models on the SAME splits, in order).

    Returns :func:`corrected_interval` of the differences plus ``"within_noise"`` (the interval covers 0, or is
    undefined).
    """
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same splits: {a.size} values vs {b.size}")
    out = corrected_interval(a - b, test_train_ratio, confidence)
    out["within_noise"] = within_noise(out)
    return out


def unpaired_difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                        test_train_ratio: float = 0.0, confidence: float = 0.95) -> dict[str, Any]:
    """``mean(a) - mean(b)`` for values measured on DIFFERENT splits (e.g. random vs by-sample splits): the two
    corrected variances add (Welch), with the Welch–Satterthwaite degrees of freedom. Same keys as
    :func:`paired_difference`."""
    a, b = _values(a, "a"), _values(b, "b")
    mean = float(a.mean() - b.mean())
    out: dict[str, Any] = {"mean": mean, "lo": None, "hi": None, "se": None, "df": None, "p": None,
                           "n": min(a.size, b.size), "confidence": confidence}
    if a.size >= 2 and b.size >= 2:
        va = (1.0 / a.size + test_train_ratio) * float(a.var(ddof=1))
        vb = (1.0 / b.size + test_train_ratio) * float(b.var(ddof=1))
        se = math.sqrt(va + vb)
        if se > 0:
            df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
            half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
            out.update(lo=mean - half, hi=mean + half, se=se, df=df, p=float(2 * stats.t.sf(abs(mean) / se, df)))
        else:
            out.update(lo=mean, hi=mean, se=0.0)
    out["within_noise"] = within_noise(out)
    return out


def paired_bootstrap(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, confidence: float = 0.95,
                     n_resamples: int = 9999, seed: int = 0) -> dict[str, Any]:
    """A percentile bootstrap interval (``scipy.stats.bootstrap``) of the mean of the paired differences ``a - b``."""
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same splits: {a.size} values vs {b.size}")
    diff = a - b
    out: dict[str, Any] = {"mean": float(diff.mean()), "lo": None, "hi": None, "n": diff.size,
                           "confidence": confidence}
    if diff.size >= 2 and np.ptp(diff) > 0:
        res = stats.bootstrap((diff,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                              method="percentile", rng=np.random.default_rng(seed))
        out.update(lo=float(res.confidence_interval.low), hi=float(res.confidence_interval.high))
    elif diff.size >= 2:
        out.update(lo=out["mean"], hi=out["mean"])
    out["within_noise"] = within_noise(out)
    return out


def within_noise(interval: dict[str, Any]) -> bool:
    """True when the interval of a difference covers 0 (or is undefined: one split cannot tell)."""
    lo, hi = interval.get("lo"), interval.get("hi")
    return lo is None or hi is None or lo <= 0.0 <= hi


def format_interval(interval: dict[str, Any] | None, scale: float = 100.0, digits: int = 2,
                    signed: bool = False) -> str:
    """``"+1.23 [-0.40, +2.86] within noise"`` (``signed``) or ``"95.12 [93.80, 96.44]"``; ``"–"`` for ``None``."""
    if not interval:
        return "–"
    f = f"{{:{'+' if signed else ''}.{digits}f}}"
    text = f.format(scale * interval["mean"])
    if interval.get("lo") is not None and interval.get("hi") is not None:
        text += f" [{f.format(scale * interval['lo'])}, {f.format(scale * interval['hi'])}]"
    if signed and within_noise(interval):
        text += f" {WITHIN_NOISE}"
    return text
