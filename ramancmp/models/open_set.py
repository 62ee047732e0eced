"""Open-set identification: calibrated probabilities and a "not in library" answer instead of a forced class.

A closed-set classifier names one of its classes for *every* spectrum, also for a mineral it has never seen.
:class:`OpenSetClassifier` fixes that, scikit-learn style (``fit`` / ``predict`` / ``predict_proba``), for any
classifier; with the library search (:class:`ramancmp.models.library_search.LibrarySearch`, the 1-NN cosine search
with graded class scores: the similarity of the most similar library spectrum of each class) it is the book's
identification.

:class:`OpenSetClassifier`
    Wraps any fitted-on-``fit`` classifier (or a :class:`sklearn.frozen.FrozenEstimator` of an already trained one)
    and adds

    1. **temperature scaling** (Guo et al., ICML 2017): one temperature ``T`` fitted on *validation* spectra by
       minimising the negative log-likelihood of ``softmax(logits / T)``; the logits are the estimator's
       ``decision_function`` (for :class:`LibrarySearch`: the class similarities), else ``log predict_proba`` (for a
       network the same thing up to a per-row constant, which softmax ignores);
    2. an **open-set score** per spectrum -- ``"max_proba"``: the largest calibrated probability, or ``"max_score"``:
       the largest raw logit (for :class:`LibrarySearch` the cosine similarity of the nearest library spectrum;
       for an estimator with ``decision_function`` the max-logit score of Hendrycks et al. 2022; for one with only
       ``predict_proba``, such as :class:`ramancmp.training.TorchClassifier`, the log of its largest uncalibrated
       probability) -- and a **threshold** chosen on validation
       *unknowns* (spectra of minerals outside the classes) so that a fraction ``unknown_rejection`` (default 95 %)
       of them is rejected. ``predict`` answers ``unknown_label`` for a spectrum whose score is not above it.

Evaluating it (:func:`open_set_metrics`): AUROC of the score for known vs unknown spectra (threshold-free), and at the
chosen threshold the fraction of unknowns rejected and the accuracy on known spectra (a rejected known spectrum
counts as an error). The test unknowns must be other minerals than the validation unknowns the threshold was chosen
on, e.g. other species, or a whole held-out class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import roc_auc_score
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ramancmp.models.labels import encode_labels

__all__ = ["OpenSetClassifier", "SCORES", "fit_temperature", "open_set_metrics"]

SCORES = ("max_proba", "max_score")
"""The open-set scores; ``score="auto"`` picks the one with the higher validation AUROC."""
_T_BOUNDS = (1e-4, 1e4)


# ------------------------------------------------------------------------------------------ temperature scaling
def fit_temperature(logits: Any, y: Any) -> float:
    """The temperature ``T`` minimising the mean negative log-likelihood of ``softmax(logits / T)`` for labels ``y``
    (indices ``0..n_classes-1``). A 1-D bounded search over ``log T`` (:func:`scipy.optimize.minimize_scalar`)."""
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)
    if logits.ndim != 2 or len(logits) == 0 or logits.shape[0] != len(y):
        raise ValueError(f"logits must be (n, n_classes) with n = len(y) > 0, got shapes {logits.shape} and {y.shape}")
    if not np.all(np.isfinite(logits)):
        raise ValueError("logits contain NaN or infinite values")
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= logits.shape[1]:
        raise ValueError(f"y must be class indices in [0, {logits.shape[1] - 1}]")
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[rows, y].mean())

    lo, hi = np.log(_T_BOUNDS[0]), np.log(_T_BOUNDS[1])
    result = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


# ---------------------------------------------------------------------------------------------- open-set rule
class OpenSetClassifier(ClassifierMixin, BaseEstimator):
    """A classifier that can answer "not in library" (see the module docstring).

    Parameters
    ----------
    estimator : classifier
        Cloned and fitted on ``(X, y)`` by ``fit``; it needs ``decision_function`` returning ``(n, n_classes)`` or
        ``predict_proba``. Wrap an already trained model in :class:`sklearn.frozen.FrozenEstimator` to use it as is.
    score : {"auto", "max_proba", "max_score"}, default "auto"
        The open-set score: largest calibrated probability, or largest raw logit / similarity; ``"auto"`` picks the
        one that separates the validation knowns from the validation unknowns better (higher AUROC).
    unknown_rejection : float in (0, 1), default 0.95
        Fraction of the validation unknowns the threshold rejects.
    unknown_label : default -1
        What ``predict`` returns for a rejected spectrum.

    Fitted attributes (set by ``fit``)
    ----------------------------------
    estimator_ : the fitted (cloned) estimator.
    classes_ : ndarray, the estimator's classes.
    n_features_in_ : int.
    score_ : str, the open-set score used (``score``, or the one ``"auto"`` chose).
    val_auroc_ : dict, validation AUROC (knowns ``X_val`` vs ``X_unknown``) of each score in :data:`SCORES`.
    temperature_ : float, fitted on the validation spectra.
    threshold_ : float, a spectrum is accepted when its score is above it.
    val_nll_ : dict, validation negative log-likelihood ``{"before": T = 1, "after": T = temperature_}``.
    val_unknown_rejection_ : float, fraction of the validation unknowns rejected (>= ``unknown_rejection``).
    val_known_acceptance_ : float, fraction of the validation knowns accepted.
    """

    def __init__(self, estimator: Any = None, *, score: str = "auto", unknown_rejection: float = 0.95,
                 unknown_label: Any = -1):
        self.estimator = estimator
        self.score = score
        self.unknown_rejection = unknown_rejection
        self.unknown_label = unknown_label

    # --------------------------------------------------------------------------------------------- helpers
    def _check_params(self) -> None:
        if self.score not in ("auto", *SCORES):
            raise ValueError(f"score must be one of {['auto', *SCORES]}, got {self.score!r}")
        if not isinstance(self.unknown_rejection, (float, int)) or not 0.0 < self.unknown_rejection < 1.0:
            raise ValueError(f"unknown_rejection must be in (0, 1), got {self.unknown_rejection!r}")
        est = self.estimator
        if est is None or not (hasattr(est, "decision_function") or hasattr(est, "predict_proba")):
            raise ValueError("estimator must be a classifier with decision_function or predict_proba, got "
                             f"{type(est).__name__}")

    def _logits_of(self, est: Any, X: np.ndarray) -> np.ndarray:
        if hasattr(est, "decision_function"):
            try:
                logits = np.asarray(est.decision_function(X), dtype=np.float64)
            except AttributeError:  # e.g. a Pipeline whose last step has none
                logits = None
            if logits is not None and logits.ndim == 2 and logits.shape[1] == len(est.classes_):
                return logits
        proba = np.asarray(est.predict_proba(X), dtype=np.float64)
        return np.log(np.clip(proba, 1e-12, None))

    def _scores(self, logits: np.ndarray, temperature: float, score: str | None = None) -> np.ndarray:
        if (score or self.score_) == "max_score":
            return logits.max(axis=1)
        return softmax(logits / temperature, axis=1).max(axis=1)

    # ------------------------------------------------------------------------------------------------- API
    def fit(self, X: Any, y: Any, *, X_val: Any, y_val: Any, X_unknown: Any) -> OpenSetClassifier:
        """Fit the estimator on ``(X, y)``, the temperature on ``(X_val, y_val)`` (spectra of the same classes, not
        in ``X``) and the threshold on ``X_unknown`` (spectra of minerals outside the classes)."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        X_val = check_array(X_val, dtype=np.float32, input_name="X_val")
        X_unknown = check_array(X_unknown, dtype=np.float32, input_name="X_unknown")
        for name, arr in (("X_val", X_val), ("X_unknown", X_unknown)):
            if arr.shape[1] != X.shape[1]:
                raise ValueError(f"{name} has {arr.shape[1]} features, X has {X.shape[1]}")
        if len(np.asarray(y_val)) != len(X_val):
            raise ValueError(f"X_val and y_val differ in length: {len(X_val)} and {len(np.asarray(y_val))}")
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = np.asarray(self.estimator_.classes_)
        y_val_idx = encode_labels(self.classes_, y_val, "y_val")
        val_logits = self._logits_of(self.estimator_, X_val)
        self.temperature_ = fit_temperature(val_logits, y_val_idx)
        rows = np.arange(len(y_val_idx))
        self.val_nll_ = {"before": float(-log_softmax(val_logits, axis=1)[rows, y_val_idx].mean()),
                         "after": float(-log_softmax(val_logits / self.temperature_, axis=1)[rows, y_val_idx].mean())}
        unknown_logits = self._logits_of(self.estimator_, X_unknown)
        self.val_auroc_ = {s: open_set_metrics(self._scores(val_logits, self.temperature_, s), np.ones(len(X_val)),
                                               self._scores(unknown_logits, self.temperature_, s))["auroc"]
                           for s in SCORES}
        self.score_ = max(SCORES, key=self.val_auroc_.get) if self.score == "auto" else self.score
        unknown_scores = self._scores(unknown_logits, self.temperature_)
        self.threshold_ = float(np.quantile(unknown_scores, self.unknown_rejection, method="higher"))
        self.val_unknown_rejection_ = float(np.mean(unknown_scores <= self.threshold_))
        self.val_known_acceptance_ = float(np.mean(self._scores(val_logits, self.temperature_) > self.threshold_))
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Calibrated logits ``(n, n_classes)``: the estimator's logits divided by ``temperature_``."""
        check_is_fitted(self, "threshold_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self._logits_of(self.estimator_, X) / self.temperature_

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated closed-set probabilities ``(n, n_classes)`` (rows sum to 1; rejection is ``predict``'s)."""
        return softmax(self.decision_function(X), axis=1)

    def score_samples(self, X: Any) -> np.ndarray:
        """The open-set score of each spectrum: higher = more like the library; accepted when ``> threshold_``."""
        logits = self.decision_function(X) * self.temperature_
        return self._scores(logits, self.temperature_)

    def predict(self, X: Any) -> np.ndarray:
        """The class, or ``unknown_label`` where the score is not above ``threshold_``."""
        logits = self.decision_function(X) * self.temperature_
        labels = self.classes_[logits.argmax(axis=1)].astype(object)
        labels[self._scores(logits, self.temperature_) <= self.threshold_] = self.unknown_label
        return labels

    def refit_library(self, X: Any, y: Any) -> OpenSetClassifier:
        """Refit only the wrapped estimator on ``(X, y)`` -- e.g. a library search on every reference spectrum,
        after temperature and threshold were chosen with a smaller library -- keeping ``temperature_`` and
        ``threshold_``. The classes must stay the same. (A larger library brings unknowns' nearest spectra closer,
        so the rejection rate of unknowns can fall a little below the validation value.)"""
        check_is_fitted(self, "threshold_")
        X, y = validate_data(self, X, y, dtype=np.float32, reset=False)
        estimator = clone(self.estimator).fit(X, y)
        if not np.array_equal(np.asarray(estimator.classes_), self.classes_):
            raise ValueError("refit_library: the new data must have the same classes as the fitted ones")
        self.estimator_ = estimator
        return self

    def evaluate(self, X_known: Any, y_known: Any, X_unknown: Any) -> dict[str, float]:
        """:func:`open_set_metrics` on test spectra of the classes and of unknown minerals, at ``threshold_``."""
        check_is_fitted(self, "threshold_")
        known_logits = self.decision_function(X_known) * self.temperature_
        correct = self.classes_[known_logits.argmax(axis=1)] == np.asarray(y_known)
        return open_set_metrics(self._scores(known_logits, self.temperature_), correct,
                                self.score_samples(X_unknown), threshold=self.threshold_)


def open_set_metrics(known_scores: Any, known_correct: Any, unknown_scores: Any, *,
                     threshold: float | None = None) -> dict[str, float]:
    """Known-vs-unknown metrics of an open-set score (higher = more like the library).

    Returns ``auroc`` (:func:`sklearn.metrics.roc_auc_score`, known = positive), ``closed_set_accuracy`` (every
    known spectrum forced into a class) and, if ``threshold`` is given (accept when score > threshold),
    ``unknown_rejected`` (fraction of unknowns rejected), ``known_accepted`` and ``known_accuracy`` (known spectra
    accepted *and* correctly named, over all known spectra: a rejection is an error), ``accepted_accuracy``
    (correct among the accepted known spectra; NaN if none is accepted).
    """
    known_scores = np.asarray(known_scores, dtype=np.float64).ravel()
    unknown_scores = np.asarray(unknown_scores, dtype=np.float64).ravel()
    known_correct = np.asarray(known_correct, dtype=bool).ravel()
    if len(known_scores) == 0 or len(unknown_scores) == 0:
        raise ValueError("need at least one known and one unknown spectrum")
    if len(known_correct) != len(known_scores):
        raise ValueError(f"known_scores and known_correct differ in length: {len(known_scores)} and "
                         f"{len(known_correct)}")
    labels = np.r_[np.ones(len(known_scores)), np.zeros(len(unknown_scores))]
    out = {"auroc": float(roc_auc_score(labels, np.r_[known_scores, unknown_scores])),
           "closed_set_accuracy": float(known_correct.mean()), "n_known": int(len(known_scores)),
           "n_unknown": int(len(unknown_scores))}
    if threshold is not None:
        accepted = known_scores > threshold
        out.update(unknown_rejected=float(np.mean(unknown_scores <= threshold)), known_accepted=float(accepted.mean()),
                   known_accuracy=float(np.mean(accepted & known_correct)),
                   accepted_accuracy=float(known_correct[accepted].mean()) if accepted.any() else float("nan"))
    return out
