"""The trained-model store: every network the book trains is trained once, saved, and loaded wherever it is needed.

A network is identified by everything that determines its weights: model and keyword arguments, the architecture
as built now, training settings (the profile's epochs, patience, batch size; the seed), the task, the data (sha256
of the archive), fingerprints of the exact training and early-stopping spectra and labels, a fingerprint of the
code that trains it (:func:`code_fingerprint` of :data:`FINGERPRINTED_CODE`) -- and, for a distilled student, the
teacher's identity and (T, alpha). :func:`get_or_train` loads a stored network only when all of that matches. Each
side-car also records the commit that trained it (``"trained_by"``); every results file lists the commits of the
stored networks its process loaded (:func:`ramancmp.experiments.results.provenance`).

Layout: ``<checkpoints>/<task>/<model>[-<kwargs hash>]/<split kind>-seed<split seed>[-<variant>]`` + ``.pt`` /
``.json`` (the format of :mod:`ramancmp.training.checkpoint`); the book runner points ``<checkpoints>`` at a folder
per profile.

Training is the parallel part of the book: :func:`train_all` takes a list of :class:`TrainJob` (one network x one
split) and runs the ones not stored yet through an executor (:mod:`ramancmp.experiments.executor`: serial, local
processes or a Dask cluster). A job carries its data, settings and checkpoint path, so a worker needs nothing from
its environment; every job trains with one thread and its own seed, so the stored weights are the same whatever
the executor.

:class:`PretrainedClassifier` wraps a stored network for :func:`ramancmp.experiments.evaluation.evaluate`: its
``fit`` trains nothing but *checks* that it is given the very training data the network was trained on, so the
harness reports test accuracy of a stored network without any chance of testing it on its training data.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ramancmp.compression.distillation import DistilledClassifier
from ramancmp.config import Profile, checkpoints_dir
from ramancmp.experiments.executor import Executor, get_executor, resolve_scheduler
from ramancmp.experiments.results import git_commit, record_loaded_network
from ramancmp.fileio import fingerprint, read_json
from ramancmp.metrics import num_threads
from ramancmp.models import create_model, is_torch_model
from ramancmp.training import TorchClassifier, TrainConfig

__all__ = ["FINGERPRINTED_CODE", "PretrainedClassifier", "TrainJob", "architecture_signature", "build_estimator",
           "checkpoint_path", "code_fingerprint", "estimator_key", "get_or_train", "make_job", "run_job",
           "sequence_factory", "train_all", "train_config", "train_part", "trained_commit"]


def train_config(profile: Profile, model: str, *, seed: int = 0, device: str = "auto") -> TrainConfig:
    """The :class:`~ramancmp.training.TrainConfig` with which the book trains registry network ``model`` under
    ``profile``: the profile's epochs for that model (:meth:`Profile.epochs_for`), patience and batch size, seed
    ``seed`` (the split's); every other knob at :class:`TrainConfig`'s default. The ONE place a profile becomes a
    training run."""
    return TrainConfig(max_epochs=profile.epochs_for(model), patience=profile.patience,
                       batch_size=profile.batch_size, seed=int(seed), device=device)


def build_estimator(model: str | Callable[..., Any], num_classes: int, in_length: int, *, profile: Profile,
                    seed: int = 0, model_kwargs: dict | None = None, device: str = "auto") -> tuple[str, Any]:
    """``(name, unfitted estimator)`` for a registry name or a factory ``factory(num_classes, in_length)``.

    Networks become a :class:`~ramancmp.training.TorchClassifier` trained with :func:`train_config` (the profile's
    epochs, patience and batch size; ``seed``); classical models come from :func:`ramancmp.models.create_model` as
    they are.
    """
    if callable(model) and not isinstance(model, str):
        name = getattr(model, "__name__", type(model).__name__)
        return name, model(num_classes, in_length, **(model_kwargs or {}))
    if is_torch_model(model):
        return model, TorchClassifier(model=model, model_kwargs=model_kwargs,
                                      train_config=train_config(profile, model, seed=seed, device=device))
    return model, create_model(model, num_classes, in_length, **(model_kwargs or {}))


#: The training settings a checkpoint's key has always listed (before :class:`TrainConfig` was the estimators' one
#: parameter, these were :class:`TorchClassifier`'s own); every other setting enters the key only when it differs
#: from its default -- so a network trained with the same settings keeps the same key, and one trained with a knob
#: changed gets another.
_KEYED_SETTINGS = ("max_epochs", "batch_size", "lr", "weight_decay", "schedule", "label_smoothing", "patience",
                   "augment", "seed")
#: Never part of the key: where a network trains and how loudly (the weights do not depend on them), the teacher
#: object (its own key is in ``key["teacher"]``) and the pretrained file (its key is in ``key["pretrained"]``).
_UNKEYED = ("device", "verbose", "teacher", "init_checkpoint")


def estimator_key(estimator: TorchClassifier) -> dict[str, Any]:
    """The part of a checkpoint's key that the estimator decides: its own parameters (model, kwargs, validation
    fraction, distillation's T and alpha, ...) and its training run's settings, flat (see :data:`_KEYED_SETTINGS`)."""
    params = estimator.get_params(deep=False)
    params.pop("train_config", None)
    out = {k: v for k, v in params.items() if k not in _UNKEYED}
    config, default = estimator.resolved_config(), TrainConfig()
    for f in fields(TrainConfig):
        value = getattr(config, f.name)
        if f.name not in _UNKEYED and (f.name in _KEYED_SETTINGS or value != getattr(default, f.name)):
            out[f.name] = value
    return out


def architecture_signature(model: str, num_classes: int, in_length: int, model_kwargs: dict | None = None) -> str:
    """A short hash of the names and shapes of the network's parameters and buffers as built *now*.

    Part of a checkpoint's key, so a change to a builder's defaults (widths, kernels, head) makes old checkpoints
    stop matching instead of failing to load or, worse, loading into a different network.
    """
    net = create_model(model, num_classes=num_classes, in_length=in_length, **(model_kwargs or {}))
    layout = [(name, tuple(t.shape)) for name, t in net.state_dict().items()]
    return hashlib.sha256(repr(layout).encode()).hexdigest()[:16]


#: The code that determines a network's weights once its training data is fixed: the network builders and their
#: layers, label encoding, the training loop, augmentation, the estimators (validation carve, seeding, fine-tuning)
#: and distillation -- paths relative to the package. Their code fingerprint is part of every checkpoint's key, so
#: a change to any of them retrains instead of loading weights another version of the code produced. Not listed:
#: the data code (parsing, preprocessing, tasks, splits) -- the key's ``train_fingerprint`` is a hash of the exact
#: training spectra and labels, so a change there that changes the data changes the key already, and one that does
#: not cannot change the weights; nor the checkpoint format, timing, the classical models or the book's protocol.
FINGERPRINTED_CODE: tuple[str, ...] = (
    "models/base.py", "models/registry.py", "models/layers.py", "models/inputs.py", "models/labels.py",
    "models/cnn.py", "models/efficientnet.py", "models/drsn.py", "models/folded.py",
    "training/loop.py", "training/augment.py", "training/classifier.py", "training/finetune.py",
    "compression/distillation.py",
)


def _code_without_docs(source: str) -> str:
    """The module's syntax tree without comments, formatting and docstrings: what the code does, not how it reads."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def code_fingerprint(package_dir: Path | None = None) -> str:
    """A short sha256 of the code in :data:`FINGERPRINTED_CODE` (comments, formatting and docstrings ignored):
    part of every checkpoint's key (``key["code"]``). ``package_dir``: another copy of the package (default this
    one, computed once per process)."""
    if package_dir is None:
        return _this_code_fingerprint()
    h = hashlib.sha256()
    for rel in FINGERPRINTED_CODE:
        code = _code_without_docs((Path(package_dir) / rel).read_text(encoding="utf-8"))
        h.update(rel.encode() + b"\0" + code.encode() + b"\0")
    return h.hexdigest()[:16]


@functools.cache
def _this_code_fingerprint() -> str:
    return code_fingerprint(Path(__file__).resolve().parents[1])


def _digest(obj: Any, n: int = 8) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def _model_tag(model: str, model_kwargs: dict | None) -> str:
    return f"{model}-{_digest(model_kwargs)}" if model_kwargs else model


def checkpoint_path(model: str, task: str, split: Any, model_kwargs: dict | None = None,
                    directory: Path | None = None, variant: str | None = None) -> Path:
    """Where :func:`get_or_train` keeps ``model`` trained on ``split`` of ``task`` (without the suffix)."""
    root = Path(directory) if directory is not None else checkpoints_dir()
    name = f"{split.kind}-seed{int(split.seed)}" + (f"-{variant}" if variant else "")
    return root / task / _model_tag(model, model_kwargs) / name


def train_part(dataset: Any, split: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_val, y_val) of a split: ``X_val`` is the half of validation that fitting may use
    (``split.val``: early stopping), restricted to classes seen in training (a class unseen in training cannot be
    validated). The selection half (``split.select``) is never returned: models are compared on it."""
    X, y = np.asarray(dataset.X, dtype=np.float32), np.asarray(dataset.y)
    val = split.val[np.isin(y[split.val], y[split.train])]
    return X[split.train], y[split.train], X[val], y[val]


@dataclass
class TrainJob:
    """One unit of work: train ``estimator`` on ``X_train`` (early stopping on ``X_val``) and save it at ``path``.

    Self-contained (data, settings, destination), so it runs the same in this process, in a local worker process or
    on a Dask worker. ``teacher_path``: for a distilled student, the teacher's checkpoint (loaded in the worker).
    """

    path: Path
    key: dict[str, Any]
    estimator: Any
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    class_names: list[str] = field(default_factory=list)
    teacher_path: Path | None = None

    @property
    def json_path(self) -> Path:
        return self.path.with_name(self.path.name + ".json")

    def is_stored(self) -> bool:
        """True when a checkpoint with exactly this key exists."""
        if not self.json_path.exists():
            return False
        try:
            stored = read_json(self.json_path, "checkpoint side-car").get("key")
        except (ValueError, AttributeError, OSError):
            return False  # unreadable: train again (the new checkpoint replaces it atomically)
        return stored == json.loads(json.dumps(self.key, default=str))

    def __repr__(self) -> str:
        return f"TrainJob({self.key.get('model')!r}, split seed {self.key.get('split_seed')}, {self.path.name})"


def run_job(job: TrainJob) -> Path:
    """Train and save ``job`` unless it is stored already; returns the checkpoint path. One thread, always, so
    the weights do not depend on where the job runs."""
    if job.is_stored():
        return job.path
    with num_threads(1):
        est = job.estimator
        if job.teacher_path is not None:
            teacher = _load(job.teacher_path, job.key["teacher"]["train_fingerprint"])
            est.set_params(teacher=teacher)
        if len(job.X_val):
            est.fit(job.X_train, job.y_train, X_val=job.X_val, y_val=job.y_val)
        else:
            est.fit(job.X_train, job.y_train)
        est.model_.cpu()
        if isinstance(est, DistilledClassifier):
            est.teacher = None  # the student's checkpoint stores the student only
        est.save(job.path, extra={"key": job.key, "class_names": [job.class_names[int(c)] for c in est.classes_],
                                  "trained_by": {"commit": git_commit()}})
    return job.path


def _load(path: Path, train_fp: str) -> TorchClassifier:
    """The stored network at ``path``, with the fingerprint of its training data; the commit that trained it is
    recorded for the results of this process (:func:`ramancmp.experiments.results.loaded_networks`)."""
    clf = TorchClassifier.from_checkpoint(path, device="cpu")
    clf.train_fingerprint_ = train_fp
    record_loaded_network("/".join(Path(path).parts[-3:]), trained_commit(clf.checkpoint_info_))
    return clf


def trained_commit(info: dict[str, Any]) -> str:
    """The commit that trained a stored network, from its side-car (``"unknown"`` for one written before commits
    were recorded, or trained outside a git checkout)."""
    by = info.get("trained_by")
    return str(by.get("commit") or "unknown") if isinstance(by, dict) else "unknown"


def make_job(model: str, dataset: Any, split: Any, profile: Profile, *, model_kwargs: dict | None = None,
             device: str = "auto", directory: Path | None = None, teacher: TrainJob | None = None,
             distillation: tuple[float, float] | None = None) -> TrainJob:
    """The :class:`TrainJob` for ``model`` on ``split`` of ``dataset`` (a distilled student when ``teacher`` and
    ``distillation=(T, alpha)`` are given)."""
    model_kwargs = dict(model_kwargs) if model_kwargs else None  # {} and None are the same network
    X_tr, y_tr, X_val, y_val = train_part(dataset, split)
    fp = fingerprint(X_tr, y_tr)
    n_classes, in_length = len(dataset.class_names), X_tr.shape[1]
    _, est = build_estimator(model, n_classes, in_length, profile=profile, seed=int(split.seed),
                             model_kwargs=model_kwargs, device=device)
    if not isinstance(est, TorchClassifier):
        raise ValueError(f"the model store is for networks; {model!r} is {type(est).__name__}")
    variant = None
    if teacher is not None:
        if distillation is None:
            raise ValueError("a distilled student needs distillation=(temperature, alpha)")
        t, a = (float(v) for v in distillation)
        est = DistilledClassifier(teacher=None, model=model, temperature=t, alpha=a, model_kwargs=est.model_kwargs,
                                  train_config=est.train_config, validation_fraction=est.validation_fraction,
                                  verbose=est.verbose)
        variant = f"distilled-{_digest(teacher.key)}-T{t:g}-a{a:g}"
    key = {"model": model, "model_kwargs": dict(model_kwargs or {}),
           "architecture": architecture_signature(model, n_classes, in_length, model_kwargs),
           "task": str(getattr(dataset, "task", "")), "split_kind": split.kind, "split_seed": int(split.seed),
           "train_fingerprint": fp, "data_sha256": getattr(dataset, "source_sha256", None),
           # the early-stopping part decides the epoch whose weights are kept: part of what the weights depend on
           "val_fingerprint": fingerprint(X_val, y_val),
           "code": code_fingerprint(),
           "estimator": estimator_key(est)}
    if teacher is not None:
        key["teacher"] = teacher.key
    directory = directory if directory is not None else checkpoints_dir(profile.name)
    path = checkpoint_path(model, key["task"] or "unknown", split, model_kwargs, directory, variant)
    return TrainJob(path=path, key=key, estimator=est, X_train=X_tr, y_train=y_tr, X_val=X_val, y_val=y_val,
                    class_names=list(dataset.class_names), teacher_path=teacher.path if teacher else None)


def train_all(jobs: Sequence[TrainJob], executor: Executor | str | None = None, *,
              progress: bool = False) -> list[TorchClassifier]:
    """Every job's network, trained through ``executor`` where not stored yet, then loaded here in job order.

    ``executor``: an :class:`~ramancmp.experiments.executor.Executor` or a scheduler string (``None``: the
    default, ``$RAMANCMP_SCHEDULER`` or local processes).
    """
    pending = [job for job in jobs if not job.is_stored()]
    if pending:
        if len(pending) == 1:
            run_job(pending[0])  # one job: no worker processes to start
        else:
            ex = executor if isinstance(executor, Executor) else shared_executor(executor)
            ex.map(run_job, pending, desc="training", progress=progress)
    return [_load(job.path, job.key["train_fingerprint"]) for job in jobs]


_EXECUTORS: dict[str, Executor] = {}


def shared_executor(scheduler: str | None = None) -> Executor:
    """One executor per scheduler for the whole process (a Dask client or a pool of workers is started once)."""
    resolved = resolve_scheduler(scheduler)
    if resolved not in _EXECUTORS:
        _EXECUTORS[resolved] = get_executor(resolved)
    return _EXECUTORS[resolved]


def get_or_train(model: str, dataset: Any, split: Any, profile: Profile, *, model_kwargs: dict | None = None,
                 device: str = "auto", directory: Path | None = None, retrain: bool = False) -> TorchClassifier:
    """A :class:`~ramancmp.training.TorchClassifier` for ``model`` trained on ``split.train`` of ``dataset``.

    Loads the stored network when its key matches (see the module docstring); otherwise trains it in this process
    (seed ``split.seed``, the profile's epochs/patience/batch size, early stopping on ``split.val``, never on
    ``split.select``) and saves it.
    The returned classifier carries ``train_fingerprint_`` so that :class:`PretrainedClassifier` and the
    compression code can check they are given the same training data.
    """
    job = make_job(model, dataset, split, profile, model_kwargs=model_kwargs, device=device, directory=directory)
    if retrain:
        job.json_path.unlink(missing_ok=True)
    run_job(job)
    return _load(job.path, job.key["train_fingerprint"])


class PretrainedClassifier(ClassifierMixin, BaseEstimator):
    """An already-trained classifier in :func:`~ramancmp.experiments.evaluation.evaluate`: ``fit`` only checks.

    ``fit(X, y)`` raises a ``ValueError`` unless ``fingerprint(X, y)`` equals the wrapped classifier's
    ``train_fingerprint_`` -- the guarantee that the harness tests it on data it has never seen. Prediction,
    ``model_`` (for FLOPs and latency) and ``history_`` are the wrapped classifier's.
    """

    def __init__(self, classifier: Any = None):
        self.classifier = classifier

    def fit(self, X: Any, y: Any, **fit_params: Any) -> PretrainedClassifier:
        expected = getattr(self.classifier, "train_fingerprint_", None)
        got = fingerprint(np.asarray(X, dtype=np.float32), np.asarray(y))
        if expected is None or expected != got:
            raise ValueError("this pretrained classifier was not trained on the training data it is evaluated with "
                             f"(fingerprint {expected} != {got}); the split or the repeat order differs")
        self.classes_ = self.classifier.classes_
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    @property
    def model_(self) -> Any:
        return getattr(self.classifier, "model_", None)

    @property
    def history_(self) -> Any:
        return getattr(self.classifier, "history_", None)

    @property
    def fit_time_(self) -> Any:
        return getattr(self.classifier, "fit_time_", None)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.classifier.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        return self.classifier.predict(X)


def sequence_factory(estimators: Iterable[Any], name: str) -> Callable[..., Any]:
    """A factory for :func:`~ramancmp.experiments.evaluation.evaluate` that hands out ``estimators`` in order.

    ``evaluate`` builds one estimator per repeated split, in split order; with pretrained or teacher-bound
    estimators made for those same splits, repeat ``r`` gets the estimator made for split ``r``. Fingerprint checks
    in ``fit`` catch any misalignment.
    """
    it: Iterator[Any] = iter(estimators)

    def factory(num_classes: int, in_length: int, **kwargs: Any) -> Any:
        try:
            return next(it)
        except StopIteration:
            raise ValueError(f"{name}: more repeats requested than estimators prepared") from None

    factory.__name__ = name
    return factory
