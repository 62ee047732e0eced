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
import torch

from ramancmp.compression.channel_conversion import conversion_variants
from ramancmp.compression.feature_extraction import SHRINKAGE_LDA, PrefixLDA, feature_pipeline, pipeline_complexity
from ramancmp.config import DRSN, PAPER_DRSN, STUDENT, TEACHER, TIMING_THREADS, Profile
from ramancmp.data.splits import repeated_splits, split_groups
from ramancmp.data.tasks import load_task
from ramancmp.experiments.evaluation import EvaluationResult, evaluate
from ramancmp.experiments.executor import Executor
from ramancmp.experiments.results import save_result
from ramancmp.experiments.speed import time_rows
from ramancmp.experiments.store import PretrainedClassifier, TrainJob, make_job, sequence_factory, train_all
from ramancmp.experiments.tables import Row, Stat
from ramancmp.metrics import gemm_peak_gflops

__all__ = ["PAPER_DRSN_LABEL", "PAPER_FOLDED_LABEL", "bench_compression", "channel_conversion_experiment",
           "compression_rows", "distillation_experiment", "feature_extraction_experiment", "pretrained_splits",
           "splits_of"]


def splits_of(dataset: Any, profile: Profile, seed: int, split_kind: str = "sample") -> list[Any]:
    """The repeated splits every experiment of a profile uses (the same as :func:`evaluate`'s)."""
    return repeated_splits(np.asarray(dataset.y), split_groups(dataset, split_kind), kind=split_kind,
                           repeats=profile.repeats, seed=seed)


def _jobs(model: str, dataset: Any, splits: list[Any], profile: Profile, model_kwargs: dict | None,
          device: str) -> list[TrainJob]:
    return [make_job(model, dataset, s, profile, model_kwargs=model_kwargs, device=device) for s in splits]


def pretrained_splits(model: str, dataset: Any, profile: Profile, seed: int, split_kind: str = "sample",
                      model_kwargs: dict | None = None, device: str = "auto",
                      executor: Executor | str | None = None) -> list[Any]:
    """``model`` trained (or loaded) on each repeated split's training part, in split order."""
    splits = splits_of(dataset, profile, seed, split_kind)
    return train_all(_jobs(model, dataset, splits, profile, model_kwargs, device), executor)


def _evaluate_stored(estimators: list[Any], name: str, dataset: Any, **common: Any) -> EvaluationResult:
    return evaluate(sequence_factory([PretrainedClassifier(e) for e in estimators], name), dataset,
                    reuse_checkpoints=False, **common)


def _inputs(dataset: Any, result: EvaluationResult) -> np.ndarray:
    """Real spectra to time on: the test part of the result's last split."""
    return np.asarray(dataset.X, dtype=np.float32)[np.asarray(result.last_split.test)]


def distillation_experiment(dataset: Any, profile: Profile, seed: int = 0, split_kind: str = "sample",
                            grid: list[tuple[float, float]] | None = None, progress: bool = False,
                            device: str = "auto", executor: Executor | str | None = None) -> dict[str, Any]:
    """Teacher (:data:`ramancmp.config.TEACHER`), the student (:data:`~ramancmp.config.STUDENT`) trained alone, and the
    student distilled at every (T, alpha) of ``grid`` (default: the profile's ``distillation_grid``).

    All students of the grid train in parallel through ``executor`` (after the teachers). The (T, alpha) reported as
    *the* distilled student is chosen on the **validation** parts (mean best validation accuracy over repeats),
    never on the test parts. ``out["rows"]``: teacher, student alone and every distilled student as
    :class:`Row`, timed together by the book's protocol (:func:`ramancmp.experiments.speed.time_rows`).
    """
    grid = [tuple(g) for g in (grid or profile.distillation_grid)]
    teacher, teacher_kwargs, student, student_kwargs = TEACHER, {}, STUDENT, {}
    splits = splits_of(dataset, profile, seed, split_kind)
    teacher_jobs = _jobs(teacher, dataset, splits, profile, teacher_kwargs, device)
    train_all(teacher_jobs, executor, progress=progress)
    student_jobs = {cfg: [make_job(student, dataset, s, profile, model_kwargs=student_kwargs, device=device,
                                   teacher=tj, distillation=cfg) for s, tj in zip(splits, teacher_jobs)]
                    for cfg in grid}
    trained = train_all([j for jobs in student_jobs.values() for j in jobs], executor, progress=progress)
    common = dict(split_kind=split_kind, seed=seed, profile=profile, progress=progress, device=device,
                  measure_speed=False)
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
    rows = []
    teacher_row = _add(rows, "distillation", out["teacher"], None, role="teacher")
    _add(rows, "distillation", out["student_alone"], teacher_row, role="student alone")
    for g in out["grid"]:
        _add(rows, "distillation", g["result"], teacher_row, role="distilled", distillation=g["config"],
             val_acc=g["val_acc"], chosen=g["config"] == out["chosen"])
    targets = {r.model: res.estimator for r, res in zip(rows, [out["teacher"], out["student_alone"]]
                                                         + [g["result"] for g in out["grid"]])}
    out["timing"] = time_rows(rows, targets, baselines=[teacher_row.model, rows[1].model], profile=profile,
                              inputs=_inputs(dataset, out["teacher"]), seed=seed)
    out["rows"] = rows
    return out


def _add(rows: list[Row], group: str, result: Any, baseline: Row | None, **extra: Any) -> Row:
    n_test = [p["n_test"] for p in result.per_repeat if "n_test" in p]
    row = Row.from_evaluation(result, group=group, n_test=float(np.mean(n_test)) if n_test else None, **extra)
    rows.append(row.compare_to(baseline or row))
    return row


#: The label of the paper-faithful DRSN's row and of its folded (channel-converted) version.
PAPER_DRSN_LABEL = "DRSN (paper, full resolution)"
PAPER_FOLDED_LABEL = "paper DRSN fold k=4"


def channel_conversion_experiment(dataset: Any, profile: Profile, seed: int = 0, split_kind: str = "sample",
                                  progress: bool = False, device: str = "auto",
                                  executor: Executor | str | None = None) -> dict[str, Any]:
    """Channel conversion judged against two baselines: the book's DRSN-CW (shared with chapters 5 and 8, with every
    variant of the profile) and the paper-faithful, full-resolution DRSN (:data:`ramancmp.config.PAPER_DRSN`) with its
    4-channel fold (``drsn_paper_folded``).

    All networks train in parallel first; evaluation follows; then every row is timed in one run of the protocol
    (:func:`ramancmp.experiments.speed.time_rows`: batch 1 and 256, eager and ONNX Runtime, speed-ups over both
    baselines with intervals). ``out["rows"]``: the rows, baselines first.
    """
    drsn, drsn_kwargs, paper, paper_kwargs = DRSN, {}, PAPER_DRSN, {}
    folded_kwargs = {"k": 4}
    variants = conversion_variants(profile.conversion_variants)
    splits = splits_of(dataset, profile, seed, split_kind)
    train_all([j for v in variants for j in _jobs(v.model, dataset, splits, profile, v.kwargs, device)]
              + _jobs(drsn, dataset, splits, profile, drsn_kwargs, device)
              + _jobs(paper, dataset, splits, profile, paper_kwargs, device)
              + _jobs("drsn_paper_folded", dataset, splits, profile, folded_kwargs, device), executor,
              progress=progress)
    common = dict(split_kind=split_kind, seed=seed, profile=profile, progress=progress, device=device,
                  measure_speed=False)
    out: dict[str, Any] = {"baseline": evaluate(drsn, dataset, model_kwargs=drsn_kwargs, **common), "variants": []}
    for v in variants:
        res = evaluate(v.model, dataset, model_kwargs=v.kwargs, **common)
        res.model = v.label
        out["variants"].append({"variant": v.to_dict(), "result": res})
    out["paper_baseline"] = evaluate(paper, dataset, model_kwargs=paper_kwargs, **common)
    out["paper_baseline"].model = PAPER_DRSN_LABEL
    out["paper_folded"] = evaluate("drsn_paper_folded", dataset, model_kwargs=folded_kwargs, **common)
    out["paper_folded"].model = PAPER_FOLDED_LABEL
    rows: list[Row] = []
    base = _add(rows, "channel_conversion", out["baseline"], None, role="baseline")
    for v in out["variants"]:
        _add(rows, "channel_conversion", v["result"], base, role="variant", variant=v["variant"])
    pbase = _add(rows, "channel_conversion", out["paper_baseline"], None, role="paper baseline")
    _add(rows, "channel_conversion", out["paper_folded"], pbase, role="paper variant",
         variant={"label": PAPER_FOLDED_LABEL, "model": "drsn_paper_folded", "kwargs": folded_kwargs,
                  "reading": "(a) fold, full-resolution DRSN"})
    results = [out["baseline"]] + [v["result"] for v in out["variants"]] + [out["paper_baseline"],
                                                                            out["paper_folded"]]
    out["timing"] = time_rows(rows, {r.model: res.estimator for r, res in zip(rows, results)},
                              baselines=[base.model, pbase.model], profile=profile,
                              inputs=_inputs(dataset, out["baseline"]), seed=seed)
    out["rows"] = rows
    return out


def _val_accuracy(pipes: list[Any], dataset: Any, splits: list[Any]) -> Stat | None:
    """Accuracy of each split's fitted pipeline on that split's selection half of validation (no fit saw it);
    ``None`` where no split has a selection half."""
    X, y = np.asarray(dataset.X, dtype=np.float32), np.asarray(dataset.y)
    return Stat.of([float(p.score(X[s.select], y[s.select])) for p, s in zip(pipes, splits) if len(s.select)])


class _PrecomputedHead:
    """The classifier alone: LDA's decision function as a torch layer on features computed beforehand (the
    "classify stored features" reading of the paper's speed-up). Called with a batch of spectra, it uses only the
    batch's size and classifies that many precomputed feature vectors."""

    def __init__(self, head: torch.nn.Module, features: np.ndarray):
        self.head = head.eval()
        reps = -(-256 // len(features))
        self.features = torch.from_numpy(np.ascontiguousarray(np.tile(features, (reps, 1))[:256],
                                                              dtype=np.float32))

    def __call__(self, X: np.ndarray) -> Any:
        with torch.inference_mode():
            return self.head(self.features[:len(X)])


def feature_extraction_experiment(dataset: Any, profile: Profile, seed: int = 0, split_kind: str = "sample",
                                  depths: list[int] | None = None, bins: int = 8, progress: bool = False,
                                  device: str = "auto", executor: Executor | str | None = None) -> dict[str, Any]:
    """The DRSN and DRSN-prefix features + LDA at every depth (0 = stem only ... num_stages = all), two readings
    per depth: globally pooled features + plain LDA (the first reading) and ``bins`` position bins + shrinkage LDA
    (:data:`~ramancmp.compression.feature_extraction.SHRINKAGE_LDA`).

    Every pipeline is evaluated on the same splits; its validation accuracy is kept (``extra["val_accuracy"]``)
    for choices made on validation. For timing, each fitted pipeline becomes one torch graph
    (:class:`~ramancmp.compression.feature_extraction.PrefixLDA`, also exported to ONNX); the *classifier alone*
    on precomputed features (full depth and the depth chosen on validation) is timed in the same run. Training
    cost: ``fit_time_s`` of a feature row is the pipeline's fit (features of the training part + LDA), of the DRSN
    row its training. ``out["rows"]``: DRSN-CW first.
    """
    drsn, drsn_kwargs = DRSN, {}
    drsns = pretrained_splits(drsn, dataset, profile, seed, split_kind, model_kwargs=drsn_kwargs, device=device,
                              executor=executor)
    splits = splits_of(dataset, profile, seed, split_kind)
    common = dict(split_kind=split_kind, seed=seed, profile=profile, progress=progress, measure_speed=False)
    out: dict[str, Any] = {"baseline": evaluate(drsn, dataset, model_kwargs=drsn_kwargs, device=device, **common),
                           "depths": [], "bins": int(bins)}
    n_stages = drsns[0].model_.num_stages
    in_length = np.asarray(dataset.X).shape[1]
    readings = (("global pool, LDA", 1, {}), (f"{bins} bins, shrinkage LDA", int(bins), SHRINKAGE_LDA))
    for depth in (range(n_stages + 1) if depths is None else depths):
        for label, b, lda_kwargs in readings:
            pipes = [feature_pipeline(d, depth, bins=b, **lda_kwargs) for d in drsns]
            name = f"drsn_features{depth}_lda" if not lda_kwargs else f"drsn_features{depth}_{b}bins_slda"
            if depth == n_stages:
                name = "drsn_features_full_lda" if not lda_kwargs else "drsn_features_full_slda"
            res = evaluate(sequence_factory(pipes, name), dataset, **common)
            res.complexity = pipeline_complexity(res.estimator, in_length)
            out["depths"].append({"depth": int(depth), "reading": label if depth < n_stages else
                                  ("full depth, LDA" if not lda_kwargs else "full depth, shrinkage LDA"),
                                  "bins": b if depth < n_stages else None, "lda": dict(lda_kwargs),
                                  "val_accuracy": _val_accuracy(pipes, dataset, splits), "result": res})
    rows: list[Row] = []
    base = _add(rows, "feature_extraction", out["baseline"], None, role="baseline")
    targets: dict[str, Any] = {base.model: out["baseline"].estimator}
    for d in out["depths"]:
        row = _add(rows, "feature_extraction", d["result"], base, role="variant", depth=d["depth"],
                   reading=d["reading"], bins=d["bins"], lda=d["lda"], val_accuracy=d["val_accuracy"])
        targets[row.model] = PrefixLDA(d["result"].estimator)
    shrunk = [d for d in out["depths"] if d["lda"]]
    chosen = max(shrunk, key=lambda d: d["val_accuracy"].mean if d["val_accuracy"] else 0.0)  # validation, not test
    out["chosen_depth"] = chosen["depth"]
    X_test = _inputs(dataset, out["baseline"])
    for d in {id(d): d for d in (chosen, shrunk[-1])}.values():
        pipe = d["result"].estimator
        name = f"LDA alone on stored features (depth {d['depth']})"
        row = Row(model=name, group="feature_extraction", accuracy=Row.from_evaluation(d["result"]).accuracy,
                  params=int(pipe.named_steps["lda"].coef_.size + pipe.named_steps["lda"].intercept_.size),
                  extra={"role": "classifier alone", "depth": d["depth"], "reading": "classifier alone"})
        rows.append(row.compare_to(base))
        targets[name] = _PrecomputedHead(PrefixLDA(pipe).head, pipe.named_steps["features"].transform(X_test))
    out["timing"] = time_rows(rows, targets, baselines=[base.model], profile=profile, inputs=X_test, seed=seed)
    out["rows"] = rows
    return out


def compression_rows(dist: dict[str, Any] | None, conv: dict[str, Any] | None, feat: dict[str, Any] | None,
                     peak_gflops: float | None = None) -> list[Row]:
    """The three experiments' rows (each timed with its baselines in one run of the protocol), in that order,
    with the GEMM-peak column set from ``peak_gflops``."""
    rows = [r for exp in (dist, conv, feat) if exp for r in exp["rows"]]
    for r in rows:
        r.set_gemm_peak(peak_gflops)
    return rows


def bench_compression(task: str = "rruff-groups-10", *, profile: Profile, seed: int = 0,
                      split_kind: str = "sample", save: bool = True, dataset: Any = None,
                      progress: bool = False, distillation_grid: list | None = None,
                      executor: Executor | str | None = None) -> dict[str, Any]:
    """All three methods beside their baselines in one run; writes ``results/bench_compression.json``."""
    ds = dataset if dataset is not None else load_task(task)
    kw = dict(profile=profile, seed=seed, split_kind=split_kind, progress=progress, executor=executor)
    dist = distillation_experiment(ds, grid=distillation_grid, **kw)
    conv = channel_conversion_experiment(ds, **kw)
    feat = feature_extraction_experiment(ds, **kw)
    gemm = gemm_peak_gflops(n=2048, runs=5, threads=TIMING_THREADS)
    table = {"what": "compression", "task": ds.task, "profile": profile.name, "seed": seed, "split_kind": split_kind,
             "repeats": profile.repeats, "n_spectra": int(len(ds.y)), "n_classes": len(ds.class_names),
             "threads": TIMING_THREADS, "gemm": gemm, "distillation_chosen": dist["chosen"],
             "rows": compression_rows(dist, conv, feat, gemm["gflops"])}
    if save:
        path = save_result("bench_compression", table, data_sha256=ds.source_sha256, task=ds.task,
                           split_kind=split_kind, seed=seed, profile=profile.name, preprocess=ds.preprocess.to_dict())
        table["saved_to"] = str(path)
    return table
