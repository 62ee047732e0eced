"""Knowledge distillation (Hinton, Vinyals & Dean, 2015, "Distilling the knowledge in a neural network").

A small *student* learns from a large *teacher*'s softened output distribution as well as from the labels::

    L = alpha * T^2 * KL( softmax(z_t / T) || softmax(z_s / T) ) + (1 - alpha) * CE(z_s, y)

The temperature ``T > 1`` flattens both distributions so the student also learns the teacher's *dark knowledge*:
which wrong classes it finds plausible (a pyroxene spectrum that looks a bit like an amphibole). The gradient of
the soft term scales as ``1 / T^2``; multiplying by ``T^2`` keeps its weight independent of ``T``. The KL term uses
``reduction="batchmean"`` (the mathematical KL divergence averaged over the batch).

**Augmentation.** Training spectra are shifted, scaled and noised on every batch
(:class:`ramancmp.training.Augment`). Precomputed teacher logits of the *clean* spectra would then be targets for
inputs the teacher never saw, so with augmentation on, the teacher (frozen, eval mode, no gradients) runs on the
very batch the student sees; with augmentation off, its logits are computed once for the whole training part and
looked up by row. Both paths give the loss above on the student's actual input.

**No leakage.** The teacher must be trained on the same training part as the student and never on its test part:
:class:`DistilledClassifier` either trains its teacher itself inside ``fit`` (a registry name) or checks a given
teacher's ``train_fingerprint_`` (:func:`ramancmp.experiments.store.get_or_train`) against the data it is fitted on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import clone
from torch import nn

from ramancmp.fileio import fingerprint
from ramancmp.training import TorchClassifier, TrainConfig, predict_logits

__all__ = ["distillation_loss", "DistillationConfig", "DistillationLoss", "DistilledClassifier", "soft_targets"]


def soft_targets(logits: torch.Tensor | np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / T)`` as a numpy array: the teacher's softened class distribution."""
    z = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    return torch.softmax(z / float(temperature), dim=-1).numpy()


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
                      temperature: float = 4.0, alpha: float = 0.9) -> torch.Tensor:
    """Hinton's loss ``alpha T^2 KL(p_t^T || p_s^T) + (1 - alpha) CE(z_s, y)``; the teacher gets no gradient."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} differ: are they trained on the same classes?")
    t = float(temperature)
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=1), F.log_softmax(teacher_logits.detach() / t, dim=1),
                    log_target=True, reduction="batchmean")
    hard = F.cross_entropy(student_logits, targets)
    return alpha * t * t * soft + (1.0 - alpha) * hard


@dataclass(frozen=True)
class DistillationConfig:
    """Temperature ``T`` and soft-loss weight ``alpha`` of :func:`distillation_loss`."""

    temperature: float = 4.0
    alpha: float = 0.9

    def __post_init__(self) -> None:
        if self.temperature <= 0 or not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"need temperature > 0 and alpha in [0, 1], got {self}")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class DistillationLoss:
    """The ``loss_fn(logits, xb, yb, idx)`` hook of :func:`ramancmp.training.train_model` for a frozen teacher.

    ``teacher_logits`` (precomputed on the clean training spectra, one row per training row) is used when the
    batch is not augmented; otherwise the teacher runs on the augmented batch ``xb`` under ``torch.no_grad``.
    """

    def __init__(self, teacher: nn.Module, config: DistillationConfig, teacher_logits: torch.Tensor | None = None):
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.config = config
        self.teacher_logits = teacher_logits

    def __call__(self, logits: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        if self.teacher_logits is not None:
            z_t = self.teacher_logits.to(logits.device)[idx]
        else:
            self.teacher.to(xb.device).eval()
            with torch.no_grad():
                z_t = self.teacher(xb)
        return distillation_loss(logits, z_t, yb, self.config.temperature, self.config.alpha)


class DistilledClassifier(TorchClassifier):
    """A student network (default the plain ``"cnn"``) trained by distillation, as a scikit-learn classifier.

    ``teacher`` is a registry name (e.g. ``"efficientnet_small"``: trained inside ``fit`` on the same training data
    with the same settings and seed), an unfitted :class:`~ramancmp.models.TorchClassifier` (cloned and trained
    inside ``fit``: this is what ``sklearn.clone`` of a distilled classifier gives), or a fitted one (checked: same
    classes, and -- when it carries ``train_fingerprint_`` -- trained on exactly this training data). The teacher
    used is kept as ``teacher_``. ``temperature`` and ``alpha`` are :func:`distillation_loss`'s; ``train_config``
    (a :class:`~ramancmp.training.TrainConfig`) is the student's training run, and a teacher trained here trains
    with it too; the other parameters are :class:`~ramancmp.training.TorchClassifier`'s.
    """

    def __init__(self, *, teacher: Any = "efficientnet_small", model: str = "cnn", temperature: float = 4.0,
                 alpha: float = 0.9, teacher_kwargs: dict | None = None, model_kwargs: dict | None = None,
                 train_config: TrainConfig | None = None, validation_fraction: float = 0.15, verbose: bool = False):
        super().__init__(model=model, model_kwargs=model_kwargs, train_config=train_config,
                         validation_fraction=validation_fraction, verbose=verbose)
        self.teacher = teacher
        self.temperature = temperature
        self.alpha = alpha
        self.teacher_kwargs = teacher_kwargs

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, groups: Any = None) -> DistilledClassifier:
        X_arr, y_arr = np.asarray(X, dtype=np.float32), np.asarray(y)
        if isinstance(self.teacher, str) or not hasattr(self.teacher, "model_"):  # train the teacher here
            if isinstance(self.teacher, str):
                teacher = TorchClassifier(model=self.teacher, model_kwargs=self.teacher_kwargs,
                                          train_config=self.train_config,
                                          validation_fraction=self.validation_fraction, verbose=self.verbose)
            else:
                teacher = clone(self.teacher)
            self.teacher_ = teacher.fit(X_arr, y_arr, X_val=X_val, y_val=y_val, groups=groups)
        else:
            self.teacher_ = self.teacher
            expected = getattr(self.teacher_, "train_fingerprint_", None)
            if expected is not None and expected != fingerprint(X_arr, y_arr):
                raise ValueError("the teacher was trained on other data than this student: a teacher must be "
                                 "trained on the student's training part only (never on its test part)")
        if not hasattr(self.teacher_, "model_") or not hasattr(self.teacher_, "classes_"):
            raise ValueError(f"teacher must be a registry name or a fitted TorchClassifier, got "
                             f"{type(self.teacher_).__name__}")
        if not np.array_equal(np.asarray(self.teacher_.classes_), np.unique(y_arr)):
            raise ValueError(f"teacher classes {list(self.teacher_.classes_)} differ from the training labels' "
                             f"classes {list(np.unique(y_arr))}")
        return super().fit(X_arr, y_arr, X_val=X_val, y_val=y_val, groups=groups)

    def _training_loss(self, X_train: np.ndarray, y_train: np.ndarray) -> DistillationLoss:
        teacher = self.teacher_.model_
        config = DistillationConfig(self.temperature, self.alpha)
        if self.resolved_config().augmenter() is not None:
            return DistillationLoss(teacher, config)
        logits = predict_logits(teacher, X_train, device=next(teacher.parameters()).device)
        return DistillationLoss(teacher, config, torch.from_numpy(logits))
