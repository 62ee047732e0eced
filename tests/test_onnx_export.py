"""ONNX export with a dynamic batch and ONNX Runtime inference: logits match torch within 1e-4."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _compression_data import CLASSES, LENGTH, network, synthetic_spectra

from ramancmp.compression.onnx_export import OnnxClassifier, export_onnx, quantize_onnx


# the legacy TorchScript exporter (the quick profile's) in the inner loop; torch.export's (the full profile's) is slow
@pytest.mark.parametrize("name, dynamo", [("cnn", False), pytest.param("cnn", True, marks=pytest.mark.slow),
                                          pytest.param("efficientnet_b0", True, marks=pytest.mark.slow),
                                          pytest.param("drsn_cw", True, marks=pytest.mark.slow)])
def test_onnx_matches_torch(name, dynamo, tmp_path):
    model = network(name)
    path = export_onnx(model, tmp_path / name, dynamo=dynamo)
    assert path.suffix == ".onnx" and path.exists()
    clf = OnnxClassifier(path, threads=1)
    assert clf.threads == 1 and (clf.in_channels, clf.in_length, clf.num_classes) == (1, LENGTH, CLASSES)
    X = synthetic_spectra(n_per_class=10, seed=2)[0][:37]
    for batch in (X[:1], X):  # batch 1 and batch 37 from one file: the batch dimension is dynamic
        with torch.no_grad():
            ref = model(torch.from_numpy(batch)).numpy()
        out = clf.predict_logits(batch)
        assert out.shape == ref.shape
        assert np.abs(out - ref).max() <= 1e-4
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert (clf.predict(X) == proba.argmax(1)).all()


def test_onnx_classifier_checks_input(tmp_path):
    clf = OnnxClassifier(export_onnx(network("cnn"), tmp_path / "cnn", dynamo=False))
    with pytest.raises(ValueError, match="points"):
        clf.predict(np.zeros((2, LENGTH + 1), np.float32))
    with pytest.raises(FileNotFoundError):
        OnnxClassifier(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="opset"):
        export_onnx(network("cnn"), tmp_path / "old", opset=13)


def test_quantized_onnx_agrees(tmp_path):
    model = network("cnn")
    path = export_onnx(model, tmp_path / "cnn", dynamo=False)
    X_cal = synthetic_spectra(seed=0)[0]
    qpath = quantize_onnx(path, tmp_path / "cnn.int8.onnx", X_cal)
    assert qpath.stat().st_size < path.stat().st_size
    X = synthetic_spectra(n_per_class=10, seed=2)[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(X)).numpy()
    out = OnnxClassifier(qpath).predict_logits(X)
    assert np.sqrt(((out - ref) ** 2).mean() / (ref ** 2).mean()) <= 0.2
