"""Classical baselines: plain LDA, PCA + LDA and the 1-NN cosine library search, as deployed (one matrix product).

* ``lda`` is the paper's baseline: plain Fisher LDA (``solver="svd"``, no shrinkage). With more wavenumbers (1024)
  than spectra per class the within-class scatter is singular; the SVD solver copes by discarding directions below
  ``tol``, so no regularisation is added. Pass ``shrinkage="auto"`` to get Ledoit-Wolf shrinkage (``lsqr`` solver)
  instead, which is usually a little better on small data but is no longer the paper's baseline.
* ``pca_lda`` first projects on the leading principal components, the textbook chemometrics recipe.
* ``knn_cosine`` is what RRUFF's own search does in spirit: return the label of the most similar library spectrum
  by cosine similarity (exact): :class:`ramancmp.models.library_search.LibrarySearch`, numpy, one matrix product.

How they predict. LDA and PCA + LDA are *fitted* by scikit-learn, but what they compute for a spectrum is one affine
map: LDA's class scores are ``W x + b``, and PCA's projection ``C (x - m)`` is linear too, so PCA + LDA's scores are
``(W C) x + (b - W C m)``. :class:`AffineClassifier` fits the scikit-learn estimator and then predicts with that one
map, folded once (PCA + LDA costs ``n_classes x n_features`` multiply-adds per spectrum, not ``n_components x
n_features`` more). The scikit-learn versions stay registered as the cross-checks, ``lda_sklearn``,
``pca_lda_sklearn`` and ``knn_cosine_sklearn`` (tests/test_library_search.py: the same predictions, decision values
allclose); what they add at prediction time is scikit-learn's per-call overhead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from ramancmp.models.library_search import LibrarySearch, spectra_rows
from ramancmp.models.registry import register_model

__all__ = ["AffineClassifier", "affine_map"]


def _step_map(step: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(A, c)`` (float64) with ``step(x) = A x + c`` for one fitted linear step."""
    if isinstance(step, PCA):
        components = np.asarray(step.components_, dtype=np.float64)
        if step.whiten:
            components = components / np.sqrt(np.asarray(step.explained_variance_, dtype=np.float64))[:, None]
        return components, -components @ np.asarray(step.mean_, dtype=np.float64)
    if isinstance(step, LinearDiscriminantAnalysis):
        return np.atleast_2d(np.asarray(step.coef_, dtype=np.float64)), np.ravel(step.intercept_).astype(np.float64)
    raise ValueError(f"{type(step).__name__} is not an affine step AffineClassifier can fold: use "
                     "LinearDiscriminantAnalysis, optionally after PCA steps in a Pipeline")


def affine_map(estimator: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` (float64) of a fitted LDA, or of a Pipeline of PCA steps ending in LDA: its class scores (what its
    ``decision_function`` returns) are ``X @ W.T + b``."""
    steps = ([s for _, s in estimator.steps if s is not None and s != "passthrough"]
             if isinstance(estimator, Pipeline) else [estimator])
    if not steps or not isinstance(steps[-1], LinearDiscriminantAnalysis):
        raise ValueError(f"the last step must be a LinearDiscriminantAnalysis, got {type(steps[-1]).__name__}"
                         if steps else "the pipeline has no step")
    W, b = None, None
    for step in steps:
        A, c = _step_map(step)
        W, b = (A, c) if W is None else (A @ W, A @ b + c)
    return W, b


class AffineClassifier(ClassifierMixin, BaseEstimator):
    """Fit a scikit-learn LDA (or PCA + LDA pipeline); predict with the one affine map it amounts to.

    Parameters
    ----------
    estimator : LinearDiscriminantAnalysis or Pipeline of PCA steps ending in one
        Cloned and fitted by ``fit``; its class scores are folded into ``coef_`` and ``intercept_``.

    Fitted attributes
    -----------------
    estimator_ : the fitted scikit-learn estimator (the cross-check, and what ``transform``-style uses need).
    coef_ : ndarray (n_scores, n_features), float32; ``n_scores`` is 1 for two classes (as scikit-learn's).
    intercept_ : ndarray (n_scores,), float32.
    classes_ : ndarray, the class labels.
    n_features_in_ : int.

    ``decision_function`` returns what the scikit-learn estimator's returns (1-D for two classes), ``predict`` the
    class of the largest score (two classes: the second where the score is > 0), ``predict_proba`` LDA's softmax
    (two classes: the logistic function) of the scores.
    """

    def __init__(self, estimator: Any = None):
        self.estimator = estimator

    def fit(self, X: Any, y: Any) -> AffineClassifier:
        if self.estimator is None:
            raise ValueError("estimator must be a LinearDiscriminantAnalysis or a Pipeline ending in one, got None")
        self.estimator_ = clone(self.estimator).fit(X, y)
        W, b = affine_map(self.estimator_)
        self.coef_ = np.ascontiguousarray(W, dtype=np.float32)
        self.intercept_ = b.astype(np.float32)
        self.classes_ = np.asarray(self.estimator_.classes_)
        self.n_features_in_ = int(self.estimator_.n_features_in_)
        return self

    def _inputs(self, X: Any) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise NotFittedError("This AffineClassifier instance is not fitted yet: call fit(X, y) first")
        return spectra_rows(X, self.n_features_in_, "model")

    def _scores(self, X: Any) -> np.ndarray:
        return self._inputs(X) @ self.coef_.T + self.intercept_

    def decision_function(self, X: Any) -> np.ndarray:
        scores = self._scores(X)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X: Any) -> np.ndarray:
        scores = self._scores(X)
        idx = (scores[:, 0] > 0).astype(int) if scores.shape[1] == 1 else scores.argmax(axis=1)
        return self.classes_[idx]

    def predict_proba(self, X: Any) -> np.ndarray:
        scores = self._scores(X).astype(np.float64)
        if scores.shape[1] == 1:
            p = expit(scores[:, 0])
            return np.column_stack([1 - p, p])
        return softmax(scores, axis=1)


def _lda(shrinkage: float | str | None, tol: float) -> LinearDiscriminantAnalysis:
    if shrinkage is None:
        return LinearDiscriminantAnalysis(solver="svd", tol=tol)
    return LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage)


def _pca_lda(in_length: int, n_components: int | float) -> Pipeline:
    if isinstance(n_components, int) and not 1 <= n_components <= in_length:
        raise ValueError(f"n_components must be in [1, {in_length}], got {n_components}")
    return Pipeline([("pca", PCA(n_components=n_components, random_state=0)),
                     ("lda", LinearDiscriminantAnalysis(solver="svd"))])


@register_model("lda", kind="sklearn")
def lda(num_classes: int, in_length: int = 1024, shrinkage: float | str | None = None,
        tol: float = 1e-4) -> AffineClassifier:
    """Plain LDA (SVD solver); ``shrinkage`` switches to the regularised ``lsqr`` solver. Predicts by ``W x + b``."""
    return AffineClassifier(_lda(shrinkage, tol))


@register_model("lda_sklearn", kind="sklearn")
def lda_sklearn(num_classes: int, in_length: int = 1024, shrinkage: float | str | None = None,
                tol: float = 1e-4) -> LinearDiscriminantAnalysis:
    """``lda`` predicting through scikit-learn (the cross-check)."""
    return _lda(shrinkage, tol)


@register_model("pca_lda", kind="sklearn")
def pca_lda(num_classes: int, in_length: int = 1024, n_components: int | float = 50) -> AffineClassifier:
    """PCA (``n_components`` components, or a variance fraction if a float < 1) followed by plain LDA, predicting by
    the folded map ``(W C) x + (b - W C m)``."""
    return AffineClassifier(_pca_lda(in_length, n_components))


@register_model("pca_lda_sklearn", kind="sklearn")
def pca_lda_sklearn(num_classes: int, in_length: int = 1024, n_components: int | float = 50) -> Pipeline:
    """``pca_lda`` predicting through scikit-learn's pipeline (the cross-check)."""
    return _pca_lda(in_length, n_components)


@register_model("knn_cosine", kind="sklearn")
def knn_cosine(num_classes: int, in_length: int = 1024, include_validation: bool = False) -> LibrarySearch:
    """Library search: the class of the nearest library spectrum by cosine similarity (numpy, one matrix product);
    ``include_validation=True`` puts the validation spectra into the library too."""
    return LibrarySearch(include_validation=include_validation)


@register_model("knn_cosine_sklearn", kind="sklearn")
def knn_cosine_sklearn(num_classes: int, in_length: int = 1024, n_neighbors: int = 1) -> KNeighborsClassifier:
    """``knn_cosine`` through scikit-learn's brute-force cosine kNN (the cross-check; also takes ``metric=...``)."""
    return KNeighborsClassifier(n_neighbors=n_neighbors, metric="cosine", algorithm="brute")
