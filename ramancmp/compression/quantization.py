"""Post-training int8 quantisation of the book's networks (CPU), with a report of what was quantised.

Weights and activations are mapped to 8-bit integers with a scale and zero point per tensor (per output channel for
conv/linear weights), fixed once by *calibration*: a few hundred training spectra are run through the float network
with observers that record activation ranges. No retraining; the model shrinks ~4x in memory and, where the integer
kernels pay off, runs faster.

Which PyTorch API, and why (torch 2.13, CPU):

* **FX graph mode** (``torch.ao.quantization.quantize_fx.prepare_fx`` / ``convert_fx``) is what this module uses.
  It traces the network, fuses conv-BN(-ReLU) itself, quantises every op that has an int8 kernel (``Conv1d``,
  ``Linear``, ReLU, max/avg pooling, BatchNorm, ``add``) and *automatically* inserts dequantise/quantise pairs
  around those that have none -- EfficientNet's SiLU and sigmoid gates, the DRSN's soft thresholding
  (``sign``/``abs``), which therefore run in float between int8 convolutions. Nothing in the model code changes.
* Eager mode (``QuantStub``/``DeQuantStub`` + ``fuse_modules``) would need the models rewritten with stubs around
  every float island; ``quantize_dynamic`` quantises ``Linear`` layers only -- nearly nothing in a convolutional
  network. The PT2E flow (``prepare_pt2e``) has moved to ``torchao`` (not a dependency here), and
  ``torch.ao.quantization`` warns that it is deprecated in favour of torchao; it still works in 2.13, and the warning is
  silenced inside :func:`quantize_int8` only (the report records it).
* The networks' ``forward`` accepts ``(N, L)`` or ``(N, C, L)`` input, a branch on ``x.ndim`` that symbolic tracing
  cannot follow, so only the fixed-layout part (``forward_head(_features(x))`` on ``(N, C, L)``) is traced and
  :class:`QuantizedClassifier` keeps the input handling in eager Python.

Speed caveat, measured in chapter 9: on a tiny 1-D network at batch 1 each int8 op costs a quantise/dequantise and a
kernel launch, so int8 is often *not* faster there; with more than one thread, ``fbgemm``/``x86`` int8 kernels
open a parallel region for every op and on a busy (over-subscribed) machine each region can wait a scheduler
time-slice for its helper thread, making batch-1 latency tens of milliseconds. Measure with the thread count you
will deploy with.
"""

from __future__ import annotations

import copy
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ramancmp.metrics import as_torch_module
from ramancmp.models.base import SpectrumClassifier

__all__ = ["BACKENDS", "QuantizationReport", "QuantizedClassifier", "is_quantized", "quantize_int8"]

BACKENDS = ("x86", "fbgemm", "qnnpack", "onednn")
_NO_OPS = (nn.Identity, nn.Dropout, nn.Flatten)


class _Traceable(nn.Module):
    """``forward_head(_features(x))`` on ``(N, C, L)`` input: the part of a network FX can trace."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model._features(x))


@dataclass
class QuantizationReport:
    """What :func:`quantize_int8` did: which layers became int8 and where the graph drops back to float."""

    backend: str
    calibration_spectra: int
    quantized_modules: dict[str, int]  # layers running on int8 tensors, by type (e.g. "ConvReLU1d": 4)
    float_modules: dict[str, int]  # layers running in float (no int8 kernel, e.g. SiLU, Sigmoid; or keep_float)
    quantize_ops: int  # float -> int8 boundaries in the graph
    dequantize_ops: int  # int8 -> float boundaries (a float island follows each)
    float_ops: dict[str, int]  # functions/methods run in float inside the graph (sign, abs, mul, ...)
    keep_float: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_quantized(self) -> int:
        return int(sum(self.quantized_modules.values()))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"n_quantized": self.n_quantized}


def is_quantized(module: nn.Module) -> bool:
    """True when ``module`` (or one of its children) is an int8 module of ``torch.ao.nn.quantized``."""
    return any(_is_int8_module(m) for m in module.modules())


def _is_int8_module(m: nn.Module) -> bool:
    """An int8 layer (``LinearPackedParams`` is only the weight holder inside a quantised ``Linear``)."""
    return (type(m).__module__.startswith(("torch.ao.nn.quantized", "torch.ao.nn.intrinsic.quantized"))
            and type(m).__name__ not in ("LinearPackedParams", "Dropout"))


class QuantizedClassifier(nn.Module):
    """An int8 network with the float model's interface: ``(N, L)`` or ``(N, C, L)`` float input -> float logits.

    ``graph`` is the converted FX module; the int8 kernels it calls need ``torch.backends.quantized.engine`` to be
    the backend it was prepared for, which :meth:`forward` sets if something changed it since.
    """

    def __init__(self, graph: nn.Module, *, backend: str, in_channels: int, in_length: int, num_classes: int,
                 report: QuantizationReport, default_cfg: dict | None = None):
        super().__init__()
        self.graph = graph
        self.backend = backend
        self.in_channels, self.in_length, self.num_classes = in_channels, in_length, num_classes
        self.report = report
        self.default_cfg = dict(default_cfg or {})

    _as_input = SpectrumClassifier._as_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.backends.quantized.engine != self.backend:
            torch.backends.quantized.engine = self.backend
        with _quiet_determinism():
            return self.graph(self._as_input(x))

    def extra_repr(self) -> str:
        return f"backend={self.backend!r}, int8 modules={self.report.n_quantized}"


@contextmanager
def _quiet_determinism() -> Iterator[None]:
    """Silence "quantized_resize_cpu_ does not have a deterministic implementation" for the int8 call.

    :func:`ramancmp.training.seed_everything` turns on ``torch.use_deterministic_algorithms(warn_only=True)``; int8
    kernels resize their outputs with an op that is flagged (it has nothing random in it), and the warning would be
    printed on every call. Only the warn-only mode is lifted, and restored afterwards.
    """
    if not (torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()):
        yield
        return
    torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(True, warn_only=True)


def _qconfig_mapping(backend: str, model: nn.Module, keep_float: Iterable[type | str]):
    """The backend's default int8 mapping, with ``keep_float`` layers set to float (``None`` qconfig).

    Types are turned into module names: FX applies a per-type qconfig only to layers it calls as modules, not to
    custom modules it traces through (``Shrinkage``, ``MBConv``), while per-name settings cover every op inside.
    """
    from torch.ao.quantization import get_default_qconfig_mapping

    mapping = get_default_qconfig_mapping(backend)
    modules = dict(model.named_modules())
    for item in keep_float:
        if isinstance(item, str):
            if item not in modules:
                raise ValueError(f"keep_float: {type(model).__name__} has no module named {item!r}")
            names = [item]
        elif isinstance(item, type) and issubclass(item, nn.Module):
            names = [n for n, m in modules.items() if isinstance(m, item) and n]
            if not names:
                raise ValueError(f"keep_float: {type(model).__name__} has no {item.__name__} module")
        else:
            raise ValueError(f"keep_float entries must be module types or module names, got {item!r}")
        for name in names:
            mapping = mapping.set_module_name(f"model.{name}", None)
    return mapping


def _calibration_tensor(model: SpectrumClassifier, calibration_X: Any) -> torch.Tensor:
    X = torch.as_tensor(np.asarray(calibration_X, dtype=np.float32))
    if X.ndim not in (2, 3) or len(X) == 0:
        raise ValueError(f"calibration_X must be a non-empty (n, L) or (n, C, L) array, got shape {tuple(X.shape)}")
    if not torch.isfinite(X).all():
        raise ValueError("calibration_X contains NaN or infinite values")
    return model._as_input(X)


def _report(graph: nn.Module, example: torch.Tensor, backend: str, n_calib: int, keep_float: list[str],
            caught: list[str]) -> QuantizationReport:
    """Classify every computing leaf layer by the dtype it actually receives in one forward pass."""
    quantized, floating = Counter(), Counter()

    def hook(m: nn.Module, inputs: tuple, output: Any) -> None:
        x = inputs[0] if inputs else None
        target = quantized if (_is_int8_module(m) or (torch.is_tensor(x) and x.is_quantized)) else floating
        target[type(m).__name__] += 1

    leaves = [m for m in graph.modules() if (next(m.children(), None) is None or _is_int8_module(m))
              and type(m).__name__ != "LinearPackedParams" and not isinstance(m, _NO_OPS)
              and type(m).__name__ != "Dropout"]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.inference_mode(), _quiet_determinism():
            graph(example)
    finally:
        for h in handles:
            h.remove()
    ops = Counter()
    for node in graph.graph.nodes:
        if node.op in ("call_function", "call_method"):
            ops[node.target if isinstance(node.target, str)
                else getattr(node.target, "__name__", str(node.target))] += 1
    n_q = ops.pop("quantize_per_tensor", 0) + ops.pop("quantize_per_channel", 0)
    n_dq = ops.pop("dequantize", 0)
    return QuantizationReport(backend=backend, calibration_spectra=n_calib, quantized_modules=dict(quantized),
                              float_modules=dict(floating), quantize_ops=n_q, dequantize_ops=n_dq,
                              float_ops=dict(ops), keep_float=keep_float, warnings=caught)


def quantize_int8(model: nn.Module, calibration_X: Any, backend: str = "x86", *,
                  keep_float: Iterable[type | str] = (), batch_size: int = 256) -> QuantizedClassifier:
    """Post-training static int8 quantisation of a trained network; the float ``model`` is left untouched.

    Args:
        model: a trained network of :mod:`ramancmp.models` (or a :class:`~ramancmp.models.TorchClassifier`).
        calibration_X: training spectra ``(n, L)`` (a few hundred are plenty) whose activation ranges fix the
            int8 scales. Use training data only: calibrating on test spectra leaks them into the model.
        backend: the int8 kernel library, ``"x86"`` (default; fbgemm/oneDNN on x86 CPUs), ``"fbgemm"``,
            ``"onednn"`` or ``"qnnpack"`` (ARM). It also becomes ``torch.backends.quantized.engine``.
        keep_float: module types (e.g. ``ramancmp.models.Shrinkage``) or qualified module names (e.g.
            ``"features.0"``) to leave in float.
        batch_size: calibration batch size.

    Returns:
        a :class:`QuantizedClassifier` whose ``report`` (:class:`QuantizationReport`) says what was quantised.
    """
    net = as_torch_module(model)
    if not isinstance(net, SpectrumClassifier):
        raise ValueError(f"quantize_int8 needs a network of ramancmp.models, got {type(model).__name__}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if backend not in torch.backends.quantized.supported_engines:
        raise ValueError(f"this torch build has no {backend!r} int8 engine "
                         f"(available: {torch.backends.quantized.supported_engines})")
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    keep_float = list(keep_float)
    X = _calibration_tensor(net, calibration_X)
    float_copy = copy.deepcopy(net).cpu().eval()  # prepare_fx fuses in place: never touch the caller's model
    torch.backends.quantized.engine = backend
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepared = prepare_fx(_Traceable(float_copy).eval(), _qconfig_mapping(backend, float_copy, keep_float),
                              (X[:1],))
        with torch.inference_mode(), _quiet_determinism():
            for i in range(0, len(X), batch_size):
                prepared(X[i:i + batch_size])
        graph = convert_fx(prepared)
    messages = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught})
    report = _report(graph, X[:1], backend, len(X), [getattr(k, "__name__", str(k)) for k in keep_float], messages)
    if report.n_quantized == 0:
        raise ValueError(f"nothing in {type(net).__name__} was quantised (keep_float={keep_float!r})")
    return QuantizedClassifier(graph.eval(), backend=backend, in_channels=net.in_channels, in_length=net.in_length,
                               num_classes=net.num_classes, report=report,
                               default_cfg=getattr(net, "default_cfg", None)).eval()
