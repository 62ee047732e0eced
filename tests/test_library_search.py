"""The classical models as deployed -- the numpy library search and LDA / PCA + LDA by one matrix product -- against
their scikit-learn cross-checks: the same predictions on every spectrum, decision values allclose. No timing is
asserted (the book measures the ratio in chapter 10)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from ramancmp.metrics import count_flops, count_params
from ramancmp.models import AffineClassifier, LibrarySearch, create_model

from conftest import synthetic_spectra

PAIRS = [("knn_cosine", "knn_cosine_sklearn", {}), ("lda", "lda_sklearn", {}),
         ("lda", "lda_sklearn", {"shrinkage": "auto"}), ("pca_lda", "pca_lda_sklearn", {"n_components": 10})]


def _pair(name, reference, kwargs, X, y):
    n = len(np.unique(y))
    return (create_model(name, n, X.shape[1], **kwargs).fit(X, y),
            create_model(reference, n, X.shape[1], **kwargs).fit(X, y))


def _check_agreement(ours, theirs, X, *, rtol=1e-4, atol=1e-4):
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    if not isinstance(ours, LibrarySearch):  # KNeighborsClassifier has no decision_function
        np.testing.assert_allclose(ours.decision_function(X), theirs.decision_function(X), rtol=rtol, atol=atol)
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name,reference,kwargs", PAIRS)
def test_agrees_with_scikit_learn_on_synthetic_spectra(name, reference, kwargs):
    X, y = synthetic_spectra(20, 4, length=128, seed=0)
    Xt, _ = synthetic_spectra(15, 4, length=128, seed=1)
    ours, theirs = _pair(name, reference, kwargs, X, y)
    _check_agreement(ours, theirs, Xt)
    _check_agreement(ours, theirs, Xt[:1])  # batch 1, as timed


def test_library_search_breaks_exact_ties_as_scikit_learn_does():
    """Duplicated library spectra under other labels, and queries that ARE library spectra (similarity rounds to 1,
    the distance clips at 0): exact ties, which must fall the same way as in scikit-learn's brute-force search."""
    X, y = synthetic_spectra(10, 3, length=64, seed=2)
    rng = np.random.default_rng(0)
    dup = rng.choice(len(X), 12, replace=False)
    X_lib = np.vstack([X, X[dup], 2.5 * X[dup]])  # the same spectra again, and scaled (cosine: the same direction)
    y_lib = np.concatenate([y, (y[dup] + 1) % 3, (y[dup] + 2) % 3])
    ours, theirs = _pair("knn_cosine", "knn_cosine_sklearn", {}, X_lib, y_lib)
    # (a copy: given the very array it was fitted on, scikit-learn's cosine_distances sees ``X is Y`` and sets the
    # diagonal to 0 exactly, a special case of object identity, not of the search)
    for Q in (X_lib.copy(), X[dup], X[dup[:1]], 3 * X):
        np.testing.assert_array_equal(ours.predict(Q), theirs.predict(Q))
    sims, idx = ours.kneighbors(X, 5)
    np.testing.assert_array_equal(idx, theirs.kneighbors(X, 5, return_distance=False))
    assert np.all(np.diff(sims, axis=1) <= 1e-6) and np.allclose(sims[:, 0], 1.0, atol=1e-6)


def test_library_search_scores_and_library():
    X, y = synthetic_spectra(15, 3, length=64, seed=3)
    labels = np.array(["calcite", "gypsum", "quartz"])[y]
    lib = LibrarySearch().fit(X, labels)
    assert lib.library_.dtype == np.float32 and np.allclose(np.linalg.norm(lib.library_, axis=1), 1, atol=1e-6)
    Xt, yt = synthetic_spectra(5, 3, length=64, seed=4)
    sims = (Xt / np.linalg.norm(Xt, axis=1, keepdims=True)) @ lib.library_.T
    brute = np.stack([sims[:, lib.library_labels_ == c].max(axis=1) for c in range(3)], axis=1)
    np.testing.assert_allclose(lib.decision_function(Xt), brute, atol=1e-6)
    np.testing.assert_allclose(lib.predict_proba(Xt).sum(axis=1), 1.0)
    assert list(lib.predict(3.7 * Xt)) == list(lib.predict(Xt))  # cosine: the intensity scale does not matter
    assert lib.score(Xt, np.array(["calcite", "gypsum", "quartz"])[yt]) > 0.9
    np.testing.assert_array_equal(lib.classes_[lib.library_labels_[lib.kneighbors(Xt, 1)[1][:, 0]]], lib.predict(Xt))
    # batches: the same answers whatever batch_size
    np.testing.assert_array_equal(LibrarySearch(batch_size=2).fit(X, labels).predict(Xt), lib.predict(Xt))
    assert clone(lib).get_params() == {"include_validation": False, "batch_size": 1024}


def test_library_that_includes_the_validation_spectra():
    X, y = synthetic_spectra(12, 3, length=64, seed=5)
    tr, va = np.arange(len(y)) % 2 == 0, np.arange(len(y)) % 2 == 1
    plain = LibrarySearch().fit(X[tr], y[tr], X_val=X[va], y_val=y[va])
    full = LibrarySearch(include_validation=True).fit(X[tr], y[tr], X_val=X[va], y_val=y[va])
    assert len(plain.library_) == tr.sum() and len(full.library_) == len(y)
    np.testing.assert_array_equal(full.predict(X[va]), y[va])  # its own nearest spectra
    with pytest.raises(ValueError, match="pass both X_val and y_val"):
        LibrarySearch(include_validation=True).fit(X[tr], y[tr])
    with pytest.raises(ValueError, match="pass both X_val and y_val, or neither"):
        LibrarySearch().fit(X[tr], y[tr], X_val=X[va])
    with pytest.raises(ValueError, match="X_val must be"):
        LibrarySearch(include_validation=True).fit(X[tr], y[tr], X_val=X[va][:, :10], y_val=y[va])


def test_bad_inputs_are_clear_errors():
    X, y = synthetic_spectra(5, 3, length=32, seed=0)
    with pytest.raises(NotFittedError, match="not fitted"):
        LibrarySearch().predict(X)
    with pytest.raises(NotFittedError, match="not fitted"):
        AffineClassifier(create_model("lda_sklearn", 3)).predict(X)
    for model in (LibrarySearch().fit(X, y), create_model("lda", 3, 32).fit(X, y)):
        with pytest.raises(ValueError, match=r"\(n_spectra, 32\)"):
            model.predict(X[:, :16])
        with pytest.raises(ValueError, match=r"\(n_spectra, 32\)"):
            model.predict(X[0])
        with pytest.raises(ValueError, match="NaN or infinite"):
            model.predict(np.full((1, 32), np.nan))
        with pytest.raises(ValueError, match="must be numbers"):
            model.predict(np.array([["a"] * 32]))
    lib = LibrarySearch().fit(X, y)
    with pytest.raises(ValueError, match="all zeros"):
        lib.predict(np.zeros((2, 32)))
    with pytest.raises(ValueError, match="all zeros"):
        LibrarySearch().fit(np.zeros((4, 8)), [0, 0, 1, 1])
    with pytest.raises(ValueError, match="holds no spectrum"):
        lib.predict(np.zeros((0, 32)))
    with pytest.raises(ValueError, match="n_neighbors"):
        lib.kneighbors(X, 0)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            LibrarySearch(batch_size=bad).fit(X, y)
    with pytest.raises(ValueError, match="include_validation"):
        LibrarySearch(include_validation="yes").fit(X, y)
    with pytest.raises(ValueError, match="estimator must be"):
        AffineClassifier().fit(X, y)
    with pytest.raises(ValueError, match="must be a LinearDiscriminantAnalysis"):
        AffineClassifier(create_model("knn_cosine_sklearn", 3)).fit(X, y)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    with pytest.raises(ValueError, match="not an affine step"):
        AffineClassifier(make_pipeline(FunctionTransformer(), create_model("lda_sklearn", 3))).fit(X, y)


def test_affine_classifier_two_classes_and_whitened_pca():
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline

    X, y = synthetic_spectra(15, 2, length=64, seed=6)
    Xt, _ = synthetic_spectra(10, 2, length=64, seed=7)
    for est in (LinearDiscriminantAnalysis(), make_pipeline(PCA(8, whiten=True), LinearDiscriminantAnalysis())):
        ours = AffineClassifier(est).fit(X, y)
        _check_agreement(ours, clone(est).fit(X, y), Xt)
        assert ours.decision_function(Xt).shape == (len(Xt),) and ours.coef_.shape == (1, 64)


def test_flops_count_what_the_deployed_models_compute():
    X, y = synthetic_spectra(10, 4, length=128, seed=0)
    lib = create_model("knn_cosine", 4, 128).fit(X, y)
    stats = count_flops(lib, (1, 1, 128))
    assert stats["macs"] == len(X) * 128 + 2 * 128 and stats["flops"] == 2 * stats["macs"]
    assert count_params(lib)["total"] == len(X) * 128 and "library" in stats["rule"]
    assert count_flops(create_model("knn_cosine_sklearn", 4).fit(X, y), (1, 1, 128))["macs"] == len(X) * 128
    for name, kwargs in (("lda", {}), ("pca_lda", {"n_components": 10})):
        folded = count_flops(create_model(name, 4, 128, **kwargs).fit(X, y), (1, 1, 128))
        assert folded["macs"] == 4 * 128 + 4 and folded["params"] == 4 * 128 + 4  # W x + b, PCA folded in
    pipeline = count_flops(create_model("pca_lda_sklearn", 4, 128, n_components=10).fit(X, y), (1, 1, 128))
    assert pipeline["macs"] == (10 * 128 + 128) + (4 * 10 + 4)  # scikit-learn's two steps


@pytest.mark.slow
def test_agrees_with_scikit_learn_on_every_test_spectrum_of_the_task(rruff_zip):
    """On every test spectrum of a by-sample split of the book's task (and on the validation spectra): the same
    class from the numpy library search as from scikit-learn's kNN, from the folded LDA / PCA + LDA as from
    scikit-learn's; at batch 1 too."""
    from ramancmp.data import load_task, make_split

    ds = load_task("rruff-groups-10", source=rruff_zip)
    X, y = np.asarray(ds.X, dtype=np.float32), np.asarray(ds.y)
    split = make_split(y, ds.groups, kind="sample", seed=0)
    for name, reference, kwargs in PAIRS:
        ours, theirs = _pair(name, reference, kwargs, X[split.train], y[split.train])
        _check_agreement(ours, theirs, X[split.test], rtol=1e-3, atol=1e-3)
        _check_agreement(ours, theirs, X[split.val], rtol=1e-3, atol=1e-3)
        for i in split.test[:20]:
            assert ours.predict(X[i:i + 1])[0] == theirs.predict(X[i:i + 1])[0]
