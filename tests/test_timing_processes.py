"""The timing protocol across processes: rounds spread over separate fresh interpreters (the same total budget), the
interval built over the per-process values, one process = the old path, targets saved and reloaded, and the report
that checks two results files' shared timing cells agree. No timing value is asserted (the machine is shared)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from ramancmp.config import PROFILES
from ramancmp.experiments.report import timing_agreement, timing_agreement_text
from ramancmp.experiments.tables import Row, Speedup, Timing, TimingCell
from ramancmp.metrics.timing import _check_reloaded, _split, across_processes, compare_speed, load_target, save_target
from ramancmp.models import create_model

L = 64


class Scale:
    """A module-level callable target (picklable): times a small numpy product."""

    def __init__(self, k: float):
        self.w = np.full((L, 3), k, dtype=np.float32)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return X @ self.w


def _targets():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, L)).astype(np.float32)
    lda = LinearDiscriminantAnalysis().fit(X, np.arange(30) % 3)
    return {"cnn": create_model("cnn", 3, L).eval(), "lda": lda, "scale": Scale(2.0)}, X


@pytest.fixture(scope="module")
def spread():
    targets, X = _targets()
    return compare_speed(targets, length=L, batches=(1, 4), rounds=5, min_sample_ms=0.0, warmup=1, threads=1,
                         inputs=X, exclusive=False, processes=2)


def test_rounds_run_in_separate_fresh_processes_and_split_the_budget(spread):
    assert spread.processes == 2 and len(set(spread.pids)) == 2 and os.getpid() not in spread.pids
    assert spread.info["rounds_per_process"] == [3, 2] and spread.rounds == 5  # 5 rounds in all, not 5 per process
    assert spread.round_process == (0, 0, 0, 1, 1)
    for name in ("cnn", "lda", "scale"):
        for b in (1, 4):
            assert len(spread.cell(name, b).samples_ms) == 5 and len(spread.cell(name, b).process_ms) == 2
    summary = spread.summary()
    assert summary["processes"] == 2 and summary["pids"] == list(spread.pids)
    assert all(k in spread.info for k in ("process_wall_s", "process_run_s", "process_setup_s", "process_warmup_s"))


def test_intervals_are_built_from_the_per_process_values(spread):
    where = np.asarray(spread.round_process)
    for name in ("cnn", "lda"):
        c = spread.cell(name, 4)
        per = [np.median(np.asarray(c.samples_ms)[where == p]) for p in range(2)]
        assert c.process_ms == pytest.approx(per)
        assert (c.median_ms, c.lo_ms, c.hi_ms) == pytest.approx(across_processes(per))
        assert c.without_samples().process_ms == c.process_ms  # rows keep the per-process medians
    a, b = (np.asarray(spread.cell(n, 1).samples_ms) for n in ("lda", "cnn"))
    per_ratio = [np.median(a[where == p]) / np.median(b[where == p]) for p in range(2)]
    r = spread.ratio("lda", "cnn", 1)
    assert (r.ratio, r.lo, r.hi) == pytest.approx(across_processes(per_ratio))
    # the ratio's point is the ratio of the two cells' points (geometric means), and the speed-up follows it
    assert r.ratio == pytest.approx(spread.cell("lda", 1).median_ms / spread.cell("cnn", 1).median_ms)
    s = spread.speedup("lda", "cnn", 1)
    assert (s.pct, s.lo, s.hi) == pytest.approx((100 * (1 - r.ratio), 100 * (1 - r.hi), 100 * (1 - r.lo)))


def test_across_processes_is_a_t_interval_on_the_logs():
    v = [1.0, 1.2, 0.9]
    logs = np.log(v)
    half = stats.t.ppf(0.975, 2) * logs.std(ddof=1) / np.sqrt(3)
    assert across_processes(v) == pytest.approx((np.exp(logs.mean()), np.exp(logs.mean() - half),
                                                 np.exp(logs.mean() + half)))
    assert across_processes([2.0]) == (2.0, 2.0, 2.0) and across_processes([3.0, 3.0]) == (3.0, 3.0, 3.0)
    with pytest.raises(ValueError, match="positive"):
        across_processes([1.0, 0.0])


def test_one_process_is_the_old_in_process_path():
    calls = []
    targets = {"a": lambda x: calls.append(("a", len(x))), "b": lambda x: calls.append(("b", len(x)))}
    kwargs = dict(length=16, batches=(1, 4), rounds=4, min_sample_ms=0.0, warmup=1, threads=1, exclusive=False)
    old = compare_speed(targets, **kwargs)  # lambdas: they never leave this process
    order = list(calls)
    calls.clear()
    one = compare_speed(targets, processes=1, **kwargs)
    assert calls == order and one.processes == old.processes == 1 and one.pids == ()
    assert one.cell("a", 1).process_ms is None and one.info["processes"] == 1
    assert _split(41, 3) == [14, 14, 13] and _split(5, 5) == [1] * 5
    with pytest.raises(ValueError, match="at least one round per process"):
        compare_speed(targets, length=16, rounds=2, processes=3, exclusive=False)


def test_a_target_that_cannot_be_saved_says_so_before_any_process_starts():
    with pytest.raises(ValueError, match=r"cannot time 'f' in separate processes.*processes=1"):
        compare_speed({"f": lambda x: x}, length=16, batches=(1,), rounds=3, processes=3, exclusive=False)


def test_targets_are_saved_as_builder_and_weights_onnx_files_or_pickles(tmp_path):
    targets, X = _targets()
    x = torch.from_numpy(X[:4]).unsqueeze(1)
    net = targets["cnn"]
    path = save_target(net, tmp_path, "net")
    assert (tmp_path / "net_1.pt").exists()  # the state_dict, beside the builder's name and arguments
    assert torch.load(tmp_path / "net_1.pt", weights_only=True).keys() == net.state_dict().keys()
    again = load_target(path)
    assert again is not net and again.default_cfg == net.default_cfg and torch.equal(again(x), net(x))
    changed = create_model("cnn", 3, L).eval()
    changed.extra = torch.nn.ReLU()  # a layer no builder adds: pickled whole
    reloaded = load_target(save_target(changed, tmp_path, "changed"))
    assert not list(tmp_path.glob("changed_*.pt")) and torch.equal(reloaded(x), changed(x))
    lda = load_target(save_target(targets["lda"], tmp_path, "lda"))
    assert np.array_equal(lda.predict(X), targets["lda"].predict(X))


def test_onnx_sessions_travel_as_onnx_files(tmp_path):
    from ramancmp.compression.onnx_export import OnnxClassifier, export_onnx

    net = create_model("cnn", 3, 256).eval()  # a length the TorchScript exporter's pooling takes
    sess = OnnxClassifier(export_onnx(net, tmp_path / "m.onnx", dynamo=False), threads=1)
    (tmp_path / "saved").mkdir()
    fn = load_target(save_target(sess.predict_logits, tmp_path / "saved", "onnx"))
    assert (tmp_path / "saved" / "onnx_1.onnx").exists()
    X = np.random.default_rng(1).standard_normal((3, 256)).astype(np.float32)
    assert np.allclose(fn(X), sess.predict_logits(X)) and fn.__self__.threads == 1


def test_a_reloaded_target_that_computes_otherwise_is_refused():
    _check_reloaded("t", np.ones(3), np.ones(3) + 1e-7)  # within rounding: fine
    _check_reloaded("t", None, np.ones(3))  # not an array: nothing to compare
    with pytest.raises(RuntimeError, match="'t'.*other outputs"):
        _check_reloaded("t", np.ones(3), np.zeros(3))


def test_profiles_spread_the_full_timing_over_at_least_three_processes():
    assert PROFILES["full"].timing_processes >= 3
    assert PROFILES["quick"].timing_processes == PROFILES["tiny"].timing_processes == 1
    assert PROFILES["full"].timing["processes"] == PROFILES["full"].timing_processes
    assert PROFILES["full"].timing_with(processes=1)["processes"] == 1
    with pytest.raises(ValueError, match="unknown timing settings"):
        PROFILES["full"].timing_with(process=1)


# ---------------------------------------------------------------------------------------------- the report
def _results(path, cells, speedups):
    row = Row(model="net", baseline="base")
    row.timing = Timing({k: TimingCell(*v) for k, v in cells.items()},
                        {"base": {k: Speedup(*v) for k, v in speedups.items()}})
    other = Row(model="only here")
    other.timing = Timing({"1/torch/1": TimingCell(1.0, 0.9, 1.1)})
    rows = [row.to_dict()] + ([other.to_dict()] if "7" in path.name else [])
    path.write_text(json.dumps({"name": path.stem, "metrics": {"rows": rows}, "provenance": {}}))
    return path


def test_timing_agreement_counts_the_shared_cells_whose_intervals_overlap(tmp_path):
    a = _results(tmp_path / "07.json", {"1/torch/1": (1.0, 0.9, 1.1), "1/onnxruntime/1": (0.5, 0.45, 0.55)},
                 {"1/torch/1": (70.0, 68.0, 72.0)})
    b = _results(tmp_path / "10.json", {"1/torch/1": (1.05, 1.0, 1.2), "1/onnxruntime/1": (0.7, 0.6, 0.8),
                                        "1/torch/256": (0.1, 0.09, 0.11)}, {"1/torch/1": (66.0, 64.0, 67.5)})
    r = timing_agreement(a, b)
    assert r["shared"] == 3 and r["overlap"] == 1 and r["fraction"] == pytest.approx(1 / 3)  # "only here": one file
    assert r["by_runtime"] == {"torch": (1, 2), "onnxruntime": (0, 1)}
    assert {(d["what"], d["cell"]) for d in r["disjoint"]} == {("time", "1/onnxruntime/1"),
                                                              ("speed-up vs base", "1/torch/1")}
    text, fraction = timing_agreement_text(a, b)
    assert "1 of 3 shared timing cells (33.3 %)" in text and fraction == pytest.approx(1 / 3)
    cli = [sys.executable, "-m", "ramancmp", "report", "timing-agreement", str(a), str(b)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    assert subprocess.run(cli, capture_output=True, env=env).returncode == 1  # below 95 %
    same = subprocess.run(cli[:-1] + [str(a)], capture_output=True, text=True, env=env)
    assert same.returncode == 0 and "4 of 4" in same.stdout


@pytest.mark.slow
def test_time_rows_in_several_processes_fills_rows_with_intervals_over_processes():
    """The full profile's path: networks eager and in ONNX Runtime, each row's cells from two processes."""
    import dataclasses

    from ramancmp.experiments.speed import time_rows

    nets = {"base": create_model("cnn", 3, 256), "folded": create_model("drsn_folded", 3, 256, k=4, widths=(8, 8, 8),
                                                                         stem_stride=2, head_bins=1)}
    rows = [Row(model=n, baseline="base") for n in nets]
    X = np.random.default_rng(0).standard_normal((10, 256)).astype(np.float32)
    profile = dataclasses.replace(PROFILES["tiny"], timing_processes=2)
    out = time_rows(rows, nets, profile=profile, inputs=X)
    assert out["1"]["processes"] == 2 and len(set(out["1"]["pids"])) == 2
    for r in rows:
        assert r.timing.processes == {"1": 2} and r.timing.rounds == {"1": 3}
        assert r.timing.cell_keys() == [("1", rt, b) for rt in ("torch", "onnxruntime") for b in (1, 256)]
        assert all(len(r.timing.cells[k].process_ms) == 2 for k in r.timing.cells)
    s = rows[1].speedup_over("base", "1", "onnxruntime", 1)
    assert s.lo <= s.pct <= s.hi


def test_chapters_label_their_own_timings_and_chapter_10_is_the_timing_of_record():
    from ramancmp.book import Chapter

    own = Chapter("07_channel_conversion", profile="tiny", seed=0).timing_label.data
    record = Chapter("10_comparison", profile="tiny", seed=0).timing_label.data
    assert own == "*This chapter's timing; the timing of record is chapter 10's.*"
    assert "timing of record (chapter 10)" in record
