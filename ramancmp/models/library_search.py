"""The library search: 1-NN by cosine similarity, written as a practitioner writes it (numpy, one matrix product).

:class:`LibrarySearch` is the book's ``knn_cosine`` everywhere -- prediction, timing, the open-set classifier, the
hybrids and ``python -m ramancmp predict``. ``fit`` stores the library once as a float32 matrix of unit-length rows
(and the label of each row); a query is scaled to unit length and compared with every library spectrum by ONE
matrix product ``X @ L.T`` (batch 1: a matrix-vector product of ``n_library x n_features`` multiply-adds), and the
class of the most similar library spectrum is the answer. Nothing is re-normalised or re-validated per call beyond
what the query needs.

Agreement with scikit-learn. :class:`sklearn.neighbors.KNeighborsClassifier` (``metric="cosine"``,
``algorithm="brute"``, 1 neighbour; registered as ``knn_cosine_sklearn``, the cross-check) computes the same
quantities: the rows scaled by ``sqrt(einsum("ij,ij->i", X, X))``, the similarity matrix by the same float32
product, the cosine distance ``clip(1 - S, 0, 2)``, and the nearest library spectrum by ``np.argpartition`` of the
distances. :meth:`LibrarySearch.predict` does exactly that, so even exact ties (a spectrum twice in the library
under two labels, similarities that round to 1) fall the same way and the two predict the same class for every
float32 spectrum (tests/test_library_search.py checks it on synthetic ties and on every test spectrum of a by-sample
split of the book's task). What scikit-learn adds is its per-call overhead: it validates and re-normalises the whole
library on every call, which at batch 1 costs more than the search itself (chapter 10 times both in one run).

Graded scores for the open-set classifier: ``decision_function(X)[i, c]`` is the cosine similarity of spectrum ``i``
to the most similar library spectrum of class ``c`` (:class:`ramancmp.models.OpenSetClassifier` calibrates a softmax
of them); ``predict_proba`` is, as scikit-learn's 1-NN, the one-hot of the predicted class (how a soft vote counts
the library search). ``kneighbors`` gives the ``n`` most similar library
spectra (similarities and library indices, best first).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, validate_data

__all__ = ["LibrarySearch", "spectra_rows"]


def spectra_rows(X: Any, n_features: int, fitted: str) -> np.ndarray:
    """Query spectra as a float32 ``(n_spectra, n_features)`` array, checked the cheap way (no scikit-learn per-call
    validation: these predictors are timed at batch 1): numbers, one spectrum per row on the grid the ``fitted``
    estimator ("library", "model") was fitted on, finite."""
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise ValueError(f"spectra must be numbers, got an array of dtype {X.dtype}")
    X = X.astype(np.float32, copy=False)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"X must be (n_spectra, {n_features}) -- one spectrum per row, on the grid the {fitted} "
                         f"was fitted on -- got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values")
    return X


def _unit_rows(X: np.ndarray, what: str) -> np.ndarray:
    """``X`` (float32) with every row scaled to unit length, as :func:`sklearn.preprocessing.normalize` computes it
    (so the products are bit-for-bit scikit-learn's); a ValueError names an all-zero row (no direction, no cosine)."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    if np.any(norms == 0):
        raise ValueError(f"{what}: spectrum {int(np.flatnonzero(norms == 0)[0])} is all zeros; cosine similarity is "
                         "undefined for it (a flat or empty spectrum: check its preprocessing)")
    return X / norms[:, None]


class LibrarySearch(ClassifierMixin, BaseEstimator):
    """1-NN cosine library search in numpy, with per-class similarity scores (see the module docstring).

    Parameters
    ----------
    include_validation : bool, default False
        Also put the validation spectra given to ``fit`` (``X_val``, ``y_val``) into the library. Legitimate for a
        library search, which tunes nothing on them: every reference spectrum at hand belongs in the library. (Its
        accuracy on those validation spectra then means nothing -- they are their own nearest neighbours.)
    batch_size : int, default 1024
        Query spectra compared with the library at a time (bounds memory: ``batch_size x n_library`` floats).

    Fitted attributes (set by ``fit``)
    ----------------------------------
    classes_ : ndarray (n_classes,)
        The class labels, sorted.
    library_ : ndarray (n_library, n_features), float32
        The library spectra scaled to unit length.
    library_labels_ : ndarray (n_library,)
        Index into ``classes_`` of each library spectrum.
    n_features_in_ : int
        Number of wavenumbers per spectrum.
    """

    def __init__(self, include_validation: bool = False, batch_size: int = 1024):
        self.include_validation = include_validation
        self.batch_size = batch_size

    # ------------------------------------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> LibrarySearch:
        """Store the library: the spectra ``X`` (and, with ``include_validation``, ``X_val``) with their labels."""
        if not isinstance(self.batch_size, (int, np.integer)) or isinstance(self.batch_size, bool) \
                or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not isinstance(self.include_validation, (bool, np.bool_)):
            raise ValueError(f"include_validation must be True or False, got {self.include_validation!r}")
        X, y = validate_data(self, X, y, dtype=np.float32)
        if self.include_validation:
            if X_val is None or y_val is None:
                raise ValueError("include_validation=True puts the validation spectra into the library: pass both "
                                 "X_val and y_val to fit")
            X_val = check_array(X_val, dtype=np.float32, input_name="X_val")
            y_val = np.asarray(y_val)
            if X_val.shape[1] != X.shape[1] or y_val.shape != (len(X_val),):
                raise ValueError(f"X_val must be (n, {X.shape[1]}) with one label per row in y_val, got X_val "
                                 f"{X_val.shape} and y_val {y_val.shape}")
            X, y = np.vstack([X, X_val]), np.concatenate([y, y_val])
        elif (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither")
        check_classification_targets(y)
        self.classes_, self.library_labels_ = np.unique(y, return_inverse=True)
        self.library_ = np.ascontiguousarray(_unit_rows(X, "LibrarySearch.fit"))
        # decision_function's per-class maxima: the library's columns grouped by class, and where each group starts
        self._by_class = np.argsort(self.library_labels_, kind="stable")
        self._class_starts = np.searchsorted(self.library_labels_[self._by_class], np.arange(len(self.classes_)))
        return self

    # ---------------------------------------------------------------------------------------------- queries
    def _queries(self, X: Any) -> np.ndarray:
        """The query spectra as unit-length float32 rows, checked without scikit-learn's per-call machinery."""
        if not hasattr(self, "library_"):
            raise NotFittedError("This LibrarySearch instance is not fitted yet: call fit(X, y) with the library "
                                 "spectra first")
        X = spectra_rows(X, self.n_features_in_, "library")
        if len(X) == 0:
            raise ValueError("X holds no spectrum")
        return _unit_rows(X, "LibrarySearch")

    def _similarities(self, X: Any) -> np.ndarray:
        """``(n, n_library)`` cosine similarities (float32)."""
        Q = self._queries(X)
        if len(Q) <= self.batch_size:
            return Q @ self.library_.T
        return np.vstack([Q[s:s + self.batch_size] @ self.library_.T for s in range(0, len(Q), self.batch_size)])

    @staticmethod
    def _distances(sims: np.ndarray) -> np.ndarray:
        """scikit-learn's cosine distance ``clip(1 - S, 0, 2)`` (float32), so ties fall the way its search breaks
        them (``np.clip``'s work in two in-place ufuncs: cheaper per call)."""
        dist = np.subtract(np.float32(1.0), sims)
        np.maximum(dist, 0.0, out=dist)
        return np.minimum(dist, 2.0, out=dist)

    def _nearest(self, sims: np.ndarray, n: int) -> np.ndarray:
        """Library indices of the ``n`` nearest spectra, nearest first, chosen as scikit-learn's brute-force search
        chooses them (``argpartition`` of the distances, then ``argsort`` of the ``n`` kept)."""
        dist = self._distances(sims)
        if n == 1:  # the nearest: argmin, unless the smallest distance is tied (then argpartition decides, as there)
            idx = dist.argmin(axis=1)
            tied = idx != dist.shape[1] - 1 - dist[:, ::-1].argmin(axis=1)  # first and last minimum differ
            if tied.any():
                idx[tied] = np.argpartition(dist[tied], 0, axis=1)[:, 0]
            return idx[:, None]
        idx = np.argpartition(dist, n - 1, axis=1)[:, :n]
        rows = np.arange(len(dist))[:, None]
        return idx[rows, np.argsort(dist[rows, idx], axis=1)]

    def predict(self, X: Any) -> np.ndarray:
        """The class of the most similar library spectrum of each spectrum of ``X``."""
        nearest = self._nearest(self._similarities(X), 1)[:, 0]
        return self.classes_[self.library_labels_[nearest]]

    def kneighbors(self, X: Any, n_neighbors: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``(similarities, library indices)`` of the ``n_neighbors`` most similar library spectra, best first
        (``n_neighbors=1``: the spectrum :meth:`predict` answers with)."""
        n_library = len(getattr(self, "library_", ()))
        if not isinstance(n_neighbors, (int, np.integer)) or not 1 <= n_neighbors <= max(n_library, 1):
            raise ValueError(f"n_neighbors must be an integer in [1, library size = {n_library}], got {n_neighbors!r}")
        sims = self._similarities(X)
        idx = self._nearest(sims, int(n_neighbors))
        return np.take_along_axis(sims, idx, axis=1), idx

    def decision_function(self, X: Any) -> np.ndarray:
        """``(n, n_classes)``: cosine similarity to the most similar library spectrum of each class."""
        sims = self._similarities(X)
        return np.maximum.reduceat(sims[:, self._by_class], self._class_starts, axis=1)

    def predict_proba(self, X: Any) -> np.ndarray:
        """One-hot of the predicted class: the class shares of the one nearest library spectrum, as scikit-learn's
        1-NN gives them (a soft vote counts the library search's answer so). Graded scores are
        :meth:`decision_function`'s; :class:`OpenSetClassifier` turns those into calibrated probabilities."""
        nearest = self._nearest(self._similarities(X), 1)[:, 0]
        proba = np.zeros((len(nearest), len(self.classes_)))
        proba[np.arange(len(nearest)), self.library_labels_[nearest]] = 1.0
        return proba
