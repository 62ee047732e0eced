"""The model registry: every classifier in the book is created by name, like ``timm.create_model``.

Builders are functions ``builder(num_classes, in_length, **kwargs)`` decorated with :func:`register_model`. Networks
get ``default_cfg = {"name", "num_classes", "in_length", "kwargs"}`` attached, which is what checkpoints store to
rebuild them; scikit-learn builders return unfitted estimators (they learn the classes from the data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_REGISTRY: dict[str, Callable[..., Any]] = {}
_KINDS: dict[str, str] = {}


def register_model(name: str | None = None, *, kind: str = "torch") -> Callable:
    """Decorator: register ``fn`` under ``name`` (default: the function's name). ``kind`` is "torch" or "sklearn"."""
    if kind not in ("torch", "sklearn"):
        raise ValueError(f"kind must be 'torch' or 'sklearn', got {kind!r}")

    def decorator(fn: Callable) -> Callable:
        key = name or fn.__name__
        if key in _REGISTRY and _REGISTRY[key] is not fn:
            raise ValueError(f"a model named {key!r} is already registered")
        _REGISTRY[key] = fn
        _KINDS[key] = kind
        return fn

    return decorator


def list_models(kind: str | None = None) -> list[str]:
    """Registered model names, sorted; ``kind="torch"`` or ``"sklearn"`` filters."""
    return sorted(k for k in _REGISTRY if kind is None or _KINDS[k] == kind)


def model_kind(name: str) -> str:
    """``"torch"`` or ``"sklearn"``."""
    _check_name(name)
    return _KINDS[name]


def is_torch_model(name: str) -> bool:
    return model_kind(name) == "torch"


def _check_name(name: str) -> None:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available models: {', '.join(list_models())}")


def create_model(name: str, num_classes: int, in_length: int = 1024, **kwargs: Any) -> Any:
    """Build model ``name`` for ``num_classes`` classes and spectra of ``in_length`` points.

    Keyword arguments go to the builder (e.g. ``width_mult=0.5``, ``shrinkage="cs"``, ``in_channels=4``).
    """
    _check_name(name)
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if int(in_length) < 1:
        raise ValueError(f"in_length must be positive, got {in_length}")
    model = _REGISTRY[name](int(num_classes), int(in_length), **kwargs)
    if _KINDS[name] == "torch":
        model.default_cfg = {"name": name, "num_classes": int(num_classes), "in_length": int(in_length),
                             "kwargs": dict(kwargs)}
    return model
