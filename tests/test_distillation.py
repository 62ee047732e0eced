"""Knowledge distillation: the loss on known logits, gradient flow, leakage guards, and a quick run that learns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone

from ramancmp.compression import (
    DistillationConfig,
    DistillationLoss,
    DistilledClassifier,
    distillation_loss,
    soft_targets,
)
from ramancmp.config import PROFILES
from ramancmp.fileio import fingerprint
from ramancmp.models import create_model
from ramancmp.training import TorchClassifier, TrainConfig

from conftest import synthetic_spectra


def _direct_kl(zs: torch.Tensor, zt: torch.Tensor, t: float) -> float:
    """KL(p_t || p_s) averaged over the batch, written out with numpy."""
    ps = np.exp(zs.numpy() / t)
    ps /= ps.sum(1, keepdims=True)
    pt = np.exp(zt.numpy() / t)
    pt /= pt.sum(1, keepdims=True)
    return float(np.mean(np.sum(pt * (np.log(pt) - np.log(ps)), axis=1)))


def test_identical_logits_leave_only_the_label_term():
    z = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    y = torch.tensor([0, 1])
    loss = distillation_loss(z, z.clone(), y, temperature=4.0, alpha=0.7)
    assert math.isclose(float(loss), 0.3 * float(F.cross_entropy(z, y)), rel_tol=1e-6)


def test_alpha_zero_is_plain_cross_entropy_and_alpha_one_is_pure_soft_term():
    g = torch.Generator().manual_seed(0)
    zs, zt = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    y = torch.tensor([0, 1, 2, 3, 0])
    assert math.isclose(float(distillation_loss(zs, zt, y, 2.0, 0.0)), float(F.cross_entropy(zs, y)), rel_tol=1e-6)
    for t in (1.0, 2.0, 8.0):  # T^2 scaling against the written-out formula
        expected = t * t * _direct_kl(zs, zt, t)
        assert math.isclose(float(distillation_loss(zs, zt, y, t, 1.0)), expected, rel_tol=1e-5)


def test_hand_computed_value():
    zs, zt, y = torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]]), torch.tensor([1])
    # T=1: p_t = (3/4, 1/4), p_s = (1/2, 1/2): KL = 3/4 ln(3/2) + 1/4 ln(1/2); CE = ln 2
    kl = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    loss = distillation_loss(zs, zt, y, temperature=1.0, alpha=0.5)
    assert math.isclose(float(loss), 0.5 * kl + 0.5 * math.log(2.0), rel_tol=1e-6)


def test_bad_arguments_raise():
    z, y = torch.zeros(2, 3), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(z, z, y, temperature=0.0)
    with pytest.raises(ValueError, match="alpha"):
        distillation_loss(z, z, y, alpha=1.5)
    with pytest.raises(ValueError, match="same classes"):
        distillation_loss(z, torch.zeros(2, 4), y)
    with pytest.raises(ValueError):
        DistillationConfig(temperature=-1.0)


def test_gradients_reach_the_student_only():
    torch.manual_seed(0)
    student, teacher = create_model("cnn", 3, 64), create_model("cnn", 3, 64, channels=(8, 8), kernel_sizes=(3, 3))
    x, y = torch.randn(4, 1, 64), torch.tensor([0, 1, 2, 0])
    hook = DistillationLoss(teacher, DistillationConfig(4.0, 0.9))
    student.train()
    hook(student(x), x, y, torch.arange(4)).backward()
    assert all(p.grad is not None for p in student.parameters() if p.requires_grad)
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert not teacher.training


def test_precomputed_teacher_logits_are_looked_up_by_row():
    teacher = create_model("cnn", 3, 32, channels=(4,), kernel_sizes=(3,))
    table = torch.randn(10, 3)
    hook = DistillationLoss(teacher, DistillationConfig(2.0, 1.0), teacher_logits=table)
    zs, idx = torch.randn(3, 3), torch.tensor([7, 2, 5])
    expected = distillation_loss(zs, table[idx], torch.zeros(3, dtype=torch.long), 2.0, 1.0)
    assert torch.allclose(hook(zs, torch.zeros(3, 1, 32), torch.zeros(3, dtype=torch.long), idx), expected)


def test_soft_targets_flatten_with_temperature():
    z = np.array([[4.0, 1.0, 0.0]])
    p1, p8 = soft_targets(z, 1.0), soft_targets(z, 8.0)
    assert np.allclose(p1.sum(), 1.0) and np.allclose(p8.sum(), 1.0)
    assert p8.max() < p1.max() and p8.min() > p1.min()


def test_grid_sizes():
    assert len(PROFILES["quick"].distillation_grid) == 1
    full = set(PROFILES["full"].distillation_grid)
    assert full == {(2.0, 0.9), (4.0, 0.5), (4.0, 0.9), (8.0, 0.9)}


def _synthetic(n_per_class: int = 30, length: int = 64, seed: int = 0):
    return synthetic_spectra(n_per_class, 3, length, seed)


@pytest.mark.parametrize("augment", [False, True])
def test_quick_distillation_on_synthetic_data_beats_chance(augment):
    X, y = _synthetic()
    teacher = TorchClassifier(model="cnn", model_kwargs={"channels": (8, 16), "kernel_sizes": (5, 5), "head_bins": 4},
                              validation_fraction=0,
                              train_config=TrainConfig(max_epochs=8, batch_size=16, patience=None, augment=False,
                                                       device="cpu")).fit(X, y)
    teacher.train_fingerprint_ = fingerprint(X, y)
    student = DistilledClassifier(teacher=teacher, model="cnn", temperature=4.0, alpha=0.5,
                                  model_kwargs={"channels": (4, 8), "kernel_sizes": (5, 5), "head_bins": 4},
                                  validation_fraction=0,
                                  train_config=TrainConfig(max_epochs=8, batch_size=16, patience=None, augment=augment,
                                                           device="cpu")).fit(X, y)
    assert student.teacher_ is teacher
    assert student.score(X, y) > 0.6  # chance is 1/3
    assert student.predict_proba(X[:5]).shape == (5, 3)


def test_teacher_trained_on_other_data_is_refused():
    X, y = _synthetic(10)
    teacher = TorchClassifier(model="cnn", model_kwargs={"channels": (4,), "kernel_sizes": (3,), "head_bins": 2},
                              validation_fraction=0,
                              train_config=TrainConfig(max_epochs=1, batch_size=8, patience=None, schedule="constant",
                                                       device="cpu")).fit(X, y)
    teacher.train_fingerprint_ = fingerprint(X, y)
    student = DistilledClassifier(teacher=teacher, validation_fraction=0,
                                  train_config=TrainConfig(max_epochs=1, batch_size=8, schedule="constant",
                                                           device="cpu"))
    with pytest.raises(ValueError, match="other data"):
        student.fit(X[:-3], y[:-3])


def test_teacher_by_name_is_trained_on_the_same_data_and_clone_works():
    X, y = _synthetic(10)
    small = {"channels": (4,), "kernel_sizes": (3,), "head_bins": 2}
    student = DistilledClassifier(teacher="cnn", teacher_kwargs=small, model_kwargs=small, validation_fraction=0,
                                  train_config=TrainConfig(max_epochs=1, batch_size=8, schedule="constant",
                                                           patience=None, device="cpu")).fit(X, y)
    assert isinstance(student.teacher_, TorchClassifier) and student.teacher_.n_features_in_ == X.shape[1]
    fresh = clone(student)
    assert not hasattr(fresh, "teacher_") and fresh.get_params()["temperature"] == 4.0
