"""THE row schema of every comparison table in the book, and its renderers (text, pandas, markdown).

One :class:`Row` per model or variant, whatever produced it (a model evaluated over repeated splits, a compression
variant beside its baseline, a deployment variant on one split). Accuracy-like statistics are
:class:`~ramancmp.metrics.statistics.Stat` (``mean``, ``sd``, ``values``: fractions, with the **per-split values**
kept, and the split ``seeds``), so rows measured on the same splits can be compared pair-wise (:func:`paired`: the
corrected resampled t-test of
Nadeau & Bengio); ``sd`` is ``None`` where only one split was measured. Every table shows the 95 % interval of the
accuracy (:func:`interval`) and of each difference to a baseline, marked "within noise" where it covers 0. Balanced
accuracy is scikit-learn's, which equals macro sensitivity, so the tables show it once. Intervals are
:class:`~ramancmp.metrics.statistics.Interval`, the timing protocol's cells :class:`Timing` (of
:class:`~ramancmp.metrics.statistics.TimingCell` and :class:`~ramancmp.metrics.statistics.Speedup`). In JSON
(:meth:`Row.to_dict`, :meth:`Row.from_dict`) they are the plain dicts ``{"mean", "sd", "values"}``, ``{"mean",
"lo", "hi", ...}``, ``{"median_ms", "lo_ms", "hi_ms"}`` and ``{"pct", "lo", "hi"}``.

>>> rows = [Row.from_evaluation(result)]          # doctest: +SKIP
>>> to_frame(rows); to_markdown(rows); to_text(rows)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ramancmp.fileio import atomic_path
from ramancmp.metrics.classification import specificity_floor
from ramancmp.metrics.statistics import (
    WITHIN_NOISE,
    Interval,
    Speedup,
    Stat,
    TimingCell,
    corrected_interval,
    format_interval,
    paired_difference,
    unpaired_difference,
)

__all__ = ["MAX_COLUMNS", "SECTIONS", "WITHIN_NOISE", "Interval", "Row", "Speedup", "Stat", "Timing", "TimingCell",
           "accuracy_text", "common_values", "corrected_ratio", "difference_text", "end_to_end", "interval", "paired",
           "points_text", "species_text", "species_split_text", "specificity_text", "split_gap_text", "stat",
           "to_frame", "to_markdown", "to_text", "TableView", "sections", "sections_markdown", "show", "speedup",
           "write_csv"]

STATS = ("accuracy", "val_accuracy", "balanced_accuracy", "macro_f1", "sensitivity", "specificity",
         "accuracy_known_species", "accuracy_new_species", "new_species_fraction", "fit_time_s", "accuracy_random",
         "accuracy_curated", "accuracy_species_split")
# the per-split statistics Row.from_evaluation takes from EvaluationResult.per_repeat (a split without spectra of
# a part, e.g. no new species in its test part, is left out of that statistic)
_PER_SPLIT = ("accuracy", "val_accuracy", "balanced_accuracy", "macro_f1", "sensitivity", "specificity",
              "accuracy_known_species", "accuracy_new_species", "new_species_fraction", "fit_time_s")


def stat(values: Any) -> Stat | None:
    """The :class:`Stat` of per-split values (``sd`` with ``ddof=1``; ``None`` for one value): :meth:`Stat.of`."""
    return Stat.of(values)


def cell_key(threads: str = "1", runtime: str = "torch", batch: int = 1) -> str:
    """The key of one timing cell: ``"1/torch/1"``, ``"all/onnxruntime/256"``, ..."""
    return f"{threads}/{runtime}/{int(batch)}"


@dataclass
class Timing:
    """A row's cells of the timing protocol (:func:`ramancmp.experiments.speed.time_rows`): ``cells[key]`` (a
    :class:`TimingCell` per spectrum) and ``speedup[baseline][key]`` (a :class:`Speedup` over row ``baseline``,
    same run), ``key`` = :func:`cell_key` ``"{threads}/{runtime}/{batch}"``; ``rounds[threads]`` = rounds timed
    (in all), ``processes[threads]`` = the separate processes they were spread over. Read them with :meth:`cell`
    and :meth:`speedup_over`."""

    cells: dict[str, TimingCell] = field(default_factory=dict)
    speedup: dict[str, dict[str, Speedup]] = field(default_factory=dict)
    rounds: dict[str, int] = field(default_factory=dict)
    processes: dict[str, int] = field(default_factory=dict)

    def cell(self, threads: str = "1", runtime: str = "torch", batch: int = 1) -> TimingCell | None:
        return self.cells.get(cell_key(threads, runtime, batch))

    def speedup_over(self, baseline: str | None, threads: str = "1", runtime: str = "torch",
                     batch: int = 1) -> Speedup | None:
        return self.speedup.get(baseline or "", {}).get(cell_key(threads, runtime, batch))

    def cell_keys(self) -> list[tuple[str, str, int]]:
        """``(threads, runtime, batch)`` of every cell, in the order timed."""
        return [(t, r, int(b)) for t, r, b in (k.split("/") for k in self.cells)]

    def to_dict(self) -> dict[str, Any]:
        return {"cells": {k: c.to_dict() for k, c in self.cells.items()},
                "speedup": {b: {k: s.to_dict() for k, s in per.items()} for b, per in self.speedup.items()},
                "rounds": dict(self.rounds), **({"processes": dict(self.processes)} if self.processes else {})}

    @classmethod
    def from_dict(cls, d: Any) -> Timing | None:
        """From :meth:`to_dict`'s layout; also the older one of cells nested ``[threads][runtime][batch]``."""
        if d is None or isinstance(d, cls):
            return d
        cells = {}
        for k, v in (d.get("cells") or {}).items():
            if "median_ms" in v:
                cells[k] = TimingCell.from_dict(v)
            else:  # nested by threads, runtime, batch
                cells.update({cell_key(k, rt, b): TimingCell.from_dict(c) for rt, per in v.items()
                              for b, c in per.items()})
        return cls(cells, {b: {k: Speedup.from_dict(s) for k, s in per.items()}
                           for b, per in (d.get("speedup") or {}).items()}, dict(d.get("rounds") or {}),
                   dict(d.get("processes") or {}))


def speedup(latency_ms: float, baseline_ms: float) -> float:
    """Per cent less latency than the baseline: ``100 (1 - latency / baseline)``."""
    return 100.0 * (1.0 - latency_ms / baseline_ms)


@dataclass
class Row:
    """One model or variant in a comparison table (see the module docstring)."""

    model: str  # the name shown (a registry name, or a variant's label)
    group: str = "model"  # "model", "distillation", "channel_conversion", "feature_extraction", "deployment"
    accuracy: Stat | None = None  # test accuracy, by-sample split (fractions, per-split values)
    val_accuracy: Stat | None = None  # validation accuracy of the same splits: what every pick uses
    balanced_accuracy: Stat | None = None  # scikit-learn's (= macro sensitivity)
    macro_f1: Stat | None = None
    sensitivity: Stat | None = None  # macro
    specificity: Stat | None = None  # macro
    accuracy_known_species: Stat | None = None  # test spectra of a species seen in training
    accuracy_new_species: Stat | None = None  # test spectra of a species absent from training
    new_species_fraction: Stat | None = None  # share of test spectra of new species
    fit_time_s: Stat | None = None
    accuracy_random: Stat | None = None  # the same model on random (leaky) splits
    # the same splits' test parts without the spectra data/curation.csv flags (ramancmp.experiments.curated_evaluation)
    accuracy_curated: Stat | None = None
    accuracy_species_split: Stat | None = None  # the same model on by-species splits (all species new)
    seeds: list[int] | None = None  # the split seed of each per-split value (pairs rows on the same splits)
    test_train_ratio: float | None = None  # n_test / n_train of the splits (Nadeau-Bengio variance correction)
    params: int | None = None
    mflops: float | None = None  # per spectrum
    latency_b1_ms: float | None = None  # median of batch-1 calls
    latency_b1_p10_ms: float | None = None
    latency_b1_p90_ms: float | None = None
    throughput_b256: float | None = None  # spectra per second at batch 256
    pct_gemm_peak: float | None = None  # achieved FLOP/s at batch 256 / float32 GEMM peak of the same run
    baseline: str | None = None  # the row this one is compared with
    speedup_pct: float | None = None  # 100 (1 - latency / baseline latency), batch 1, same run
    accuracy_delta_points: float | None = None  # 100 (accuracy - baseline accuracy), means
    # The timing protocol (ramancmp.metrics.timing.compare_speed, rows timed together in one run): 95 % interval of
    # the batch-1 latency's median and of the speed-up over ``baseline`` (paired bootstrap over the same rounds), and
    # every cell: timing.cell(threads, runtime, batch) (a TimingCell per spectrum) and
    # timing.speedup_over(baseline, threads, runtime, batch) (a Speedup), see Timing.
    latency_b1_ci: list[float] | None = None
    speedup_ci: list[float] | None = None
    timing: Timing | None = None
    accuracy_delta: Interval | None = None  # paired corrected t-test vs the baseline (fractions; see `paired`)
    extra: dict[str, Any] = field(default_factory=dict)  # group-specific: (T, alpha), variant, depth, agreement ...

    def __setattr__(self, name: str, value: Any) -> None:
        # the typed statistics also from their JSON dicts (older callers, results files)
        if value is not None:
            if name in STATS and not isinstance(value, Stat):
                value = Stat.from_dict(value)
            elif name == "accuracy_delta" and not isinstance(value, Interval):
                value = Interval.from_dict(value)
            elif name == "timing" and not isinstance(value, Timing):
                value = Timing.from_dict(value)
        object.__setattr__(self, name, value)

    # -------------------------------------------------------------------------------------------- builders
    @classmethod
    def from_evaluation(cls, result: Any, *, group: str = "model", peak_gflops: float | None = None,
                        name: str | None = None, **extra: Any) -> Row:
        """A row from an :class:`~ramancmp.experiments.evaluation.EvaluationResult` (per-split values kept)."""
        per = result.per_repeat
        flops = result.complexity.get("flops")
        row = cls(model=name or result.model, group=group, params=result.complexity.get("params"),
                  mflops=None if flops is None else flops / 1e6,
                  **{k: stat([np.nan if p.get(k) is None else p[k] for p in per]) for k in _PER_SPLIT},
                  seeds=[int(p["seed"]) for p in per] if all("seed" in p for p in per) else None,
                  test_train_ratio=(float(np.mean([p["n_test"] / p["n_train"] for p in per]))
                                    if per and all(p.get("n_train") for p in per) else None),
                  extra=dict(extra))
        if result.speed:
            lat, thr = result.speed["latency_b1"], result.speed["throughput_b256"]
            row.latency_b1_ms, row.latency_b1_p10_ms, row.latency_b1_p90_ms = (lat["median_ms"], lat["p10_ms"],
                                                                               lat["p90_ms"])
            row.throughput_b256 = thr["spectra_per_s"]
            row.set_gemm_peak(peak_gflops)
        return row

    def set_gemm_peak(self, peak_gflops: float | None) -> None:
        if peak_gflops and self.mflops is not None and self.throughput_b256 is not None:
            self.pct_gemm_peak = 100.0 * self.mflops * 1e6 * self.throughput_b256 / 1e9 / peak_gflops

    def compare_to(self, baseline: Row) -> Row:
        """Fill ``baseline``, ``speedup_pct`` and ``accuracy_delta_points`` against ``baseline`` (same run)."""
        self.baseline = baseline.model
        if self.latency_b1_ms is not None and baseline.latency_b1_ms:
            self.speedup_pct = speedup(self.latency_b1_ms, baseline.latency_b1_ms)
        if self.accuracy and baseline.accuracy:
            self.accuracy_delta_points = 100.0 * (self.accuracy.mean - baseline.accuracy.mean)
            self.accuracy_delta = paired(self, baseline) if baseline is not self else None
        return self

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Row:
        """A row from :meth:`to_dict`'s JSON (statistics as dicts; unknown keys go to ``extra``)."""
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in d.items() if k in names}
        known["extra"] = dict(known.get("extra") or {})
        known["extra"].update({k: v for k, v in d.items() if k not in names})
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: every field, statistics as their plain dicts."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    # -------------------------------------------------------------------------------------------- views
    def stat(self, key: str = "accuracy") -> Stat | None:
        """The statistic ``key`` (one of :data:`STATS`) of this row."""
        return getattr(self, key)

    def mean(self, key: str = "accuracy", percent: bool = True) -> float | None:
        s = getattr(self, key)
        return None if not s else (100.0 if percent else 1.0) * s.mean

    def sd(self, key: str = "accuracy", percent: bool = True) -> float | None:
        """The sd over splits of statistic ``key`` (per cent), ``None`` for one split or none."""
        s = getattr(self, key)
        return None if not s or s.sd is None else (100.0 if percent else 1.0) * s.sd

    def point(self) -> dict[str, Any]:
        """The row as a point of :func:`ramancmp.plots.pareto_figure` (accuracy in per cent)."""
        sd = self.accuracy.sd if self.accuracy else None
        return {"name": self.model, "accuracy": self.mean(), "accuracy_sd": None if sd is None else 100 * sd,
                "latency_ms": self.latency_b1_ms, "mflops": self.mflops, "params": self.params}

    def values(self, key: str = "accuracy", percent: bool = True) -> np.ndarray:
        s = getattr(self, key)
        return np.asarray([] if not s else s.values, dtype=float) * (100.0 if percent else 1.0)

    def cell(self, threads: str = "1", runtime: str = "torch", batch: int = 1) -> TimingCell | None:
        """The timing cell ``(threads, runtime, batch)`` of the protocol, or ``None`` (not timed so)."""
        return self.timing.cell(threads, runtime, batch) if self.timing else None

    def speedup_over(self, baseline: str | None = None, threads: str = "1", runtime: str = "torch",
                     batch: int = 1) -> Speedup | None:
        """The speed-up over row ``baseline`` (default: this row's) at one timing cell, same run; or ``None``."""
        return self.timing.speedup_over(baseline or self.baseline, threads, runtime, batch) if self.timing else None


def _plain(v: Any) -> Any:
    """``v`` for JSON: the statistics types as their dicts (as ``dataclasses.asdict`` copies everything else)."""
    if hasattr(v, "to_dict") and not isinstance(v, type):
        return v.to_dict()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_plain(x) for x in v)
    return copy.deepcopy(v)


def interval(row: Row, key: str = "accuracy", confidence: float = 0.95) -> Interval | None:
    """Mean of ``row``'s per-split ``key`` with its corrected resampled-t interval (fractions; ``None`` if absent).

    The repeats overlap, so the interval uses the Nadeau-Bengio variance correction with the row's n_test/n_train
    (:func:`ramancmp.metrics.statistics.corrected_interval`); one split gives no interval.
    """
    s = getattr(row, key)
    if not s or not s.values:
        return None
    out = corrected_interval(s.values, row.test_train_ratio or 0.0, confidence)
    return out if key == "fit_time_s" else out.clipped(0.0, 1.0)  # fractions: the interval cannot leave [0, 1]


def common_values(a: Row, b: Row, key: str = "accuracy") -> tuple[list[float], list[float]]:
    """The per-split values of statistic ``key`` of rows ``a`` and ``b`` on the splits both were measured on, in
    ``a``'s order (matched by split seed; rows without seeds pair their first values); two empty lists if none."""
    sa, sb = getattr(a, key), getattr(b, key)
    if not sa or not sb:
        return [], []
    va, vb = list(sa.values), list(sb.values)
    if a.seeds is not None and b.seeds is not None and len(a.seeds) == len(va) and len(b.seeds) == len(vb):
        common = [s for s in a.seeds if s in set(b.seeds)]
        return [va[a.seeds.index(s)] for s in common], [vb[b.seeds.index(s)] for s in common]
    n = min(len(va), len(vb))
    return va[:n], vb[:n]


def corrected_ratio(*rows: Row) -> float:
    """The n_test / n_train the corrected interval of values of ``rows`` uses (the largest of theirs; 0 if none)."""
    ratios = [r.test_train_ratio for r in rows if r.test_train_ratio is not None]
    return max(ratios) if ratios else 0.0


def paired(a: Row, b: Row, key: str = "accuracy", confidence: float = 0.95) -> Interval | None:
    """``a - b`` on the splits both rows were measured on (matched by split seed), by the corrected resampled
    t-test (:func:`ramancmp.metrics.statistics.paired_difference`): an :class:`Interval` (``mean, lo, hi, p,
    within_noise, n, ...``) in fractions, or ``None`` when the rows share no split (e.g. a one-split deployment
    row)."""
    va, vb = common_values(a, b, key)
    if not va:
        return None
    out = paired_difference(va, vb, corrected_ratio(a, b), confidence)
    return out if key == "fit_time_s" else out.clipped(-1.0, 1.0)  # a difference of fractions lies in [-1, 1]


def accuracy_text(row: Row, key: str = "accuracy") -> str:
    """``"93.58 % [91.02, 96.14]"``: a row's mean (per cent) with its 95 % interval, for generated prose."""
    iv = interval(row, key)
    if iv is None:
        return "n/a"
    text = f"{100 * iv.mean:.2f} %"
    return text if iv.lo is None else f"{text} [{100 * iv.lo:.2f}, {100 * iv.hi:.2f}]"


def difference_text(a: Row, b: Row, key: str = "accuracy") -> str:
    """``"+2.14 [+0.51, +3.77] 9/1/0 (sign p 0.00391) points"`` or ``"... points, within noise"``: ``a - b`` paired on
    their common splits with the corrected resampled t interval and the sign test, for generated prose
    (:func:`points_text`)."""
    d = paired(a, b, key)
    if d is None:
        return "n/a (no common split)"
    return points_text(d)


def points_text(d: Interval) -> str:
    """A difference of fractions in points for generated prose: ``"+2.14 [+0.51, +3.77] points (splits 9/1/0, sign
    p 0.00391)"``, followed by ``", within noise"`` / ``", too few splits to call"`` where its
    :attr:`~ramancmp.metrics.statistics.Interval.call` is not beyond noise."""
    text = f"{100 * d.mean:+.2f}"
    if d.has_interval:
        text += f" [{100 * d.lo:+.2f}, {100 * d.hi:+.2f}]"
    text += " points"
    if d.sign is not None:
        text += f" (splits {d.sign.text().replace(' (sign p', ', sign p')}"
    return text if d.beyond_noise else text + f", {d.call}"


def split_gap_text(row: Row) -> str:
    """Random-split minus by-sample accuracy of one row (different splits: an unpaired, corrected interval)."""
    if not row.accuracy or not row.accuracy_random:
        return "n/a"
    d = unpaired_difference(row.accuracy_random.values, row.accuracy.values, row.test_train_ratio or 0.0)
    return points_text(d.clipped(-1.0, 1.0))  # a difference of fractions lies in [-1, 1]


def end_to_end(rows: list[Row]) -> list[Row]:
    """The rows whose latency covers the whole path from a spectrum to its class: drops readings that time only a part
    of it (``extra["role"] == "classifier alone"``: LDA on features computed beforehand), which would otherwise sit on
    an accuracy-latency Pareto front they cannot deliver."""
    return [r for r in rows if r.extra.get("role") != "classifier alone"]


def species_text(rows: list[Row]) -> str:
    """Markdown bullets: each row's accuracy on test spectra of known species and of new species (absent from
    training), and the share of new-species spectra in the test parts."""
    lines = []
    for r in rows:
        if not r.accuracy_known_species and not r.accuracy_new_species:
            continue
        share = r.mean("new_species_fraction")
        lines.append(f"* {r.model}: known species {accuracy_text(r, 'accuracy_known_species')}, new species "
                     f"{accuracy_text(r, 'accuracy_new_species')}"
                     + ("" if share is None else f" ({share:.1f} % of the test spectra are of new species)"))
    return "\n".join(lines) if lines else "(no row has per-species results)"


def species_split_text(rows: list[Row]) -> str:
    """Markdown bullets: each row's accuracy on by-sample splits, on their new-species test spectra, and on by-species
    splits (every test species absent from training), each with its 95 % interval."""
    lines = [f"* {r.model}: by sample {accuracy_text(r)} (its new-species spectra "
             f"{accuracy_text(r, 'accuracy_new_species')}), species held out "
             f"{accuracy_text(r, 'accuracy_species_split')}" for r in rows if r.accuracy_species_split]
    return "\n".join(lines) if lines else "(no row has a by-species result)"


def specificity_text(rows: list[Row], n_classes: int) -> str:
    """Why one-vs-rest specificity near 99 % says little, with this table's own numbers."""
    spec = [r.mean("specificity") for r in rows if r.specificity]
    acc = [r.mean() for r in rows if r.specificity and r.accuracy]
    if not spec or n_classes < 2:
        return ""
    floor = 100 * specificity_floor(0.9, n_classes)
    return (f"Macro specificity ranges only from {min(spec):.2f} to {max(spec):.2f} % while accuracy ranges from "
            f"{min(acc):.2f} to {max(acc):.2f} %. With {n_classes} classes, each class's negatives are the other "
            f"{n_classes - 1} classes' spectra and one error costs one false positive among them: a model wrong on one "
            f"spectrum in ten still has a specificity of about {floor:.1f} %. Specificity is shown because the paper "
            "reports it; accuracy, balanced accuracy and macro-F1 carry the information.")


def _interval_cell(row: Row, key: str = "accuracy") -> str:
    iv = interval(row, key)
    if iv is None or iv.lo is None:
        return "–"
    return f"[{100 * iv.lo:.2f}, {100 * iv.hi:.2f}]"


def _delta_cell(row: Row) -> str:
    if row.accuracy_delta:
        return format_interval(row.accuracy_delta, signed=True)
    return _num(row.accuracy_delta_points, "+.2f")


def _mean_sd(s: Stat | None, scale: float = 100.0, digits: int = 2) -> str:
    if not s:
        return "–"
    if s.sd is None:
        return f"{scale * s.mean:.{digits}f}"
    return f"{scale * s.mean:.{digits}f} ± {scale * s.sd:.{digits}f}"


def _num(v: Any, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def _with_ci(v: float | None, ci: list[float] | None, fmt: str) -> str:
    """``value [lo, hi]`` (a 95 % interval) or the value alone."""
    if v is None:
        return "–"
    return format(v, fmt) if not ci else f"{format(v, fmt)} [{format(ci[0], fmt)}, {format(ci[1], fmt)}]"


def _mflops(v: float | None) -> str:
    return "–" if v is None else f"{v:.3g}"


#: (header, cell formatter) of the displayed table; columns whose cells are all "–" are dropped. Headers are words
#: with their units; every cell is formatted text (the raw fields are in the results JSON and in the CSV files).
COLUMNS: tuple[tuple[str, Any], ...] = (
    ("model", lambda r: r.model),
    ("group", lambda r: r.group),
    ("baseline", lambda r: r.baseline or "–"),
    ("accuracy (%)", lambda r: _mean_sd(r.accuracy)),
    ("95 % CI (%)", _interval_cell),
    ("validation (%)", lambda r: _mean_sd(r.val_accuracy)),
    ("random split (%)", lambda r: _mean_sd(r.accuracy_random)),
    ("known species (%)", lambda r: _mean_sd(r.accuracy_known_species)),
    ("new species (%)", lambda r: _mean_sd(r.accuracy_new_species)),
    ("without flagged (%)", lambda r: _mean_sd(r.accuracy_curated)),
    ("species held out (%)", lambda r: _mean_sd(r.accuracy_species_split)),
    ("balanced accuracy = sensitivity (%)", lambda r: _mean_sd(r.balanced_accuracy or r.sensitivity)),
    ("macro-F1 (%)", lambda r: _mean_sd(r.macro_f1)),
    ("specificity (%)", lambda r: _mean_sd(r.specificity)),
    ("Δ accuracy (points, 95 % CI)", _delta_cell),
    ("parameters", lambda r: _num(r.params, ",")),
    ("MFLOPs per spectrum", lambda r: _mflops(r.mflops)),
    ("training time (s)", lambda r: "–" if not r.fit_time_s else f"{r.fit_time_s.mean:.1f}"),
    ("latency, batch 1 (ms)", lambda r: _with_ci(r.latency_b1_ms, r.latency_b1_ci, ".3f")),
    ("speed-up over baseline (%)", lambda r: _with_ci(r.speedup_pct, r.speedup_ci, ".1f")),
    ("throughput, batch 256 (spectra/s)", lambda r: _num(r.throughput_b256, ",.0f")),
    ("GEMM peak reached (%)", lambda r: _num(r.pct_gemm_peak, ".1f")),
)

#: The most columns a displayed table may have (tests hold every chapter to it): a screen shows about 7.
MAX_COLUMNS = 9

#: The columns of :data:`COLUMNS` in three tables of at most :data:`MAX_COLUMNS` columns each: accuracy with its
#: interval and its difference to the baseline; the accuracy by kind of test spectrum and class; size and speed.
#: Every column of COLUMNS but ``baseline`` is in exactly one of them.
COLUMN_GROUPS: dict[str, tuple[str, ...]] = {
    "accuracy": ("model", "group", "accuracy (%)", "95 % CI (%)", "Δ accuracy (points, 95 % CI)", "validation (%)",
                 "random split (%)"),
    "by kind of spectrum": ("model", "known species (%)", "new species (%)", "without flagged (%)",
                            "species held out (%)", "balanced accuracy = sensitivity (%)", "macro-F1 (%)",
                            "specificity (%)"),
    "size and speed": ("model", "parameters", "MFLOPs per spectrum", "training time (s)", "latency, batch 1 (ms)",
                       "speed-up over baseline (%)", "throughput, batch 256 (spectra/s)", "GEMM peak reached (%)"),
}

#: The one big table of chapter 10 and the README in sections of at most :data:`MAX_COLUMNS` columns: ``title ->
#: (row groups, columns)``. Models (three views), the compression variants against their baseline, the deployment
#: variants against their float network.
SECTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "models: accuracy": (("model",), ("model", "accuracy (%)", "95 % CI (%)", "validation (%)", "random split (%)",
                                      "known species (%)", "new species (%)", "species held out (%)")),
    "models: by class, and without the flagged spectra": (
        ("model",), ("model", "balanced accuracy = sensitivity (%)", "macro-F1 (%)", "specificity (%)",
                     "without flagged (%)")),
    "models: size and speed": (("model",), ("model", "parameters", "MFLOPs per spectrum", "training time (s)",
                                            "latency, batch 1 (ms)", "throughput, batch 256 (spectra/s)",
                                            "GEMM peak reached (%)")),
    "compression variants against their baseline": (
        ("distillation", "channel_conversion", "feature_extraction"),
        ("model", "group", "baseline", "accuracy (%)", "Δ accuracy (points, 95 % CI)", "validation (%)",
         "latency, batch 1 (ms)", "speed-up over baseline (%)")),
    "deployment variants against their float network (one split)": (
        ("deployment",), ("model", "baseline", "accuracy (%)", "Δ accuracy (points, 95 % CI)", "parameters",
                          "latency, batch 1 (ms)", "speed-up over baseline (%)", "throughput, batch 256 (spectra/s)")),
}


def _cells(rows: list[Row], columns: tuple[str, ...] | None) -> tuple[list[str], list[list[str]]]:
    cols = [c for c in COLUMNS if columns is None or c[0] in columns]
    cells = [[fmt(r) for _, fmt in cols] for r in rows]
    keep = [i for i, (h, _) in enumerate(cols) if h == "model" or any(c[i] != "–" for c in cells)]
    if columns is None and len({r.group for r in rows}) <= 1:
        keep = [i for i in keep if cols[i][0] != "group"]
    return [cols[i][0] for i in keep], [[c[i] for i in keep] for c in cells]


def _as_rows(rows: Any) -> list[Row]:
    return [r if isinstance(r, Row) else Row.from_dict(r) for r in rows]


def to_frame(rows: Any, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The rows as a display table (strings: "mean ± sd" in per cent); empty columns are dropped."""
    header, cells = _cells(_as_rows(rows), columns)
    return pd.DataFrame(cells, columns=header)


def to_markdown(rows: Any, columns: tuple[str, ...] | None = None) -> str:
    """The rows as a GitHub-flavoured markdown table."""
    header, cells = _cells(_as_rows(rows), columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines)


def sections(rows: Any) -> dict[str, pd.DataFrame]:
    """The rows as the tables of :data:`SECTIONS` (each at most :data:`MAX_COLUMNS` columns; empty sections left
    out): ``title -> DataFrame``."""
    rows = _as_rows(rows)
    out = {}
    for title, (groups, columns) in SECTIONS.items():
        mine = [r for r in rows if r.group in groups]
        if mine:
            out[title] = to_frame(mine, columns)
    return out


def sections_markdown(rows: Any) -> str:
    """:func:`sections` as markdown: a bold title and a table per section."""
    rows = _as_rows(rows)
    parts = []
    for title, (groups, columns) in SECTIONS.items():
        mine = [r for r in rows if r.group in groups]
        if mine:
            parts += [f"**{title[:1].upper() + title[1:]}**", "", to_markdown(mine, columns), ""]
    return "\n".join(parts).rstrip()


def write_csv(rows: Any, directory: str | Path, stem: str = "bench_all") -> list[Path]:
    """Write the full table (every column of :data:`COLUMNS`, every row) as ``<stem>.csv`` and each section of
    :data:`SECTIONS` as ``<stem>_<section>.csv`` (``bench_all_models_accuracy.csv``, ...) into ``directory``,
    atomically; GitHub renders CSV files as tables. Returns the paths written."""
    rows = _as_rows(rows)
    header, cells = _cells(rows, tuple(h for h, _ in COLUMNS))
    frames = {stem: pd.DataFrame(cells, columns=header)}
    frames.update({f"{stem}_{re.sub(r'[^a-z0-9]+', '_', title.lower()).strip('_')}": frame
                   for title, frame in sections(rows).items()})
    written = []
    for name, frame in frames.items():
        path = Path(directory) / f"{name}.csv"
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
        written.append(path)
    return written


class TableView:
    """Several tables shown one under the other, each at most :data:`MAX_COLUMNS` columns (:func:`show`);
    ``parts`` is the list of ``(title, DataFrame)``."""

    def __init__(self, parts: list[tuple[str, pd.DataFrame]]):
        self.parts = parts

    def _repr_html_(self) -> str:
        return "".join((f"<p><b>{title}</b></p>" if title else "") + frame.to_html(index=False)
                       for title, frame in self.parts)

    def __repr__(self) -> str:
        return "\n\n".join((f"{title}\n" if title else "") + frame.to_string(index=False)
                           for title, frame in self.parts)


def show(table: Any, keep: int = 1) -> TableView:
    """A table for the page: rows (:class:`Row`) as the views of :data:`COLUMN_GROUPS` (accuracy; by kind of
    spectrum; size and speed), a DataFrame split into parts of at most :data:`MAX_COLUMNS` columns that each repeat
    its first ``keep`` columns (the names). Views without a value are left out."""
    if isinstance(table, pd.DataFrame):
        if not isinstance(table.index, pd.RangeIndex):  # a named index is a column of the page
            table = table.reset_index()
        head, rest = list(table.columns[:keep]), list(table.columns[keep:])
        step = MAX_COLUMNS - keep
        chunks = [rest[i:i + step] for i in range(0, len(rest), step)] or [[]]
        return TableView([("" if len(chunks) == 1 else f"({i + 1} of {len(chunks)})", table[head + chunk])
                          for i, chunk in enumerate(chunks)])
    rows = _as_rows(table)
    parts = []
    for title, columns in COLUMN_GROUPS.items():
        frame = to_frame(rows, columns)
        if frame.shape[1] > 1:
            parts.append((title[:1].upper() + title[1:], frame))
    return TableView(parts)


def to_text(rows: Any, columns: tuple[str, ...] | None = None) -> str:
    """The rows as an aligned plain-text table (for the terminal)."""
    header, cells = _cells(_as_rows(rows), columns)
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]
    fmt = lambda items: "  ".join(s.ljust(w) if i == 0 else s.rjust(w) for i, (s, w) in enumerate(zip(items, widths)))
    return "\n".join([fmt(header), "-" * (sum(widths) + 2 * (len(widths) - 1))] + [fmt(c) for c in cells])
