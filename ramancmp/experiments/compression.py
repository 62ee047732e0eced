"""The paper's three compression methods, each beside its baseline on the same splits (chapters 6-8, ``bench``).

Every number comes from :func:`~ramancmp.experiments.evaluation.evaluate` (same repeated splits for every model:
same task, split kind, seed and repeats), so accuracy keeps its per-split values and size/speed are measured by
:mod:`ramancmp.metrics`. The networks a method starts from (the distillation teacher, the DRSN; the variants named
in :data:`ramancmp.config.BOOK_MODELS`) and the distilled students come from the model store
(:mod:`ramancmp.experiments.store`): trained once, in parallel, on each split's training part only, and reused by
every later chapter and by ``bench all``. Methods built on them check by fingerprint that repeat ``r`` uses split
``r``'s network. Which (T, alpha) points and which conversion variants are measured is the profile's choice
(:class:`ramancmp.config.Profile`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ramancmp.compression.channel_conversion import conversion_variants
from ramancmp.compression.feature_extraction import feature_pipeline, pipeline_complexity
from ramancmp.config import BOOK_MODELS, TIMING_THREADS, get_profile
from ramancmp.data.splits import repeated_splits
from ramancmp.data.tasks import load_task
from ramancmp.experiments.evaluation import EvaluationResult, evaluate
from ramancmp.experiments.executor import Executor
from ramancmp.experiments.results import save_result
from ramancmp.experiments.store import (PretrainedClassifier, TrainJob, make_job, sequence_factory, train_all)
from ramancmp.experiments.tables import Row
from ramancmp.metrics import gemm_peak_gflops

__all__ = ["bench_compression", "channel_conversion_experiment", "distillation_experiment",
           "feature_extraction_experiment", "pretrained_splits", "splits_of"]


def splits_of(dataset: Any, profile: Any, seed: int, split_kind: str = "sample") -> list[Any]:
    """The repeated splits every experiment of a profile uses (the same as :func:`evaluate`'s)."""
    prof = get_profile(profile)
    return repeated_splits(np.asarray(dataset.y), np.asarray(dataset.groups), kind=split_kind,
                           repeats=prof.repeats, seed=seed)


def _jobs(model: str, dataset: Any, splits: list[Any], profile: Any, model_kwargs: dict | None,
          device: str) -> list[TrainJob]:
    return [make_job(model, dataset, s, profile, model_kwargs=model_kwargs, device=device) for s in splits]


def pretrained_splits(model: str, dataset: Any, profile: Any, seed: int, split_kind: str = "sample",
                      model_kwargs: dict | None = None, device: str = "auto",
                      executor: Executor | str | None = None) -> list[Any]:
    """``model`` trained (or loaded) on each repeated split's training part, in split order."""
    splits = splits_of(dataset, profile, seed, split_kind)
    return train_all(_jobs(model, dataset, splits, profile, model_kwargs, device), executor)


def _evaluate_stored(estimators: list[Any], name: str, dataset: Any, **common: Any) -> EvaluationResult:
    return evaluate(sequence_factory([PretrainedClassifier(e) for e in estimators], name), dataset,
                    reuse_checkpoints=False, **common)


def distillation_experiment(dataset: Any, profile: Any = None, seed: int = 0, split_kind: str = "sample",
                            grid: list[tuple[float, float]] | None = None, progress: bool = False,
                            device: str = "auto", executor: Executor | str | None = None) -> dict[str, Any]:
    """Teacher (``BOOK_MODELS["efficientnet"]``), the student (``BOOK_MODELS["cnn"]``) trained alone, and the
    student distilled at every (T, alpha) of ``grid`` (default: the profile's ``distillation_grid``).

    All students of the grid train in parallel through ``executor`` (after the teachers). The (T, alpha) reported as
    *the* distilled student is chosen on the **validation** parts (mean best validation accuracy over repeats),
    never on the test parts.
    """
    prof = get_profile(profile)
    grid = [tuple(g) for g in (grid or prof.distillation_grid)]
    teacher, teacher_kwargs = BOOK_MODELS["efficientnet"]
    student, student_kwargs = BOOK_MODELS["cnn"]
    splits = splits_of(dataset, prof, seed, split_kind)
    teacher_jobs = _jobs(teacher, dataset, splits, prof, teacher_kwargs, device)
    train_all(teacher_jobs, executor, progress=progress)
    student_jobs = {cfg: [make_job(student, dataset, s, prof, model_kwargs=student_kwargs, device=device,
                                   teacher=tj, distillation=cfg) for s, tj in zip(splits, teacher_jobs)]
                    for cfg in grid}
    trained = train_all([j for jobs in student_jobs.values() for j in jobs], executor, progress=progress)
    common = dict(split_kind=split_kind, seed=seed, profile=prof, progress=progress, device=device)
    out: dict[str, Any] = {"teacher": evaluate(teacher, dataset, model_kwargs=teacher_kwargs, **common),
                           "student_alone": evaluate(student, dataset, model_kwargs=student_kwargs, **common),
                           "grid": []}
    for i, (t, a) in enumerate(grid):
        students = trained[i * len(splits):(i + 1) * len(splits)]
        res = _evaluate_stored(students, f"{student}_distilled_T{t:g}_a{a:g}", dataset, **common)
        val = float(np.mean([h["best_val_acc"] or 0.0 for h in res.histories]))
        out["grid"].append({"config": {"temperature": t, "alpha": a}, "val_acc": val, "result": res})
    best = max(out["grid"], key=lambda g: g["val_acc"])
    out["distilled"], out["chosen"] = best["result"], best["config"]
    return out


def channel_conversion_experiment(dataset: Any, profile: Any = None, seed: int = 0, split_kind: str = "sample",
                                  progress: bool = False, device: str = "auto",
                                  executor: Executor | str | None = None) -> dict[str, Any]:
    """DRSN-CW (the baseline, shared with chapters 5 and 8) and every channel-conversion variant of the profile.

    All variants' networks train in parallel first; evaluation (and timing) follows, with nothing training.
    """
    prof = get_profile(profile)
    drsn, drsn_kwargs = BOOK_MODELS["drsn"]
    variants = conversion_variants(prof.conversion_variants)
    splits = splits_of(dataset, prof, seed, split_kind)
    train_all([j for v in variants for j in _jobs(v.model, dataset, splits, prof, v.kwargs, device)]
              + _jobs(drsn, dataset, splits, prof, drsn_kwargs, device), executor, progress=progress)
    common = dict(split_kind=split_kind, seed=seed, profile=prof, progress=progress, device=device)
    out: dict[str, Any] = {"baseline": evaluate(drsn, dataset, model_kwargs=drsn_kwargs, **common), "variants": []}
    for v in variants:
        res = evaluate(v.model, dataset, model_kwargs=v.kwargs, **common)
        res.model = v.label
        out["variants"].append({"variant": v.to_dict(), "result": res})
    return out


def feature_extraction_experiment(dataset: Any, profile: Any = None, seed: int = 0, split_kind: str = "sample",
                                  depths: list[int] | None = None, progress: bool = False,
                                  device: str = "auto", executor: Executor | str | None = None) -> dict[str, Any]:
    """The DRSN and DRSN-prefix features + LDA at every depth (0 = stem only ... num_stages = all)."""
    prof = get_profile(profile)
    drsn, drsn_kwargs = BOOK_MODELS["drsn"]
    drsns = pretrained_splits(drsn, dataset, prof, seed, split_kind, model_kwargs=drsn_kwargs, device=device,
                              executor=executor)
    common = dict(split_kind=split_kind, seed=seed, profile=prof, progress=progress)
    out: dict[str, Any] = {"baseline": evaluate(drsn, dataset, model_kwargs=drsn_kwargs, device=device, **common),
                           "depths": []}
    n_stages = drsns[0].model_.num_stages
    in_length = np.asarray(dataset.X).shape[1]
    for depth in (range(n_stages + 1) if depths is None else depths):
        pipes = [feature_pipeline(d, depth) for d in drsns]
        res = evaluate(sequence_factory(pipes, f"drsn_features{depth}_lda"), dataset, **common)
        res.complexity = pipeline_complexity(res.estimator, in_length)
        out["depths"].append({"depth": int(depth), "result": res})
    return out


def compression_rows(dist: dict[str, Any] | None, conv: dict[str, Any] | None, feat: dict[str, Any] | None,
                     peak_gflops: float | None = None) -> list[Row]:
    """The three experiments' results as :class:`Row`, each compared with its baseline (the teacher; DRSN-CW)."""
    rows: list[Row] = []

    def add(group: str, result: Any, baseline: Row | None = None, **extra: Any) -> Row:
        row = Row.from_evaluation(result, group=group, peak_gflops=peak_gflops, **extra)
        rows.append(row.compare_to(baseline or row))
        return row

    if dist:
        teacher = add("distillation", dist["teacher"], role="teacher")
        add("distillation", dist["student_alone"], teacher, role="student alone")
        for g in dist["grid"]:
            add("distillation", g["result"], teacher, role="distilled", distillation=g["config"],
                val_acc=g["val_acc"], chosen=g["config"] == dist["chosen"])
    if conv:
        base = add("channel_conversion", conv["baseline"], role="baseline")
        for v in conv["variants"]:
            add("channel_conversion", v["result"], base, role="variant", variant=v["variant"])
    if feat:
        base = add("feature_extraction", feat["baseline"], role="baseline")
        for d in feat["depths"]:
            add("feature_extraction", d["result"], base, role="variant", depth=d["depth"])
    return rows


def bench_compression(task: str = "rruff-groups-10", profile: Any = None, seed: int = 0,
                      split_kind: str = "sample", save: bool = True, dataset: Any = None,
                      progress: bool = False, distillation_grid: list | None = None,
                      executor: Executor | str | None = None) -> dict[str, Any]:
    """All three methods beside their baselines in one run; writes ``results/bench_compression.json``."""
    prof = get_profile(profile)
    ds = dataset if dataset is not None else load_task(task)
    kw = dict(profile=prof, seed=seed, split_kind=split_kind, progress=progress, executor=executor)
    dist = distillation_experiment(ds, grid=distillation_grid, **kw)
    conv = channel_conversion_experiment(ds, **kw)
    feat = feature_extraction_experiment(ds, **kw)
    gemm = gemm_peak_gflops(n=2048, runs=5, threads=TIMING_THREADS)
    table = {"what": "compression", "task": ds.task, "profile": prof.name, "seed": seed, "split_kind": split_kind,
             "repeats": prof.repeats, "n_spectra": int(len(ds.y)), "n_classes": len(ds.class_names),
             "threads": TIMING_THREADS, "gemm": gemm, "distillation_chosen": dist["chosen"],
             "rows": compression_rows(dist, conv, feat, gemm["gflops"])}
    if save:
        path = save_result("bench_compression", table, data_sha256=ds.source_sha256, task=ds.task,
                           split_kind=split_kind, seed=seed, profile=prof.name, preprocess=ds.preprocess.to_dict())
        table["saved_to"] = str(path)
    return table
