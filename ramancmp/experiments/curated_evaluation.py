"""Results with and without the spectra the curation table flags (``data/curation.csv``, :mod:`ramancmp.data.curation`).

:func:`evaluate_curated` evaluates a model twice on the *same* repeated splits: on the whole test parts, and on the
test parts without the flagged samples' spectra (training and validation parts unchanged, so stored networks are
loaded, not trained again). The two accuracies therefore pair split by split, and :func:`curated_difference` gives
their difference with the corrected resampled t interval. Nothing is removed silently: the full evaluation is always
the main number, and the flagged samples are listed, each with its reason, in the table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ramancmp.data.curation import FLAGS, flagged_samples, read_curation
from ramancmp.experiments.evaluation import evaluate
from ramancmp.experiments.tables import Row, accuracy_text, points_text, stat
from ramancmp.metrics.statistics import Interval, paired_difference

__all__ = ["curated_difference", "curated_difference_text", "curated_text", "evaluate_curated", "flagged_mask",
           "flagged_in_task"]


def _pairs(dataset: Any) -> list[tuple[str, str]]:
    """``(sample ID, species)`` of every spectrum; the species is ``""`` when the dataset has none."""
    meta = getattr(dataset, "meta", None)
    ids = np.asarray(dataset.groups).astype(str)
    if meta is None or "mineral" not in getattr(meta, "columns", ()):
        return [(i, "") for i in ids]
    return list(zip(ids, np.asarray(meta["mineral"]).astype(str)))


def flagged_mask(dataset: Any, table: pd.DataFrame | None = None, flags: tuple[str, ...] = FLAGS) -> np.ndarray:
    """``True`` for every spectrum of ``dataset`` whose (sample, species) carries one of ``flags`` in the curation
    table (a dataset without species: whose sample carries one)."""
    flagged = flagged_samples(table, flags)
    ids = {sid for sid, _ in flagged}
    return np.array([(sid, sp) in flagged if sp else sid in ids for sid, sp in _pairs(dataset)], dtype=bool)


def flagged_in_task(dataset: Any, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The curation table's rows of the (sample, species) pairs in ``dataset`` (one row per pair and flag), with
    ``task_spectra``: how many of the task's spectra they hold."""
    table = read_curation() if table is None else table
    counts = pd.Series(_pairs(dataset)).value_counts()
    keys = pd.Series(list(zip(table["rruff_id"].astype(str), table["species"].astype(str))), index=table.index)
    out = table[keys.isin(set(counts.index))].copy()
    out["task_spectra"] = keys[out.index].map(counts).astype(int)
    return out.reset_index(drop=True)


def evaluate_curated(model: Any, dataset: Any, *, full: Row | None = None, table: pd.DataFrame | None = None,
                     flags: tuple[str, ...] = FLAGS, **evaluate_kwargs: Any) -> Row:
    """A row of ``model`` with ``accuracy_curated`` filled: the accuracy on the same splits' test parts without the
    flagged spectra (``extra["flagged_test_spectra"]``: how many were dropped per split).

    ``full``: the row of the full evaluation when it exists already (made with the same ``evaluate_kwargs``);
    otherwise it is evaluated here. ``evaluate_kwargs`` go to :func:`~ramancmp.experiments.evaluation.evaluate`.
    """
    mask = flagged_mask(dataset, table, flags)
    if full is None:
        full = Row.from_evaluation(evaluate(model, dataset, **evaluate_kwargs))
    kwargs = dict(evaluate_kwargs, measure_speed=False)
    curated = evaluate(model, dataset, drop_from_test=mask, **kwargs)
    seeds = [int(p["seed"]) for p in curated.per_repeat]
    if full.seeds is not None and full.seeds != seeds:
        raise ValueError(f"the full row was measured on splits {full.seeds}, the curated evaluation on {seeds}: "
                         "pass the same evaluate arguments")
    full.accuracy_curated = stat([p["accuracy"] for p in curated.per_repeat])
    full.extra["flagged_test_spectra"] = [int(p["n_dropped_test"]) for p in curated.per_repeat]
    return full


def curated_difference(row: Row) -> Interval | None:
    """``accuracy without flagged - accuracy`` of ``row``, paired split by split (corrected resampled t, fractions)."""
    if not row.accuracy or not row.accuracy_curated:
        return None
    return paired_difference(row.accuracy_curated.values, row.accuracy.values, row.test_train_ratio or 0.0)


def curated_difference_text(row: Row) -> str:
    """``"+0.43 [-0.35, +1.21] points, within noise"``: :func:`curated_difference` for generated prose."""
    d = curated_difference(row)
    if d is None:
        return "n/a (no result without the flagged spectra)"
    return points_text(d)


def curated_text(rows: list[Row]) -> str:
    """Markdown bullets: each row's accuracy with every test spectrum and without the flagged ones, and the paired
    difference ("within noise" where its interval covers 0)."""
    lines = [f"* {r.model}: {accuracy_text(r)} with every test spectrum, {accuracy_text(r, 'accuracy_curated')} "
             f"without the flagged ones ({curated_difference_text(r)})" for r in rows if curated_difference(r)]
    return "\n".join(lines) if lines else "(no row has a result without the flagged spectra)"
