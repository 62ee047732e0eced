"""Open-set identification: LibrarySearch, temperature scaling, the "not in library" threshold, the metrics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from ramancmp.data import species_halves
from ramancmp.models import LibrarySearch, OpenSetClassifier, fit_temperature, open_set_metrics

from conftest import synthetic_spectra


@pytest.fixture(scope="module")
def data():
    """Six classes of synthetic spectra: 0-3 are known (train / val / test parts), 4-5 are the unknowns."""
    X, y = synthetic_spectra(n_per_class=30, n_classes=6, length=128, seed=0)
    known = y < 4
    idx = np.flatnonzero(known)
    train, val, test = idx[idx % 3 == 0], idx[idx % 3 == 1], idx[idx % 3 == 2]
    return dict(X=X, y=y, train=train, val=val, test=test, unk_val=np.flatnonzero(y == 4),
                unk_test=np.flatnonzero(y == 5))


def test_library_search_agrees_with_1nn_cosine(data):
    X, y, tr, te = data["X"], data["y"], data["train"], data["test"]
    lib = LibrarySearch().fit(X[tr], y[tr])
    knn = KNeighborsClassifier(n_neighbors=1, metric="cosine", algorithm="brute").fit(X[tr], y[tr])
    np.testing.assert_array_equal(lib.predict(X[te]), knn.predict(X[te]))
    scores = lib.decision_function(X[te])
    sims, idx = lib.kneighbors(X[te], n_neighbors=3)
    assert scores.shape == (len(te), 4) and np.allclose(scores.max(axis=1), sims[:, 0])
    assert np.all(np.diff(sims, axis=1) <= 1e-12) and np.allclose(lib.predict_proba(X[te]).sum(axis=1), 1)
    # a library spectrum is its own nearest neighbour with similarity 1
    assert np.allclose(lib.kneighbors(X[tr[:5]])[0][:, 0], 1.0)


def test_temperature_scaling_lowers_the_validation_nll():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(0, 1, (300, 3))
    logits[np.arange(300), y] += 2.0
    overconfident = 10 * logits
    t = fit_temperature(overconfident, y)
    assert 5 < t < 20  # undoes most of the factor 10
    nll = lambda z: -log_softmax(z, axis=1)[np.arange(300), y].mean()
    assert nll(overconfident / t) < nll(overconfident)
    with pytest.raises(ValueError, match="class indices"):
        fit_temperature(logits, y + 5)
    with pytest.raises(ValueError, match="NaN"):
        fit_temperature(np.full((3, 3), np.nan), np.zeros(3, int))


@pytest.mark.parametrize("score", ["auto", "max_proba", "max_score"])
def test_open_set_rejects_unknowns_and_keeps_knowns(data, score):
    X, y = data["X"], data["y"]
    model = OpenSetClassifier(LibrarySearch(), score=score, unknown_label="?").fit(
        X[data["train"]], y[data["train"]], X_val=X[data["val"]], y_val=y[data["val"]], X_unknown=X[data["unk_val"]])
    assert model.score_ in ("max_proba", "max_score") and set(model.val_auroc_) == {"max_proba", "max_score"}
    assert model.val_unknown_rejection_ >= 0.95 and model.temperature_ > 0
    assert model.val_nll_["after"] <= model.val_nll_["before"] + 1e-9
    pred = model.predict(X[data["test"]])
    assert set(pred) <= {0, 1, 2, 3, "?"}
    proba = model.predict_proba(X[data["test"]])
    assert proba.shape == (len(data["test"]), 4) and np.allclose(proba.sum(axis=1), 1)
    accepted = model.score_samples(X[data["test"]]) > model.threshold_
    np.testing.assert_array_equal(pred == "?", ~accepted)
    report = model.evaluate(X[data["test"]], y[data["test"]], X[data["unk_test"]])
    assert 0.0 <= report["auroc"] <= 1.0 and report["n_unknown"] == len(data["unk_test"])
    assert report["known_accuracy"] <= report["known_accepted"]


def test_open_set_wraps_a_frozen_probabilistic_model(data):
    X, y = data["X"], data["y"]
    lr = LogisticRegression(max_iter=500).fit(X[data["train"]], y[data["train"]])
    model = OpenSetClassifier(FrozenEstimator(lr), score="max_proba").fit(
        X[data["val"]], y[data["val"]], X_val=X[data["val"]], y_val=y[data["val"]], X_unknown=X[data["unk_val"]])
    assert model.estimator_ is not None and np.array_equal(model.classes_, lr.classes_)
    # the frozen model was not refitted: its closed-set predictions are those of lr
    closed = model.classes_[model.predict_proba(X[data["test"]]).argmax(axis=1)]
    np.testing.assert_array_equal(closed, lr.predict(X[data["test"]]))


def test_refit_library_keeps_temperature_and_threshold(data):
    X, y = data["X"], data["y"]
    model = OpenSetClassifier(LibrarySearch()).fit(X[data["train"]], y[data["train"]], X_val=X[data["val"]],
                                                   y_val=y[data["val"]], X_unknown=X[data["unk_val"]])
    t, thr = model.temperature_, model.threshold_
    everything = np.r_[data["train"], data["val"]]
    model.refit_library(X[everything], y[everything])
    assert model.estimator_.library_.shape[0] == len(everything)
    assert (model.temperature_, model.threshold_) == (t, thr)
    with pytest.raises(ValueError, match="same classes"):
        model.refit_library(X[data["train"]], np.where(y[data["train"]] == 0, 1, y[data["train"]]))


def test_bad_inputs_are_clear_errors(data):
    X, y, tr, va = data["X"], data["y"], data["train"], data["val"]
    fit = dict(X_val=X[va], y_val=y[va], X_unknown=X[data["unk_val"]])
    with pytest.raises(ValueError, match="score must be one of"):
        OpenSetClassifier(LibrarySearch(), score="entropy").fit(X[tr], y[tr], **fit)
    with pytest.raises(ValueError, match="unknown_rejection"):
        OpenSetClassifier(LibrarySearch(), unknown_rejection=1.5).fit(X[tr], y[tr], **fit)
    with pytest.raises(ValueError, match="decision_function or predict_proba"):
        OpenSetClassifier(object()).fit(X[tr], y[tr], **fit)
    with pytest.raises(ValueError, match="X_unknown has 64 features"):
        OpenSetClassifier(LibrarySearch()).fit(X[tr], y[tr], **dict(fit, X_unknown=X[:5, :64]))
    with pytest.raises(ValueError, match="y_val has labels the model was not trained on"):
        OpenSetClassifier(LibrarySearch()).fit(X[tr], y[tr], **dict(fit, y_val=y[va] + 10))
    with pytest.raises(ValueError, match="all zeros"):
        LibrarySearch().fit(np.zeros((4, 8)), [0, 0, 1, 1])
    with pytest.raises(ValueError, match="batch_size"):
        LibrarySearch(batch_size=0).fit(X[tr], y[tr])
    with pytest.raises(ValueError):
        OpenSetClassifier(LibrarySearch()).fit(X[tr], y[tr], **dict(fit, X_unknown=np.full((3, 128), np.nan)))


def test_open_set_metrics_by_hand():
    m = open_set_metrics([0.9, 0.8, 0.4], [True, False, True], [0.1, 0.5, 0.85], threshold=0.6)
    assert m["auroc"] == pytest.approx(6 / 9)  # pairs (known > unknown): 0.9 beats 3, 0.8 beats 2, 0.4 beats 1
    assert m["unknown_rejected"] == pytest.approx(2 / 3) and m["known_accepted"] == pytest.approx(2 / 3)
    assert m["known_accuracy"] == pytest.approx(1 / 3) and m["accepted_accuracy"] == pytest.approx(1 / 2)
    assert m["closed_set_accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="at least one known and one unknown"):
        open_set_metrics([], [], [0.5])


def test_species_halves_never_split_a_species():
    species = np.array(["a", "a", "b", "c", "c", "c", "d", "e", "e", "f"])
    val, test = species_halves(species, seed=1)
    assert not set(species[val]) & set(species[test]) and len(val) + len(test) == len(species)
    np.testing.assert_array_equal(species_halves(species, seed=1)[0], val)
    with pytest.raises(ValueError, match="at least 2 different species"):
        species_halves(np.array(["a", "a"]))


# ------------------------------------------------------------------------------ the book's protocol (chapter 11)
def test_open_set_protocol_units_on_synthetic_tasks():
    import pandas as pd

    from ramancmp.data import repeated_splits
    from ramancmp.experiments import identification as protocol

    from conftest import synthetic_dataset

    ds = synthetic_dataset(n_classes=3, samples_per_class=6, spectra_per_sample=3, length=128, seed=0)
    other = synthetic_dataset(n_classes=6, samples_per_class=2, spectra_per_sample=2, length=128, seed=1)
    keep = other.y >= 3  # classes 3-5: band positions the known classes do not have
    other.X, other.y = other.X[keep], other.y[keep]
    other.meta = pd.DataFrame({"mineral": [f"species_{c}" for c in other.y]})
    splits = repeated_splits(ds.y, ds.groups, repeats=2, seed=0)
    rows = protocol.run_units(protocol.open_set_items(ds, other, splits), "serial")
    assert [r["split_seed"] for r in rows] == [0, 1] and all(0 <= r["auroc"] <= 1 for r in rows)
    summary = protocol.summarize(rows, ("auroc", "known_accuracy"))[0]
    assert summary["n"] == 2 and len(summary["auroc"].values) == 2
    logo = protocol.run_units(protocol.leave_one_group_out_items(ds, other, splits[0]), "serial")
    assert [r["held_out"] for r in logo] == ds.class_names
    assert all(r["n_unknown"] == int((ds.y == i).sum()) for i, r in enumerate(logo))
    topk = protocol.run_units(protocol.top_k_items(ds, splits, ks=(1, 2)), "serial")
    assert all(r["top1"] <= r["top2"] <= 1 and r["seen_fraction"] == 1.0 for r in topk)
    nets = [LibrarySearch().fit(ds.X[s.train], ds.y[s.train]) for s in splits]  # any trained classifier
    same = protocol.network_top_k(nets, ds, splits, model="library search", ks=(1, 2))
    assert [r["top1"] for r in same] == [r["top1"] for r in topk]
    frozen = protocol.run_units(protocol.open_set_items(ds, other, splits, estimator=nets), "serial")
    assert [r["auroc"] for r in frozen] == [r["auroc"] for r in rows]
    with pytest.raises(ValueError, match="trained estimators for 2 splits"):
        protocol.open_set_items(ds, other, splits, estimator=nets[:1])
    # the chapter's experiment functions are these units, run
    assert protocol.library_open_set(ds, other, splits, "serial") == rows
    assert protocol.leave_one_group_out(ds, other, splits[0], "serial") == logo


def test_library_search_in_a_network_embedding():
    """embedding_top_k searches the penultimate-layer features of the network trained on each split; with an identity
    embedding it is exactly the library search on the spectra, and top_k_rows pairs the models by split seed."""
    import torch

    from ramancmp.data.splits import repeated_splits
    from ramancmp.experiments import identification as osp
    from ramancmp.experiments.tables import difference_text

    from conftest import synthetic_dataset

    class Identity(torch.nn.Module):  # a "network" whose embedding is the spectrum itself
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward_features(self, x):
            return x + 0 * self.w

    ds = synthetic_dataset(n_classes=4, samples_per_class=6, spectra_per_sample=2, length=64, seed=0)
    splits = repeated_splits(ds.y, ds.groups, kind="sample", repeats=3, seed=0)
    nets = [Identity() for _ in splits]
    emb = osp.embedding_top_k(nets, ds, splits, model="embedding", ks=(1, 2))
    lib = osp.run_units(osp.top_k_items(ds, splits, ks=(1, 2)), executor="serial")
    assert [r["top1"] for r in emb] == [r["top1"] for r in lib] and [r["model"] for r in emb] == ["embedding"] * 3
    assert osp.embed(nets[0], ds.X[:5]).shape == (5, 64)
    rows = osp.top_k_rows(lib + emb, splits, "top1")
    assert rows["embedding"].seeds == [0, 1, 2] and rows["embedding"].accuracy.values == rows[
        "library search"].accuracy.values
    assert difference_text(rows["embedding"], rows["library search"]).startswith("+0.00")
    with pytest.raises(ValueError, match="trained networks for"):
        osp.embedding_top_k(nets[:1], ds, splits, model="x")
    with pytest.raises(ValueError, match="forward_features"):
        osp.embed(LibrarySearch(), ds.X[:2])
