"""The three compression experiments, each beside its baseline on the same splits, for chapters 6-8 and the bench.

Every number comes from :func:`ramancmp.evaluation.evaluate` (same repeated splits for every model: same task,
split kind, seed and repeats), so accuracy is mean +- sd over repeats and size/speed are measured by
:mod:`ramancmp.metrics`. Trained networks that a method starts from (the distillation teacher, the DRSN; the variants
named in :data:`ramancmp.config.BOOK_MODELS`) come from :func:`ramancmp.checkpoints.get_or_train` -- one per split,
trained on its training part only, and the very networks chapters 4 and 5 trained when their checkpoints are there.
Methods built on them (students, feature pipelines) check by fingerprint that repeat ``r`` uses split ``r``'s network.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ramancmp.checkpoints import get_or_train, sequence_factory
from ramancmp.compression.channel_conversion import conversion_variants
from ramancmp.compression.distillation import DistilledClassifier, distillation_grid
from ramancmp.compression.feature_extraction import feature_pipeline, pipeline_complexity
from ramancmp.config import BOOK_MODELS, TIMING_THREADS, get_profile

__all__ = ["bench_compression", "pretrained_splits", "distillation_experiment", "channel_conversion_experiment",
           "pick_fastest_within",
           "feature_extraction_experiment", "speedup"]


def speedup(latency_ms: float, baseline_ms: float) -> float:
    """Per cent less batch-1 latency than the baseline: ``100 (1 - latency / baseline)``."""
    return 100.0 * (1.0 - latency_ms / baseline_ms)


def pretrained_splits(model: str, dataset: Any, profile: Any, seed: int, split_kind: str = "sample",
                      model_kwargs: dict | None = None, device: str = "auto") -> list[Any]:
    """``model`` trained (or loaded) on each repeated split's training part, in split order."""
    from ramancmp.data.splits import repeated_splits

    prof = get_profile(profile)
    splits = repeated_splits(np.asarray(dataset.y), np.asarray(dataset.groups), kind=split_kind,
                             repeats=prof.repeats, seed=seed)
    return [get_or_train(model, dataset, s, prof, model_kwargs=model_kwargs, device=device) for s in splits]


def distillation_experiment(dataset: Any, profile: Any = "quick", seed: int = 0, split_kind: str = "sample",
                            teacher: str | None = None, student: str | None = None, grid: list | None = None,
                            progress: bool = False, device: str = "auto") -> dict[str, Any]:
    """Teacher, the student trained alone, and the student distilled at every (T, alpha) of ``grid``.

    The (T, alpha) reported as *the* distilled student is chosen on the **validation** parts (mean best
    validation accuracy over repeats), never on the test parts.
    """
    from ramancmp.evaluation import evaluate

    prof = get_profile(profile)
    grid = grid or distillation_grid(prof)
    teacher, teacher_kwargs = (teacher, {}) if teacher else BOOK_MODELS["efficientnet"]
    student = student or BOOK_MODELS["cnn"][0]
    teachers = pretrained_splits(teacher, dataset, prof, seed, split_kind, model_kwargs=teacher_kwargs,
                                 device=device)
    common = dict(split_kind=split_kind, seed=seed, profile=prof, progress=progress, device=device)
    out: dict[str, Any] = {"teacher": evaluate(teacher, dataset, model_kwargs=teacher_kwargs, **common)}
    out["student_alone"] = evaluate(student, dataset, **common)
    out["grid"] = []
    for cfg in grid:
        students = [DistilledClassifier(t, model=student, temperature=cfg.temperature, alpha=cfg.alpha,
                                        max_epochs=prof.max_epochs, patience=prof.patience,
                                        batch_size=prof.batch_size, seed=seed + r, device=device)
                    for r, t in enumerate(teachers)]
        name = f"{student}_distilled_T{cfg.temperature:g}_a{cfg.alpha:g}"
        res = evaluate(sequence_factory(students, name), dataset, split_kind=split_kind, seed=seed, profile=prof,
                       progress=progress)
        val = float(np.mean([h["best_val_acc"] or 0.0 for h in res.histories]))
        out["grid"].append({"config": cfg.to_dict(), "val_acc": val, "result": res})
    best = max(out["grid"], key=lambda g: g["val_acc"])
    out["distilled"], out["chosen"] = best["result"], best["config"]
    return out


def channel_conversion_experiment(dataset: Any, profile: Any = "quick", seed: int = 0, split_kind: str = "sample",
                                  variants: list | None = None, progress: bool = False,
                                  device: str = "auto") -> dict[str, Any]:
    """DRSN-CW (the baseline, shared with chapters 5 and 8) and every channel-conversion variant."""
    from ramancmp.evaluation import evaluate

    prof = get_profile(profile)
    drsn, drsn_kwargs = BOOK_MODELS["drsn"]
    out: dict[str, Any] = {"baseline": evaluate(drsn, dataset, split_kind=split_kind, seed=seed, profile=prof,
                                                model_kwargs=drsn_kwargs, progress=progress, device=device),
                           "variants": []}
    for v in variants or conversion_variants(prof):
        res = evaluate(v.model, dataset, split_kind=split_kind, seed=seed, profile=prof, model_kwargs=v.kwargs,
                       progress=progress, device=device)
        res.model = v.label
        out["variants"].append({"variant": v.to_dict(), "result": res})
    return out


def feature_extraction_experiment(dataset: Any, profile: Any = "quick", seed: int = 0, split_kind: str = "sample",
                                  depths: list[int] | None = None, progress: bool = False,
                                  device: str = "auto") -> dict[str, Any]:
    """The DRSN and DRSN-prefix features + LDA at every depth (0 = stem only ... num_stages = all)."""
    from ramancmp.evaluation import evaluate

    prof = get_profile(profile)
    drsn, drsn_kwargs = BOOK_MODELS["drsn"]
    drsns = pretrained_splits(drsn, dataset, prof, seed, split_kind, model_kwargs=drsn_kwargs, device=device)
    out: dict[str, Any] = {"baseline": evaluate(drsn, dataset, split_kind=split_kind, seed=seed, profile=prof,
                                                model_kwargs=drsn_kwargs, progress=progress, device=device),
                           "depths": []}
    n_stages = drsns[0].model_.num_stages
    in_length = np.asarray(dataset.X).shape[1]
    for depth in (range(n_stages + 1) if depths is None else depths):
        pipes = [feature_pipeline(d, depth) for d in drsns]
        res = evaluate(sequence_factory(pipes, f"drsn_features{depth}_lda"), dataset, split_kind=split_kind,
                       seed=seed, profile=prof, progress=progress)
        res.complexity = pipeline_complexity(res.estimator, in_length)
        out["depths"].append({"depth": int(depth), "result": res})
    return out


def bench_compression(task: str = "rruff-groups-10", profile: Any = "quick", seed: int = 0,
                      split_kind: str = "sample", save: bool = True, dataset: Any = None,
                      progress: bool = False, distillation_grid: list | None = None) -> dict[str, Any]:
    """All three methods beside their baselines in one run; writes ``results/bench_compression.json``.

    Rows are :mod:`ramancmp.bench` rows plus ``group`` (method), ``baseline`` (the row it is compared with),
    ``latency_ratio`` (latency / baseline latency, batch 1, medians of this run) and ``speedup_pct``.
    """
    from ramancmp.bench import _row
    from ramancmp.data.tasks import load_task
    from ramancmp.metrics import gemm_peak_gflops
    from ramancmp.results import save_result

    prof = get_profile(profile)
    ds = dataset if dataset is not None else load_task(task)
    gemm = gemm_peak_gflops(n=2048, runs=5, threads=TIMING_THREADS)
    kw = dict(profile=prof, seed=seed, split_kind=split_kind, progress=progress)
    dist = distillation_experiment(ds, grid=distillation_grid, **kw)
    conv = channel_conversion_experiment(ds, **kw)
    feat = feature_extraction_experiment(ds, **kw)

    rows: list[dict[str, Any]] = []

    def add(group: str, result: Any, baseline: Any, **extra: Any) -> None:
        row = _row(result, gemm["gflops"])
        row.update({"group": group, "baseline": baseline.model, **extra})
        if "latency_b1_ms" in row and baseline.speed:
            base_ms = baseline.speed["latency_b1"]["median_ms"]
            row["latency_ratio"] = row["latency_b1_ms"] / base_ms
            row["speedup_pct"] = speedup(row["latency_b1_ms"], base_ms)
        row["accuracy_delta_points"] = 100.0 * (result.metrics["accuracy"]["mean"]
                                                - baseline.metrics["accuracy"]["mean"])
        rows.append(row)

    add("distillation", dist["teacher"], dist["teacher"])
    add("distillation", dist["student_alone"], dist["teacher"])
    for g in dist["grid"]:
        add("distillation", g["result"], dist["teacher"], distillation=g["config"], val_acc=g["val_acc"],
            chosen=g["config"] == dist["chosen"])
    add("channel_conversion", conv["baseline"], conv["baseline"])
    for v in conv["variants"]:
        add("channel_conversion", v["result"], conv["baseline"], variant=v["variant"])
    add("feature_extraction", feat["baseline"], feat["baseline"])
    for d in feat["depths"]:
        add("feature_extraction", d["result"], feat["baseline"], depth=d["depth"])

    table = {"what": "compression", "task": ds.task, "profile": prof.name, "seed": seed, "split_kind": split_kind,
             "repeats": prof.repeats, "n_spectra": int(len(ds.y)), "n_classes": len(ds.class_names),
             "threads": TIMING_THREADS, "gemm": gemm, "rows": rows, "distillation_chosen": dist["chosen"]}
    if save:
        path = save_result("bench_compression", table, data_sha256=ds.source_sha256, task=ds.task,
                           split_kind=split_kind, seed=seed, profile=prof.name, preprocess=ds.preprocess.to_dict())
        table["saved_to"] = str(path)
    return table


def pick_fastest_within(candidates: list[dict[str, Any]], baseline_accuracy: float, points: float = 1.0, *,
                        accuracy: str = "accuracy", latency: str = "latency_ms") -> dict[str, Any]:
    """The book's rule for "the" compressed variant: the fastest candidate whose mean accuracy is at most ``points``
    below the baseline's (same units as ``accuracy``); the most accurate candidate if none qualifies.

    The rule is fixed before looking at results and applied to test accuracy, as the paper does; chapters say so.
    """
    if not candidates:
        raise ValueError("no candidates to pick from")
    close = [c for c in candidates if c[accuracy] >= baseline_accuracy - points]
    return min(close, key=lambda c: c[latency]) if close else max(candidates, key=lambda c: c[accuracy])
