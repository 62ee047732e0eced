"""THE row schema of every comparison table in the book, and its renderers (text, pandas, markdown).

One :class:`Row` per model or variant, whatever produced it (a model evaluated over repeated splits, a compression
variant beside its baseline, a deployment variant on one split). Accuracy-like statistics are
``{"mean", "sd", "values"}`` dicts of fractions with the **per-split values** kept, so later chapters and tests can
make paired comparisons; ``sd`` is ``None`` where only one split was measured.

>>> rows = [Row.from_evaluation(result)]          # doctest: +SKIP
>>> to_frame(rows); to_markdown(rows); to_text(rows)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Row", "stat", "to_frame", "to_markdown", "to_text", "speedup"]

STATS = ("accuracy", "sensitivity", "specificity", "fit_time_s", "accuracy_random")


def stat(values: Any) -> dict[str, Any] | None:
    """``{"mean", "sd", "values"}`` of per-split values (``sd`` with ``ddof=1``; ``None`` for one value)."""
    if values is None:
        return None
    vals = [float(v) for v in np.atleast_1d(np.asarray(values, dtype=float))]
    if not vals:
        return None
    return {"mean": float(np.mean(vals)), "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else None,
            "values": vals}


def speedup(latency_ms: float, baseline_ms: float) -> float:
    """Per cent less latency than the baseline: ``100 (1 - latency / baseline)``."""
    return 100.0 * (1.0 - latency_ms / baseline_ms)


@dataclass
class Row:
    """One model or variant in a comparison table (see the module docstring)."""

    model: str  # the name shown (a registry name, or a variant's label)
    group: str = "model"  # "model", "distillation", "channel_conversion", "feature_extraction", "deployment"
    accuracy: dict[str, Any] | None = None  # test accuracy, by-sample split: {"mean", "sd", "values"} (fractions)
    sensitivity: dict[str, Any] | None = None  # macro
    specificity: dict[str, Any] | None = None  # macro
    fit_time_s: dict[str, Any] | None = None
    accuracy_random: dict[str, Any] | None = None  # the same model on random (leaky) splits
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
    # every cell: timing["cells"][threads][runtime][batch] = {median_ms, lo_ms, hi_ms} per spectrum and
    # timing["speedup"][baseline][f"{threads}/{runtime}/{batch}"] = {pct, lo, hi}.
    latency_b1_ci: list[float] | None = None
    speedup_ci: list[float] | None = None
    timing: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # group-specific: (T, alpha), variant, depth, agreement ...

    # -------------------------------------------------------------------------------------------- builders
    @classmethod
    def from_evaluation(cls, result: Any, *, group: str = "model", peak_gflops: float | None = None,
                        name: str | None = None, **extra: Any) -> "Row":
        """A row from an :class:`~ramancmp.experiments.evaluation.EvaluationResult` (per-split values kept)."""
        per = result.per_repeat
        flops = result.complexity.get("flops")
        row = cls(model=name or result.model, group=group, params=result.complexity.get("params"),
                  mflops=None if flops is None else flops / 1e6,
                  **{k: stat([p[k] for p in per]) for k in ("accuracy", "sensitivity", "specificity", "fit_time_s")},
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

    def compare_to(self, baseline: "Row") -> "Row":
        """Fill ``baseline``, ``speedup_pct`` and ``accuracy_delta_points`` against ``baseline`` (same run)."""
        self.baseline = baseline.model
        if self.latency_b1_ms is not None and baseline.latency_b1_ms:
            self.speedup_pct = speedup(self.latency_b1_ms, baseline.latency_b1_ms)
        if self.accuracy and baseline.accuracy:
            self.accuracy_delta_points = 100.0 * (self.accuracy["mean"] - baseline.accuracy["mean"])
        return self

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Row":
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in d.items() if k in names}
        known.setdefault("extra", {}).update({k: v for k, v in d.items() if k not in names})
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # -------------------------------------------------------------------------------------------- views
    def mean(self, key: str = "accuracy", percent: bool = True) -> float | None:
        s = getattr(self, key)
        return None if not s else (100.0 if percent else 1.0) * s["mean"]

    def point(self) -> dict[str, Any]:
        """The row as a point of :func:`ramancmp.plots.pareto_figure` (accuracy in per cent)."""
        sd = (self.accuracy or {}).get("sd")
        return {"name": self.model, "accuracy": self.mean(), "accuracy_sd": None if sd is None else 100 * sd,
                "latency_ms": self.latency_b1_ms, "mflops": self.mflops, "params": self.params}

    def values(self, key: str = "accuracy", percent: bool = True) -> np.ndarray:
        s = getattr(self, key)
        return np.asarray([] if not s else s["values"], dtype=float) * (100.0 if percent else 1.0)


def _mean_sd(s: dict[str, Any] | None, scale: float = 100.0, digits: int = 2) -> str:
    if not s:
        return "–"
    if s.get("sd") is None:
        return f"{scale * s['mean']:.{digits}f}"
    return f"{scale * s['mean']:.{digits}f} ± {scale * s['sd']:.{digits}f}"


def _num(v: Any, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def _with_ci(v: float | None, ci: list[float] | None, fmt: str) -> str:
    """``value [lo, hi]`` (a 95 % interval) or the value alone."""
    if v is None:
        return "–"
    return format(v, fmt) if not ci else f"{format(v, fmt)} [{format(ci[0], fmt)}, {format(ci[1], fmt)}]"


def _mflops(v: float | None) -> str:
    return "–" if v is None else f"{v:.3g}"


#: (header, cell formatter) of the displayed table; columns whose cells are all "–" are dropped.
COLUMNS: tuple[tuple[str, Any], ...] = (
    ("model", lambda r: r.model),
    ("group", lambda r: r.group),
    ("accuracy (%)", lambda r: _mean_sd(r.accuracy)),
    ("random split (%)", lambda r: _mean_sd(r.accuracy_random)),
    ("sensitivity (%)", lambda r: _mean_sd(r.sensitivity)),
    ("specificity (%)", lambda r: _mean_sd(r.specificity)),
    ("Δ accuracy (points)", lambda r: _num(r.accuracy_delta_points, "+.2f")),
    ("params", lambda r: _num(r.params, ",")),
    ("MFLOPs", lambda r: _mflops(r.mflops)),
    ("train s", lambda r: "–" if not r.fit_time_s else f"{r.fit_time_s['mean']:.1f}"),
    ("latency b1 (ms)", lambda r: _with_ci(r.latency_b1_ms, r.latency_b1_ci, ".3f")),
    ("speed-up (%)", lambda r: _with_ci(r.speedup_pct, r.speedup_ci, ".1f")),
    ("throughput b256 (/s)", lambda r: _num(r.throughput_b256, ",.0f")),
    ("% GEMM peak", lambda r: _num(r.pct_gemm_peak, ".1f")),
)


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


def to_text(rows: Any, columns: tuple[str, ...] | None = None) -> str:
    """The rows as an aligned plain-text table (for the terminal)."""
    header, cells = _cells(_as_rows(rows), columns)
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]
    fmt = lambda items: "  ".join(s.ljust(w) if i == 0 else s.rjust(w) for i, (s, w) in enumerate(zip(items, widths)))
    return "\n".join([fmt(header), "-" * (sum(widths) + 2 * (len(widths) - 1))] + [fmt(c) for c in cells])
