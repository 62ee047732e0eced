"""Chapter 13's protocol: networks trained with other settings, pretrained on all of RRUFF, combined with the
library search -- every one per repeated split through the model store, every choice on validation data.

* :func:`variant_jobs`: the model store's :class:`~ramancmp.experiments.store.TrainJob` of a registered network with
  other estimator settings (e.g. ``augment="realistic"``), one per split, stored beside the book's own networks
  under a variant name.
* :func:`pretraining_set` / :func:`pretrain_jobs` / :func:`finetune_jobs`: for each split of the task, a network is
  first trained to name the *species* of every spectrum of a large pool (task ``rruff-all-species``) whose sample is
  in neither the validation nor the test part of that split (a group-aware 15 % of the pool's remaining samples is
  its early-stopping part); then a :class:`~ramancmp.training.FineTunedClassifier` starts from those weights and is
  trained on the split's training part like any network. No test (or validation) sample of the split is ever seen
  in pretraining.
* :func:`stored_row`: a row of the book's table (:class:`~ramancmp.experiments.tables.Row`) for classifiers already
  trained on the splits, or for estimators built from them (hybrids, ensembles), through
  :func:`~ramancmp.experiments.evaluation.evaluate` -- the same metrics, validation accuracy and known/new-species
  accuracy as every other row of the book.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import StratifiedGroupKFold

from ramancmp.config import Profile, checkpoints_dir
from ramancmp.data.splits import Split
from ramancmp.experiments.evaluation import evaluate
from ramancmp.experiments.store import (
    PretrainedClassifier,
    TrainJob,
    checkpoint_path,
    estimator_key,
    make_job,
    sequence_factory,
    train_all,
)
from ramancmp.experiments.tables import Row
from ramancmp.training import FineTunedClassifier, RealisticAugment, TrainConfig, checkpoint_paths

__all__ = ["PretrainingSet", "augment_examples", "features", "finetune_jobs", "frozen", "pretrain_jobs",
           "pretrained_networks", "pretraining_set", "same_variant", "stored_row", "trained", "variant_jobs",
           "variant_networks"]

PRETRAIN_VAL_FRACTION = 0.15


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _with_estimator(job: TrainJob, estimator: Any, variant: str, model: str, model_kwargs: dict | None,
                    split: Split, directory: Any, **key_extra: Any) -> TrainJob:
    key = dict(job.key, estimator=estimator_key(estimator), **key_extra)
    path = checkpoint_path(model, key["task"] or "unknown", split, model_kwargs, directory, variant)
    return replace(job, estimator=estimator, key=key, path=path)


def _set(estimator: Any, params: dict) -> Any:
    """``estimator`` with ``params`` set: a name of a :class:`~ramancmp.training.TrainConfig` setting (e.g.
    ``augment``) changes the training run, any other name the estimator's own parameter."""
    settings = {f.name for f in fields(TrainConfig)}
    return estimator.set_params(**{(f"train_config__{k}" if k in settings else k): v for k, v in params.items()})


def variant_jobs(model: str, dataset: Any, splits: Sequence[Split], profile: Profile, *,
                 model_kwargs: dict | None = None, estimator_params: dict | None = None, device: str = "auto"
                 ) -> list[TrainJob]:
    """One job per split: registry network ``model`` with ``estimator_params`` set on its
    :class:`~ramancmp.training.TorchClassifier` (e.g. ``{"augment": "realistic"}``: a name of a
    :class:`~ramancmp.training.TrainConfig` setting changes the training run); stored as a variant."""
    directory = checkpoints_dir(profile.name)
    params = dict(estimator_params or {})
    variant = "est-" + _digest(params) if params else None
    jobs = []
    for split in splits:
        job = make_job(model, dataset, split, profile, model_kwargs=model_kwargs, device=device)
        if params:
            job = _with_estimator(job, _set(job.estimator, params), variant, model, model_kwargs, split, directory)
        jobs.append(job)
    return jobs


@dataclass
class PretrainingSet:
    """A pool task restricted to what one split may see, in the shape :func:`make_job` takes (``X``, ``y``, ...)."""

    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    groups: np.ndarray = field(repr=False)
    class_names: list[str]
    task: str
    source_sha256: str | None
    split: Split  # train / val indices into this set (test empty)
    excluded_samples: int  # samples of the split's validation and test parts left out of the pool

    def __len__(self) -> int:
        return len(self.y)


def pretraining_set(pool: Any, dataset: Any, split: Split) -> PretrainingSet:
    """The spectra of ``pool`` whose sample is in neither the validation nor the test part of ``split`` of
    ``dataset``, with a group-aware, seeded train / early-stopping division of them (seed ``split.seed``)."""
    held_out = set(np.asarray(dataset.groups)[np.concatenate([split.val, split.select, split.test])])
    pool_groups = np.asarray(pool.groups)
    keep = np.flatnonzero(~np.isin(pool_groups, list(held_out)))
    if not len(keep):
        raise ValueError("no spectrum of the pretraining pool is outside the split's validation and test samples")
    X, y, groups = np.asarray(pool.X, dtype=np.float32)[keep], np.asarray(pool.y)[keep], pool_groups[keep]
    cv = StratifiedGroupKFold(n_splits=round(1 / PRETRAIN_VAL_FRACTION), shuffle=True, random_state=int(split.seed))
    with warnings.catch_warnings():  # "least populated class has only k members": expected for rare species
        warnings.simplefilter("ignore", UserWarning)
        train, val = next(iter(cv.split(np.zeros(len(y)), y, groups)))
    inner = Split(np.sort(train), np.sort(val), np.zeros(0, dtype=int), f"pretrain-{split.kind}", int(split.seed))
    return PretrainingSet(X, y, groups, list(pool.class_names), f"{pool.task}-pretrain-for-{dataset.task}",
                          getattr(pool, "source_sha256", None), inner, len(held_out))


def pretrain_jobs(model: str, pool: Any, dataset: Any, splits: Sequence[Split], profile: Profile,
                  *, model_kwargs: dict | None = None, device: str = "auto") -> list[TrainJob]:
    """One pretraining job per split of ``dataset``: ``model`` learns the classes of ``pool`` (species) on
    :func:`pretraining_set`, for at most the profile's ``pretrain_epochs``."""
    directory = checkpoints_dir(profile.name)
    jobs = []
    for split in splits:
        sub = pretraining_set(pool, dataset, split)
        job = make_job(model, sub, sub.split, profile, model_kwargs=model_kwargs, device=device)
        est = job.estimator.set_params(train_config__max_epochs=profile.pretrain_epochs)
        jobs.append(_with_estimator(job, est, f"epochs{profile.pretrain_epochs}", model, model_kwargs, sub.split,
                                    directory))
    return jobs


def finetune_jobs(model: str, dataset: Any, splits: Sequence[Split], pretrained: Sequence[TrainJob],
                  profile: Profile, *, model_kwargs: dict | None = None,
                  estimator_params: dict | None = None, device: str = "auto") -> list[TrainJob]:
    """One fine-tuning job per split: ``model`` starts from ``pretrained[i]``'s weights (all but the classifier) and
    is trained on split ``i`` like any network (the profile's epochs, patience, batch size; ``estimator_params``)."""
    if len(pretrained) != len(splits):
        raise ValueError(f"{len(pretrained)} pretrained networks for {len(splits)} splits")
    directory = checkpoints_dir(profile.name)
    jobs = []
    for split, pre in zip(splits, pretrained):
        job = make_job(model, dataset, split, profile, model_kwargs=model_kwargs, device=device)
        est = _set(FineTunedClassifier(init_checkpoint=str(checkpoint_paths(pre.path)[0]),
                                       **job.estimator.get_params(deep=False)), estimator_params or {})
        variant = "finetuned-" + _digest({"pre": pre.key, "params": estimator_params or {}})
        jobs.append(_with_estimator(job, est, variant, model, model_kwargs, split, directory, pretrained=pre.key))
    return jobs


def stored_row(name: str, dataset: Any, make: Callable[[int], Any], splits: Sequence[Split],
               profile: Profile, seed: int = 0, **extra: Any) -> Row:
    """The :class:`Row` of the estimators ``make(r)`` (one per split ``r``, e.g. a stored network wrapped in
    :class:`PretrainedClassifier`, or a hybrid built around it), evaluated on ``splits`` by the book's harness."""
    factory = sequence_factory([make(r) for r in range(len(splits))], name)
    result = evaluate(factory, dataset, split_kind=splits[0].kind, repeats=len(splits), seed=seed, profile=profile,
                      measure_speed=False, reuse_checkpoints=False)
    return Row.from_evaluation(result, name=name, **extra)


def frozen(classifiers: Sequence[Any]) -> Callable[[int], PretrainedClassifier]:
    """``make(r)`` for :func:`stored_row`: the stored classifier of split ``r``, checked against its training data."""
    return lambda r: PretrainedClassifier(classifiers[r])


def trained(jobs: Sequence[TrainJob], executor: Any = None) -> list[Any]:
    """:func:`train_all` of ``jobs`` (trained where not stored yet, then loaded)."""
    return train_all(jobs, executor)


# A variant of the book's network: (registry model, model kwargs, estimator settings[, anything else, e.g. a label]).
Variant = tuple


def _variant_jobs(spec: Variant, dataset: Any, splits: Sequence[Split], profile: Profile, device: str
                  ) -> list[TrainJob]:
    model, kwargs, params = spec[:3]
    return variant_jobs(model, dataset, splits, profile, model_kwargs=kwargs, estimator_params=params, device=device)


def variant_networks(variants: dict[str, Variant], dataset: Any, splits: Sequence[Split], profile: Profile, *,
                     device: str = "auto", executor: Any = None) -> dict[str, list[Any]]:
    """The stored networks of every variant (name -> ``(model, model_kwargs, estimator_params, ...)``), one per
    split: all variants trained in ONE parallel batch where not stored yet (:func:`variant_jobs`), then loaded.
    Variants that are the same network (the same checkpoints) are trained once."""
    jobs = {name: _variant_jobs(spec, dataset, splits, profile, device) for name, spec in variants.items()}
    unique = list({job.path: job for js in jobs.values() for job in js}.values())
    loaded = dict(zip((job.path for job in unique), train_all(unique, executor)))
    return {name: [loaded[job.path] for job in js] for name, js in jobs.items()}


def same_variant(spec: Variant, variants: dict[str, Variant], dataset: Any, splits: Sequence[Split],
                 profile: Profile) -> str | None:
    """The name of the first of ``variants`` that is the same network as ``spec`` (the same checkpoints), else
    ``None``."""
    paths = [job.path for job in _variant_jobs(spec, dataset, splits, profile, "auto")]
    return next((name for name, other in variants.items()
                 if [job.path for job in _variant_jobs(other, dataset, splits, profile, "auto")] == paths), None)


def pretrained_networks(model: str, pool: Any, dataset: Any, splits: Sequence[Split], profile: Profile, *,
                        model_kwargs: dict | None = None, estimator_params: dict | None = None,
                        device: str = "auto", executor: Any = None) -> tuple[list[Any], list[Any]]:
    """``(pretrained, fine-tuned)``, one network each per split: ``model`` pretrained on the species of ``pool``
    (:func:`pretrain_jobs`), then fine-tuned on each split of ``dataset`` from those weights (:func:`finetune_jobs`);
    each stage one parallel batch, stored networks loaded."""
    pretrain = pretrain_jobs(model, pool, dataset, splits, profile, model_kwargs=model_kwargs, device=device)
    pretrained = train_all(pretrain, executor)
    finetune = finetune_jobs(model, dataset, splits, pretrain, profile, model_kwargs=model_kwargs,
                             estimator_params=estimator_params, device=device)
    return pretrained, train_all(finetune, executor)



def augment_examples(spectrum: Any, n: int = 4, seed: int = 0, augment: Any = None) -> np.ndarray:
    """``(n + 1, L)``: ``spectrum`` and ``n`` augmented copies of it (default :class:`RealisticAugment`), seeded."""
    x = torch.as_tensor(np.asarray(spectrum, dtype=np.float32)).reshape(1, -1).repeat(n, 1)
    out = (augment or RealisticAugment())(x, torch.Generator().manual_seed(int(seed)))
    return np.vstack([np.asarray(spectrum, dtype=np.float32)[None], out.numpy()])



def features(classifier: Any, X: Any, batch_size: int = 256) -> np.ndarray:
    """``(n, F)``: a trained network's pooled features (``forward_features``, everything but the classifier) of the
    spectra ``X``, on the CPU -- e.g. as the library of a library search in a learnt representation."""
    model = getattr(classifier, "model_", classifier)
    model = model.cpu().eval()
    X = np.asarray(X, dtype=np.float32)
    with torch.no_grad():
        parts = [model.forward_features(torch.from_numpy(X[i:i + batch_size])).numpy()
                 for i in range(0, len(X), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, model.num_features), dtype=np.float32)

