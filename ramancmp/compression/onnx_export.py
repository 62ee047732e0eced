"""ONNX export and inference with ONNX Runtime: the network without PyTorch at prediction time.

An instrument vendor rarely ships PyTorch. ONNX is a framework-neutral graph format; ONNX Runtime executes it with
its own CPU kernels and graph optimisations (constant folding, conv + BN fusion, operator fusion). Exporting is also
a *check*: the exported graph must give the same logits as the PyTorch model, which the tests assert (max abs
difference <= 1e-4).

Exporter: ``torch.onnx.export(..., dynamo=True)`` (the default in torch 2.13; it needs ``onnxscript``). It captures
the network with ``torch.export`` and a symbolic batch dimension, so one file serves batch 1 and batch 256. The
legacy TorchScript exporter (``dynamo=False``) still works and is ~20x quicker to run, but is deprecated.

:class:`OnnxClassifier` has ``predict`` / ``predict_proba`` / ``predict_logits`` on numpy arrays, so the timing code
of :mod:`ramancmp.metrics.timing` measures it exactly like a scikit-learn model (``predict_fn=``). Its thread count
is fixed when the session is made (default: torch's, so both runtimes are timed on the same threads) and recorded.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ramancmp.metrics import as_torch_module

__all__ = ["OPSET", "OnnxClassifier", "export_onnx", "quantize_onnx"]

OPSET = 18  # >= 17; 18 is the dynamo exporter's native opset in torch 2.13


def export_onnx(model: nn.Module, path: str | Path, in_shape: tuple[int, ...] | None = None, *,
                opset: int = OPSET, dynamo: bool = True, dynamic_batch: bool = True) -> Path:
    """Export a network to ONNX with a dynamic batch dimension; returns the path of the ``.onnx`` file.

    Args:
        model: a network of :mod:`ramancmp.models` (or a :class:`~ramancmp.models.TorchClassifier`).
        path: output file (``.onnx`` is added if missing; folders are created).
        in_shape: the input shape of one example, ``(N, C, L)``; default ``(1, in_channels, in_length)``.
        opset: ONNX opset, >= 17.
        dynamo: use the ``torch.export``-based exporter (default) or the legacy TorchScript one.
        dynamic_batch: a symbolic batch dimension (default); ``False`` fixes every dimension to ``in_shape`` (the
            legacy exporter cannot give the folded DRSN's pooling a static length with a symbolic batch).

    The model's layout (``in_channels``, ``in_length``, ``num_classes``) is stored in the file's metadata so that
    :class:`OnnxClassifier` can fold ``(N, L)`` input the way the network did.
    """
    import onnx

    net = as_torch_module(model)
    if net is None:
        raise ValueError(f"export_onnx needs a torch network, got {type(model).__name__}")
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    in_channels = int(getattr(net, "in_channels", 1))
    in_length = int(getattr(net, "in_length", 1024))
    in_shape = tuple(in_shape or (1, in_channels, in_length))
    if len(in_shape) != 3:
        raise ValueError(f"in_shape must be (N, C, L), got {in_shape}")
    path = Path(path)
    if path.suffix != ".onnx":
        path = path.with_name(path.name + ".onnx")
    path.parent.mkdir(parents=True, exist_ok=True)
    net = net.cpu().eval()
    x = torch.randn(*in_shape, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():  # deprecation chatter from torch.export / TorchScript internals
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(net, (x,), str(path), dynamo=True, opset_version=opset, input_names=["spectra"],
                              output_names=["logits"],
                              dynamic_shapes={"x": {0: torch.export.Dim("batch")}} if dynamic_batch else None,
                              external_data=False, verbose=False)
        else:
            torch.onnx.export(net, (x,), str(path), dynamo=False, opset_version=opset, input_names=["spectra"],
                              output_names=["logits"],
                              dynamic_axes={"spectra": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch
                              else None)
    proto = onnx.load(str(path))
    meta = {"in_channels": in_channels, "in_length": in_length,
            "num_classes": int(getattr(net, "num_classes", 0)),
            "model": getattr(net, "default_cfg", {}).get("name", type(net).__name__)}
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=f"ramancmp.{key}", value=str(value))
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


class OnnxClassifier:
    """Run an exported network with ONNX Runtime on the CPU; numpy in, numpy out.

    ``threads`` sets ONNX Runtime's intra-op threads (default: ``torch.get_num_threads()``, so the two runtimes are
    compared on equal terms); ``classes`` maps output index to label for :meth:`predict` (default: the indices).
    """

    def __init__(self, path: str | Path, threads: int | None = None, classes: Any = None,
                 optimization: str = "all"):
        import onnxruntime as ort

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"ONNX file {path} not found; export it with export_onnx()")
        levels = {"none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                  "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                  "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                  "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
        if optimization not in levels:
            raise ValueError(f"optimization must be one of {sorted(levels)}, got {optimization!r}")
        self.path = path
        self.threads = int(threads or torch.get_num_threads())
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = levels[optimization]
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.in_channels = int(meta.get("ramancmp.in_channels", 1))
        self.in_length = int(meta.get("ramancmp.in_length", self.session.get_inputs()[0].shape[-1]))
        self.num_classes = int(meta.get("ramancmp.num_classes", self.session.get_outputs()[0].shape[-1]))
        self.input_name = self.session.get_inputs()[0].name
        self.classes_ = np.arange(self.num_classes) if classes is None else np.asarray(classes)

    def _as_input(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim == 2:
            if X.shape[1] != self.in_channels * self.in_length:
                raise ValueError(f"expected spectra of {self.in_channels * self.in_length} points, got {X.shape[1]}")
            X = X.reshape(len(X), self.in_channels, self.in_length)
        elif X.ndim == 3 and X.shape[1] == 1 and self.in_channels > 1:
            X = X.reshape(len(X), self.in_channels, -1)
        if X.ndim != 3 or X.shape[1:] != (self.in_channels, self.in_length):
            raise ValueError(f"expected (N, {self.in_channels * self.in_length}) or "
                             f"(N, {self.in_channels}, {self.in_length}) input, got {X.shape}")
        return np.ascontiguousarray(X)

    def predict_logits(self, X: Any) -> np.ndarray:
        return self.session.run(None, {self.input_name: self._as_input(X)})[0]

    def predict_proba(self, X: Any) -> np.ndarray:
        logits = self.predict_logits(X)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_logits(X).argmax(axis=1)]

    def __repr__(self) -> str:
        return f"OnnxClassifier({str(self.path)!r}, threads={self.threads})"


def quantize_onnx(path: str | Path, output: str | Path, calibration_X: Any, *, per_channel: bool = True) -> Path:
    """Static int8 quantisation of an exported model with ONNX Runtime (QDQ format, calibrated on ``calibration_X``).

    Quantize/DeQuantize pairs are inserted around conv and matmul weights and activations, with activation ranges
    from the calibration spectra (training data only); ONNX Runtime then fuses them into int8 kernels where it has
    them. Returns the path of the quantised file.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    reader_model = OnnxClassifier(path, threads=1)
    X = reader_model._as_input(calibration_X)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter([{reader_model.input_name: X[i:i + 64]} for i in range(0, len(X), 64)])

        def get_next(self) -> dict | None:
            return next(self._batches, None)

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    pre = output.with_name(output.stem + ".pre.onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # per-channel notes on rank-1 (batch-norm) weights, logged by ONNX Runtime
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quant_pre_process(str(path), str(pre), skip_symbolic_shape=True)
            quantize_static(str(pre), str(output), _Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
        pre.unlink(missing_ok=True)
    return output
