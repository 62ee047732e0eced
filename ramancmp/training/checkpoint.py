"""The checkpoint format: a network saved as weights + the recipe to rebuild it, never as a pickle.

Two files side by side: ``name.pt`` (the ``state_dict`` only, loaded with ``torch.load(weights_only=True)``: no
pickled code is executed) and ``name.json`` (builder name and keyword arguments, class names, preprocessing and
metrics), so a model is rebuilt from code (:func:`ramancmp.models.create_model`), not from a pickle.
"""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ramancmp.fileio import atomic_path, read_json, write_json_atomic
from ramancmp.models import create_model
from ramancmp.models.base import resolve_device

__all__ = ["CHECKPOINT_FORMAT", "checkpoint_paths", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "ramancmp-checkpoint/1"
#: Bounds on what a side-car may ask for before anything is allocated (the book's networks: 1,024 inputs, 10
#: classes, weights of a few MB): a hand-edited ``n_points = 200000000`` would otherwise allocate terabytes.
MAX_IN_LENGTH = 65_536
MAX_CLASSES = 10_000
MAX_WEIGHTS_BYTES = 2 * 2**30


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    if path.suffix in (".pt", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".pt"), path.with_name(path.name + ".json")


def save_checkpoint(path: str | Path, model: nn.Module, extra: dict[str, Any] | None = None) -> Path:
    """Write ``path.pt`` (state_dict) and ``path.json`` (how to rebuild it + ``extra``); return the ``.pt`` path.

    ``model`` must come from :func:`ramancmp.models.create_model` (it carries ``default_cfg``). Put the class names,
    the preprocessing config and metrics in ``extra``. Both files are written atomically, the JSON last.
    """
    cfg = getattr(model, "default_cfg", None)
    if not cfg or "name" not in cfg:
        raise ValueError("model has no default_cfg; build it with ramancmp.models.create_model to checkpoint it")
    pt_path, json_path = checkpoint_paths(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(pt_path) as tmp:
        torch.save(state, tmp)
    info = {"format": CHECKPOINT_FORMAT, "model": copy.deepcopy(cfg), "weights": pt_path.name,
            "torch_version": torch.__version__, **(extra or {})}
    write_json_atomic(json_path, info)
    return pt_path


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved by :func:`save_checkpoint` and load its weights (``weights_only=True``), in eval mode.

    Returns ``(model, info)`` where ``info`` is the JSON side-car (model config, class names, preprocess, metrics).
    """
    pt_path, json_path = checkpoint_paths(path)
    for p in (json_path, pt_path):
        if not p.exists():
            raise FileNotFoundError(f"checkpoint file {p} not found (expected {pt_path.name} + {json_path.name})")
        if not p.is_file():  # a FIFO would block torch.load / read_json forever
            raise ValueError(f"checkpoint file {p} is not a regular file (a folder, device, FIFO or socket)")
    if pt_path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise ValueError(f"checkpoint weights {pt_path} are {pt_path.stat().st_size:,} bytes, more than "
                         f"{MAX_WEIGHTS_BYTES:,}; not a checkpoint of this project")
    info = read_json(json_path, "checkpoint side-car", allow_nan=False)
    if not isinstance(info, dict) or info.get("format") != CHECKPOINT_FORMAT or not isinstance(info.get("model"), dict):
        fmt = info.get("format") if isinstance(info, dict) else None
        raise ValueError(f"{json_path} is not a ramancmp checkpoint (format {fmt!r})")
    _check_sidecar(info, json_path)
    cfg = info["model"]
    try:
        model = create_model(cfg["name"], cfg["num_classes"], cfg["in_length"], **(cfg.get("kwargs") or {}))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # a hand-edited or foreign side-car
        what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0] if str(exc) else \
            type(exc).__name__
        raise ValueError(f"checkpoint side-car {json_path} does not describe a model this version can build "
                         f"({what}); delete it and retrain") from None
    try:
        state = torch.load(pt_path, map_location=resolve_device(device), weights_only=True)
        model.load_state_dict(state)
    except pickle.UnpicklingError:  # weights_only refused a pickled object: code, not weights; nothing was run
        raise ValueError(f"checkpoint weights {pt_path} cannot be loaded: the file holds pickled objects, not only "
                         "weights, and is refused unread (weights_only=True); do not use a checkpoint from an "
                         "untrusted source, retrain instead") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = " ".join(lines[:2])[:300] if lines else "truncated or corrupt"
        raise ValueError(f"checkpoint weights {pt_path} cannot be loaded ({type(exc).__name__}: {detail}); delete it "
                         "and retrain") from None
    bad = [k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"checkpoint weights {pt_path} hold NaN or infinite values ({', '.join(bad[:3])}"
                         f"{' ...' if len(bad) > 3 else ''}): a diverged or damaged training run; delete it and "
                         "retrain")
    return model.to(resolve_device(device)).eval(), info


def _bounded_int(value: Any, limit: int, what: str, json_path: Path) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise ValueError(f"checkpoint side-car {json_path}: {what} is {value!r:.40}, expected an integer from 1 to "
                         f"{limit:,}; delete it and retrain")


def _check_sidecar(info: dict[str, Any], json_path: Path) -> None:
    """Refuse side-car values that would allocate without bound (sizes, class counts) before the model is built."""
    cfg = info["model"]
    _bounded_int(cfg.get("in_length"), MAX_IN_LENGTH, "model.in_length", json_path)
    _bounded_int(cfg.get("num_classes"), MAX_CLASSES, "model.num_classes", json_path)
    pp = info.get("preprocess")
    if pp is not None and not isinstance(pp, dict):
        raise ValueError(f"checkpoint side-car {json_path}: preprocess is not an object; delete it and retrain")
    _bounded_int((pp or {}).get("n_points"), MAX_IN_LENGTH, "preprocess.n_points", json_path)
    names = info.get("class_names")
    if names is not None and (not isinstance(names, list) or len(names) > MAX_CLASSES):
        raise ValueError(f"checkpoint side-car {json_path}: class_names is not a list of at most {MAX_CLASSES:,} "
                         "names; delete it and retrain")
