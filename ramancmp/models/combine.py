"""Combining models: a hybrid of a network and the library search, and soft-vote ensembles chosen on validation.

**Hybrid.** The 1-NN cosine library search is nearly always right when a test spectrum has a close match in the
library (a known species), and a network generalises better to species it has not seen. :func:`hybrid_predict`
trusts the library when the cosine similarity of the nearest library spectrum is at least a threshold and the
network otherwise; :func:`choose_hybrid_threshold` picks the threshold that maximises *validation* accuracy.
:class:`HybridClassifier` is the rule as a scikit-learn classifier.

**Soft vote.** :func:`soft_vote` averages the class probabilities of several fitted models; :class:`SoftVoteClassifier`
fits its members and keeps the subset whose average is most accurate on the validation part (every non-empty subset
is tried; ties go to fewer members, then to the earlier ones in the list).

Both classifiers take validation data in ``fit(X, y, X_val=..., y_val=...)``, like the book's networks, so the
evaluation harness hands them the split's validation part; nothing is ever chosen on test data.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ramancmp.models.library_search import LibrarySearch

__all__ = ["HybridClassifier", "SoftVoteClassifier", "choose_hybrid_threshold", "hybrid_predict", "soft_vote"]


def hybrid_predict(similarity: Any, library_pred: Any, network_pred: Any, threshold: float) -> np.ndarray:
    """The library's class where ``similarity >= threshold``, the network's elsewhere."""
    similarity = np.asarray(similarity, dtype=float)
    library_pred, network_pred = np.asarray(library_pred), np.asarray(network_pred)
    if not (similarity.shape == library_pred.shape == network_pred.shape) or similarity.ndim != 1:
        raise ValueError(f"similarity, library_pred and network_pred must be 1-D of one length, got "
                         f"{similarity.shape}, {library_pred.shape}, {network_pred.shape}")
    return np.where(similarity >= threshold, library_pred, network_pred)


def choose_hybrid_threshold(similarity: Any, library_correct: Any, network_correct: Any) -> dict[str, float]:
    """The threshold of :func:`hybrid_predict` with the best accuracy on (validation) spectra.

    Candidates: ``+inf`` (always the network), ``-inf`` (always the library) and every midpoint between consecutive
    distinct similarities. Among the candidates with the best accuracy the median one is taken (the middle of the
    best range, not its edge). Returns ``{"threshold", "accuracy", "library_share"}`` (the share of spectra given
    to the library).
    """
    sim = np.asarray(similarity, dtype=float)
    lib, net = np.asarray(library_correct, dtype=bool), np.asarray(network_correct, dtype=bool)
    if sim.ndim != 1 or not len(sim) or sim.shape != lib.shape or sim.shape != net.shape:
        raise ValueError("similarity, library_correct and network_correct must be non-empty 1-D arrays of one length")
    if not np.isfinite(sim).all():
        raise ValueError("similarities must be finite")
    u = np.unique(sim)
    candidates = np.concatenate([[-np.inf], (u[1:] + u[:-1]) / 2, [np.inf]])
    acc = np.array([np.where(sim >= t, lib, net).mean() for t in candidates])
    best = np.flatnonzero(acc == acc.max())
    t = float(candidates[best[(len(best) - 1) // 2]])
    return {"threshold": t, "accuracy": float(acc.max()), "library_share": float((sim >= t).mean())}


def soft_vote(probas: Sequence[Any], weights: Sequence[float] | None = None) -> np.ndarray:
    """The (weighted) mean of class-probability arrays of one shape ``(n, n_classes)``."""
    arrays = [np.asarray(p, dtype=float) for p in probas]
    if not arrays or any(a.shape != arrays[0].shape or a.ndim != 2 for a in arrays):
        raise ValueError(f"soft_vote needs probability arrays of one (n, n_classes) shape, got "
                         f"{[a.shape for a in arrays]}")
    return np.average(np.stack(arrays), axis=0, weights=weights)


def _fit(estimator: Any, X: Any, y: Any, X_val: Any, y_val: Any) -> Any:
    try:
        params = inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):
        params = {}
    if X_val is not None and "X_val" in params:
        return estimator.fit(X, y, X_val=X_val, y_val=y_val)
    return estimator.fit(X, y)


class HybridClassifier(ClassifierMixin, BaseEstimator):
    """Library search where its nearest spectrum is similar enough, ``network`` elsewhere (see the module docstring).

    ``network``: a classifier (fitted in ``fit``; a stored network wrapped so that ``fit`` only checks it is the one
    trained on ``X`` works too). ``threshold``: fixed, or ``None`` to choose it on ``X_val`` in ``fit`` (required then).
    Fitted: ``library_`` (:class:`LibrarySearch`), ``threshold_``, ``choice_`` (:func:`choose_hybrid_threshold`'s
    answer), ``classes_``.
    """

    def __init__(self, network: Any = None, threshold: float | None = None):
        self.network = network
        self.threshold = threshold

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> HybridClassifier:
        if self.network is None:
            raise ValueError("HybridClassifier needs a network")
        _fit(self.network, X, y, X_val, y_val)
        self.library_ = LibrarySearch().fit(X, y)
        self.classes_ = self.library_.classes_
        if not np.array_equal(np.asarray(self.network.classes_), self.classes_):
            raise ValueError("the network and the library know different classes")
        self.n_features_in_ = self.library_.n_features_in_
        if self.threshold is not None:
            self.threshold_, self.choice_ = float(self.threshold), None
            return self
        if X_val is None or y_val is None or not len(y_val):
            raise ValueError("HybridClassifier with threshold=None chooses it on validation data: pass X_val, y_val")
        sim, lib, net = self._parts(X_val)
        y_val = np.asarray(y_val)
        self.choice_ = choose_hybrid_threshold(sim, lib == y_val, net == y_val)
        self.threshold_ = self.choice_["threshold"]
        return self

    def _parts(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sims, idx = self.library_.kneighbors(X, 1)
        lib = self.classes_[self.library_.library_labels_[idx[:, 0]]]
        return sims[:, 0], lib, np.asarray(self.network.predict(X))

    def library_share(self, X: Any) -> float:
        """The share of spectra of ``X`` the library decides."""
        check_is_fitted(self, "threshold_")
        return float((self._parts(X)[0] >= self.threshold_).mean())

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "threshold_")
        return hybrid_predict(*self._parts(X), self.threshold_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """The library's one-hot vote where it decides, the network's probabilities elsewhere."""
        check_is_fitted(self, "threshold_")
        sim, lib, _ = self._parts(X)
        proba = np.asarray(self.network.predict_proba(X), dtype=float)
        use = sim >= self.threshold_
        proba[use] = (self.classes_[None, :] == lib[use, None]).astype(float)
        return proba


class SoftVoteClassifier(ClassifierMixin, BaseEstimator):
    """Soft vote of ``members`` (fitted in ``fit``); with ``select=True`` the subset chosen on ``X_val``.

    Fitted: ``members_`` (the fitted members), ``selected_`` (indices into ``members``), ``val_accuracy_`` (of the
    selected vote, ``None`` without selection), ``classes_``.
    """

    def __init__(self, members: Sequence[Any] = (), select: bool = True):
        self.members = members
        self.select = select

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> SoftVoteClassifier:
        if len(self.members) < 1:
            raise ValueError("SoftVoteClassifier needs at least one member")
        if len(self.members) > 8:
            raise ValueError("SoftVoteClassifier tries every subset: at most 8 members")
        self.members_ = [_fit(m, X, y, X_val, y_val) for m in self.members]
        self.classes_ = np.asarray(self.members_[0].classes_)
        for m in self.members_[1:]:
            if not np.array_equal(np.asarray(m.classes_), self.classes_):
                raise ValueError("the members of a soft vote must know the same classes")
        self.n_features_in_ = np.asarray(X).shape[1]
        everyone = tuple(range(len(self.members_)))
        if not self.select:
            self.selected_, self.val_accuracy_ = everyone, None
            return self
        if X_val is None or y_val is None or not len(y_val):
            raise ValueError("SoftVoteClassifier with select=True chooses its members on validation data: "
                             "pass X_val, y_val")
        probas = [np.asarray(m.predict_proba(X_val), dtype=float) for m in self.members_]
        y_val = np.asarray(y_val)
        best, best_acc = everyone, -1.0
        for k in range(1, len(probas) + 1):
            for subset in combinations(everyone, k):
                acc = float(np.mean(self.classes_[soft_vote([probas[i] for i in subset]).argmax(1)] == y_val))
                if acc > best_acc:
                    best, best_acc = subset, acc
        self.selected_, self.val_accuracy_ = best, best_acc
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "selected_")
        return soft_vote([self.members_[i].predict_proba(X) for i in self.selected_])

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
