"""The one evaluation harness: a model x a task x a split kind x repeats -> mean +- sd, size and speed.

Every number in the book's comparison tables comes from :func:`evaluate`, so every model is treated the same way:

1. ``repeats`` splits from :func:`ramancmp.data.splits.repeated_splits` (seeds ``seed, seed+1, ...``); with
   ``split_kind="sample"`` no RRUFF sample has spectra on both sides, which is what "identify an unknown mineral"
   means (``"random"`` splits spectra and lets a sample's other spectra leak into training; the book shows the gap;
   ``"species"`` holds out whole species, so every test spectrum is of a mineral the model has never seen).
2. A fresh estimator per repeat: the classical baselines are scikit-learn estimators; the networks are wrapped in
   :class:`ramancmp.training.TorchClassifier` and trained with the profile's epochs, patience and batch size, using the
   split's validation part for early stopping. Every model learns from exactly the same training spectra; the
   validation part is only used by the models that have something to select on it (the networks' best epoch).
3. Test-set accuracy, balanced accuracy, macro-F1, macro sensitivity and macro specificity per repeat
   (:mod:`ramancmp.metrics.classification`), accuracy on test spectra of species seen in training ("known species")
   and of species absent from it ("new species", :func:`species_accuracy`), and the validation accuracy (the only
   number any pick of the book may use); then mean +- sd (sd with ``ddof=1``) over repeats, and the summed confusion
   matrix. The per-split values are kept, for paired comparisons (:mod:`ramancmp.metrics.statistics`).
4. Size and speed of the *last* fitted model: parameters and FLOPs per spectrum (:mod:`ramancmp.metrics.complexity`),
   batch-1 latency and batch-256 throughput on the CPU (:mod:`ramancmp.metrics.timing`).

The last fitted estimator and the last split are kept on the result (for confusion-matrix plots and checkpoints),
as are the per-repeat training histories (for learning curves).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ramancmp.config import TIMING_THREADS, Profile, checkpoints_dir, results_dir
from ramancmp.data.splits import repeated_splits, split_groups
from ramancmp.experiments.executor import Executor
from ramancmp.experiments.results import save_result
from ramancmp.experiments.store import PretrainedClassifier, build_estimator, make_job, train_all
from ramancmp.metrics import (
    aggregate,
    as_torch_module,
    classification_metrics,
    count_flops,
    count_params,
    format_mean_sd,
    measure_fit_time,
)
from ramancmp.metrics.statistics import Stat
from ramancmp.metrics.timing import compare_speed
from ramancmp.models import LibrarySearch, is_torch_model

__all__ = ["EvaluationResult", "evaluate", "sibling_leakage", "species_accuracy", "train_networks"]


def _accepts_validation(estimator: Any) -> bool:
    try:
        params = inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):
        return False
    return "X_val" in params and "y_val" in params


@dataclass
class EvaluationResult:
    """What :func:`evaluate` measured; :meth:`to_dict` is the JSON form, :meth:`save` writes it to ``results/``."""

    model: str
    task: str
    split_kind: str
    repeats: int
    seed: int
    profile: str
    class_names: list[str]
    metrics: dict[str, Stat]  # "accuracy", "sensitivity", "specificity", "fit_time_s", ...: mean, sd, values
    per_repeat: list[dict[str, Any]]  # classification_metrics(...) + fit_time_s + split sizes, per repeat
    confusion_matrix: list[list[int]]  # summed over repeats; rows = true class, columns = predicted
    complexity: dict[str, Any]  # params, trainable, macs, flops (per spectrum), breakdown
    speed: dict[str, Any] | None  # {"latency_b1": ..., "throughput_b256": ...} on the CPU, or None
    histories: list[dict[str, Any]] = field(default_factory=list)  # per-repeat training curves (networks)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    data_sha256: str | None = None
    preprocess: dict[str, Any] = field(default_factory=dict)
    estimator: Any = field(default=None, repr=False)  # the last fitted estimator
    last_split: Any = field(default=None, repr=False)  # the split it was trained and tested on

    def __post_init__(self) -> None:
        # the statistics typed (also when given as {"mean", "sd", "values"} dicts); sd NaN for one repeat
        self.metrics = {k: Stat.from_dict(v) for k, v in self.metrics.items()}

    # ---------------------------------------------------------------------------------------------- views
    def to_dict(self) -> dict[str, Any]:
        """JSON-able: everything but the fitted estimator and the split indices."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("estimator", "last_split")}
        out["metrics"] = {k: v.to_dict() for k, v in self.metrics.items()}
        return out

    def __str__(self) -> str:
        m = self.metrics
        return (f"{self.model} on {self.task} ({self.split_kind} split, {self.repeats} repeats, {self.profile}): "
                f"accuracy {format_mean_sd(m['accuracy'])}, sensitivity {format_mean_sd(m['sensitivity'])}, "
                f"specificity {format_mean_sd(m['specificity'])}")

    # ---------------------------------------------------------------------------------------------- saving
    def provenance(self) -> dict[str, Any]:
        return {"data_sha256": self.data_sha256, "task": self.task, "split_kind": self.split_kind,
                "seed": self.seed, "profile": self.profile, "repeats": self.repeats, "model": self.model,
                "model_kwargs": self.model_kwargs, "preprocess": self.preprocess}

    def save(self, name: str | None = None, directory: Path | None = None) -> Path:
        """Write ``<results>/<name>.json`` (default ``eval_<model>_<task>_<split>``) with provenance.

        ``<results>`` is ``directory`` or the profile's results folder (:func:`ramancmp.config.results_dir`).
        """
        name = name or f"eval_{self.model}_{self.task}_{self.split_kind}"
        return save_result(name, self.to_dict(), directory=directory or results_dir(self.profile),
                           **self.provenance())

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        """Checkpoint the last fitted network for ``python -m ramancmp predict``; returns the ``.pt`` path.

        Default location: ``<checkpoints>/<task>/<model>`` (``.pt`` + ``.json``) in the profile's checkpoint folder
        (:func:`ramancmp.config.checkpoints_dir`), where :mod:`ramancmp.predict` looks for a model given by name. The
        JSON side-car carries the class name of every network output, the
        preprocessing config (so prediction preprocesses exactly as training did), the task, and the metrics.
        """
        if as_torch_module(self.estimator) is None or not hasattr(self.estimator, "save"):
            raise ValueError(f"only networks can be checkpointed (weights-only files); {self.model!r} is "
                             f"{type(self.estimator).__name__}")
        path = Path(path) if path is not None else checkpoints_dir(self.profile) / self.task / self.model
        output_names = [self.class_names[int(c)] for c in self.estimator.classes_]
        extra = {"class_names": output_names, "preprocess": self.preprocess, "task": self.task,
                 "metrics": {k: {"mean": v.mean, "sd": v.sd} for k, v in self.metrics.items()},
                 "provenance": self.provenance()}
        return self.estimator.save(path, extra=extra)


def _speed(estimator: Any, inputs: np.ndarray, profile: Profile, threads: int | None, seed: int) -> dict[str, Any]:
    """Batch-1 latency and batch-256 throughput of a fitted estimator on the CPU, by the book's timing protocol
    (:func:`ramancmp.metrics.timing.compare_speed`: the exclusive phase, the profile's rounds, minimum sample time
    and budget) on the test spectra ``inputs``; times per spectrum, medians over rounds with 95 % intervals."""
    module = as_torch_module(estimator)
    target = module.cpu() if module is not None else estimator
    # **profile.timing: the rounds, minimum sample time, budget AND the idle wait (0 in the quick and tiny profiles;
    # without it every evaluate() on a shared machine waited compare_speed's default 30 s before timing)
    cmp = compare_speed({"model": target}, length=inputs.shape[1], batches=(1, 256), threads=threads, inputs=inputs,
                        seed=seed, **profile.timing)
    b1, b256 = cmp.cell("model", 1), cmp.cell("model", 256)
    samples = np.asarray(b1.samples_ms)
    common = {"rounds": cmp.rounds, "threads": cmp.threads, "device": "cpu"}
    return {
        "latency_b1": {"median_ms": b1.median_ms, "lo_ms": b1.lo_ms, "hi_ms": b1.hi_ms,
                       "p10_ms": float(np.percentile(samples, 10)), "p90_ms": float(np.percentile(samples, 90)),
                       "batch": 1, **common},
        "throughput_b256": {"spectra_per_s": 1e3 / b256.median_ms, "median_ms_per_batch": 256 * b256.median_ms,
                            "lo_ms": b256.lo_ms, "hi_ms": b256.hi_ms, "batch": 256, **common},
        "protocol": cmp.info,
    }


def _complexity(estimator: Any, in_length: int) -> dict[str, Any]:
    """Parameters and FLOPs per spectrum; ``None`` (with the reason) for an estimator without a counting rule."""
    try:
        flops = count_flops(estimator, (1, 1, in_length))
    except ValueError as exc:
        return {"params": None, "trainable": None, "macs": None, "flops": None, "breakdown": {}, "rule": str(exc)}
    params = count_params(estimator)
    out = {"params": params["total"], "trainable": params["trainable"], "macs": flops["macs"],
           "flops": flops["flops"], "breakdown": flops["breakdown"]}
    if "rule" in flops:
        out["rule"] = flops["rule"]
    return out


def train_networks(models: list[tuple[str, dict | None]], dataset: Any, *, profile: Profile,
                   seed: int = 0, split_kinds: tuple[str, ...] = ("sample",), device: str = "auto",
                   executor: Executor | str | None = None, progress: bool = False, repeats: int | None = None) -> int:
    """Train every network of ``models`` (``(registry name, kwargs)``) on every repeated split of ``split_kinds``
    (``repeats`` of them, default the profile's ``repeats``) -- in ONE batch through ``executor``, so no worker idles
    while another still has work -- and store them.

    What :func:`evaluate` would train split kind by split kind; afterwards it only loads. Networks already stored
    are not trained again. Returns how many networks were trained now.
    """
    y = np.asarray(dataset.y)
    jobs = [make_job(name, dataset, split, profile, model_kwargs=kwargs, device=device)
            for name, kwargs in models if is_torch_model(name)
            for kind in split_kinds
            for split in repeated_splits(y, split_groups(dataset, kind), kind=kind,
                                         repeats=profile.repeats if repeats is None else int(repeats), seed=seed)]
    pending = sum(not job.is_stored() for job in jobs)
    train_all(jobs, executor, progress=progress)
    return pending


def evaluate(model_name_or_factory: str | Callable[..., Any], dataset: Any, *, split_kind: str = "sample",
             repeats: int | None = None, seed: int = 0, profile: Profile,
             model_kwargs: dict | None = None, measure_speed: bool = True, progress: bool = True,
             device: str = "auto", threads: int | None = TIMING_THREADS,
             reuse_checkpoints: bool = True, executor: Executor | str | None = None,
             drop_from_test: np.ndarray | None = None) -> EvaluationResult:
    """Evaluate one model on one task over repeated splits (see the module docstring for the protocol).

    Args:
        model_name_or_factory: a registry name (``"lda"``, ``"drsn_cw"``, ...) or ``factory(num_classes, in_length)``
            returning an unfitted scikit-learn-style estimator.
        dataset: a :class:`ramancmp.data.tasks.SpectraDataset` (``X``, ``y``, ``groups``, ``class_names``, ...).
        split_kind: ``"sample"`` (no sample on both sides), ``"species"`` (no species on both sides: every test
            spectrum is of a species absent from training) or ``"random"``.
        repeats: number of repeated splits (default: the profile's ``repeats`` for networks and factories,
            ``classical_repeats`` for the cheap classical models named by registry name). Repeat ``r`` is the same
            split for every model, so the first ``repeats`` values of a classical model pair with a network's.
        seed: split ``r`` uses ``seed + r``, and so does the network trained on it.
        profile: the run's :class:`ramancmp.config.Profile` (epochs, patience, batch, timing runs).
        model_kwargs: passed to the model builder.
        measure_speed: time batch-1 latency and batch-256 throughput of the last model by the book's timing
            protocol (:func:`ramancmp.metrics.timing.compare_speed`, on its test spectra, after training).
        device: where networks train (``"auto"``: the CPU); speed is always measured on the CPU.
        threads: CPU threads for the speed measurement (default :data:`ramancmp.config.TIMING_THREADS`; ``None``:
            torch's setting; see
            :func:`ramancmp.metrics.timing.num_threads` for why a shared machine wants 1).
        reuse_checkpoints: networks named by registry name go through the model store
            (:mod:`ramancmp.experiments.store`): each split's network is trained once -- all splits in parallel
            through ``executor`` -- saved in the profile's checkpoint folder and loaded (not retrained) when exactly
            the same model, settings and training data come again; how later chapters reuse the networks of
            chapters 3-5. ``fit_time_s`` is then the time the stored training took.
        executor: where the networks train (:func:`ramancmp.experiments.executor.get_executor`; ``None``: the
            default, ``$RAMANCMP_SCHEDULER`` or local processes). Nothing is timed while it trains.
        drop_from_test: a boolean mask over the dataset's spectra: those left out of every *test* part (e.g. the
            curation table's flagged samples, :mod:`ramancmp.experiments.curated_evaluation`). The splits are made on
            the whole dataset first and the training and validation parts are unchanged, so the result pairs split by
            split with the evaluation without it, and stored networks are loaded, not trained again.
    """
    if repeats is None:  # classical models are cheap: more repeats (networks: the profile's)
        classical = isinstance(model_name_or_factory, str) and not is_torch_model(model_name_or_factory)
        repeats = profile.classical_repeats if classical else profile.repeats
    repeats = int(repeats)
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    X, y = np.asarray(dataset.X, dtype=np.float32), np.asarray(dataset.y)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"dataset.X must be (n, L) with one label per row, got X {X.shape} and y {y.shape}")
    class_names = list(dataset.class_names)
    labels = list(range(len(class_names)))
    in_length = X.shape[1]
    species = _species(dataset)
    splits = repeated_splits(y, split_groups(dataset, split_kind), kind=split_kind, repeats=repeats, seed=seed)
    if drop_from_test is not None:
        drop = np.asarray(drop_from_test, dtype=bool)
        if drop.shape != y.shape:
            raise ValueError(f"drop_from_test must be a boolean mask of one value per spectrum ({len(y)}), got shape "
                             f"{drop.shape}")
        dropped = [int(drop[s.test].sum()) for s in splits]
        splits = [replace(s, test=s.test[~drop[s.test]]) for s in splits]
        if any(len(s.test) == 0 for s in splits):
            raise ValueError("drop_from_test leaves a test part empty")

    per_repeat, histories = [], []
    estimator = split = name = None
    stored = None
    if reuse_checkpoints and isinstance(model_name_or_factory, str) and is_torch_model(model_name_or_factory):
        jobs = [make_job(model_name_or_factory, dataset, s, profile, model_kwargs=model_kwargs, device=device)
                for s in splits]
        stored = iter(train_all(jobs, executor, progress=progress))
    bar = tqdm(splits, desc=str(getattr(model_name_or_factory, "__name__", model_name_or_factory)), unit="split",
               disable=not progress, leave=False)
    for r, split in enumerate(bar):
        name, estimator = build_estimator(model_name_or_factory, len(class_names), in_length, profile=profile,
                                          seed=seed + r, model_kwargs=model_kwargs, device=device)
        if stored is not None:
            estimator = next(stored)
            fit_time = float(estimator.fit_time_ or estimator.history_.train_time)
        else:
            fit_kwargs = {}
            val = split.val[np.isin(y[split.val], y[split.train])]  # a class unseen in training cannot be validated
            if _accepts_validation(estimator) and len(val):
                fit_kwargs = {"X_val": X[val], "y_val": y[val]}
            _, fit_time = measure_fit_time(estimator.fit, X[split.train], y[split.train], **fit_kwargs)
            if isinstance(estimator, PretrainedClassifier) and estimator.fit_time_ is not None:
                fit_time = float(estimator.fit_time_)  # the stored training's time, not the check's
        y_pred = estimator.predict(X[split.test])
        metrics = classification_metrics(y[split.test], y_pred, labels=labels, class_names=class_names)
        metrics.update({"fit_time_s": fit_time, "seed": int(split.seed), "n_train": len(split.train),
                        "n_val": len(split.val), "n_select": len(split.select), "n_test": len(split.test),
                        # on the validation half no fit saw (early stopping, thresholds use split.val): the one
                        # validation accuracy that means the same for every model kind (ramancmp.data.splits)
                        "val_accuracy": (float(np.mean(estimator.predict(X[split.select]) == y[split.select]))
                                         if len(split.select) else None)})
        if drop_from_test is not None:
            metrics["n_dropped_test"] = dropped[r]
        metrics.update(species_accuracy(species, split, y[split.test] == y_pred))
        per_repeat.append(metrics)
        history = getattr(estimator, "history_", None)
        if history is not None:
            histories.append(history.to_dict() if hasattr(history, "to_dict") else dict(history))
    bar.close()

    summary = aggregate(per_repeat, metrics=["accuracy", "balanced_accuracy", "macro_f1", "sensitivity",
                                             "specificity", "fit_time_s"])
    confusion = np.sum([np.asarray(m["confusion_matrix"]) for m in per_repeat], axis=0).tolist()
    preprocess = getattr(dataset, "preprocess", None)
    return EvaluationResult(
        model=name, task=str(getattr(dataset, "task", "unknown")), split_kind=split_kind, repeats=repeats, seed=seed,
        profile=profile.name, class_names=class_names, metrics=summary, per_repeat=per_repeat,
        confusion_matrix=confusion, complexity=_complexity(estimator, in_length),
        speed=_speed(estimator, X[split.test], profile, threads, seed) if measure_speed else None,
        histories=histories,
        model_kwargs=dict(model_kwargs or {}), data_sha256=getattr(dataset, "source_sha256", None),
        preprocess=preprocess.to_dict() if hasattr(preprocess, "to_dict") else dict(preprocess or {}),
        estimator=estimator, last_split=split)


def _species(dataset: Any) -> np.ndarray | None:
    """The species name of every spectrum (``dataset.meta["mineral"]``), or ``None`` when the dataset has none."""
    meta = getattr(dataset, "meta", None)
    if meta is None or "mineral" not in getattr(meta, "columns", ()):
        return None
    return np.asarray(meta["mineral"].astype(str))


def species_accuracy(species: np.ndarray | None, split: Any, correct: np.ndarray) -> dict[str, Any]:
    """Accuracy on test spectra of a species seen in the training part ("known species": a new sample of it) and of a
    species absent from it ("new species": the model must name the group of a mineral it has never seen).

    ``correct[i]`` says whether test spectrum ``split.test[i]`` was classified right. A part with no spectrum gives
    ``None``; ``new_species_fraction`` is the share of test spectra of new species.
    """
    if species is None:
        return {}
    test = np.asarray(split.test)
    new = ~np.isin(species[test], species[np.asarray(split.train)])
    correct = np.asarray(correct, dtype=bool)

    def rate(mask: np.ndarray) -> float | None:
        return float(correct[mask].mean()) if mask.any() else None

    return {"accuracy_known_species": rate(~new), "accuracy_new_species": rate(new),
            "n_known_species": int((~new).sum()), "n_new_species": int(new.sum()),
            "new_species_fraction": float(new.mean()) if len(new) else None}


def sibling_leakage(dataset: Any, split: Any) -> dict[str, Any]:
    """How much a split lets a test spectrum lean on *another spectrum of its own sample* in the training part.

    For every test spectrum: does its sample have spectra in the training part ("sibling"), is its nearest training
    spectrum (cosine, the library search's metric) a sibling, and is that nearest neighbour's class right. A by-sample
    split has no siblings by construction; a random split has many -- this says how much they matter.
    """
    X, y, groups = np.asarray(dataset.X), np.asarray(dataset.y), np.asarray(dataset.groups)
    train, test = np.asarray(split.train), np.asarray(split.test)
    nearest = train[LibrarySearch().fit(X[train], y[train]).kneighbors(X[test], 1)[1][:, 0]]
    has_sibling = np.isin(groups[test], groups[train])
    nearest_is_sibling = groups[nearest] == groups[test]
    correct = y[nearest] == y[test]

    def rate(mask: np.ndarray) -> float | None:
        return float(correct[mask].mean()) if mask.any() else None

    return {"n_test": int(len(test)), "with_sibling_in_train": int(has_sibling.sum()),
            "nearest_is_sibling": int(nearest_is_sibling.sum()),
            "accuracy_with_sibling": rate(has_sibling), "accuracy_without_sibling": rate(~has_sibling),
            "accuracy_when_nearest_is_sibling": rate(nearest_is_sibling)}
