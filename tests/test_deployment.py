"""Deployment variants of one trained network (float, int8, pruned + fine-tuned, ONNX Runtime), and the stored
fine-tunes: a pruned network is fine-tuned once, wherever it runs, and loaded afterwards."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _compression_data import network, synthetic_spectra

from ramancmp.experiments.deployment import (
    DeploymentVariant,
    FineTuneJob,
    _fine_tune,
    deployment_frame,
    deployment_rows,
    deployment_variants,
)
from ramancmp.experiments.executor import LocalExecutor
from ramancmp.fileio import jsonable
from ramancmp.metrics.statistics import Speedup
from ramancmp.training import TrainConfig

TUNE = TrainConfig(max_epochs=2, patience=1, lr=1e-3, batch_size=16, device="cpu", seed=0)


@pytest.fixture(scope="module")
def data():
    X, y = synthetic_spectra(n_per_class=12, seed=0)
    Xt, yt = synthetic_spectra(n_per_class=6, seed=1)
    return X, y, Xt, yt


def _variants(net, data, **kw):
    X, y, Xt, yt = data
    return deployment_variants(net, X[:32], Xt, yt, X_train=X, y_train=y, X_val=Xt[:8], y_val=yt[:8], ratios=(0.5,),
                               fine_tune=TUNE, onnx=False, latency_runs=3, throughput_runs=1, threads=1,
                               idle_wait_s=0.0, **kw)


def test_variants_rows_and_their_table_form(data):
    rows = _variants(network("cnn"), data)
    assert all(isinstance(r, DeploymentVariant) for r in rows)
    assert [r.variant for r in rows] == ["float", "int8", "pruned 50% + fine-tune"]
    float_row, int8_row, pruned = rows
    assert float_row.agreement == 1.0 and 0.0 <= int8_row.agreement <= 1.0
    assert int8_row.params == float_row.params and int8_row.size_kb < float_row.size_kb
    assert pruned.params < float_row.params and pruned.extra["fine_tuned"] and pruned.extra["fine_tune_s"] > 0
    assert float_row.speedup_b1 is None and isinstance(int8_row.speedup_b1, Speedup)
    assert int8_row.latency_b1_ci[0] <= int8_row.latency_b1_ms <= int8_row.latency_b1_ci[1]
    saved = json.loads(json.dumps(jsonable(rows)))  # the flat JSON layout, read back
    assert saved[1]["speedup_b1"] == int8_row.speedup_b1.to_dict() and "speedup_b1" not in saved[0]
    assert saved[1]["int8_layers"] == int8_row.extra["int8_layers"] and "extra" not in saved[1]
    assert [DeploymentVariant.from_dict(d) for d in saved] == rows and int8_row["agreement"] == int8_row.agreement
    assert list(deployment_frame(rows)["variant"]) == [r.variant for r in rows]
    table = deployment_rows(rows, peak_gflops=10.0)
    assert [r.model for r in table] == [f"cnn {r.variant}" for r in rows]
    assert table[0].accuracy.values == (float_row.accuracy,) and table[0].accuracy.sd is None
    assert [r.to_dict() for r in deployment_rows(saved, peak_gflops=10.0)] == [r.to_dict() for r in table]


def test_fine_tuned_pruned_weights_are_stored_and_loaded_not_trained_again(data, tmp_path):
    net = network("cnn")
    first = _variants(net, data, cache_dir=tmp_path)
    stored = list(tmp_path.glob("*pruned0.5-*.pt"))
    assert len(stored) == 1
    again = _variants(net, data, cache_dir=tmp_path)
    assert again[2].extra["fine_tune_s"] is None  # loaded
    assert again[2].accuracy == first[2].accuracy and again[2].params == first[2].params


@pytest.mark.slow  # starts two worker processes
def test_a_fine_tune_gives_the_same_weights_in_a_worker_process(data, tmp_path):
    X, y, Xt, yt = data
    net = network("drsn_cw")
    jobs = [FineTuneJob(net, 0.5, X.shape[1], X, y, Xt[:8], yt[:8], TUNE, tmp_path / f"{where}.pt")
            for where in ("here", "worker", "worker2")]
    _fine_tune(jobs[0])
    assert LocalExecutor(2).map(_fine_tune, jobs[1:]) == [j.path for j in jobs[1:]]  # two items: worker processes
    here = torch.load(jobs[0].path, weights_only=True)
    other = torch.load(jobs[1].path, weights_only=True)
    assert here.keys() == other.keys()
    assert all(torch.equal(here[k], other[k]) for k in here)
    assert np.isfinite(np.concatenate([v.numpy().ravel() for v in here.values() if v.is_floating_point()])).all()
