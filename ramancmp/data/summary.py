"""What a task contains, as a JSON-able dict and as a readable table (``python -m ramancmp data summary``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ramancmp.config import PROJECT_ROOT
from ramancmp.data.tasks import load_task

__all__ = ["summarize", "format_summary"]


def summarize(task: str = "rruff-groups-10", source: str | Path | None = None) -> dict[str, Any]:
    """The summary of ``task`` built from ``source`` (default: the data cache's archive): spectra, classes,
    samples, per-class counts, lasers, the funnel of exclusions, skipped files and dropped spectra with reasons."""
    return load_task(task, source=source).summary


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0]


def _shown(source: Any) -> str:
    """A source inside the project as a project-relative path (no path of this machine in the book's outputs)."""
    try:
        return Path(source).resolve().relative_to(PROJECT_ROOT).as_posix()
    except (TypeError, ValueError, OSError):
        return str(source)


def format_summary(summary: dict[str, Any], max_listed: int = 10) -> str:
    """A plain-text report of :func:`summarize`'s dict: totals, a per-class table, lasers and exclusions."""
    lines = [f"task      {summary['task']}: {summary.get('description', '')}",
             f"source    {_shown(summary.get('source'))}",
             f"sha256    {summary.get('source_sha256')}",
             f"spectra   {summary['n_spectra']:,} in {summary['n_classes']} classes from "
             f"{summary['n_samples']:,} samples ({summary.get('processing', 'Processed')} spectra)"]
    pp = summary.get("preprocess") or {}
    if pp:
        lines.append(f"grid      {pp['grid_start']:g}-{pp['grid_stop']:g} cm^-1, {pp['n_points']} points, "
                     f"{pp['normalisation']} normalisation, smoothing {pp['smoothing'] or 'none'}")
    classes = summary.get("classes", {})
    if classes:
        width = max(8, *(len(c) for c in classes))
        lines += ["", f"{'class':<{width}}  {'spectra':>7}  {'samples':>7}"]
        lines += [f"{c:<{width}}  {v['spectra']:>7,}  {v['samples']:>7,}" for c, v in list(classes.items())[:50]]
        if len(classes) > 50:
            lines.append(f"... and {len(classes) - 50} more classes")
    lasers = summary.get("lasers", {})
    if lasers:
        lines += ["", "lasers    " + ", ".join(f"{k} nm: {v:,}" for k, v in lasers.items())]
    funnel = summary.get("funnel", {})
    if funnel:
        lines += ["", "files in source            {:>6,}".format(funnel["files"]),
                  "  unreadable (skipped)     {:>6,}".format(funnel["unreadable_files"]),
                  "  other processing (RAW)   {:>6,}".format(funnel["other_processing"]),
                  "  unknown mineral          {:>6,}".format(funnel["unknown_mineral"]),
                  "  not in this task         {:>6,}".format(funnel["not_in_task"]),
                  "  not covering grid        {:>6,}".format(funnel["not_covering_grid"]),
                  "  flat on the grid         {:>6,}".format(funnel["flat"]),
                  "  mostly negative          {:>6,}".format(funnel.get("mostly_negative", 0)),
                  "  used                     {:>6,}".format(funnel["used"])]
    skipped = summary.get("skipped_files", [])
    if skipped:
        lines += ["", f"skipped files ({len(skipped)}):"]
        lines += [f"  {s['source']}: {s['reason']}" for s in skipped[:max_listed]]
        if len(skipped) > max_listed:
            lines.append(f"  ... {len(skipped) - max_listed} more (see --json)")
    dropped = summary.get("dropped", [])
    if dropped:
        kinds = Counter(_reason_kind(d["reason"]) for d in dropped)
        per_class = Counter(d["mineral"] for d in dropped)
        lines += ["", "dropped from the task: " + ", ".join(f"{k} {v:,}" for k, v in kinds.items()),
                  "  most affected minerals: " + ", ".join(f"{m} {n}" for m, n in per_class.most_common(5))]
    return "\n".join(lines)
