"""Models: shapes and layouts, the features/head split, DRSN shrinkage, the registry, the sklearn wrapper."""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from ramancmp.models import (
    DRSN,
    EfficientNet1D,
    SoftThreshold,
    StochasticDepth,
    create_model,
    fold_spectrum,
    list_models,
    model_kind,
    resolve_device,
)
from ramancmp.models import make_divisible as _make_divisible
from ramancmp.models.efficientnet import B0_SETTING, MBConv
from ramancmp.training import Augment, RealisticAugment, TorchClassifier, TrainConfig

from conftest import synthetic_spectra

TORCH_MODELS = ["cnn", "efficientnet_b0", "efficientnet_lite", "efficientnet_small", "drsn_cw", "drsn_cs"]



# ------------------------------------------------------------------------------------------------------ registry
def test_list_models_has_every_builder():
    names = list_models()
    assert set(TORCH_MODELS + ["lda", "pca_lda", "knn_cosine"]) <= set(names)
    assert names == sorted(names)
    assert set(TORCH_MODELS) <= set(list_models("torch"))  # other packages (compression) may add more
    assert model_kind("lda") == "sklearn" and model_kind("cnn") == "torch"


def test_unknown_model_error_lists_names():
    with pytest.raises(ValueError, match="unknown model 'resnet'.*efficientnet_b0"):
        create_model("resnet", 10)
    with pytest.raises(ValueError, match="num_classes"):
        create_model("cnn", 1)


def test_default_cfg_rebuilds_the_same_architecture():
    net = create_model("drsn_cw", 5, in_length=512, widths=[8, 16], units=[1, 1], strides=[2, 2])
    cfg = net.default_cfg
    assert cfg == {"name": "drsn_cw", "num_classes": 5, "in_length": 512,
                   "kwargs": {"widths": [8, 16], "units": [1, 1], "strides": [2, 2]}}
    again = create_model(cfg["name"], cfg["num_classes"], cfg["in_length"], **cfg["kwargs"])
    assert {k: v.shape for k, v in net.state_dict().items()} == {k: v.shape for k, v in again.state_dict().items()}


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu-please")


# -------------------------------------------------------------------------------------------------- torch models
@pytest.mark.parametrize("name", TORCH_MODELS)
def test_output_shapes_and_input_layouts(name):
    torch.manual_seed(0)
    net = create_model(name, num_classes=7, in_length=1024).eval()
    x = torch.randn(3, 1024)
    with torch.no_grad():
        out2, out3 = net(x), net(x.unsqueeze(1))
        feats = net.forward_features(x)
        logits = net.forward_head(feats)
    assert out2.shape == (3, 7)
    torch.testing.assert_close(out2, out3)
    assert feats.shape == (3, net.num_features)
    torch.testing.assert_close(logits, out2)
    with pytest.raises(ValueError, match="expects"):
        net(torch.randn(3, 2, 512))


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_eval_mode_is_deterministic_and_batch_independent(name):
    torch.manual_seed(0)
    net = create_model(name, 4, in_length=256)
    x = torch.randn(6, 1, 256)
    net.train()
    net(x)  # move BN statistics away from their initial values
    net.eval()
    with torch.no_grad():
        a, b = net(x), net(x)
        single = net(x[:1])
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(single, a[:1], rtol=1e-4, atol=1e-5)


def test_stochastic_depth_and_dropout_act_only_in_training():
    sd = StochasticDepth(0.5)
    x = torch.ones(1000, 4, 8)
    torch.manual_seed(0)
    out = sd.train()(x)
    rows = out.flatten(1)
    dropped = (rows == 0).all(dim=1)
    assert 0.4 < dropped.float().mean() < 0.6
    assert torch.allclose(rows[~dropped], torch.full_like(rows[~dropped], 2.0))  # survivors scaled by 1/(1-p)
    assert torch.equal(sd.eval()(x), x)
    with pytest.raises(ValueError):
        StochasticDepth(1.0)

    torch.manual_seed(0)
    net = create_model("efficientnet_lite", 3, in_length=256)
    assert any(isinstance(m, StochasticDepth) and m.p > 0 for m in net.modules())
    x = torch.randn(4, 256)
    net.train()
    with torch.no_grad():
        assert not torch.equal(net(x), net(x))  # dropout / stochastic depth draw differently
        net.eval()
        assert torch.equal(net(x), net(x))


def test_efficientnet_b0_layout():
    net = create_model("efficientnet_b0", 10)
    blocks = [m for m in net.modules() if isinstance(m, MBConv)]
    assert len(blocks) == sum(c.num_layers for c in B0_SETTING) == 16
    assert net.num_features == 1280
    assert net.features[0][0].stride == (2,) and net.features[0][0].out_channels == 32
    # residual + stochastic depth exactly where stride 1 and in == out; drop rate grows with depth
    assert sum(b.use_res_connect for b in blocks) == 9
    probs = [b.stochastic_depth.p for b in blocks]
    assert probs == sorted(probs) and probs[0] == 0.0 and probs[-1] < 0.2
    # SE squeezes to a quarter of the block's *input* channels (torchvision's rule)
    se = blocks[1].block[2]
    assert se.fc1.out_channels == 16 // 4 and se.fc1.in_channels == 16 * 6
    assert 3.5e6 < sum(p.numel() for p in net.parameters()) < 4.5e6


def test_width_and_depth_scaling():
    assert _make_divisible(32 * 0.5) == 16 and _make_divisible(24 * 0.5) == 16 and _make_divisible(37) == 40
    assert _make_divisible(10) == 16  # never more than 10 % below the request
    lite = create_model("efficientnet_lite", 3)
    assert isinstance(lite, EfficientNet1D)
    assert [c.num_layers for c in lite.setting] == [1, 1, 1, 2, 2, 2, 1]  # ceil(n * 0.5)
    assert [c.out_channels for c in lite.setting] == [8, 16, 24, 40, 56, 96, 160]
    assert lite.num_features == 640
    with pytest.raises(ValueError, match="positive"):
        create_model("efficientnet_b0", 3, width_mult=0)


def test_efficientnet_small_has_a_strided_stem():
    small = create_model("efficientnet_small", 3)
    lite = create_model("efficientnet_lite", 3)
    stem = small.features[0][0]
    assert stem.stride == (8,) and stem.kernel_size == (9,)
    assert [c.out_channels for c in small.setting] == [c.out_channels for c in lite.setting]  # same blocks
    with torch.no_grad():
        assert small.features(torch.zeros(2, 1, 1024)).shape[-1] == 1024 // 128
    assert small(torch.randn(2, 1024)).shape == (2, 3)
    with pytest.raises(ValueError, match="skips input points"):
        create_model("efficientnet_small", 3, stem_kernel=5)
    with pytest.raises(ValueError, match="stem_stride"):
        create_model("efficientnet_b0", 3, stem_stride=0)


def test_cnn_is_small_and_keeps_position():
    net = create_model("cnn", 10)
    assert sum(p.numel() for p in net.parameters()) < 100_000
    assert net.num_features == 64 * 8
    with pytest.raises(ValueError, match="same, non-zero length"):
        create_model("cnn", 10, channels=(8, 16), kernel_sizes=(5,))
    with pytest.raises(ValueError, match="too short"):
        create_model("cnn", 10, in_length=8)


# ----------------------------------------------------------------------------------------------------------- DRSN
def test_soft_threshold_known_values():
    x = torch.tensor([[[-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0]]])
    out = SoftThreshold()(x, torch.tensor(1.0))
    torch.testing.assert_close(out, torch.tensor([[[-2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0]]]))
    # per-channel thresholds broadcast over the length
    x = torch.tensor([[[2.0, -2.0], [2.0, -2.0]]])
    out = SoftThreshold()(x, torch.tensor([[[0.5], [3.0]]]))
    torch.testing.assert_close(out, torch.tensor([[[1.5, -1.5], [0.0, 0.0]]]))


@pytest.mark.parametrize("mode,tau_channels", [("cw", 16), ("cs", 1)])
def test_drsn_threshold_shapes_and_range(mode, tau_channels):
    torch.manual_seed(0)
    net = create_model(f"drsn_{mode}", 3, in_length=256, widths=(16, 32, 64)).eval()
    unit = net.stages[0][0]
    assert unit.shrinkage.mode == mode
    x = torch.randn(5, 16, 64)
    with torch.no_grad():
        tau = unit.shrinkage.thresholds(x)
    assert tau.shape == (5, tau_channels, 1)
    mean_abs = x.abs().mean(dim=2, keepdim=True) if mode == "cw" else x.abs().mean(dim=(1, 2), keepdim=True)
    assert (tau > 0).all() and (tau < mean_abs).all()  # tau = alpha * mean|x| with alpha in (0, 1)
    with pytest.raises(ValueError, match="shrinkage"):
        create_model(f"drsn_{mode}", 3, shrinkage="cs" if mode == "cw" else "cw")


def test_drsn_stage_features_and_depth():
    torch.manual_seed(0)
    net = create_model("drsn_cw", 4, in_length=512).eval()
    assert isinstance(net, DRSN) and net.num_stages == 3
    x = torch.randn(2, 512)
    with torch.no_grad():
        shapes = [net.stage_features(x, d).shape for d in range(4)]
        torch.testing.assert_close(net.stage_features(x, 3), net.forward_features(x))
        torch.testing.assert_close(net.forward_features(x, depth=1), net.stage_features(x, 1))
    # stem, then the three stages of the default DRSN; the last one through the 4-bin head (128 channels x 4)
    assert shapes == [(2, 32), (2, 32), (2, 64), (2, 128 * 4)] and net.num_features == 128 * 4
    with pytest.raises(ValueError, match="upto"):
        net.stage_features(x, 4)


@pytest.mark.parametrize("name, channels", [("drsn_cw", 128), ("efficientnet_small", 640)])
@pytest.mark.parametrize("bins", [1, 2])
def test_head_bins_keep_position(name, channels, bins):
    torch.manual_seed(0)
    net = create_model(name, 3, head_bins=bins).eval()
    x = torch.randn(2, 1024)
    with torch.no_grad():
        feats = net.forward_features(x)
        assert feats.shape == (2, channels * bins) == (2, net.num_features)
        torch.testing.assert_close(net.forward_head(feats), net(x))
    with pytest.raises(ValueError, match="head_bins"):
        create_model(name, 3, head_bins=0)


def test_drsn_stem_must_see_every_point():
    net = create_model("drsn_cw", 3)
    assert net.stem.stride == (8,) and net.stem.kernel_size == (9,)
    with pytest.raises(ValueError, match="skips input points"):
        create_model("drsn_cw", 3, stem_kernel=5)


def test_drsn_folded_input_and_pad_shortcut():
    torch.manual_seed(0)
    net = create_model("drsn_cs", 3, in_length=256, in_channels=4, shortcut="pad").eval()
    x = torch.randn(2, 1024)
    with torch.no_grad():
        a = net(x)
        b = net(fold_spectrum(x, 4))
    assert a.shape == (2, 3)
    torch.testing.assert_close(a, b)
    assert torch.equal(fold_spectrum(x, 4)[:, 1], x[:, 256:512])  # contiguous wavenumber windows
    with pytest.raises(ValueError, match="divisible"):
        fold_spectrum(torch.randn(2, 1000), 3)


# ------------------------------------------------------------------------------------------------ classical
@pytest.mark.parametrize("name,kwargs", [("lda", {}), ("lda", {"shrinkage": "auto"}), ("pca_lda", {"n_components": 10}),
                                         ("knn_cosine", {}), ("knn_cosine_sklearn", {}), ("lda_sklearn", {}),
                                         ("pca_lda_sklearn", {"n_components": 10})])
def test_classical_models_learn_synthetic_classes(name, kwargs):
    X, y = synthetic_spectra(20, 3, seed=0)
    Xt, yt = synthetic_spectra(10, 3, seed=1)
    clf = create_model(name, 3, in_length=X.shape[1], **kwargs).fit(X, y)
    assert clf.score(Xt, yt) > 0.9


def test_lda_is_plain_by_default_and_knn_is_cosine_1nn():
    lda = create_model("lda", 10).estimator  # the scikit-learn LDA it is fitted by
    assert lda.solver == "svd" and lda.shrinkage is None
    reference = create_model("knn_cosine_sklearn", 10)  # the library search's cross-check
    assert reference.n_neighbors == 1 and reference.metric == "cosine" and reference.algorithm == "brute"
    knn = create_model("knn_cosine", 10)
    assert type(knn).__name__ == "LibrarySearch" and not knn.include_validation
    X, y = synthetic_spectra(5, 3)
    knn.fit(X, y)
    np.testing.assert_array_equal(knn.predict(3.7 * X), y)  # cosine: intensity scale does not matter


# ------------------------------------------------------------------------------------------------ estimator
FAST = TrainConfig(max_epochs=30, batch_size=16, lr=1e-2, patience=None, device="cpu", seed=0)


def fast_classifier(**kw):
    """A small CNN; keyword arguments that name a TrainConfig setting change the training run."""
    settings = {k: kw.pop(k) for k in list(kw) if k in {f.name for f in fields(TrainConfig)}}
    params = dict(model="cnn", model_kwargs={"channels": (8, 16, 16), "kernel_sizes": (5, 5, 5)},
                  train_config=FAST.replace(**settings))
    return TorchClassifier(**{**params, **kw})


@pytest.mark.parametrize("check", [check_get_params_invariance, check_set_params, check_no_attributes_set_in_init,
                                   check_parameters_default_constructible])
def test_sklearn_parameter_checks(check):
    check("TorchClassifier", TorchClassifier())
    check("TorchClassifier", fast_classifier())


def test_estimator_clone_params_and_pipeline():
    clf = fast_classifier()
    assert clone(clf).get_params() == clf.get_params()
    config = clf.train_config
    clf.set_params(train_config__lr=5e-3)
    assert clf.train_config.lr == 5e-3 and clone(clf).train_config.lr == 5e-3
    assert config.lr == 1e-2 and clf.train_config.max_epochs == config.max_epochs  # a new config, the old unchanged
    assert clf.get_params()["train_config__lr"] == 5e-3  # every knob is a nested parameter

    X, y = synthetic_spectra(20, 3, seed=0)
    labels = np.array(["calcite", "gypsum", "quartz"])[y]
    groups = np.repeat(np.arange(len(y) // 2), 2)  # two spectra per "sample"
    pipe = Pipeline([("scale", FunctionTransformer(lambda a: a / a.max(axis=1, keepdims=True))),
                     ("clf", fast_classifier(validation_fraction=0.2, patience=10))])
    pipe.fit(X, labels, clf__groups=groups)
    fitted = pipe.named_steps["clf"]
    assert list(fitted.classes_) == ["calcite", "gypsum", "quartz"]
    assert fitted.n_features_in_ == X.shape[1] and fitted.history_.epochs >= 1 and fitted.fit_time_ > 0
    Xt, yt = synthetic_spectra(10, 3, seed=1)
    proba = pipe.predict_proba(Xt)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert pipe.score(Xt, np.array(["calcite", "gypsum", "quartz"])[yt]) > 0.8
    assert not hasattr(clone(fitted), "model_")


def test_every_training_knob_reaches_the_loop():
    """Each TrainConfig setting set on the estimator is the one train_model runs with (History.config)."""
    X, y = synthetic_spectra(6, 3, seed=0)
    changed = {"max_epochs": 2, "batch_size": 8, "lr": 2e-3, "weight_decay": 0.0, "schedule": "cosine",
               "warmup_epochs": 1.0, "label_smoothing": 0.1, "patience": 1, "monitor": "val_loss",
               "augment": "realistic", "shift": 1.0, "scale": 0.05, "noise": 0.0, "grad_clip": 1.0,
               "eval_batch_size": 4, "device": "cpu", "seed": 7}
    assert set(changed) == {f.name for f in fields(TrainConfig)}
    default = TrainConfig()
    assert all(getattr(default, k) != v for k, v in changed.items())
    clf = fast_classifier(validation_fraction=0.34).set_params(**{f"train_config__{k}": v for k, v in changed.items()})
    clf.fit(X, y)
    assert {k: clf.history_.config[k] for k in changed} == changed
    with pytest.raises(ValueError, match="no setting 'epochs'"):
        clf.set_params(train_config__epochs=3)
    with pytest.raises(ValueError, match="must be a ramancmp.training.TrainConfig"):
        TorchClassifier(train_config={"max_epochs": 2}).fit(X, y)


def test_train_config_round_trips_through_its_dict():
    for config in (TrainConfig(), TrainConfig(augment=RealisticAugment(mix=0), seed=3),
                   TrainConfig(augment=Augment(1, 0, 0))):
        assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_estimator_errors():
    X, y = synthetic_spectra(5, 3)
    with pytest.raises(ValueError, match="scikit-learn model"):
        TorchClassifier(model="lda").fit(X, y)
    with pytest.raises(ValueError, match="both X_val and y_val"):
        fast_classifier().fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="y_val has labels the model was not trained on"):
        fast_classifier(max_epochs=1).fit(X, y, X_val=X[:2], y_val=np.array([0, 9]))
    with pytest.raises(ValueError, match="folded"):
        fast_classifier(model="drsn_cw", model_kwargs={"in_channels": 3}).fit(X, y)
    with pytest.raises(ValueError, match="2 classes"):
        fast_classifier().fit(X[:5], np.zeros(5, int))


def test_paper_drsn_is_full_resolution_with_zhaos_layout():
    from ramancmp.models.drsn import PAPER_DRSN_KWARGS

    m = create_model("drsn_paper", 10, 1024).eval()
    assert m.stem.stride == (1,) and m.stem.kernel_size == (3,)  # no downsampling stem
    assert [len(s) for s in m.stages] == [4, 4, 4] and m.config.widths == (4, 8, 16)
    assert m.num_features == 16 * 4  # the 4-bin head chosen on validation (Zhao's global pooling: head_bins=1)
    assert create_model("drsn_paper", 10, 1024, head_bins=1).num_features == 16
    x = torch.randn(3, 1, 1024)
    with torch.no_grad():
        assert m(x).shape == (3, 10) and m.stem(x).shape[-1] == 1024
    folded = create_model("drsn_paper_folded", 10, 1024, k=4).eval()
    assert folded.config.widths == PAPER_DRSN_KWARGS["widths"] and folded.stem.in_channels == 4
    with torch.no_grad():
        assert folded(x).shape == (3, 10)


def test_encode_labels_maps_to_sorted_class_indices_and_refuses_unknown_labels():
    from ramancmp.models import encode_labels

    classes = np.array(["apatite", "garnet", "zeolite"])
    assert encode_labels(classes, ["zeolite", "apatite"]).tolist() == [2, 0]
    assert encode_labels(None, [3, 1]).dtype == np.int64
    # "mica" would sit between garnet and zeolite in searchsorted: it must be refused, not mapped to a neighbour
    with pytest.raises(ValueError, match=r"y_val has labels the model was not trained on: \['mica'\]"):
        encode_labels(classes, ["garnet", "mica"], "y_val")
