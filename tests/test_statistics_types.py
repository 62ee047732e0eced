"""The typed statistics (Stat, Interval, Speedup, TimingCell) and rows: JSON round trips, older layouts, and the
intervals the renderers show equal the statistics functions' results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ramancmp.experiments.results import load_rows
from ramancmp.experiments.tables import Row, Timing, interval, paired, to_text
from ramancmp.metrics.statistics import (
    Interval,
    Ratio,
    Speedup,
    Stat,
    TimingCell,
    corrected_interval,
    paired_bootstrap,
    paired_difference,
    unpaired_difference,
)

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _row(**kw):
    base = dict(model="m", accuracy=Stat.of([0.9, 0.8, 0.85, 0.95]), val_accuracy=Stat.of([0.88, 0.9, 0.86, 0.91]),
                seeds=[0, 1, 2, 3], test_train_ratio=0.25)
    return Row(**{**base, **kw})


def test_stat_of_and_its_json_layout():
    s = Stat.of([0.9, np.nan, 0.8])
    assert s.values == (0.9, 0.8) and s.n == 2 and s.mean == pytest.approx(0.85)
    assert s.sd == pytest.approx(np.std([0.9, 0.8], ddof=1))
    assert s.to_dict() == {"mean": s.mean, "sd": s.sd, "values": [0.9, 0.8]}
    assert Stat.of([0.7]).sd is None and Stat.of([]) is None and Stat.of(None) is None
    assert Stat.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_stat_from_older_layouts():
    assert Stat.from_dict({"mean": 0.5, "sd": None}) == Stat(0.5, None, ())  # no per-split values kept
    assert Stat.from_dict({"mean": 0.5, "std": 0.1, "values": [0.4, 0.6]}).sd == 0.1
    assert Stat.from_dict(0.75) == Stat(0.75, None, (0.75,))  # a bare number: one split
    assert Stat.from_dict([0.4, 0.6]) == Stat.of([0.4, 0.6])
    assert Stat.from_dict({"mean": None, "values": []}) is None  # nothing measured (feature readings)


def test_statistics_are_typed_not_dicts():
    """Issue 22: no string-key access of a statistic; fields are attributes."""
    s = Stat.of([0.9, 0.8])
    assert s.values == (0.9, 0.8) and s.to_dict()["values"] == [0.9, 0.8]
    for typed in (s, corrected_interval([0.9, 0.8]), Speedup(50.0, 40.0, 60.0), TimingCell(1.0, 0.9, 1.1)):
        with pytest.raises(TypeError):
            typed["mean"]
        assert not hasattr(typed, "get")


def test_interval_equals_corrected_interval_and_round_trips():
    row = _row()
    iv = interval(row)
    ref = corrected_interval(list(row.accuracy.values), 0.25)
    assert isinstance(iv, Interval)
    assert (iv.mean, iv.lo, iv.hi, iv.se, iv.df, iv.p, iv.n) == (ref.mean, max(ref.lo, 0.0), min(ref.hi, 1.0), ref.se,
                                                                ref.df, ref.p, ref.n)
    assert set(ref.to_dict()) == {"mean", "lo", "hi", "se", "df", "p", "n", "confidence"}
    assert Interval.from_dict(ref.to_dict()) == ref
    one = corrected_interval([0.5])
    assert one.lo is None and one.hi is None and one.within_noise and not one.has_interval


def test_differences_carry_within_noise_in_json():
    a, b = [0.9, 0.8, 0.85, 0.95], [0.7, 0.72, 0.69, 0.8]
    for d in (paired_difference(a, b, 0.25), unpaired_difference(a, b, 0.25), paired_bootstrap(a, b)):
        assert d.difference and not d.within_noise
        assert d.to_dict()["within_noise"] is False
        assert Interval.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    assert paired_difference(a, a).within_noise


def test_speedup_ratio_and_timing_cell():
    r = Ratio(0.8, 0.7, 0.9)
    assert r.speedup() == Speedup(pytest.approx(20.0), pytest.approx(10.0), pytest.approx(30.0))
    c = TimingCell(1.0, 0.9, 1.1, samples_ms=[1.0, 1.1], reps=3)
    assert c.to_dict() == {"median_ms": 1.0, "lo_ms": 0.9, "hi_ms": 1.1, "samples_ms": [1.0, 1.1], "reps": 3}
    assert c.without_samples().to_dict() == {"median_ms": 1.0, "lo_ms": 0.9, "hi_ms": 1.1}
    assert c.without_samples(keep_reps=True).reps == 3 and c.ci_ms == [0.9, 1.1]
    assert Speedup.from_dict({"pct": 5.0, "lo": 1.0, "hi": 9.0}) == Speedup(5.0, 1.0, 9.0)


def test_timing_reads_cells_and_the_older_nested_layout():
    flat = {"cells": {"1/torch/1": {"median_ms": 1.0, "lo_ms": 0.9, "hi_ms": 1.1}},
            "speedup": {"base": {"1/torch/1": {"pct": 10.0, "lo": 5.0, "hi": 15.0}}}, "rounds": {"1": 7}}
    t = Timing.from_dict(flat)
    assert t.cell() == TimingCell(1.0, 0.9, 1.1) and t.speedup_over("base") == Speedup(10.0, 5.0, 15.0)
    assert t.cell("1", "onnxruntime", 1) is None and t.cell_keys() == [("1", "torch", 1)]
    assert t.to_dict() == flat
    nested = {**flat, "cells": {"1": {"torch": {"1": {"median_ms": 1.0, "lo_ms": 0.9, "hi_ms": 1.1}}}}}
    assert Timing.from_dict(nested) == t


def test_row_takes_dicts_and_saves_plain_json():
    row = Row(model="m", accuracy={"mean": 0.9, "sd": None, "values": [0.9]},
              timing={"cells": {"1/torch/256": {"median_ms": 0.1, "lo_ms": 0.09, "hi_ms": 0.11}}})
    assert isinstance(row.accuracy, Stat) and isinstance(row.timing, Timing)
    assert row.cell(batch=256).median_ms == 0.1 and row.cell() is None and row.speedup_over("x") is None
    row.accuracy_delta = paired_difference([0.9, 0.8], [0.8, 0.7])
    d = json.loads(json.dumps(row.to_dict()))
    assert d["accuracy"] == {"mean": 0.9, "sd": None, "values": [0.9]}
    assert d["accuracy_delta"]["within_noise"] is row.accuracy_delta.within_noise
    back = Row.from_dict(d)
    assert back == row and back.to_dict() == d


def test_paired_is_an_interval_of_a_difference():
    a, b = _row(), _row(model="b", accuracy=Stat.of([0.8, 0.7, 0.8, 0.9]))
    d = paired(a, b)
    assert isinstance(d, Interval) and d.difference and d.lo >= -1 and d.hi <= 1
    assert a.compare_to(b).accuracy_delta == d


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.stem)
def test_every_committed_result_loads_and_round_trips(path, tmp_path):
    payload = json.loads(path.read_text())
    if not (payload.get("metrics") or {}).get("rows"):
        pytest.skip("no table rows")
    rows = load_rows([path.stem], directory=RESULTS)
    assert rows and all(isinstance(r, Row) for r in rows)
    assert all(r.accuracy is None or isinstance(r.accuracy, Stat) for r in rows)
    assert all(r.timing is None or isinstance(r.timing, Timing) for r in rows)
    for r, stored in zip(rows, payload["metrics"]["rows"]):
        saved = json.loads(json.dumps(r.to_dict()))
        assert Row.from_dict(saved) == r
        assert {k: v for k, v in saved.items() if k in stored} == {k: stored[k] for k in saved if k in stored}
    assert to_text(rows)


def test_claim_readings_are_typed_and_round_trip_through_json():
    from ramancmp.experiments.claims import ClaimReading, judge_claims, rejudge, to_frame

    rows = load_rows(["10_comparison"], directory=RESULTS)
    judged = judge_claims(rows)
    assert judged and all(isinstance(c, ClaimReading) for c in judged)
    saved = [json.loads(json.dumps(c.to_dict())) for c in judged]
    assert [ClaimReading.from_dict(d) for d in saved] == judged
    assert [rejudge(c) for c in judged] == [rejudge(d) for d in saved] == [c.verdict for c in judged]
    assert to_frame(judged).equals(to_frame(saved))
    c = judged[0]
    with pytest.raises(TypeError):
        c["verdict"]
    # the committed (older) entries still load: closest / why_closest become primary / reason
    stored = json.loads((RESULTS / "10_comparison.json").read_text())["metrics"]["claims"]
    old = [ClaimReading.from_dict(d) for d in stored]
    assert sum(e.primary for e in old) == sum(bool(d.get("closest", d.get("primary"))) for d in stored)
    assert not to_frame(old).empty
