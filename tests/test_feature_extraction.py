"""DRSN features + LDA: the transformer in a Pipeline, equality with stage_features, clone, and exact agreement
with the DRSN's own head at full depth."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import Pipeline

from ramancmp.compression import DRSNFeatureExtractor, DRSNPrefix, feature_pipeline, pipeline_complexity
from ramancmp.fileio import fingerprint
from ramancmp.models import create_model
from ramancmp.training import save_checkpoint

from conftest import synthetic_spectra

L = 64


def _data(n_per_class: int = 20, seed: int = 0):
    return synthetic_spectra(n_per_class, 3, L, seed)


@pytest.fixture(scope="module")
def drsn():
    """A small DRSN trained briefly on the synthetic peaks."""
    from ramancmp.training import TrainConfig, seed_everything, train_model

    seed_everything(0)
    model = create_model("drsn_cw", 3, L, widths=(8, 16, 16))
    X, y = _data(seed=1)
    train_model(model, X, y, config=TrainConfig(max_epochs=15, batch_size=16, device="cpu", augment=False),
                progress=False)
    return model.eval()


@pytest.mark.parametrize("depth", [0, 1, 2, 3, None])
def test_transform_equals_stage_features(drsn, depth):
    X, y = _data()
    ext = DRSNFeatureExtractor(drsn, depth=depth).fit(X, y)
    with torch.no_grad():
        expected = drsn.stage_features(torch.from_numpy(X), drsn.num_stages if depth is None else depth).numpy()
    feats = ext.transform(X)
    assert feats.dtype == np.float64 and feats.shape == (len(X), ext.model_.num_features)
    assert np.allclose(feats, expected, atol=1e-6)
    assert len(ext.get_feature_names_out()) == feats.shape[1]


def test_pipeline_fit_predict_score_and_clone(drsn):
    X, y = _data()
    pipe = Pipeline([("features", DRSNFeatureExtractor(drsn, depth=3)), ("lda", LinearDiscriminantAnalysis())])
    pipe.fit(X, y)
    assert pipe.predict(X).shape == y.shape
    assert pipe.score(X, y) > 0.8  # chance is 1/3
    cloned = clone(pipe)
    assert cloned.named_steps["features"].depth == 3 and not hasattr(cloned.named_steps["features"], "model_")
    assert np.array_equal(cloned.fit(X, y).predict(X), pipe.predict(X))


def test_full_depth_features_with_the_drsns_own_head_reproduce_its_predictions(drsn):
    X, _ = _data()
    feats = DRSNFeatureExtractor(drsn).fit(X).transform(X)
    with torch.no_grad():
        head = drsn.forward_head(torch.from_numpy(feats).float()).argmax(1).numpy()
        direct = drsn(torch.from_numpy(X)).argmax(1).numpy()
    assert np.array_equal(head, direct)


def test_checkpoint_path_and_classifier_inputs(tmp_path, drsn):
    X, y = _data()
    save_checkpoint(tmp_path / "d", drsn)
    from_file = DRSNFeatureExtractor(tmp_path / "d", depth=2).fit(X, y).transform(X)
    assert np.allclose(from_file, DRSNFeatureExtractor(drsn, depth=2).fit(X, y).transform(X), atol=1e-6)

    class Holder:  # a fitted classifier holding the network, e.g. TorchClassifier
        model_ = drsn
        train_fingerprint_ = fingerprint(X, y)

    DRSNFeatureExtractor(Holder(), depth=1).fit(X, y)
    with pytest.raises(ValueError, match="training part only"):
        DRSNFeatureExtractor(Holder(), depth=1).fit(X[:-5], y[:-5])


def test_bad_inputs_raise(drsn):
    X, y = _data()
    with pytest.raises(ValueError, match="needs a DRSN"):
        DRSNFeatureExtractor(create_model("cnn", 3, L)).fit(X, y)
    with pytest.raises(ValueError, match="depth must be in"):
        DRSNFeatureExtractor(drsn, depth=4).fit(X, y)
    with pytest.raises(ValueError, match="points"):
        DRSNFeatureExtractor(drsn).fit(X[:, :32], y)


def test_prefix_complexity_grows_with_depth(drsn):
    X, y = _data()
    flops, params = [], []
    for depth in range(drsn.num_stages + 1):
        stats = pipeline_complexity(feature_pipeline(drsn, depth).fit(X, y), L)
        flops.append(stats["flops"])
        params.append(stats["params"])
    assert flops == sorted(flops) and len(set(flops)) == len(flops)
    assert params == sorted(params)
    total = sum(p.numel() for p in drsn.parameters())
    assert DRSNPrefix(drsn, drsn.num_stages).prefix_parameters() == total - sum(p.numel() for p in drsn.fc.parameters())


@pytest.mark.parametrize("depth,bins", [(0, 4), (1, 8), (2, 1)])
def test_position_bins_keep_where_a_band_sits(drsn, depth, bins):
    X, y = _data()
    feats = DRSNFeatureExtractor(drsn, depth=depth, bins=bins).fit(X, y).transform(X)
    width = drsn.config.widths[depth - 1] if depth else drsn.stem.out_channels
    assert feats.shape == (len(X), width * bins)
    if bins == 1:
        assert np.allclose(feats, DRSNFeatureExtractor(drsn, depth=depth).fit(X, y).transform(X))


@pytest.mark.parametrize("depth", [1, 3])
def test_prefix_and_lda_as_one_torch_graph_predict_like_the_pipeline(drsn, depth):
    from ramancmp.compression import SHRINKAGE_LDA, PrefixLDA

    X, y = _data()
    pipe = feature_pipeline(drsn, depth, bins=4, **SHRINKAGE_LDA).fit(X, y)
    graph = PrefixLDA(pipe).eval()
    with torch.no_grad():
        scores = graph(torch.from_numpy(X)).numpy()
    assert np.allclose(scores, pipe.decision_function(X), atol=1e-3)
    assert np.array_equal(graph.classes[scores.argmax(1)], pipe.predict(X))
