"""The timing protocol applied to table rows: every row of one run gets its cells, intervals and speed-ups over
the baselines of the same run (no timing values are asserted: only structure and consistency)."""

from __future__ import annotations

import numpy as np
import pytest

from ramancmp.config import PROFILES
from ramancmp.experiments.speed import describe_speedup, speed_frame, speedup_of, time_rows
from ramancmp.experiments.tables import Row, to_frame
from ramancmp.models import create_model


def test_time_rows_fills_cells_intervals_and_same_run_speedups():
    nets = {"base": create_model("cnn", 3, 256), "folded": create_model("drsn_folded", 3, 256, k=4,
                                                                         widths=(8, 8, 8), stem_stride=2,
                                                                         head_bins=1)}
    nets["base again"] = nets["base"]
    rows = [Row(model=n, baseline="base") for n in nets]
    X = np.random.default_rng(0).standard_normal((10, 256)).astype(np.float32)
    out = time_rows(rows, nets, profile=PROFILES["tiny"], inputs=X)
    assert out["1"]["info"]["flush_denormal"] is True and "Timing protocol" in out["note"]
    for r in rows:
        assert r.timing.cell_keys() == [("1", rt, b) for rt in ("torch", "onnxruntime") for b in (1, 256)]
        assert r.latency_b1_ci[0] <= r.latency_b1_ms <= r.latency_b1_ci[1] and r.throughput_b256 > 0
    again = rows[2]
    s = again.speedup_over("base", "1", "onnxruntime", 256)
    assert s == speedup_of(again, "base", "1/onnxruntime/256") and again.cell("1", "onnxruntime", 256).median_ms > 0
    assert s.lo <= s.pct <= s.hi and again.speedup_pct == speedup_of(again, "base").pct
    assert speedup_of(rows[0], "base") is None and rows[0].speedup_pct == 0.0
    frame = speed_frame(rows)
    assert len(frame) == 12 and "[" in frame["µs per spectrum"].iloc[0]
    assert "[" in to_frame(rows)["latency, batch 1 (ms)"].iloc[0]  # the table shows the interval
    with pytest.raises(ValueError, match="same run"):
        time_rows(rows, {"folded": nets["folded"]}, baselines=["base"], profile=PROFILES["tiny"], inputs=X)


def test_describe_speedup_never_contradicts_its_interval():
    assert describe_speedup({"pct": 20.0, "lo": 15.0, "hi": 25.0}).startswith("20.0 % faster")
    assert describe_speedup({"pct": -5.0, "lo": -8.0, "hi": -2.0}).startswith("5.0 % slower [2.0, 8.0]")
    assert describe_speedup({"pct": 3.0, "lo": -1.0, "hi": 6.0}).startswith("no faster or slower within noise")
    assert describe_speedup(None) == "not timed"


def test_export_attempts_are_silenced_at_the_file_descriptor_level(capfd):
    """The TorchScript exporter's C++ side prints its IR graph straight to fd 1 when it fails; none of it may reach
    the notebook, while what was printed before and after is kept."""
    import os

    from ramancmp.experiments.speed import _silenced_output

    print("before", flush=True)
    with _silenced_output():
        os.write(1, b"Torch IR graph at exception: ...\n")
        os.write(2, b"C++ warning\n")
        print("python-level print")
    print("after", flush=True)
    out, err = capfd.readouterr()
    assert "before" in out and "after" in out
    assert "Torch IR" not in out and "python-level" not in out and "C++ warning" not in err
