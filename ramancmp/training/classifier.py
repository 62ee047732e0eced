"""``TorchClassifier``: any network of the registry as a scikit-learn classifier.

It makes the networks interchangeable with LDA or kNN in the book's evaluation code: ``fit`` / ``predict`` /
``predict_proba`` / ``score``, ``clone`` and ``get_params`` / ``set_params``, and use as the last step of a
:class:`sklearn.pipeline.Pipeline`. Labels can be anything scikit-learn accepts (they are encoded to
``classes_``); the network itself, its training history and the fit time are kept in ``model_``, ``history_`` and
``fit_time_``.

Early stopping needs a validation part. Pass one explicitly (``X_val``, ``y_val``) or let ``fit`` carve
``validation_fraction`` of the training data -- group-aware (no sample on both sides) when ``groups`` is passed,
e.g. ``pipeline.fit(X, y, clf__groups=sample_ids)``.
"""

from __future__ import annotations

import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedGroupKFold, train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ramancmp.models import create_model, encode_labels, is_torch_model
from ramancmp.training.checkpoint import checkpoint_paths, load_checkpoint, save_checkpoint
from ramancmp.training.loop import History, TrainConfig, predict_logits, seed_everything, train_model


class TorchClassifier(ClassifierMixin, BaseEstimator):
    """Train registry network ``model`` (e.g. ``"cnn"``, ``"drsn_cw"``, ``"efficientnet_small"``) like an estimator.

    Parameters (keyword-only):
        model, model_kwargs: the registry name and its builder's keyword arguments (e.g. ``{"width_mult": 0.5}`` or
            ``{"in_channels": 4}`` for folded spectra).
        train_config: the :class:`~ramancmp.training.TrainConfig` of the training run -- every knob of the loop,
            the seed and the device included (``None``: ``TrainConfig()``). One knob at a time, scikit-learn's way:
            ``clf.set_params(train_config__lr=1e-2)`` (a new config replaces the old; the old is never changed),
            or a grid search over ``train_config__<name>``.
        validation_fraction: the share ``fit`` carves out for early stopping when no ``X_val`` is given (``0``:
            none, all ``max_epochs`` are trained).
        verbose: a progress bar per epoch.

    Attributes (set only by :meth:`fit` or :meth:`from_checkpoint`):
        classes_: the labels, sorted; output ``i`` of the network is ``classes_[i]``.
        n_features_in_: points per spectrum seen in ``fit``.
        model_: the trained :class:`torch.nn.Module` (in eval mode after training).
        history_: the :class:`~ramancmp.training.History` of every epoch.
        fit_time_: seconds spent in training (for a loaded checkpoint: the stored training's time).
        checkpoint_info_: only after :meth:`from_checkpoint`: the checkpoint's JSON side-car.
        checkpoint_path_: only after :meth:`from_checkpoint`: the ``.pt`` file it was loaded from.
    """

    def __init__(self, *, model: str = "cnn", model_kwargs: dict | None = None,
                 train_config: TrainConfig | None = None, validation_fraction: float = 0.15, verbose: bool = False):
        self.model = model
        self.model_kwargs = model_kwargs
        self.train_config = train_config
        self.validation_fraction = validation_fraction
        self.verbose = verbose

    def resolved_config(self) -> TrainConfig:
        """The training run this estimator does: ``train_config``, or the default :class:`TrainConfig`."""
        if self.train_config is None:
            return TrainConfig()
        if not isinstance(self.train_config, TrainConfig):
            raise ValueError(f"train_config must be a ramancmp.training.TrainConfig (or None), got "
                             f"{type(self.train_config).__name__}; build one with TrainConfig(max_epochs=..., ...)")
        return self.train_config

    def set_params(self, **params: Any) -> TorchClassifier:
        """scikit-learn's ``set_params``; ``train_config__<name>=value`` replaces ``train_config`` by a copy with
        that setting changed (:meth:`TrainConfig.replace`)."""
        prefix = "train_config__"
        changes = {k[len(prefix):]: params.pop(k) for k in list(params) if k.startswith(prefix)}
        super().set_params(**params)
        if changes:
            self.train_config = self.resolved_config().replace(**changes)
        return self

    def _carve_validation(self, y: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Indices (train, val): stratified, and group-aware when ``groups`` is given."""
        frac = self.validation_fraction
        if not 0.0 < frac < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {frac}")
        all_idx = np.arange(len(y))
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != y.shape:
                raise ValueError(f"groups has shape {groups.shape}, expected {y.shape}")
            n_splits = max(2, round(1 / frac))
            if len(np.unique(groups)) < n_splits:
                raise ValueError(f"only {len(np.unique(groups))} groups: too few for a {frac:.0%} validation part")
            cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=self.resolved_config().seed)
            return next(iter(cv.split(all_idx, y, groups)))
        try:
            return train_test_split(all_idx, test_size=frac, stratify=y, random_state=self.resolved_config().seed)
        except ValueError:  # a class too small to stratify
            return train_test_split(all_idx, test_size=frac, random_state=self.resolved_config().seed)

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, groups: Any = None) -> TorchClassifier:
        if not is_torch_model(self.model):
            raise ValueError(f"{self.model!r} is a scikit-learn model; use ramancmp.models.create_model for it")
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"need at least 2 classes to train a classifier, got {len(self.classes_)}")
        if (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither")
        if X_val is not None:
            X_val = validate_data(self, X_val, dtype=np.float32, reset=False)
            y_val_enc = encode_labels(self.classes_, y_val, "y_val")
            X_tr, y_tr = X, y_enc
        elif self.validation_fraction and self.validation_fraction > 0:
            tr, va = self._carve_validation(y, groups)
            X_tr, y_tr, X_val, y_val_enc = X[tr], y_enc[tr], X[va], y_enc[va]
        else:
            X_tr, y_tr, y_val_enc = X, y_enc, None

        kwargs = dict(self.model_kwargs or {})
        channels = int(kwargs.get("in_channels", 1))
        if X.shape[1] % channels:
            raise ValueError(f"{X.shape[1]} features cannot be folded into {channels} channels")
        config = self.resolved_config()
        seed_everything(config.seed)
        self.model_ = create_model(self.model, len(self.classes_), X.shape[1] // channels, **kwargs)
        self._initialize(self.model_)
        start = time.perf_counter()
        self.history_ = train_model(self.model_, X_tr, y_tr, X_val, y_val_enc, config,
                                    progress=self.verbose, loss_fn=self._training_loss(X_tr, y_tr))
        self.fit_time_ = time.perf_counter() - start
        return self

    def _initialize(self, model: torch.nn.Module) -> None:
        """Called on the freshly built network before training; the default keeps the random initialisation.

        The extension point for subclasses that start from other weights (e.g. a pretrained network in
        :class:`ramancmp.training.FineTunedClassifier`).
        """

    def _training_loss(self, X_train: np.ndarray, y_train: np.ndarray):
        """The training loss handed to :func:`ramancmp.training.train_model`; ``None`` = cross-entropy.

        The extension point for subclasses that train with another objective (e.g. knowledge distillation in
        :class:`ramancmp.compression.DistilledClassifier`). ``y_train`` is already encoded to ``0..K-1``.
        """
        return None

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        device = next(self.model_.parameters()).device
        logits = torch.from_numpy(predict_logits(self.model_, X, device=device))
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    # ------------------------------------------------------------------------------------------ checkpoints
    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Checkpoint the fitted network (``path.pt`` + ``path.json``) with the classes and estimator parameters."""
        check_is_fitted(self, "model_")
        params = self.get_params(deep=False)
        params["train_config"] = self.resolved_config().to_dict()
        info = {"classes": self.classes_.tolist(), "estimator": params,
                "history": self.history_.to_dict(), "fit_time": self.fit_time_, **(extra or {})}
        return save_checkpoint(path, self.model_, info)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu") -> TorchClassifier:
        """A fitted classifier from :meth:`save`'s files (weights loaded with ``weights_only=True``)."""
        model, info = load_checkpoint(path, device=device)
        if "classes" not in info:
            raise ValueError(f"checkpoint {path} has no 'classes'; it was not saved by TorchClassifier.save")
        clf = cls(**_estimator_params(cls, info.get("estimator") or {}))
        clf.model_, clf.classes_ = model, np.asarray(info["classes"])
        clf.n_features_in_ = model.in_length * model.in_channels
        hist = info.get("history") or {}
        hist.pop("epochs", None)
        clf.history_, clf.fit_time_, clf.checkpoint_info_ = History(**hist), info.get("fit_time"), info
        clf.checkpoint_path_ = checkpoint_paths(path)[0]
        return clf


def _estimator_params(cls: type, stored: dict[str, Any]) -> dict[str, Any]:
    """The constructor arguments of ``cls`` from a side-car's ``"estimator"``: ``train_config`` as written by
    :meth:`TorchClassifier.save`, or -- a side-car of the earlier flat format -- rebuilt from the training settings
    it listed one by one (a setting this version cannot read is left at its default: the weights are loaded, not
    retrained)."""
    names = set(cls._get_param_names())
    params = {k: v for k, v in stored.items() if k in names and k != "train_config"}
    if isinstance(stored.get("train_config"), dict):
        params["train_config"] = TrainConfig.from_dict(stored["train_config"])
    else:
        settings = {f.name for f in fields(TrainConfig)}
        config = TrainConfig()
        for k, v in stored.items():
            if k in settings:
                try:
                    config = config.replace(**{k: v})
                except (ValueError, TypeError):
                    pass
        params["train_config"] = config
    return params
