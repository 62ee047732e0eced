"""Post-training int8 quantisation: parity with the float model, really int8, float model untouched."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from _compression_data import CLASSES, LENGTH, network, synthetic_spectra

from ramancmp.compression.quantization import (
    QuantizedClassifier,
    is_quantized,
    quantize_int8,
)
from ramancmp.models import Shrinkage


@pytest.fixture(scope="module")
def data():
    X_cal, _ = synthetic_spectra(seed=0)
    X_test, _ = synthetic_spectra(n_per_class=15, seed=1)
    return X_cal, torch.from_numpy(X_test)


# EfficientNet at quarter width and depth: the same SE, SiLU and depthwise layers, a fraction of the run time
MODELS = {"cnn": {}, "drsn_cw": {}, "efficientnet_lite": {"width_mult": 0.25, "depth_mult": 0.25}}


@pytest.fixture(scope="module")
def quantized(data):
    """``name -> (float model, its state_dict before quantisation, int8 model)``, made once per module."""
    out = {}
    for name, kwargs in MODELS.items():
        model = network(name, **kwargs)
        before = copy.deepcopy(model.state_dict())
        out[name] = (model, before, quantize_int8(model, data[0]))
    return out


@pytest.mark.parametrize("name", list(MODELS))
def test_int8_matches_float(name, data, quantized):
    _, X_test = data
    model, before, q = quantized[name]
    assert isinstance(q, QuantizedClassifier) and is_quantized(q)
    assert q.report.n_quantized > 0 and q.report.quantized_modules
    with torch.no_grad():
        ref, out = model(X_test), q(X_test)
    assert out.shape == (len(X_test), CLASSES) and out.dtype == torch.float32
    scale = ref.abs().max().item()
    rel_rms = ((out - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt()).item()
    assert rel_rms <= 0.2, f"{name}: int8 logits deviate by {rel_rms:.1%} (RMS) from the float logits"
    # argmax agreement wherever the float model is not at a near-tie (untrained nets have many near-ties)
    top2 = ref.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1]) > 0.05 * scale
    assert clear.float().mean() >= 0.5, "test inputs too ambiguous to test agreement"
    agreement = (ref.argmax(1) == out.argmax(1))[clear].float().mean().item()
    assert agreement >= 0.95, f"{name}: int8 and float predictions agree on {agreement:.1%} only"
    # the float model is untouched: same weights, no fused/observed modules, same outputs
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert not is_quantized(model)
    with torch.no_grad():
        assert torch.equal(model(X_test), ref)


def test_int8_accepts_both_layouts_and_reports_float_islands(data, quantized):
    X_cal, X_test = data
    q = quantized["efficientnet_lite"][2]
    with torch.no_grad():
        assert torch.equal(q(X_test[:3]), q(X_test[:3].unsqueeze(1)))
    assert q.report.float_modules.get("SiLU", 0) > 0  # no int8 SiLU kernel: runs in float between int8 convs
    assert q.report.dequantize_ops > 0 and q.report.calibration_spectra == len(X_cal)


def test_keep_float_leaves_drsn_thresholds_in_float(data, quantized):
    X_cal, X_test = data
    model, _, full = quantized["drsn_cw"]
    partial = quantize_int8(model, X_cal, keep_float=[Shrinkage])
    assert partial.report.n_quantized < full.report.n_quantized
    assert "Linear" not in partial.report.quantized_modules or \
        partial.report.quantized_modules["Linear"] < full.report.quantized_modules["Linear"]
    assert partial.report.quantized_modules.get("Sigmoid", 0) == 0  # the threshold gates now run in float
    with torch.no_grad():
        ref, out = model(X_test), partial(X_test)
    assert ((out - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt()).item() <= 0.2


def test_invalid_inputs():
    model = network("cnn")
    with pytest.raises(ValueError, match="backend"):
        quantize_int8(model, np.zeros((4, LENGTH), np.float32), backend="tensorrt")
    with pytest.raises(ValueError, match="calibration_X"):
        quantize_int8(model, np.zeros((0, LENGTH), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        quantize_int8(model, np.full((2, LENGTH), np.nan, np.float32))
    with pytest.raises(ValueError, match="network"):
        quantize_int8(torch.nn.Linear(3, 3), np.zeros((2, 3), np.float32))
