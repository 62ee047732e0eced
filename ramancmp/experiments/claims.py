"""The paper's claims, quoted in one place, and the one place where the book judges them against its own rows.

Source: "RamanCMP: A Raman spectral classification acceleration method based on lightweight model and model
compression techniques", Analytica Chimica Acta 1278 (2023) 341758. These are the paper's numbers, quoted -- never
results of this book. Each claim says how the book checks it (``metric``) and in which direction "better" lies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ramancmp.config import DRSN, STUDENT, TEACHER
from ramancmp.experiments.tables import Row, paired, speedup, stat
from ramancmp.metrics.statistics import Speedup, Stat

__all__ = ["ACCURACY_TOLERANCE", "CLAIMS", "CLOSEST", "CONSISTENT", "NOT_REACHED", "PAPER", "PICK_TOLERANCE_POINTS",
           "REACHED", "SPEEDUP_TOLERANCE", "Claim", "ClaimReading", "beyond_paper", "beyond_text", "decision_margin",
           "claim", "claims_table", "judge_claims", "pick_best",
           "pick_fastest_within", "pick_preprocessing", "rechoose_per_split", "rejudge", "to_frame", "tolerance_for",
           "verdict",
           "verdict_with_interval"]


@dataclass(frozen=True)
class Claim:
    key: str
    chapter: str  # the chapter that tests it
    statement: str  # the paper's claim in words
    value: float  # the paper's number
    unit: str  # "points", "%", "spectra", ...
    higher_is_better: bool
    how_we_measure: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ClaimReading:
    """One reading of a claim judged on our rows (:func:`judge_claims`): the paper's number, ours with its 95 %
    interval ``[lo, hi]`` (``None`` without one), where it was measured (``at``), how far beyond the paper's number
    in the claim's better direction (``beyond`` with ``beyond_lo``, ``beyond_hi``) and the ``verdict``. JSON
    (:meth:`to_dict`): the flat dict of these fields, as results files store it; :meth:`from_dict` also reads the
    older entries without ``reading``, ``closest`` or the ``beyond`` fields."""

    key: str = ""
    claim: str = ""
    chapter: str = ""
    paper: float | None = None
    unit: str = ""
    reading: str = "as stated"
    closest: bool = False  # older entries without it were not marked closest
    why_closest: str = ""
    ours: float | None = None
    lo: float | None = None
    hi: float | None = None
    at: str = ""
    tolerance: float | None = None
    beyond: float | None = None
    beyond_lo: float | None = None
    beyond_hi: float | None = None
    verdict: str = ""

    @property
    def has_interval(self) -> bool:
        return self.lo is not None and self.hi is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> ClaimReading:
        if isinstance(d, cls):
            return d
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in dict(d).items() if k in names})

    def __getitem__(self, key: str) -> Any:  # legacy read access: the dicts judge_claims used to return
        if key not in {f.name for f in fields(self)}:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


PAPER = {
    "title": "RamanCMP: A Raman spectral classification acceleration method based on lightweight model and model "
             "compression techniques",
    "journal": "Analytica Chimica Acta 1278 (2023) 341758",
    "n_spectra": 723,
    "n_classes": 10,
}

CLAIMS: list[Claim] = [
    Claim("deep_vs_classical_gap", "05_drsn",
          "1D-EfficientNet and 1D-DRSN beat LDA and a plain CNN by more than 20 accuracy points", 20.0, "points", True,
          "best of EfficientNet/DRSN minus best of LDA/CNN, mean test accuracy, by-sample split"),
    Claim("distillation_loss", "06_distillation",
          "a CNN student distilled from 1D-EfficientNet loses 2.07 points against its teacher", -2.07, "points", True,
          "distilled student minus teacher, mean test accuracy (closer to 0 or positive is better)"),
    Claim("channel_conversion_speedup", "07_channel_conversion",
          "'channel conversion' cuts the DRSN's inference time by 60 %", 60.0, "%", True,
          "1 - latency(converted) / latency(DRSN) at batch 1, median, same run"),
    Claim("feature_lda_speedup", "08_feature_extraction",
          "DRSN as feature extractor + LDA cuts inference time by 93 %", 93.0, "%", True,
          "1 - latency(features + LDA) / latency(DRSN) at batch 1, median, same run"),
    Claim("feature_lda_accuracy", "08_feature_extraction",
          "DRSN features + LDA reach 94.48 % accuracy", 94.48, "%", True,
          "mean test accuracy of the DRSN-features + LDA pipeline, by-sample split"),
    Claim("distillation_gain", "06_distillation",
          "the distilled CNN student is 20 points more accurate than the same CNN trained alone", 20.0, "points",
          True, "distilled student minus the student trained alone, mean test accuracy, same splits"),
    Claim("distillation_time", "06_distillation",
          "distillation saves 9,680.9 s (the paper does not say whether of training or of inference)", -9680.9, "s",
          False, "student minus teacher, in seconds: training time per split, or inference time for the test part"),
]

#: Why one reading of each claim is the closest to the paper's text (shown beside the readings).
CLOSEST: dict[str, str] = {
    "channel_conversion_speedup": (
        "the paper converts its own DRSN (no stride-8 stem) and reports the time to classify its test set in its "
        "training framework, i.e. batched, per spectrum"),
    "feature_lda_speedup": (
        "the paper's LDA classifies features the DRSN has already extracted; with the extraction counted, a linear "
        "classifier on the full network's features cannot save 93 %"),
    "feature_lda_accuracy": ("full-depth features + plain LDA: the paper feeds the trained DRSN's features to LDA "
                             "and names no pooling or regularisation"),
    "distillation_loss": "the (T, alpha) chosen on validation data minus the teacher: the paper's comparison",
    "distillation_gain": "the distilled student minus the same CNN trained alone on the same splits",
    "distillation_time": ("training time: a saving of hours can only be a training (or total) time; the "
                          "inference-time reading is shown to make that visible"),
}

#: The picking rule's tolerance: "the" variant is the fastest within this many points of the baseline's validation
#: accuracy. Fixed before any result was seen.
PICK_TOLERANCE_POINTS = 1.0
#: How far (absolute) our number may fall short of the paper's and still count as "reached": accuracy claims (points
#: or %) and speed-up claims (% less latency).
ACCURACY_TOLERANCE = 0.5
SPEEDUP_TOLERANCE = 5.0


def claim(key: str) -> Claim:
    """The claim with this key (a clear error naming the known keys otherwise)."""
    for c in CLAIMS:
        if c.key == key:
            return c
    raise KeyError(f"no claim {key!r}; known: {[c.key for c in CLAIMS]}")
_KEYS = {c.key for c in CLAIMS}


def claims_table() -> list[dict]:
    return [c.to_dict() for c in CLAIMS]


#: The three verdicts. A claim of the paper states a number to reach ("cuts inference time by 60 %", "reach 94.48 %",
#: "loses 2.07 points"); the verdict says whether our measurement supports it.
REACHED, CONSISTENT, NOT_REACHED = "reached", "consistent (within noise)", "not reached"


def tolerance_for(key: str) -> float:
    """The tolerance of claim ``key``: :data:`SPEEDUP_TOLERANCE` for speed-ups, :data:`ACCURACY_TOLERANCE` else."""
    return SPEEDUP_TOLERANCE if key.endswith("_speedup") else ACCURACY_TOLERANCE


def beyond_paper(claim: Claim, value: float) -> float:
    """How far ``value`` lies beyond the paper's number in the claim's better direction (negative: short of it)."""
    return (value - claim.value) if claim.higher_is_better else (claim.value - value)


def verdict(claim: Claim, ours: float, tolerance: float = ACCURACY_TOLERANCE) -> str:
    """The verdict of a number without an interval: ``reached`` when ``ours`` is at most ``tolerance`` short of the
    paper's number (or beyond it), ``not reached`` otherwise."""
    return REACHED if beyond_paper(claim, ours) >= -tolerance else NOT_REACHED


def verdict_with_interval(claim: Claim, ours: float, lo: float | None = None, hi: float | None = None,
                          tolerance: float = ACCURACY_TOLERANCE) -> str:
    """The verdict of a number with its 95 % interval ``[lo, hi]``, one-sided like the claims themselves:

    * ``reached``: even the interval's worse end is at most ``tolerance`` short of the paper's number;
    * ``not reached``: even the interval's better end is more than ``tolerance`` short of it;
    * ``consistent (within noise)``: the interval reaches the paper's number but its worse end falls short.

    How far beyond the paper a reached number lies is a number (:func:`beyond_paper`, with its interval), not a
    verdict: an earlier rule split "reached" into "reproduced" (within tolerance) and "beaten" (beyond it), and
    between two full runs two speed-up readings far beyond the paper's numbers changed between those words
    because a timing interval's end moved by less than a point -- a distinction that run-to-run timing noise decides
    is not a finding. Without an interval: :func:`verdict`.
    """
    if lo is None or hi is None:
        return verdict(claim, ours, tolerance)
    worse, better = sorted((beyond_paper(claim, lo), beyond_paper(claim, hi)))
    if worse >= -tolerance:
        return REACHED
    if better < -tolerance:
        return NOT_REACHED
    return CONSISTENT


def beyond_text(entry: ClaimReading | dict) -> str:
    """An entry's :func:`beyond_paper` value with its interval, signed ("+10.59 [+7.56, +12.18]"); "–" if not
    measured."""
    e = ClaimReading.from_dict(entry)
    if e.beyond is None:
        return "–"
    text = f"{e.beyond:+.2f}"
    if e.beyond_lo is not None:
        text += f" [{e.beyond_lo:+.2f}, {e.beyond_hi:+.2f}]"
    return text


def decision_margin(entry: ClaimReading | dict) -> float | None:
    """How far a judged reading lies from changing its verdict, in the claim's unit: the distance from the deciding
    end of its interval (the worse end for ``reached``, the better end for ``not reached``, the nearer end for
    ``consistent``) to the threshold "tolerance short of the paper". ``None`` without a number or where the verdict
    does not follow from the numbers (a fallback pick). A margin smaller than the movement of a number between two
    runs marks a verdict that a rerun may change."""
    e = ClaimReading.from_dict(entry)
    if e.ours is None or e.key not in _KEYS or e.verdict.startswith(f"{NOT_REACHED} ("):
        return None
    c, threshold = claim(e.key), -tolerance_for(e.key)
    ends = [e.ours] * 2 if e.lo is None else [e.lo, e.hi]
    worse, better = sorted(beyond_paper(c, v) for v in ends)
    if worse >= threshold:
        return worse - threshold
    if better < threshold:
        return threshold - better
    return min(threshold - worse, better - threshold)


def to_frame(judged: list[ClaimReading | dict], claim_column: bool = True) -> pd.DataFrame:
    """Judged claim readings (:func:`judge_claims`) as the book's claims table: reading (★ closest to the paper's
    text), the paper's number, ours with its 95 % interval, how far beyond the paper (:func:`beyond_text`), where it
    was measured and the verdict; ``claim_column`` adds the claim's statement first."""
    interval = lambda c: "–" if c.lo is None else f"[{c.lo:.2f}, {c.hi:.2f}]"
    frame = pd.DataFrame([{"claim": c.claim, "reading": ("★ " if c.closest else "") + c.reading,
                           "paper": f"{c.paper:g} {c.unit}",
                           "ours": None if c.ours is None else round(c.ours, 2), "95 % interval": interval(c),
                           "beyond the paper [95 % interval]": beyond_text(c), "at": c.at, "verdict": c.verdict}
                          for c in map(ClaimReading.from_dict, judged)])
    return frame if claim_column or frame.empty else frame.drop(columns="claim")


def rejudge(entry: ClaimReading | dict) -> str:
    """The verdict of a stored claim reading (an entry of :func:`judge_claims`, e.g. read from an older run's results)
    under this module's rule; verdicts that do not follow from the numbers (not measured, a fallback pick) are kept."""
    e = ClaimReading.from_dict(entry)
    if e.ours is None or e.verdict.startswith(f"{NOT_REACHED} (") or e.key not in _KEYS:
        return e.verdict
    return verdict_with_interval(claim(e.key), e.ours, e.lo, e.hi, tolerance_for(e.key))


def pick_fastest_within(candidates: list[Row], baseline: Row, points: float = PICK_TOLERANCE_POINTS) -> Row:
    """The book's rule for "the" compressed variant: the fastest candidate (batch-1 latency) whose mean VALIDATION
    accuracy is at most ``points`` below the baseline's on the same splits; the candidate with the best validation
    accuracy if none qualifies.

    The rule is fixed before looking at results and never reads test accuracy: the picked row's test accuracy is then
    an honest estimate. Rows without validation accuracy cannot be picked from (a clear error, not a silent test pick).
    """
    timed = [c for c in candidates if c.latency_b1_ms is not None and c.accuracy]
    if not timed:
        raise ValueError("no timed candidates to pick from")
    missing = [c.model for c in timed + [baseline] if not c.val_accuracy]
    if missing:
        raise ValueError(f"picking needs validation accuracy of the same splits; rows without it: {missing}")
    close = [c for c in timed if c.mean("val_accuracy") >= baseline.mean("val_accuracy") - points]
    return (min(close, key=lambda c: c.latency_b1_ms) if close
            else max(timed, key=lambda c: c.mean("val_accuracy")))


def pick_best(rows: list[Row]) -> Row:
    """The row with the best mean validation accuracy (test accuracy never picks); rows without it are skipped."""
    usable = [r for r in rows if r.val_accuracy]
    if not usable:
        raise ValueError(f"no row with validation accuracy among {[r.model for r in rows]}")
    return max(usable, key=lambda r: r.mean("val_accuracy"))


def rechoose_per_split(candidates: dict[str, Row], default: str,
                       keys: tuple[str, ...] = ("accuracy", "accuracy_known_species", "accuracy_new_species")
                       ) -> tuple[Row, list[str]]:
    """An architecture choice made again on every split, on that split's VALIDATION accuracy (nested selection).

    ``candidates`` maps a label to the row of one variant (the same by-sample splits, matched by split seed);
    ``default`` is the label of the variant the book fixed once. On split ``i`` the candidate with the best
    validation accuracy is picked (ties keep the default), and the new row's value on split ``i`` is the pick's
    test value there -- the honest estimate of "choose the architecture on validation data, then test", free of
    the fixed choice's selection bias. Returns ``(row, picks)``; pair the row with the default's
    (:func:`ramancmp.experiments.tables.paired`) to see whether the fixed choice was lucky.
    """
    if default not in candidates:
        raise ValueError(f"the default {default!r} is not among the candidates {sorted(candidates)}")
    base = candidates[default]
    if not base.seeds or not base.val_accuracy:
        raise ValueError(f"{default!r}: re-choosing needs per-split validation accuracy and split seeds")
    missing = [k for k, r in candidates.items() if not r.val_accuracy or not r.seeds]
    if missing:
        raise ValueError(f"rows without per-split validation accuracy or seeds: {missing}")

    def value(row: Row, key: str, seed: int) -> float | None:
        st = getattr(row, key)
        if not st or seed not in row.seeds or len(st.values) != len(row.seeds):
            return None
        return st.values[row.seeds.index(seed)]

    seeds = [s for s in base.seeds if all(s in r.seeds for r in candidates.values())]
    if not seeds:
        raise ValueError("the candidates share no split")
    picks, per_key = [], {k: [] for k in ("val_accuracy", *keys)}
    for seed in seeds:
        label = max(candidates, key=lambda k: (value(candidates[k], "val_accuracy", seed), k == default))
        picks.append(label)
        for k in per_key:
            per_key[k].append(value(candidates[label], k, seed))
    fields = {k: stat(v) for k, v in per_key.items() if all(x is not None for x in v)}
    row = Row(model=f"{base.model} (re-chosen per split)", group=base.group, seeds=seeds,
              test_train_ratio=base.test_train_ratio, **fields)
    return row, picks


def pick_preprocessing(rows: list[Row], default: str, primary: str = "knn_cosine",
                       points: float = PICK_TOLERANCE_POINTS) -> Row:
    """The book's rule for the default preprocessing (chapter 12), fixed before looking at results and reading only
    VALIDATION accuracy: among the choices (``rows`` with ``extra["model"]``; ``row.model`` is the choice) whose
    ``primary`` model (the library search: the most splits) is better than the ``default`` choice beyond noise (the
    paired 95 % interval of the validation difference lies above 0) and whose other models lose at most ``points``
    of mean validation accuracy, the one with the best ``primary`` validation accuracy; the default's row when none
    qualifies. Returns the ``primary`` row of the pick."""
    mine = [r for r in rows if r.extra.get("model") == primary]
    ref = next((r for r in mine if r.model == default), None)
    if ref is None:
        raise ValueError(f"no {primary} row for the default {default!r}")
    missing = [r.model for r in mine if not r.val_accuracy]
    if missing:
        raise ValueError(f"picking needs validation accuracy; rows without it: {missing}")

    def others_keep_up(choice: str) -> bool:
        for model in {r.extra.get("model") for r in rows} - {primary}:
            cand = next((r for r in rows if r.model == choice and r.extra.get("model") == model), None)
            base = next((r for r in rows if r.model == default and r.extra.get("model") == model), None)
            if cand is None or base is None or not cand.val_accuracy or not base.val_accuracy:
                return False
            if cand.mean("val_accuracy") < base.mean("val_accuracy") - points:
                return False
        return True

    better = [r for r in mine if r is not ref and (d := paired(r, ref, "val_accuracy")) is not None
              and d.lo is not None and d.lo > 0 and others_keep_up(r.model)]
    return max(better, key=lambda r: r.mean("val_accuracy")) if better else ref


NO_VALIDATION = "no validation accuracy in these rows (an older run): rerun the book"
NO_PICK = Row(model="(no pick)")  # sentinel: candidates exist but cannot be picked from without validation accuracy


def _boot(values: np.ndarray, fn: Any = np.mean) -> tuple[float | None, float | None]:
    """95 % percentile bootstrap interval of ``fn`` over per-split values (``None`` with fewer than 2)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or np.ptp(values) == 0:
        return (None, None) if len(values) < 2 else (float(values[0]), float(values[0]))
    res = stats.bootstrap((values,), fn, n_resamples=2000, confidence_level=0.95, method="percentile",
                          rng=np.random.default_rng(0))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _speed_cell(row: Row, baseline: Row, key: tuple[str, str, int]) -> Speedup | None:
    """The speed-up of ``row`` over ``baseline`` at timing cell ``key`` ((threads, runtime, batch)), from the same
    run; the plain batch-1 latencies for rows timed without the protocol."""
    s = row.speedup_over(baseline.model, *key)
    if s is not None:
        return s
    if key == B1 and row.latency_b1_ms is not None and baseline.latency_b1_ms:
        return Speedup(speedup(row.latency_b1_ms, baseline.latency_b1_ms))
    return None


def _cell_ms(row: Row, key: tuple[str, str, int]) -> float | None:
    c = row.cell(*key)
    if c is not None:
        return c.median_ms
    return row.latency_b1_ms if key == B1 else None


def _extra_mean(row: Row, key: str) -> float | None:
    """The mean of a statistic kept in ``row.extra`` (e.g. a feature reading's ``val_accuracy``), or ``None``."""
    s = Stat.from_dict(row.extra.get(key))
    return None if s is None else s.mean


def _pick_at(candidates: list[Row], baseline: Row, key: str) -> Row | None:
    """The book's picking rule (:func:`pick_fastest_within`) applied with the times of timing cell ``key``."""
    timed = [(c, _cell_ms(c, key)) for c in candidates]
    timed = [replace(c, latency_b1_ms=ms) for c, ms in timed if ms is not None]
    if not timed:
        return None
    if not all(r.val_accuracy for r in timed + [baseline]):
        return NO_PICK
    picked = pick_fastest_within(timed, baseline)
    return next(c for c in candidates if c.model == picked.model)


#: The timing cells (threads, runtime, batch) a speed-up claim is read at, and their words.
B1, B256 = ("1", "torch", 1), ("1", "torch", 256)
SPEED_READINGS = [(B1, "eager PyTorch, batch 1"), (B256, "eager PyTorch, batch 256"),
                  (("1", "onnxruntime", 1), "ONNX Runtime, batch 1"),
                  (("1", "onnxruntime", 256), "ONNX Runtime, batch 256")]


def judge_claims(rows: list[Row], keys: list[str] | None = None) -> list[ClaimReading]:
    """Each claim (or those in ``keys``) beside our number, one entry per *reading* of the claim, computed from one
    table of :class:`Row` -- the only place the book computes its verdicts (chapters 5-8 show their claims from
    their own rows, chapter 10 and the README from ``bench all``).

    An entry, a :class:`ClaimReading`: ``key, claim, chapter, paper, unit, reading, closest (bool), why_closest,
    ours, lo, hi (95 % interval or None), at, tolerance, beyond, beyond_lo, beyond_hi (how far ours and its
    interval lie beyond the paper's number in the claim's better direction, :func:`beyond_paper`), verdict``
    (:func:`verdict_with_interval`). "The" channel-converted DRSN and "the" feature depth are picked by
    :func:`pick_fastest_within` (fastest within 1 point of the baseline's validation accuracy) with the reading's own
    times, the best of each pair of models by :func:`pick_best` (validation); the distilled student is the
    (T, alpha) chosen on validation data (``extra["chosen"]``). Rows without validation accuracy (results of an older
    run) cannot be picked from: such a claim is reported as "not measured". Speed intervals are the paired
    bootstrap intervals of the timing protocol; accuracy and training-time intervals bootstrap the per-split values.
    """
    by_name = {r.model: r for r in rows}
    cnn, effnet, drsn = STUDENT, TEACHER, DRSN
    claims = {c.key: c for c in CLAIMS}
    wanted = set(keys) if keys is not None else set(claims)
    out = []

    def add(key: str, ours: float | None, at: str, tolerance: float | None = None, *, reading: str = "as stated",
            closest: bool = True, lo: float | None = None, hi: float | None = None,
            fallback: str | None = None) -> None:
        if key not in wanted:
            return
        c = claims[key]
        tolerance = tolerance_for(key) if tolerance is None else tolerance
        r2 = lambda v: None if v is None else round(float(v), 2)
        ends = sorted(beyond_paper(c, v) for v in (lo, hi)) if ours is not None and lo is not None \
            and hi is not None else (None, None)
        out.append(ClaimReading(
            key=key, claim=c.statement, chapter=c.chapter, paper=c.value, unit=c.unit, reading=reading,
            closest=bool(closest), why_closest=CLOSEST.get(key, ""), ours=r2(ours), lo=r2(lo), hi=r2(hi), at=at,
            tolerance=tolerance, beyond=None if ours is None else r2(beyond_paper(c, ours)), beyond_lo=r2(ends[0]),
            beyond_hi=r2(ends[1]), verdict="not measured" if ours is None else (
                f"not reached ({fallback})" if fallback else verdict_with_interval(c, ours, lo, hi, tolerance))))

    def model_row(name: str) -> Row | None:
        r = by_name.get(name)
        return r if r is not None and r.group == "model" and r.accuracy else None

    def paired_points(a: Row, b: Row) -> tuple[float, float | None, float | None]:
        """``a - b`` in accuracy points on the splits both were measured on, with the corrected resampled t
        interval of :func:`ramancmp.experiments.tables.paired` (the same interval as every table)."""
        p = paired(a, b)
        if p is None or p.lo is None:
            return a.mean() - b.mean(), None, None
        return 100 * p.mean, 100 * p.lo, 100 * p.hi

    light = [r for r in (model_row(effnet), model_row(drsn)) if r]
    classical = [r for r in (model_row("lda"), model_row(cnn)) if r]
    if light and classical and all(r.val_accuracy for r in light + classical):
        best_l, best_c = pick_best(light), pick_best(classical)  # "best" chosen on validation, judged on test
        d, lo, hi = paired_points(best_l, best_c)
        add("deep_vs_classical_gap", d, f"{best_l.model} vs {best_c.model}", lo=lo, hi=hi)
    elif light and classical:
        add("deep_vs_classical_gap", None, NO_VALIDATION)

    # ---- distillation: accuracy against the teacher and against the student alone; time in seconds
    distilled = next((r for r in rows if r.group == "distillation" and r.extra.get("chosen")), None)
    teacher = model_row(effnet) or next((r for r in rows if r.group == "distillation" and r.model == effnet), None)
    alone = next((r for r in rows if r.group == "distillation" and r.extra.get("role") == "student alone"), None)
    alone = alone or model_row(cnn)

    if distilled is not None and teacher is not None:
        d, lo, hi = paired_points(distilled, teacher)
        add("distillation_loss", d, distilled.model, reading="distilled - teacher, test accuracy", lo=lo, hi=hi)
    if distilled is not None and alone is not None:
        d, lo, hi = paired_points(distilled, alone)
        add("distillation_gain", d, f"{distilled.model} vs {alone.model}",
            reading="distilled - student trained alone, test accuracy", lo=lo, hi=hi)
    if distilled is not None and teacher is not None:
        if distilled.fit_time_s and teacher.fit_time_s:
            diff = np.asarray(distilled.fit_time_s.values) - np.asarray(teacher.fit_time_s.values)
            lo, hi = _boot(diff) if len(diff) > 1 else (None, None)
            add("distillation_time", float(np.mean(diff)), f"{distilled.model} vs {teacher.model}",
                reading="training time per split (student's own training - teacher's)", lo=lo, hi=hi)
        # both times from the distillation run: the student's, and the teacher's through the same run's ratio
        s_ms, sp = _cell_ms(distilled, B256), _speed_cell(distilled, teacher, B256)
        n_test = distilled.extra.get("n_test")
        if s_ms is not None and sp is not None and sp.lo is not None and n_test:
            secs = lambda pct: (s_ms - s_ms / (1 - pct / 100)) * n_test / 1e3  # student - teacher
            add("distillation_time", secs(sp.pct), f"{distilled.model} vs {teacher.model}",
                reading=f"inference time of the test part ({n_test:.0f} spectra, eager PyTorch, batch 256)",
                closest=False, lo=min(secs(sp.lo), secs(sp.hi)), hi=max(secs(sp.lo), secs(sp.hi)))

    # ---- channel conversion: two baselines x four timing readings
    base = next((r for r in rows if r.model == drsn and r.latency_b1_ms is not None), None)
    pbase = next((r for r in rows if r.extra.get("role") == "paper baseline" and r.latency_b1_ms is not None), None)
    for b, role, label in ((base, "variant", "book DRSN (stride-8 stem)"),
                           (pbase, "paper variant", "full-resolution DRSN")):
        if b is None:
            continue
        cands = [r for r in rows if r.group == "channel_conversion" and r.baseline == b.model and r.model != b.model
                 and (r.extra.get("role", role) == role) and r.latency_b1_ms is not None]
        for key, words in SPEED_READINGS:
            pick = _pick_at(cands, b, key) if cands else None
            if pick is NO_PICK:
                add("channel_conversion_speedup", None, NO_VALIDATION, reading=f"{label}, {words}", closest=False)
                continue
            s = _speed_cell(pick, b, key) if pick is not None else None
            if s is None:
                continue
            add("channel_conversion_speedup", s.pct, pick.model, SPEEDUP_TOLERANCE, reading=f"{label}, {words}",
                closest=(b is pbase and key == B256), lo=s.lo, hi=s.hi)

    # ---- DRSN features + LDA
    feats = [r for r in rows if r.group == "feature_extraction" and r.extra.get("role") in (None, "variant")
             and r.model != drsn and r.latency_b1_ms is not None]
    fbase = base if base is not None else next((r for r in rows if r.model == drsn), None)
    if feats and fbase is not None:
        shrunk = [r for r in feats if r.extra.get("lda")] or feats
        for key, words in SPEED_READINGS:
            pick = _pick_at(shrunk, fbase, key)
            if pick is NO_PICK:
                add("feature_lda_speedup", None, NO_VALIDATION, reading=f"prefix + LDA as one graph, {words}",
                    closest=False)
                continue
            s = _speed_cell(pick, fbase, key) if pick is not None else None
            if s is None:
                continue
            full = pick.extra.get("bins") is None and "lda" in pick.extra  # the whole trunk
            what = "no shallow cut within 1 point: the full DRSN + LDA (runs the whole network, not a speed-up)" \
                if full else f"{pick.model}"
            add("feature_lda_speedup", s.pct, what, SPEEDUP_TOLERANCE,
                reading=f"prefix + LDA as one graph, {words}",
                closest=False, lo=s.lo, hi=s.hi, fallback="the fallback pick runs the whole network"
                if full else None)
        for r in rows:
            if r.extra.get("role") != "classifier alone":
                continue
            for key, words in SPEED_READINGS[:2]:
                s = _speed_cell(r, fbase, key)
                if s is not None:
                    add("feature_lda_speedup", s.pct, r.model, SPEEDUP_TOLERANCE, reading=f"classifier alone on stored "
                        f"features, {words}", closest=(key == B256 and r.extra.get("depth") == max(
                            f.extra.get("depth", 0) for f in feats)), lo=s.lo, hi=s.hi)
        fulls = [r for r in feats if r.extra.get("lda") is not None and r.extra.get("bins") is None]
        slda = next((r for r in fulls if r.extra.get("lda")), None)
        if slda is not None and slda.fit_time_s and fbase.fit_time_s:
            lda_t, net_t = np.asarray(slda.fit_time_s.values), np.asarray(fbase.fit_time_s.values)
            pct = 100 * (1 - lda_t.mean() / net_t.mean())
            lo = hi = None
            if len(lda_t) == len(net_t) and len(lda_t) > 1:
                idx = np.random.default_rng(0).integers(0, len(lda_t), (2000, len(lda_t)))
                boots = 100 * (1 - lda_t[idx].mean(1) / net_t[idx].mean(1))
                lo, hi = (float(v) for v in np.percentile(boots, [2.5, 97.5]))
            add("feature_lda_speedup", pct, f"{slda.model} fit vs {fbase.model} training", SPEEDUP_TOLERANCE,
                reading="training/adaptation time: fit LDA on frozen features vs retrain the DRSN", closest=False,
                lo=lo, hi=hi)
        acc_readings = [(r, r.extra.get("reading") or r.model) for r in fulls]
        chosen = max(shrunk, key=lambda r: _extra_mean(r, "val_accuracy") or -1.0)
        if _extra_mean(chosen, "val_accuracy") is not None and chosen not in fulls:
            acc_readings.append((chosen, f"depth chosen on validation: {chosen.extra.get('reading')}, "
                                         f"depth {chosen.extra.get('depth')}"))
        if not acc_readings and not all(r.val_accuracy for r in feats + [fbase]):
            add("feature_lda_accuracy", None, NO_VALIDATION)
        elif not acc_readings:  # rows without readings (the book's first table): the depth picked on validation
            acc_readings = [(pick_fastest_within(feats, fbase), "as stated")]
        for r, words in acc_readings:
            lo, hi = _boot(r.values())
            add("feature_lda_accuracy", r.mean(), r.model, reading=words,
                closest=(r.extra.get("lda") == {} and r.extra.get("bins") is None) or words == "as stated",
                lo=lo, hi=hi)
    return out
