"""Chapter 13's methods: realistic augmentation, spectrum + derivative / square-root inputs, the hybrid of a
network and the library search, soft-vote ensembles, fine-tuning from a pretrained network, and the pretraining
pool that never holds a validation or test sample."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from ramancmp.config import PROFILES
from ramancmp.data.splits import make_split
from ramancmp.experiments.beyond import finetune_jobs, pretrain_jobs, pretraining_set, same_variant, variant_jobs
from ramancmp.experiments.store import run_job
from ramancmp.models import (
    HybridClassifier,
    SoftVoteClassifier,
    SpectrumInputs,
    choose_hybrid_threshold,
    create_model,
    hybrid_predict,
    soft_vote,
)
from ramancmp.training import (
    FineTunedClassifier,
    RealisticAugment,
    TorchClassifier,
    TrainConfig,
    seed_everything,
    transfer_weights,
)

from conftest import synthetic_dataset, synthetic_spectra

SMALL_CNN = {"channels": (8, 16), "kernel_sizes": (5, 5), "head_bins": 4}


# ------------------------------------------------------------------------------------------- augmentation
@pytest.mark.parametrize("shape", [(6, 128), (6, 1, 128), (6, 2, 128)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_realistic_augment_keeps_shape_and_dtype_and_changes_the_spectra(shape, dtype):
    x = torch.rand(shape, dtype=dtype)
    out = RealisticAugment()(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == dtype
    assert torch.isfinite(out).all() and not torch.allclose(out, x)


def test_realistic_augment_is_deterministic_with_a_seed():
    x = torch.rand(8, 256)
    aug = RealisticAugment()
    a, b = aug(x, torch.Generator().manual_seed(3)), aug(x, torch.Generator().manual_seed(3))
    c = aug(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_realistic_augment_with_every_strength_zero_is_the_identity():
    x = torch.rand(5, 64)
    off = RealisticAugment(shift=0, stretch=0, broaden=0, baseline=0, mix=0, scale=0, noise=0)
    assert torch.allclose(off(x, torch.Generator().manual_seed(0)), x, atol=1e-6)


def test_realistic_augment_each_distortion_does_what_it_says():
    band = torch.exp(-0.5 * ((torch.arange(200.0) - 100) / 2) ** 2)[None].repeat(4, 1)
    gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    off = dict(shift=0, stretch=0, broaden=0, baseline=0, mix=0, scale=0, noise=0)
    shifted = RealisticAugment(**{**off, "shift": 5})(band, gen())
    assert (shifted.argmax(1) - 100).abs().max() <= 5 and (shifted.argmax(1) != 100).any()
    broad = RealisticAugment(**{**off, "broaden": 3})(band, gen())
    assert (broad.max(1).values <= 1 + 1e-6).all() and (broad.max(1).values < 0.99).any()  # wider, lower bands
    assert torch.allclose(broad.sum(1), band.sum(1), rtol=1e-3)  # area kept
    drift = RealisticAugment(**{**off, "baseline": 0.3})(band, gen())
    assert (drift[:, :20] - band[:, :20]).abs().max() > 0.01  # a baseline where there was none


def test_realistic_augment_rejects_bad_settings_and_input():
    with pytest.raises(ValueError, match="must be a finite number"):
        RealisticAugment(noise=-1)
    with pytest.raises(ValueError, match="float"):
        RealisticAugment()(torch.ones(3, dtype=torch.int64))


def test_train_config_names_its_augmentation():
    assert isinstance(TrainConfig(augment="realistic").augmenter(), RealisticAugment)
    assert TrainConfig(augment=False).augmenter() is None
    mine = RealisticAugment(mix=0)
    assert TrainConfig(augment=mine).augmenter() is mine
    with pytest.raises(ValueError, match="augment must be"):
        TrainConfig(augment="fancy")


# ------------------------------------------------------------------------------------------- inputs
def test_spectrum_inputs_derivative_and_square_root():
    x = torch.tensor([[0.0, 1.0, 4.0, 9.0, 16.0]])
    out = SpectrumInputs(("spectrum", "derivative", "sqrt"))(x)
    assert out.shape == (1, 3, 5)
    assert torch.equal(out[:, 0], x)
    np.testing.assert_allclose(out[0, 1].numpy(), np.gradient(x[0].numpy()) / np.abs(np.gradient(x[0].numpy())).max())
    e = 0.01  # the softened square root: 0 -> 0, 1 -> 1, monotone, sqrt-like above e, a finite slope at 0
    expected = (np.sqrt(x[0].numpy() + e) - np.sqrt(e)) / (np.sqrt(1 + e) - np.sqrt(e))
    np.testing.assert_allclose(out[0, 2].numpy(), expected, rtol=1e-5, atol=1e-6)
    z = SpectrumInputs(("sqrt",))(torch.tensor([[0.0, 0.01, 0.25, 1.0]]))[0, 0]
    assert z[0] == 0 and abs(z[-1] - 1) < 1e-6 and z[1] / 0.01 < 10 and z[2] > 0.25
    with pytest.raises(ValueError, match="inputs must be"):
        SpectrumInputs(("spectrum", "fourier"))


def test_multi_input_network_takes_plain_spectra_and_is_rebuilt_from_its_config():
    net = create_model("multi_input", 3, in_length=128, inputs=["spectrum", "derivative"], **SMALL_CNN)
    assert net.backbone.in_channels == 2 and net.in_channels == 1
    assert net(torch.rand(4, 128)).shape == (4, 3)
    cfg = net.get_config()
    again = create_model(cfg["name"], cfg["num_classes"], cfg["in_length"], **cfg["kwargs"])
    again.load_state_dict(net.state_dict())


# ------------------------------------------------------------------------------------------- hybrid, vote
def test_hybrid_rule_and_threshold_chosen_on_validation():
    sim = np.array([0.99, 0.98, 0.90, 0.70, 0.60])
    lib_ok = np.array([1, 1, 1, 0, 0], bool)
    net_ok = np.array([0, 1, 0, 1, 1], bool)
    choice = choose_hybrid_threshold(sim, lib_ok, net_ok)
    assert choice["accuracy"] == 1.0 and 0.70 < choice["threshold"] <= 0.90
    assert choice["library_share"] == 0.6
    pred = hybrid_predict(sim, np.array(list("aaaaa")), np.array(list("bbbbb")), choice["threshold"])
    assert pred.tolist() == list("aaabb")
    # a network that is always right: the library may only decide spectra it also gets right
    always = choose_hybrid_threshold(sim, lib_ok, np.ones(5, bool))
    assert always["accuracy"] == 1.0 and lib_ok[sim >= always["threshold"]].all()
    assert choose_hybrid_threshold(sim, np.zeros(5, bool), np.ones(5, bool))["library_share"] == 0.0
    with pytest.raises(ValueError):
        hybrid_predict(sim, np.zeros(4), np.zeros(5), 0.5)


class _Fixed:
    """A fitted stand-in classifier that predicts a fixed class with fixed probabilities."""

    def __init__(self, proba):
        self.proba, self.classes_ = np.asarray(proba, float), np.arange(len(proba))

    def fit(self, X, y):
        return self

    def predict_proba(self, X):
        return np.tile(self.proba, (len(X), 1))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


def test_hybrid_classifier_uses_the_library_for_close_matches():
    X, y = synthetic_spectra(10, 3, seed=0)
    Xv, yv = synthetic_spectra(6, 3, seed=1)
    hybrid = HybridClassifier(_Fixed([1.0, 0.0, 0.0])).fit(X, y, X_val=Xv, y_val=yv)
    assert hybrid.library_share(Xv) > 0.5  # the stand-in network knows one class; the library knows all
    assert hybrid.score(Xv, yv) > 0.9
    assert np.allclose(hybrid.predict_proba(Xv).sum(1), 1)
    with pytest.raises(ValueError, match="X_val"):
        HybridClassifier(_Fixed([1.0, 0.0, 0.0])).fit(X, y)


def test_soft_vote_selects_members_on_validation():
    X, y = synthetic_spectra(10, 3, seed=0)
    Xv, yv = synthetic_spectra(6, 3, seed=1)
    knn = KNeighborsClassifier(1, metric="cosine", algorithm="brute")
    vote = SoftVoteClassifier([_Fixed([0.2, 0.5, 0.3]), knn]).fit(X, y, X_val=Xv, y_val=yv)
    assert vote.selected_ == (1,) and vote.val_accuracy_ > 0.9
    assert np.allclose(soft_vote([[[1, 0]], [[0, 1]]]), [[0.5, 0.5]])
    with pytest.raises(ValueError, match="shape"):
        soft_vote([np.ones((2, 3)), np.ones((2, 2))])


# ------------------------------------------------------------------------------------------- pretraining
def test_fine_tuning_starts_from_the_pretrained_feature_layers(tmp_path):
    X, y = synthetic_spectra(8, 4, length=128, seed=0)
    pre = TorchClassifier(model="cnn", model_kwargs=SMALL_CNN, validation_fraction=0,
                          train_config=TrainConfig(max_epochs=1, batch_size=8, schedule="constant",
                                                   device="cpu")).fit(X, y)
    path = pre.save(tmp_path / "pre")
    ft = FineTunedClassifier(init_checkpoint=str(path), model="cnn", model_kwargs=SMALL_CNN, validation_fraction=0,
                             train_config=TrainConfig(max_epochs=1, batch_size=8, lr=1e-9, schedule="constant",
                                                      device="cpu")).fit(X, y % 2)
    assert "classifier.weight" not in ft.transferred_ and "stages.0.0.weight" in ft.transferred_
    assert torch.allclose(ft.model_.stages[0][0].weight, pre.model_.stages[0][0].weight, atol=1e-6)
    assert "init_checkpoint" in ft.get_params()
    with pytest.raises(ValueError, match="does not exist"):
        FineTunedClassifier(init_checkpoint=str(tmp_path / "none.pt"), model="cnn", model_kwargs=SMALL_CNN,
                            validation_fraction=0, train_config=TrainConfig(max_epochs=1, device="cpu")).fit(X, y)
    seed_everything(0)
    with pytest.raises(ValueError, match="no tensor"):
        transfer_weights(torch.nn.Linear(2, 2), create_model("cnn", 2, 128, **SMALL_CNN))


def test_pretraining_pool_never_holds_a_validation_or_test_sample_and_jobs_chain(tmp_path, monkeypatch):
    monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(tmp_path))
    ds = synthetic_dataset(n_classes=3, samples_per_class=8, spectra_per_sample=2, length=64)
    pool = synthetic_dataset(n_classes=5, samples_per_class=8, spectra_per_sample=2, length=64, seed=0)
    pool.task = "synthetic-pool"
    split = make_split(ds.y, ds.groups, kind="sample", seed=0)
    sub = pretraining_set(pool, ds, split)
    held = set(ds.groups[np.concatenate([split.val, split.select, split.test])])
    assert held and not held & set(sub.groups) and len(sub) == np.sum(~np.isin(pool.groups, list(held)))
    assert not set(sub.groups[sub.split.train]) & set(sub.groups[sub.split.val])
    kwargs = {**SMALL_CNN, "channels": (4, 4)}
    quick = PROFILES["tiny"]
    pre = pretrain_jobs("cnn", pool, ds, [split], quick, model_kwargs=kwargs, device="cpu")
    fine = finetune_jobs("cnn", ds, [split], pre, quick, model_kwargs=kwargs, device="cpu")
    plain = variant_jobs("cnn", ds, [split], quick, model_kwargs=kwargs, estimator_params={"augment": "realistic"},
                         device="cpu")
    assert len({fine[0].path, plain[0].path, pre[0].path}) == 3
    variants = {"book": ("cnn", kwargs, None), "realistic": ("cnn", kwargs, {"augment": "realistic"})}
    assert same_variant(("cnn", dict(kwargs), {"augment": "realistic"}), variants, ds, [split], quick) == "realistic"
    assert same_variant(("cnn", kwargs, {"augment": False}), variants, ds, [split], quick) is None
    assert fine[0].key["pretrained"] == pre[0].key and plain[0].key["estimator"]["augment"] == "realistic"
    with pytest.raises(ValueError, match="does not exist"):
        run_job(fine[0])  # the pretrained network must be trained first
