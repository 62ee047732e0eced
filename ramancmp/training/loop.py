"""Training networks on spectra: seeding, the fit loop, on-the-fly augmentation and checkpoints.

One loop serves every network of the book: AdamW with a one-cycle (or warmup + cosine) learning-rate schedule,
optional label smoothing, early stopping on the validation part (the best weights are restored), augmentation in
torch on each batch, and a :class:`History` of every epoch. With one seed, two runs on the same machine give the
same weights and metrics.

Checkpoints (the file format) live in :mod:`ramancmp.training.checkpoint`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ramancmp.models.base import resolve_device
from ramancmp.training.augment import RealisticAugment


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; with ``deterministic``, ask torch for deterministic kernels.

    ``torch.use_deterministic_algorithms(True, warn_only=True)`` makes torch pick deterministic implementations and
    only *warn* where none exists, so a run never fails because of it. Thread counts are left alone.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


@dataclass
class Augment:
    """Random, label-preserving distortions of a batch of spectra, applied in torch on every training batch.

    * ``shift``: move each spectrum by a uniform random, fractional number of points in ``[-shift, shift]``
      (linear interpolation, edge values repeated) -- the calibration offset between instruments.
    * ``scale``: multiply by a uniform factor in ``[1 - scale, 1 + scale]`` -- laser power, focus, normalisation.
    * ``noise``: add Gaussian noise with standard deviation ``noise * max|x|`` of each spectrum -- detector noise,
      relative so it means the same whatever the normalisation.
    """

    shift: float = 3.0
    scale: float = 0.1
    noise: float = 0.01

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n, length = x.shape[0], x.shape[-1]
        view = (n,) + (1,) * (x.ndim - 1)
        if self.shift > 0:
            s = (torch.rand(n, generator=generator) * 2 - 1) * self.shift
            pos = (torch.arange(length, dtype=x.dtype) - s[:, None]).clamp_(0, length - 1)  # (n, L)
            lo = pos.floor().long()
            hi = (lo + 1).clamp_(max=length - 1)
            w = (pos - lo).to(x.dtype)
            if x.ndim == 3:
                lo, hi, w = (t[:, None].expand(-1, x.shape[1], -1) for t in (lo, hi, w))
            x = x.gather(-1, lo) * (1 - w) + x.gather(-1, hi) * w
        if self.scale > 0:
            x = x * (1 + (torch.rand(view, generator=generator) * 2 - 1) * self.scale)
        if self.noise > 0:
            amp = x.abs().flatten(1).amax(dim=1).view(view)
            x = x + torch.randn(x.shape, generator=generator) * (self.noise * amp)
        return x


AUGMENTATIONS = ("realistic",)  # the named augmentations besides True (Augment) and False


@dataclass(frozen=True)
class TrainConfig:
    """One training run, the ONE place it is configured: every knob of :func:`train_model`.

    :class:`~ramancmp.training.TorchClassifier` and its subclasses take it whole (``train_config=``), the book's
    profiles produce it (:func:`ramancmp.experiments.store.train_config`), :func:`train_model` reads it. Frozen: a
    changed run is a new config (:meth:`replace`), so an estimator's parameter is never changed behind its back.
    ``patience=None`` (or no validation data) trains all ``max_epochs``.
    """

    max_epochs: int = 60
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-2
    schedule: str = "onecycle"  # "onecycle", "cosine" (linear warmup + cosine decay) or "constant"
    warmup_epochs: float = 3.0  # only for "cosine"
    label_smoothing: float = 0.0
    patience: int | None = 12
    monitor: str = "val_acc"  # "val_acc" (ties broken by val_loss) or "val_loss"
    # True: Augment (shift, scale, noise); "realistic": RealisticAugment; False: none; or an Augment /
    # RealisticAugment object, used as it is
    augment: bool | str | Augment | RealisticAugment = True
    shift: float = 3.0
    scale: float = 0.1
    noise: float = 0.01
    grad_clip: float | None = 5.0
    eval_batch_size: int = 256
    device: str = "auto"  # where the network trains; never part of what the weights are keyed by
    seed: int = 0  # initial weights (the estimators seed them with it), batch order, augmentation, dropout

    def __post_init__(self) -> None:
        if self.schedule not in ("onecycle", "cosine", "constant"):
            raise ValueError(f"schedule must be 'onecycle', 'cosine' or 'constant', got {self.schedule!r}")
        if self.monitor not in ("val_acc", "val_loss"):
            raise ValueError(f"monitor must be 'val_acc' or 'val_loss', got {self.monitor!r}")
        if self.max_epochs < 1 or self.batch_size < 2 or self.lr <= 0:
            raise ValueError(f"need max_epochs >= 1, batch_size >= 2 and lr > 0; got {self.max_epochs}, "
                             f"{self.batch_size}, {self.lr}")
        if not isinstance(self.augment, (bool, Augment, RealisticAugment)) and self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be True, False or one of {sorted(AUGMENTATIONS)}, got {self.augment!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be None (no early stopping) or >= 1, got {self.patience}")
        if self.eval_batch_size < 1:
            raise ValueError(f"eval_batch_size must be >= 1, got {self.eval_batch_size}")

    def __repr__(self) -> str:  # the settings that differ from the defaults: what makes this run this run
        default = TrainConfig()
        changed = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                   if getattr(self, f.name) != getattr(default, f.name)]
        return f"TrainConfig({', '.join(changed)})"

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed (validated like a new config); unknown names raise ``ValueError``."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise ValueError(f"TrainConfig has no setting {', '.join(map(repr, unknown))}; its settings are "
                             f"{', '.join(f.name for f in fields(self))}")
        return dataclasses.replace(self, **changes)

    # scikit-learn's nested-parameter protocol: ``clf.get_params()`` lists ``train_config__lr`` etc.,
    # ``clone(clf)`` copies the config through it, and :meth:`TorchClassifier.set_params` replaces the config
    # for ``train_config__<name>=...`` (a grid search over any knob)
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values; an augmentation object becomes its fields plus ``"type"`` (its class
        name), so :meth:`from_dict` rebuilds the same config."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if isinstance(self.augment, (Augment, RealisticAugment)):
            out["augment"] = {"type": type(self.augment).__name__, **asdict(self.augment)}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config :meth:`to_dict` wrote (unknown keys raise ``ValueError``)."""
        data = dict(data)
        augment = data.get("augment")
        if isinstance(augment, dict):
            kinds = {"Augment": Augment, "RealisticAugment": RealisticAugment}
            augment = dict(augment)
            kind = augment.pop("type", None)
            if kind not in kinds:
                raise ValueError(f"augment type {kind!r} is not one of {sorted(kinds)}")
            data["augment"] = kinds[kind](**augment)
        return cls().replace(**data)

    def augmenter(self) -> Augment | RealisticAugment | None:
        """The batch transform: :class:`Augment` for ``augment=True``, :class:`RealisticAugment` (with this
        config's shift, scale and noise, the other distortions at their defaults) for ``"realistic"``, or the
        transform object ``augment`` holds."""
        if isinstance(self.augment, (Augment, RealisticAugment)):
            return self.augment
        if self.augment == "realistic":
            return RealisticAugment(shift=self.shift, scale=self.scale, noise=self.noise)
        return Augment(self.shift, self.scale, self.noise) if self.augment else None


@dataclass
class History:
    """Per-epoch curves and the summary of one training run (epochs are numbered from 1)."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    best_val_acc: float | None = None
    best_val_loss: float | None = None
    stopped_early: bool = False
    train_time: float = 0.0
    device: str = "cpu"
    num_threads: int = 1
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"epochs": self.epochs}


def _as_tensor(X: Any) -> torch.Tensor:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim not in (2, 3):
        raise ValueError(f"expected spectra of shape (n, L) or (n, C, L), got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("spectra contain NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(X))


def _as_labels(y: Any, n: int) -> torch.Tensor:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"expected {n} labels, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise ValueError("labels must be non-negative integer class indices (encode them first)")
    return torch.from_numpy(y.astype(np.int64))


@torch.no_grad()
def predict_logits(model: nn.Module, X: Any, batch_size: int = 256, device: str | torch.device = "auto") -> np.ndarray:
    """Logits ``(n, num_classes)`` in eval mode (no dropout, no stochastic depth, running BN statistics)."""
    device = resolve_device(device)
    X = _as_tensor(X)
    model.eval()
    outs = [model(X[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(X), batch_size)]
    return torch.cat(outs).numpy() if outs else np.zeros((0, getattr(model, "num_classes", 0)), np.float32)


@torch.no_grad()
def loss_and_accuracy(model: nn.Module, X: Any, y: Any, batch_size: int = 256,
             device: str | torch.device = "auto") -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on ``(X, y)`` in eval mode."""
    logits = torch.from_numpy(predict_logits(model, X, batch_size, device))
    y = _as_labels(y, len(logits))
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    total = config.max_epochs * steps_per_epoch
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total, pct_start=0.25)
    if config.schedule == "cosine":
        warmup = max(1, round(config.warmup_epochs * steps_per_epoch))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def _is_better(acc: float, loss: float, best_acc: float, best_loss: float, monitor: str) -> bool:
    if monitor == "val_loss":
        return loss < best_loss
    return acc > best_acc or (acc == best_acc and loss < best_loss)


LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def train_model(model: nn.Module, X_train: Any, y_train: Any, X_val: Any = None, y_val: Any = None,
                config: TrainConfig | None = None, progress: bool = True, loss_fn: LossFn | None = None) -> History:
    """Train ``model`` in place on integer-labelled spectra and return its :class:`History`.

    ``loss_fn(logits, xb, yb, idx) -> loss`` replaces the default cross-entropy (with the config's label
    smoothing) as the training loss: ``xb`` is the batch as the model saw it (augmented, on the device), ``yb`` its
    labels and ``idx`` the rows of ``X_train`` it holds -- what knowledge distillation needs to run a teacher on
    the same input or look up precomputed teacher outputs. Validation and early stopping are unchanged.

    With validation data and ``config.patience``, training stops once the monitored metric has not improved for
    ``patience`` epochs, and the weights of the best epoch are restored. The model is left in eval mode on the
    training device. Seed *before* building the model (:func:`seed_everything`) for reproducible initial weights;
    this function seeds the batch order, augmentation, dropout and stochastic depth from ``config.seed``.
    """
    config = config or TrainConfig()
    device = resolve_device(config.device)
    X = _as_tensor(X_train)
    y = _as_labels(y_train, len(X))
    has_val = X_val is not None and y_val is not None
    if has_val:
        Xv = _as_tensor(X_val)
        yv = _as_labels(y_val, len(Xv))
    if len(X) < 2:
        raise ValueError("need at least 2 training spectra")

    torch.manual_seed(config.seed)  # dropout / stochastic depth draws
    generator = torch.Generator().manual_seed(config.seed)  # batch order and augmentation, on the CPU
    augment = config.augmenter()
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    batch = min(config.batch_size, len(X))
    steps_per_epoch = len(X) // batch + (1 if len(X) % batch > 1 else 0)  # a last batch of 1 breaks BatchNorm
    scheduler = _scheduler(optimizer, config, steps_per_epoch)

    history = History(device=str(device), num_threads=torch.get_num_threads(), config=config.to_dict())
    best_acc, best_loss, best_state, waited = -1.0, math.inf, None, 0
    start = time.perf_counter()
    bar = tqdm(range(1, config.max_epochs + 1), desc=type(model).__name__, unit="epoch", disable=not progress,
               leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(X), generator=generator)
        total_loss, correct, seen = 0.0, 0, 0
        for step in range(steps_per_epoch):
            idx = order[step * batch:(step + 1) * batch]
            xb, yb = X[idx], y[idx]
            if augment is not None:
                xb = augment(xb, generator)
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            logits = model(xb)
            if loss_fn is None:
                loss = F.cross_entropy(logits, yb, label_smoothing=config.label_smoothing)
            else:
                loss = loss_fn(logits, xb, yb, idx.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            total_loss += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(idx)
        history.lr.append(optimizer.param_groups[0]["lr"])
        history.train_loss.append(total_loss / seen)
        history.train_acc.append(correct / seen)
        postfix = {"loss": f"{total_loss / seen:.3f}", "acc": f"{correct / seen:.3f}"}
        if has_val:
            v_loss, v_acc = loss_and_accuracy(model, Xv, yv, config.eval_batch_size, device)
            history.val_loss.append(v_loss)
            history.val_acc.append(v_acc)
            postfix |= {"val_loss": f"{v_loss:.3f}", "val_acc": f"{v_acc:.3f}"}
            if _is_better(v_acc, v_loss, best_acc, best_loss, config.monitor):
                best_acc, best_loss, waited = v_acc, v_loss, 0
                best_state = copy.deepcopy(model.state_dict())
                history.best_epoch, history.best_val_acc, history.best_val_loss = epoch, v_acc, v_loss
            else:
                waited += 1
        history.epoch_time.append(time.perf_counter() - t0)
        bar.set_postfix(postfix)
        if has_val and config.patience is not None and waited >= config.patience:
            history.stopped_early = True
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        history.best_epoch = history.epochs
    history.train_time = time.perf_counter() - start
    model.eval()
    return history
