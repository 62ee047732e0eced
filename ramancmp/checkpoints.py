"""Trained networks reused across chapters and benchmarks: train once per (model, task, split), load afterwards.

A compression method starts from a trained network -- the distillation teacher, the DRSN that is converted or used
as a feature extractor. Training it again in every chapter would waste minutes, and reusing it carelessly would
leak: a teacher that saw the test part of a split makes its student look better than it is. :func:`get_or_train`
therefore stores one checkpoint per model, task, split kind and split seed, trained on that split's training part
only (early stopping on its validation part, exactly as :func:`ramancmp.evaluation.evaluate` trains it), and loads
it only when everything that determines the weights matches: model and keyword arguments, training settings of the
profile, the data (sha256 of the archive) and a fingerprint of the training spectra and labels.

Layout: ``<checkpoints>/<task>/<model>[-<kwargs hash>]/<split kind>-seed<split seed>.pt`` + ``.json`` (see
:func:`ramancmp.training.save_checkpoint`); the book runner points ``<checkpoints>`` at a folder per profile.

:class:`PretrainedClassifier` wraps such a network for :func:`ramancmp.evaluation.evaluate`: its ``fit`` trains
nothing but *checks* that it is given the very training data the network was trained on, so the harness can
report test accuracy, size and speed of a stored network without any chance of testing it on its training data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ramancmp.config import checkpoints_dir, get_profile

__all__ = ["architecture_signature", "fingerprint", "checkpoint_path", "get_or_train", "PretrainedClassifier", "sequence_factory"]


def fingerprint(*arrays: Any) -> str:
    """A short sha256 of arrays' shapes, dtypes and bytes: identifies the exact data a model was trained on."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(f"{a.shape}|{a.dtype.str}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def architecture_signature(model: str, num_classes: int, in_length: int, model_kwargs: dict | None = None) -> str:
    """A short hash of the names and shapes of the network's parameters and buffers as built *now*.

    Part of a checkpoint's key, so a change to a builder's defaults (widths, kernels, head) makes old checkpoints
    stop matching instead of failing to load or, worse, loading into a different network.
    """
    from ramancmp.models import create_model

    net = create_model(model, num_classes=num_classes, in_length=in_length, **(model_kwargs or {}))
    layout = [(name, tuple(t.shape)) for name, t in net.state_dict().items()]
    return hashlib.sha256(repr(layout).encode()).hexdigest()[:16]


def _model_tag(model: str, model_kwargs: dict | None) -> str:
    if not model_kwargs:
        return model
    digest = hashlib.sha256(json.dumps(model_kwargs, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{model}-{digest}"


def checkpoint_path(model: str, task: str, split: Any, model_kwargs: dict | None = None,
                    directory: Path | None = None) -> Path:
    """Where :func:`get_or_train` keeps ``model`` trained on ``split`` of ``task`` (without the suffix)."""
    root = Path(directory) if directory is not None else checkpoints_dir()
    return root / task / _model_tag(model, model_kwargs) / f"{split.kind}-seed{int(split.seed)}"


def _train_part(dataset: Any, split: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_val, y_val) exactly as :func:`ramancmp.evaluation.evaluate` feeds a network."""
    X, y = np.asarray(dataset.X, dtype=np.float32), np.asarray(dataset.y)
    val = split.val[np.isin(y[split.val], y[split.train])]
    return X[split.train], y[split.train], X[val], y[val]


def get_or_train(model: str, dataset: Any, split: Any, profile: Any = "quick", *, model_kwargs: dict | None = None,
                 device: str = "auto", directory: Path | None = None, retrain: bool = False) -> Any:
    """A :class:`~ramancmp.models.TorchClassifier` for ``model`` trained on ``split.train`` of ``dataset``.

    Loads ``checkpoint_path(...)`` when its recorded model, kwargs, training settings, data sha256 and training-data
    fingerprint all match; otherwise trains (seed ``split.seed``, the profile's epochs/patience/batch size, early
    stopping on ``split.val``) and saves. The returned classifier carries ``train_fingerprint_`` so that
    :class:`PretrainedClassifier` and the compression code can check they are given the same training data.
    """
    from ramancmp.evaluation import build_estimator
    from ramancmp.models import TorchClassifier

    prof = get_profile(profile)
    X_tr, y_tr, X_val, y_val = _train_part(dataset, split)
    fp = fingerprint(X_tr, y_tr)
    _, est = build_estimator(model, len(dataset.class_names), X_tr.shape[1], profile=prof, seed=int(split.seed),
                             model_kwargs=model_kwargs, device=device)
    if not isinstance(est, TorchClassifier):
        raise ValueError(f"get_or_train is for networks; {model!r} is {type(est).__name__}")
    key = {"model": model, "model_kwargs": dict(model_kwargs or {}), "architecture": architecture_signature(
               model, len(dataset.class_names), X_tr.shape[1], model_kwargs),
           "task": str(getattr(dataset, "task", "")),
           "split_kind": split.kind, "split_seed": int(split.seed), "train_fingerprint": fp,
           "data_sha256": getattr(dataset, "source_sha256", None),
           "estimator": {k: v for k, v in est.get_params().items() if k not in ("device", "verbose")}}
    directory = directory if directory is not None else checkpoints_dir(prof.name)
    path = checkpoint_path(model, key["task"] or "unknown", split, model_kwargs, directory)
    json_path = path.with_name(path.name + ".json")
    if not retrain and json_path.exists():
        stored = json.loads(json_path.read_text(encoding="utf-8")).get("key")
        if stored == json.loads(json.dumps(key, default=str)):
            clf = TorchClassifier.from_checkpoint(path, device="cpu")
            clf.train_fingerprint_ = fp
            return clf
    est.fit(X_tr, y_tr, X_val=X_val, y_val=y_val) if len(X_val) else est.fit(X_tr, y_tr)
    est.model_.cpu()
    est.save(path, extra={"key": key, "class_names": [dataset.class_names[int(c)] for c in est.classes_]})
    est.train_fingerprint_ = fp
    return est


class PretrainedClassifier(ClassifierMixin, BaseEstimator):
    """An already-trained classifier in :func:`ramancmp.evaluation.evaluate`: ``fit`` only checks the data.

    ``fit(X, y)`` raises a ``ValueError`` unless ``fingerprint(X, y)`` equals the wrapped classifier's
    ``train_fingerprint_`` -- the guarantee that the harness tests it on data it has never seen. Prediction,
    ``model_`` (for FLOPs and latency) and ``history_`` are the wrapped classifier's.
    """

    def __init__(self, classifier: Any = None):
        self.classifier = classifier

    def fit(self, X: Any, y: Any, **fit_params: Any) -> "PretrainedClassifier":
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

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.classifier.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        return self.classifier.predict(X)


def sequence_factory(estimators: Iterable[Any], name: str) -> Any:
    """A factory for :func:`ramancmp.evaluation.evaluate` that hands out ``estimators`` in order, one per repeat.

    ``evaluate`` builds one estimator per repeated split, in split order; with pretrained or teacher-bound
    estimators made for those same splits (``repeated_splits`` with the same kind, repeats and seed), repeat ``r``
    gets the estimator made for split ``r``. Fingerprint checks in ``fit`` catch any misalignment.
    """
    it: Iterator[Any] = iter(estimators)

    def factory(num_classes: int, in_length: int, **kwargs: Any) -> Any:
        try:
            return next(it)
        except StopIteration:
            raise ValueError(f"{name}: more repeats requested than estimators prepared") from None

    factory.__name__ = name
    return factory
