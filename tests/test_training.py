"""Training: seeding, augmentation, the fit loop (learning, determinism, early stopping) and checkpoints."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from ramancmp.models import create_model
from ramancmp.training import (
    Augment,
    History,
    TorchClassifier,
    TrainConfig,
    load_checkpoint,
    loss_and_accuracy,
    predict_logits,
    save_checkpoint,
    seed_everything,
    train_model,
)

from conftest import synthetic_spectra

SMALL_CNN = {"channels": (8, 16, 16), "kernel_sizes": (5, 5, 5)}



@pytest.fixture(scope="module")
def data():
    X, y = synthetic_spectra(20, 4, seed=0)
    Xv, yv = synthetic_spectra(8, 4, seed=1)
    return X, y, Xv, yv


def small_cnn(num_classes: int = 4, seed: int = 0):
    seed_everything(seed)
    return create_model("cnn", num_classes, in_length=256, **SMALL_CNN)


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_everything(7)
    a = draw()
    seed_everything(7)
    assert draw() == a
    seed_everything(8)
    assert draw() != a


# ------------------------------------------------------------------------------------------------- augmentation
def test_augment_identity_when_switched_off():
    x = torch.rand(5, 1, 64)
    torch.testing.assert_close(Augment(shift=0, scale=0, noise=0)(x), x)


def test_augment_shift_moves_bands_and_keeps_shapes():
    x = torch.zeros(200, 1, 100)
    x[:, 0, 50] = 1.0
    out = Augment(shift=3.0, scale=0, noise=0)(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    centre = (out[:, 0] * torch.arange(100.0)).sum(1) / out[:, 0].sum(1)  # centre of mass moves by the shift
    assert centre.min() >= 47 - 1e-4 and centre.max() <= 53 + 1e-4 and centre.std() > 1.0
    torch.testing.assert_close(out.sum(dim=(1, 2)), torch.ones(200))  # interpolation conserves the band's area
    two_d = Augment()(torch.rand(4, 64), torch.Generator().manual_seed(0))
    assert two_d.shape == (4, 64)


def test_augment_scale_noise_and_reproducibility():
    x = torch.ones(500, 1, 32)
    scaled = Augment(shift=0, scale=0.1, noise=0)(x, torch.Generator().manual_seed(0))
    factors = scaled[:, 0, 0]
    assert factors.min() >= 0.9 and factors.max() <= 1.1 and factors.std() > 0.03
    assert torch.allclose(scaled, factors[:, None, None].expand_as(scaled))
    noisy = Augment(shift=0, scale=0, noise=0.01)(10 * x, torch.Generator().manual_seed(0))
    assert abs((noisy - 10).std().item() - 0.1) < 0.01  # relative to each spectrum's maximum
    a = Augment()(x, torch.Generator().manual_seed(3))
    b = Augment()(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


# ------------------------------------------------------------------------------------------------- the fit loop
def test_training_learns_synthetic_classes(data):
    X, y, Xv, yv = data
    model = small_cnn()
    hist = train_model(model, X, y, Xv, yv, TrainConfig(max_epochs=20, batch_size=16, lr=1e-2, patience=None,
                                                        device="cpu"), progress=False)
    assert isinstance(hist, History) and hist.epochs == 20
    assert len(hist.val_acc) == len(hist.lr) == len(hist.epoch_time) == 20
    assert hist.best_val_acc >= 0.9  # chance is 0.25
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert not model.training  # left in eval mode
    loss, acc = loss_and_accuracy(model, Xv, yv, device="cpu")
    assert acc == pytest.approx(hist.best_val_acc) and loss == pytest.approx(hist.best_val_loss, rel=1e-5)
    assert hist.num_threads == torch.get_num_threads() == 1 and hist.device == "cpu" and hist.train_time > 0
    json.dumps(hist.to_dict())  # a History is JSON-able as it is


def test_same_seed_same_weights_and_metrics(data):
    X, y, Xv, yv = data
    cfg = TrainConfig(max_epochs=4, batch_size=16, device="cpu", seed=3)
    runs = []
    for _ in range(2):
        model = small_cnn(seed=3)
        hist = train_model(model, X, y, Xv, yv, cfg, progress=False)
        runs.append((hist, model.state_dict()))
    (h1, w1), (h2, w2) = runs
    assert h1.train_loss == h2.train_loss and h1.val_acc == h2.val_acc and h1.val_loss == h2.val_loss
    for k in w1:
        assert torch.equal(w1[k], w2[k]), k
    other = train_model(small_cnn(seed=3), X, y, Xv, yv, TrainConfig(max_epochs=4, batch_size=16, device="cpu",
                                                                     seed=4), progress=False)
    assert other.train_loss != h1.train_loss


def test_early_stopping_restores_the_best_epoch(data):
    X, y, Xv, yv = data
    model = small_cnn()
    cfg = TrainConfig(max_epochs=30, batch_size=16, lr=3e-2, schedule="constant", patience=2, device="cpu")
    hist = train_model(model, X, y, Xv, yv, cfg, progress=False)
    assert hist.stopped_early and hist.epochs < 30
    assert hist.epochs - hist.best_epoch == 2
    best = hist.best_epoch - 1
    assert hist.val_acc[best] == max(hist.val_acc)
    loss, acc = loss_and_accuracy(model, Xv, yv, device="cpu")
    assert acc == pytest.approx(hist.val_acc[best]) and loss == pytest.approx(hist.val_loss[best], rel=1e-5)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_schedules_warm_up_then_decay(data, schedule):
    X, y, _, _ = data
    hist = train_model(small_cnn(), X, y, config=TrainConfig(max_epochs=8, batch_size=16, lr=1e-2, augment=False,
                                                             schedule=schedule, warmup_epochs=2, device="cpu"),
                       progress=False)
    peak = int(np.argmax(hist.lr))
    assert 0 < peak < 7 and hist.lr[-1] < 0.05 * max(hist.lr) and max(hist.lr) <= 1e-2 + 1e-12
    assert hist.best_epoch == 8 and hist.val_acc == []  # no validation data: all epochs, last weights


def test_train_config_validation_and_profiles():
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step")
    with pytest.raises(ValueError, match="monitor"):
        TrainConfig(monitor="f1")
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=1)
    with pytest.raises(ValueError, match="labels"):
        train_model(small_cnn(), np.zeros((4, 256), np.float32), np.array([0.5, 1, 0, 1]), progress=False)
    with pytest.raises(ValueError, match="NaN"):
        train_model(small_cnn(), np.full((4, 256), np.nan, np.float32), np.array([0, 1, 0, 1]), progress=False)


# -------------------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip(tmp_path, data, monkeypatch):
    X, y, Xv, yv = data
    model = create_model("drsn_cs", 4, in_length=256, widths=(8, 16), units=(1, 1), strides=(2, 2))
    train_model(model, X, y, Xv, yv, TrainConfig(max_epochs=2, batch_size=16, device="cpu"), progress=False)
    path = save_checkpoint(tmp_path / "ckpt" / "drsn", model,
                           {"class_names": ["a", "b", "c", "d"], "preprocess": {"n_points": 256},
                            "metrics": {"val_acc": 0.5}})
    assert path.name == "drsn.pt" and (tmp_path / "ckpt" / "drsn.json").exists()
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]

    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **kw: loads.append(kw) or real_load(*a, **kw))
    again, info = load_checkpoint(tmp_path / "ckpt" / "drsn.json")
    assert loads and all(kw.get("weights_only") is True for kw in loads)
    assert not again.training
    assert info["class_names"] == ["a", "b", "c", "d"] and info["preprocess"] == {"n_points": 256}
    assert info["model"]["name"] == "drsn_cs" and info["model"]["kwargs"]["widths"] == [8, 16]
    np.testing.assert_array_equal(predict_logits(again, Xv, device="cpu"), predict_logits(model, Xv, device="cpu"))


def test_checkpoint_errors(tmp_path):
    with pytest.raises(ValueError, match="default_cfg"):
        save_checkpoint(tmp_path / "x", torch.nn.Linear(2, 2))
    with pytest.raises(FileNotFoundError, match="not found"):
        load_checkpoint(tmp_path / "missing")
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    (tmp_path / "bad.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="not a ramancmp checkpoint"):
        load_checkpoint(tmp_path / "bad")


def test_estimator_checkpoint_round_trip(tmp_path, data):
    X, y, Xv, _ = data
    labels = np.array(["w", "x", "y", "z"])[y]
    clf = TorchClassifier(model="cnn", model_kwargs=SMALL_CNN, validation_fraction=0.25,
                          train_config=TrainConfig(max_epochs=3, batch_size=16, device="cpu")).fit(X, labels)
    clf.save(tmp_path / "clf", extra={"task": "synthetic"})
    back = TorchClassifier.from_checkpoint(tmp_path / "clf")
    np.testing.assert_array_equal(back.predict(Xv), clf.predict(Xv))
    np.testing.assert_allclose(back.predict_proba(Xv), clf.predict_proba(Xv), rtol=1e-6)
    assert back.get_params()["model_kwargs"] == {"channels": [8, 16, 16], "kernel_sizes": [5, 5, 5]}
    assert back.history_.epochs == clf.history_.epochs and back.checkpoint_info_["task"] == "synthetic"


def test_a_side_car_of_the_flat_estimator_format_still_loads(tmp_path, data):
    """Side-cars written when the training settings were TorchClassifier's own parameters load with those
    settings as the TrainConfig (the weights are loaded, not retrained)."""
    X, y, Xv, _ = data
    clf = TorchClassifier(model="cnn", model_kwargs=SMALL_CNN, validation_fraction=0,
                          train_config=TrainConfig(max_epochs=1, batch_size=16, device="cpu")).fit(X, y)
    clf.save(tmp_path / "old")
    side = tmp_path / "old.json"
    info = json.loads(side.read_text())
    info["estimator"] = {"model": "cnn", "model_kwargs": SMALL_CNN, "max_epochs": 1, "batch_size": 16, "lr": 0.003,
                         "patience": 12, "augment": "Augment(shift=3.0, scale=0.1, noise=0.01)", "device": "cpu",
                         "seed": 5, "validation_fraction": 0, "verbose": False}
    side.write_text(json.dumps(info))
    back = TorchClassifier.from_checkpoint(tmp_path / "old")
    assert back.train_config == TrainConfig(max_epochs=1, batch_size=16, device="cpu", seed=5)
    np.testing.assert_array_equal(back.predict(Xv), clf.predict(Xv))
    assert TorchClassifier.from_checkpoint(clf.save(tmp_path / "new")).train_config == clf.train_config
