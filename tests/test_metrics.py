"""Metrics: classification numbers checked by hand, FLOP counting cross-checked, timings checked for structure."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.dummy import DummyClassifier
from sklearn.metrics import balanced_accuracy_score
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from ramancmp.metrics import (
    aggregate,
    classification_metrics,
    count_flops,
    count_params,
    flop_counter_flops,
    format_mean_sd,
    gemm_peak_gflops,
    layer_table,
    measure_fit_time,
    sklearn_complexity,
)

# ----------------------------------------------------------------------------------------------- classification
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]


def test_classification_metrics_by_hand():
    m = classification_metrics(Y_TRUE, Y_PRED, class_names=["a", "b", "c"])
    # class a: TP 2, FN 1, FP 0, TN 3 | class b: TP 1, FN 1, FP 1, TN 3 | class c: TP 1, FN 0, FP 1, TN 4
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["a"] == {"sensitivity": pytest.approx(2 / 3), "specificity": 1.0, "support": 3}
    assert m["per_class"]["b"] == {"sensitivity": 0.5, "specificity": 0.75, "support": 2}
    assert m["per_class"]["c"] == {"sensitivity": 1.0, "specificity": pytest.approx(0.8), "support": 1}
    assert m["sensitivity"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    assert m["specificity"] == pytest.approx((1.0 + 0.75 + 0.8) / 3)
    assert m["sensitivity"] == pytest.approx(balanced_accuracy_score(Y_TRUE, Y_PRED))
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["n"] == 6


def test_classification_metrics_absent_class_is_undefined_not_zero():
    m = classification_metrics([0, 0, 1], [0, 1, 1], labels=[0, 1, 2])
    assert math.isnan(m["per_class"]["2"]["sensitivity"])
    assert m["per_class"]["2"]["specificity"] == 1.0
    assert m["sensitivity"] == pytest.approx((0.5 + 1.0) / 2)  # class 2 left out of the macro mean
    assert len(m["confusion_matrix"]) == 3


@pytest.mark.parametrize("y_true, y_pred, kwargs, match", [
    ([0, 1], [0], {}, "length"),
    ([], [], {}, "empty"),
    ([0, 1], [0, 3], {"labels": [0, 1]}, "not in labels"),
    ([0, 1], [0, 1], {"labels": [0, 1], "class_names": ["a"]}, "class names"),
])
def test_classification_metrics_rejects_bad_input(y_true, y_pred, kwargs, match):
    with pytest.raises(ValueError, match=match):
        classification_metrics(y_true, y_pred, **kwargs)


def test_aggregate_mean_sd_ddof1_and_format():
    runs = [{"accuracy": 0.9, "sensitivity": 0.8, "per_class": {}}, {"accuracy": 0.7, "sensitivity": 0.6}]
    agg = aggregate(runs)
    assert set(agg) == {"accuracy", "sensitivity"}  # non-scalars are not averaged
    assert agg["accuracy"].mean == pytest.approx(0.8)
    assert agg["accuracy"].sd == pytest.approx(math.sqrt(0.02))  # ddof=1: ((0.1^2 + 0.1^2) / 1) ** 0.5
    assert agg["accuracy"].values == (0.9, 0.7) and not hasattr(agg["accuracy"], "__getitem__")  # typed, not a dict
    assert format_mean_sd(agg["accuracy"]) == "0.800 ± 0.141"
    assert format_mean_sd(agg["accuracy"], scale=100, digits=1) == "80.0 ± 14.1"
    single = aggregate([{"accuracy": 0.5}])
    assert math.isnan(single["accuracy"].sd)
    assert format_mean_sd(single["accuracy"]) == "0.500"
    assert format_mean_sd(float("nan")) == "n/a"
    with pytest.raises(ValueError, match="missing"):
        aggregate([{"accuracy": 1.0}, {"sensitivity": 1.0}], metrics=["accuracy"])


# ----------------------------------------------------------------------------------------------- complexity
class ConvLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(1, 8, 7, padding=3)
        self.conv2 = nn.Conv1d(8, 16, 5, stride=2, padding=2, groups=2, bias=False)
        self.fc = nn.Linear(16 * 32, 5)

    def forward(self, x):
        x = self.conv2(self.conv1(x))
        return self.fc(x.flatten(1))


class WithSE(nn.Module):
    """Conv + SiLU + a squeeze-excitation style gate (Sigmoid), to exercise the custom rules."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.act = nn.SiLU()
        self.gate = nn.Sigmoid()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = self.act(self.conv(x))
        x = x * self.gate(x.mean(-1, keepdim=True))
        return self.fc(x.mean(-1))


def test_thop_macs_times_two_equals_flop_counter_for_conv_linear_model():
    model = ConvLinear()
    stats = count_flops(model, (1, 1, 64))
    # by hand: conv1 8*64*1*7, conv2 (groups 2) 16*32*(8/2)*5, fc 512*5 (biases not counted)
    expected_macs = 8 * 64 * 7 + 16 * 32 * 4 * 5 + 512 * 5
    assert stats["macs"] == stats["breakdown"]["conv_linear"] == expected_macs
    assert stats["flops"] == 2 * expected_macs
    assert flop_counter_flops(model, (1, 1, 64)) == stats["flops"]
    assert stats["params"] == count_params(model)["total"]


def test_count_flops_does_not_touch_the_model():
    model = WithSE()
    keys = set(model.state_dict())
    model.train()
    stats = count_flops(model, (2, 1, 32))
    assert set(model.state_dict()) == keys  # thop's total_ops/total_params buffers went to a copy
    assert not any(m._forward_hooks for m in model.modules())
    assert model.training
    # custom rules: SiLU 4 per element (2*4*32), Sigmoid 3 per element of its (2, 4, 1) input
    assert stats["by_type"]["SiLU"] == 4 * 2 * 4 * 32
    assert stats["by_type"]["Sigmoid"] == 3 * 2 * 4
    assert stats["breakdown"]["custom"] == 4 * 2 * 4 * 32 + 3 * 2 * 4


def test_count_params_trainable():
    model = ConvLinear()
    model.conv1.weight.requires_grad_(False)
    p = count_params(model)
    assert p["total"] == sum(x.numel() for x in model.parameters())
    assert p["trainable"] == p["total"] - model.conv1.weight.numel()


def test_layer_table_rows_and_totals():
    model = ConvLinear()
    table = layer_table(model, (1, 1, 64))
    assert list(table["layer"]) == ["conv1", "conv2", "fc"]
    assert table.loc[table.layer == "conv2", "output_shape"].item() == [1, 16, 32]
    assert table["params"].sum() == count_params(model)["total"]
    assert table["macs"].sum() == count_flops(model, (1, 1, 64))["macs"]
    assert table["flops_share"].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="depth"):
        layer_table(model, depth=0)


def test_sklearn_complexity_rules():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 20)), np.repeat([0, 1, 2], 10)
    lda = LinearDiscriminantAnalysis().fit(X, y)
    stats = sklearn_complexity(lda)
    assert stats["params"] == 3 * 20 + 3 and stats["macs"] == 3 * 20 + 3 and stats["flops"] == 2 * stats["macs"]
    knn = KNeighborsClassifier(1, metric="cosine", algorithm="brute").fit(X, y)
    assert count_params(knn)["total"] == 30 * 20
    assert count_flops(knn, (1, 1, 20))["flops"] == 2 * 30 * 20
    with pytest.raises(ValueError, match="no complexity rule"):
        sklearn_complexity(DummyClassifier().fit(X, y))


@pytest.mark.parametrize("name", ["cnn", "efficientnet_b0", "drsn_cw"])
def test_real_models_conv_part_matches_flop_counter(name):
    models = pytest.importorskip("ramancmp.models")
    if not hasattr(models, "create_model"):
        pytest.skip("ramancmp.models.create_model not available")
    model = models.create_model(name, num_classes=10)
    stats = count_flops(model)
    reference = flop_counter_flops(model)
    assert 2 * stats["breakdown"]["conv_linear"] == pytest.approx(reference, rel=0.01)
    assert stats["macs"] > stats["breakdown"]["conv_linear"]
    if name == "efficientnet_b0":
        assert stats["by_type"]["SqueezeExcitation"] > 0 and stats["by_type"]["SiLU"] > 0
    if name == "drsn_cw":
        assert stats["by_type"]["SoftThreshold"] > 0


# ----------------------------------------------------------------------------------------------- timing
def test_the_protocol_times_torch_sklearn_and_callables_alike():
    """One timing path (compare_speed) for a network, a scikit-learn model and a plain callable."""
    from ramancmp.metrics.timing import compare_speed

    rng = np.random.default_rng(0)
    lda = LinearDiscriminantAnalysis().fit(rng.normal(size=(30, 64)), np.repeat([0, 1, 2], 10))
    seen = []
    cmp = compare_speed({"net": ConvLinear(), "lda": lda, "fn": lambda x: seen.append(x.shape)}, length=64,
                        batches=(1, 4), rounds=3, min_sample_ms=0.0, warmup=1, exclusive=False)
    for name in ("net", "lda", "fn"):
        for batch in (1, 4):
            cell = cmp.cell(name, batch)
            assert cell.lo_ms <= cell.median_ms <= cell.hi_ms and len(cell.samples_ms) == 3
    assert set(seen) == {(1, 64), (4, 64)}
    with pytest.raises(ValueError, match="rounds"):
        compare_speed({"net": ConvLinear()}, length=64, rounds=0, exclusive=False)
    with pytest.raises(ValueError, match="cannot time"):
        compare_speed({"x": object()}, length=64, rounds=1, exclusive=False)


def test_gemm_peak_and_fit_time():
    peak = gemm_peak_gflops(n=128, runs=2)
    assert peak["gflops"] > 0 and peak["best_gflops"] >= peak["gflops"] and peak["n"] == 128
    assert peak["threads"] == torch.get_num_threads()
    result, seconds = measure_fit_time(lambda a, b: a + b, 1, b=2)
    assert result == 3 and seconds >= 0


def test_threads_option_is_applied_and_restored():
    from ramancmp.metrics.timing import compare_speed

    before = torch.get_num_threads()
    cmp = compare_speed({"net": ConvLinear()}, length=64, batches=(1,), rounds=2, min_sample_ms=0.0, warmup=0,
                        threads=1, exclusive=False)
    assert cmp.threads == 1 and torch.get_num_threads() == before
    assert gemm_peak_gflops(n=64, runs=1, threads=1)["threads"] == 1
    with pytest.raises(ValueError, match="threads"):
        compare_speed({"net": ConvLinear()}, length=64, rounds=1, threads=0, exclusive=False)
    assert torch.get_num_threads() == before


# ----------------------------------------------------------------------------------------------- the protocol
def test_compare_speed_interleaves_every_target_and_gives_intervals():
    from ramancmp.metrics.timing import compare_speed

    calls = []
    targets = {"a": lambda x: calls.append(("a", len(x))), "b": lambda x: calls.append(("b", len(x)))}
    cmp = compare_speed(targets, length=16, batches=(1, 4), rounds=4, min_sample_ms=0.0, warmup=1, threads=1,
                        exclusive=False)
    timed = calls[2 * 2:]  # after one warm-up call per (target, batch)
    cells = [("a", 1), ("a", 4), ("b", 1), ("b", 4)]
    rounds = [timed[4 * r:4 * r + 4] for r in range(4)]
    assert len(timed) == 16 and all(sorted(r) == cells for r in rounds)  # every cell exactly once per round
    assert len({tuple(r) for r in rounds}) > 1  # in an order drawn afresh each round, not A, B, A, B, ...
    calls.clear()
    compare_speed(targets, length=16, batches=(1, 4), rounds=4, min_sample_ms=0.0, warmup=1, threads=1,
                  exclusive=False)
    assert calls[2 * 2:] == timed  # the orders come from the seed: a rerun repeats them
    for name in targets:
        for b in (1, 4):
            c = cmp.cell(name, b)
            assert len(c.samples_ms) == 4 and c.lo_ms <= c.median_ms <= c.hi_ms
    r = cmp.ratio("b", "a", 4)
    assert r.lo <= r.ratio <= r.hi
    s = cmp.speedup("b", "a", 4)
    assert s.pct == pytest.approx(100 * (1 - r.ratio)) and s.lo <= s.pct <= s.hi
    assert cmp.info["flush_denormal"] is True and "samples_ms" not in str(cmp.summary())
    with pytest.raises(KeyError, match="no timing"):
        cmp.cell("c", 1)
    with pytest.raises(ValueError, match="nothing to time"):
        compare_speed({}, length=16)


def test_compare_speed_repeats_calls_to_reach_the_minimum_sample_time_and_respects_the_budget():
    from ramancmp.metrics.timing import compare_speed

    n = {"calls": 0}

    def tiny(x):
        n["calls"] += 1

    cmp = compare_speed({"t": tiny}, length=8, batches=(1,), rounds=50, min_sample_ms=1.0, warmup=0, threads=1,
                        exclusive=False, max_s=0.01)
    assert cmp.cell("t", 1).reps > 1  # a call far shorter than 1 ms is repeated within one sample
    assert 3 <= cmp.rounds < 50  # the budget cut the rounds, never below 3


def test_exclusive_phase_records_the_load_and_flushes_denormals():
    from ramancmp.metrics.timing import exclusive_phase

    tiny = torch.tensor([1e-40], dtype=torch.float32)
    with exclusive_phase(busy_threshold=float("inf")) as info:
        assert (tiny * 1.0).item() == 0.0  # denormal flushed to zero inside the phase
        assert set(info["busy"]) == {"other_cpus", "loadavg_1min", "cpus", "top"} and info["warning"] is None
        assert info["checks"] == 1  # below the threshold at once: no waiting
    assert (tiny * 1.0).item() != 0.0
    with pytest.warns(RuntimeWarning, match=r"NOT TRUSTWORTHY.*after waiting"):
        with exclusive_phase(busy_threshold=-1.0, max_wait_s=0.8) as info:
            pass
    assert info["waited_s"] >= 0.8 and info["checks"] >= 2  # it waited, re-checking, before warning


def test_machine_busy_names_the_process_that_keeps_a_cpu_busy():
    import subprocess
    import sys

    from ramancmp.metrics.timing import machine_busy

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy = machine_busy(interval=1.0, top=100)
    finally:
        spinner.kill()
        spinner.wait()
    assert any(f"({spinner.pid})" in entry for entry in busy["top"]), busy["top"]
    assert busy["other_cpus"] >= 0.3


def test_corrected_resampled_t_interval_follows_nadeau_bengio():
    from scipy import stats

    from ramancmp.metrics import corrected_interval, paired_bootstrap, paired_difference, unpaired_difference

    d = np.array([0.01, 0.03, -0.01, 0.02, 0.00])
    iv = corrected_interval(d, test_train_ratio=0.25)
    se = np.sqrt((1 / 5 + 0.25) * d.var(ddof=1))
    assert iv.se == pytest.approx(se) and iv.df == 4
    assert iv.hi - iv.mean == pytest.approx(stats.t.ppf(0.975, 4) * se)
    naive = corrected_interval(d)  # independent repeats: the plain t interval, narrower
    assert naive.hi - naive.lo < iv.hi - iv.lo
    assert corrected_interval([0.5]).lo is None  # one split: no interval
    p = paired_difference([0.9, 0.92, 0.95], [0.89, 0.93, 0.90], 0.2)
    assert p.within_noise and p.mean == pytest.approx(0.05 / 3)
    assert not paired_difference([0.9, 0.91, 0.92], [0.8, 0.8, 0.82]).within_noise
    with pytest.raises(ValueError, match="same splits"):
        paired_difference([0.9, 0.9], [0.9])
    boot = paired_bootstrap([0.9, 0.91, 0.95, 0.93], [0.89, 0.9, 0.9, 0.91])
    assert boot.lo <= boot.mean <= boot.hi
    u = unpaired_difference([0.9, 0.92, 0.91], [0.90, 0.91, 0.92], 0.25)
    assert u.within_noise and u.mean == pytest.approx(0.0, abs=1e-12)


def test_specificity_near_99_percent_is_what_ten_classes_give_any_usable_model():
    from ramancmp.metrics import specificity_floor

    assert specificity_floor(0.9, 10) == pytest.approx(1 - 0.1 / 9)
    y = np.repeat(np.arange(10), 10)
    pred = y.copy()
    pred[::10] = (pred[::10] + 1) % 10  # one error per class: 90 % accuracy
    m = classification_metrics(y, pred, labels=range(10))
    assert m["accuracy"] == pytest.approx(0.9) and m["specificity"] == pytest.approx(specificity_floor(0.9, 10))
    assert m["macro_f1"] == pytest.approx(0.9) and m["balanced_accuracy"] == pytest.approx(0.9)
