"""Showing what a chapter teaches: the package's own source of a concept, and every setting a network trains with.

Chapters never redefine package code; to *show* it they call :func:`show_source`, which renders the source of the
objects they name as Markdown (a syntax-highlighted code block with the file and line numbers it came from), and
:func:`show_settings`, which lists every hyper-parameter in effect for a network trained by the book in a profile:
the training loop's settings (optimiser, schedule, epochs, early stopping, batch size, augmentation), the
architecture's settings after the builder's defaults are applied, and, for a distilled student, temperature and
weight. Both read the code and configuration the runs use; nothing here is a copy of them.
"""

from __future__ import annotations

import inspect
import pydoc
import textwrap
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ramancmp.compression.distillation import DistillationConfig
from ramancmp.config import PROJECT_ROOT, Profile
from ramancmp.experiments.store import build_estimator
from ramancmp.models import create_model, is_torch_model

__all__ = ["SETTING_MEANINGS", "Source", "show_settings", "show_source"]


class Source:
    """Source listings that render as Markdown in a notebook (``_repr_markdown_``) and as plain text in ``print``."""

    def __init__(self, parts: list[tuple[str, str]]):
        self.parts = parts  # (heading, code)

    @property
    def text(self) -> str:
        return "\n\n".join(code for _, code in self.parts)

    def _repr_markdown_(self) -> str:
        return "\n\n".join(f"{head}\n\n```python\n{code}\n```" for head, code in self.parts)

    def __str__(self) -> str:
        return "\n\n".join(f"# {head.replace('`', '')}\n{code}" for head, code in self.parts)

    __repr__ = __str__


def _resolve(obj: Any) -> Any:
    if isinstance(obj, str):
        found = pydoc.locate(obj)
        if found is None:
            raise ValueError(f"cannot find {obj!r}: give an object or a dotted name such as "
                             "'ramancmp.models.drsn.SoftThreshold'")
        return found
    return obj


def show_source(*objs: Any) -> Source:
    """The source code of each object (function, class, method or module; or its dotted name), as Markdown.

    Each listing is headed by the object's qualified name and where it lives (file relative to the project, line
    numbers), so a reader can open the file and read on.
    """
    if not objs:
        raise ValueError("show_source needs at least one object")
    parts = []
    for obj in map(_resolve, objs):
        target = inspect.unwrap(obj)
        try:
            lines, start = inspect.getsourcelines(target)
            path = Path(inspect.getsourcefile(target) or "?").resolve()
        except (TypeError, OSError) as exc:
            raise ValueError(f"no source available for {obj!r}: {exc}") from None
        name = getattr(target, "__qualname__", None) or getattr(target, "__name__", repr(target))
        module = getattr(target, "__module__", None) if not inspect.ismodule(target) else None
        where = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path
        head = (f"`{module + '.' if module else ''}{name}` -- `{where.as_posix()}`, "
                f"lines {start or 1}-{(start or 1) + len(lines) - 1}")
        parts.append((head, textwrap.dedent("".join(lines)).strip("\n")))
    return Source(parts)


# What each setting means (documentation of the code's settings; the values always come from the code).
SETTING_MEANINGS: dict[str, str] = {
    "optimizer": "the optimiser (AdamW: weight decay applied to the weights directly)",
    "lr": "peak learning rate of the schedule",
    "weight_decay": "AdamW's decoupled weight decay",
    "schedule": "learning-rate schedule over all steps (onecycle: warm up, then anneal to ~0)",
    "warmup_epochs": "linear warm-up before the cosine decay (cosine schedule only)",
    "max_epochs": "most epochs trained (the profile's)",
    "patience": "early stopping: epochs without a better validation score before stopping (best weights restored)",
    "monitor": "the validation score that early stopping and the best epoch follow",
    "batch_size": "spectra per training step",
    "label_smoothing": "share of the target probability spread over the other classes (0: plain cross-entropy)",
    "grad_clip": "gradient norm clipped to this value",
    "eval_batch_size": "spectra per step when evaluating",
    "seed": "seed of initial weights, batch order and augmentation (split r trains with seed + r)",
    "augment": "random distortions of every training batch",
    "shift": "largest random shift of a spectrum, in grid points",
    "scale": "largest relative random change of intensity",
    "noise": "Gaussian noise, standard deviation relative to each spectrum's maximum",
    "validation_fraction": "share carved out for early stopping when no validation part is given (the book gives one)",
    "temperature": "distillation temperature T (softens teacher and student outputs)",
    "alpha": "weight of the soft (teacher) term; 1 - alpha weighs the cross-entropy with the labels",
    "repeats": "repeated splits each model is trained and tested on",
}
_TRAINING = ("optimizer", "lr", "weight_decay", "schedule", "warmup_epochs", "max_epochs", "patience", "monitor",
             "batch_size", "label_smoothing", "grad_clip", "eval_batch_size", "seed")
_AUGMENTATION = ("augment", "shift", "scale", "noise")


def _architecture(model: str, num_classes: int, in_length: int, model_kwargs: dict | None) -> dict[str, Any]:
    """The network's settings after its builder's defaults: its ``config`` (dataclass or dict) and folding."""
    net = create_model(model, num_classes=num_classes, in_length=in_length, **(model_kwargs or {}))
    config = getattr(net, "config", None)
    if is_dataclass(config):
        out = asdict(config)
    elif isinstance(config, dict):
        out = dict(config)
    else:
        out = dict(model_kwargs or {})
    fold = getattr(net, "fold", None)  # a folded (channel-converted) network: how the spectrum is folded
    for attr in ("k", "mode"):
        if isinstance(getattr(fold, attr, None), (int, str)):
            out[f"fold_{attr}"] = getattr(fold, attr)
    return out


def _settings(model: str, model_kwargs: dict | None, profile: Profile, seed: int, num_classes: int, in_length: int,
              distillation: Any) -> dict[tuple[str, str], Any]:
    _, est = build_estimator(model, num_classes, in_length, profile=profile, seed=seed,
                             model_kwargs=dict(model_kwargs) if model_kwargs else None, device="cpu")
    rows: dict[tuple[str, str], Any] = {("protocol", "builder"): model, ("protocol", "repeats"): profile.repeats}
    if not is_torch_model(model):  # a scikit-learn model: its own parameters are all there is
        rows.update({("model", k): v for k, v in sorted(est.get_params(deep=False).items())})
        return rows
    config = est.resolved_config().to_dict()
    config["optimizer"] = "AdamW"  # the optimiser train_model builds (see its source)
    if config["schedule"] != "cosine":
        config.pop("warmup_epochs")
    rows.update({("training", k): config[k] for k in _TRAINING if k in config})
    rows.update({("augmentation", k): config[k] for k in _AUGMENTATION})
    if distillation is not None:
        cfg = (distillation if isinstance(distillation, DistillationConfig)
               else DistillationConfig(**distillation) if isinstance(distillation, dict)
               else DistillationConfig(*distillation))
        rows.update({("distillation", k): v for k, v in cfg.to_dict().items()})
    rows.update({("architecture", k): v
                 for k, v in _architecture(model, num_classes, in_length, model_kwargs).items()})
    return rows


def show_settings(*models: str | tuple, profile: Profile, seed: int = 0,
                  num_classes: int = 10, in_length: int = 1024,
                  distillation: tuple[float, float] | dict | DistillationConfig | None = None,
                  labels: Iterable[str] | None = None) -> pd.DataFrame:
    """Every setting in effect when the book trains each model in ``profile``: one column per model.

    ``models``: registry names, ``(name, model_kwargs)`` pairs (e.g. ``("drsn_cw", {"head_bins": 1})``) or
    ``(name, model_kwargs, distillation)`` for one distilled student beside other networks. The
    values are those of the estimator the model store builds (:func:`ramancmp.experiments.store.build_estimator`)
    and of the network the registry builds, so the table shows exactly what ran -- including the architecture
    defaults a builder fills in when ``model_kwargs`` is empty. ``distillation=(T, alpha)`` (or
    ``{"temperature": T, "alpha": alpha}``, as the distillation experiment reports its choice) adds a distilled
    student's temperature and weight.
    """
    if not models:
        raise ValueError("show_settings needs at least one model")
    specs = [(m, None, distillation) if isinstance(m, str)
             else (m[0], m[1], m[2] if len(m) > 2 else distillation) for m in models]
    names = list(labels) if labels is not None else [
        name + (f" {kwargs}" if kwargs else "") for name, kwargs, _ in specs]
    if len(names) != len(specs):
        raise ValueError(f"{len(names)} labels for {len(specs)} models")
    columns = {label: _settings(name, kwargs, profile, seed, num_classes, in_length, dist)
               for label, (name, kwargs, dist) in zip(names, specs)}
    index = list(dict.fromkeys(key for col in columns.values() for key in col))
    table = pd.DataFrame({label: [_readable(col.get(key, "")) for key in index] for label, col in columns.items()},
                         index=pd.MultiIndex.from_tuples(index, names=["part", "setting"]))
    table["meaning"] = [SETTING_MEANINGS.get(setting, "") for _, setting in index]
    return table


def _readable(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ", ".join(map(str, value))
    return "-" if value is None else str(value)
