"""The one row schema and its renderers, the claims logic (the picking rule, verdicts), the README report and the
comparison plots -- everything chapter 10 and the README show is computed by these, so they are tested directly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ramancmp import plots
from ramancmp.config import DRSN as DRSN_NAME
from ramancmp.config import STUDENT, TEACHER
from ramancmp.experiments import claims, report
from ramancmp.experiments.tables import Row, paired, speedup, stat, to_frame, to_markdown, to_text

CNN, EFFNET, DRSN = STUDENT, TEACHER, DRSN_NAME


def row(model, acc, latency=None, group="model", val=None, **kw):
    """A row whose validation accuracy equals its test accuracy unless ``val`` says otherwise."""
    return Row(model=model, group=group, accuracy=stat(acc), val_accuracy=stat(acc if val is None else val),
               latency_b1_ms=latency, params=kw.pop("params", 1000), mflops=kw.pop("mflops", 1.0), **kw)


def book_rows():
    base = row(DRSN, [0.94, 0.96], 1.0)
    rows = [row("lda", [0.70, 0.72], 0.1), row(CNN, [0.90, 0.92], 0.5),
            row(EFFNET, [0.95, 0.97], 4.0, fit_time_s=stat([40.0, 50.0])), base,
            row(f"{CNN}_distilled", [0.93, 0.95], 0.5, group="distillation", extra={"chosen": True},
                fit_time_s=stat([30.0, 30.0])),
            row(f"{CNN}_distilled_other", [0.99, 0.99], 0.5, group="distillation", extra={"chosen": False}),
            row("slow but exact", [0.96, 0.96], 0.9, group="channel_conversion"),
            row("fast, 0.5 points less", [0.94, 0.95], 0.3, group="channel_conversion"),
            row("fastest, 5 points less", [0.89, 0.91], 0.1, group="channel_conversion"),
            row("features + LDA", [0.91, 0.93], 0.4, group="feature_extraction")]
    return [r.compare_to(base) if r.group in ("channel_conversion", "feature_extraction") else r for r in rows]


def test_stat_keeps_per_split_values_and_sd_only_with_several():
    s = stat([0.9, 0.8, 1.0])
    assert s.values == (0.9, 0.8, 1.0) and s.mean == pytest.approx(0.9) and s.sd == pytest.approx(0.1)
    assert stat([0.5]).sd is None and stat(None) is None and stat([]) is None


def test_row_compares_with_its_baseline_and_survives_json():
    base, r = row("base", [0.9, 0.9], 2.0), row("variant", [0.92, 0.94], 0.5)
    r.compare_to(base)
    assert r.baseline == "base" and r.speedup_pct == pytest.approx(75.0) == speedup(0.5, 2.0)
    assert r.accuracy_delta_points == pytest.approx(3.0)
    back = Row.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back == r
    assert Row.from_dict({"model": "m", "unknown_field": 3}).extra == {"unknown_field": 3}


def test_renderers_show_mean_sd_drop_empty_columns_and_align():
    rows = [row("a", [0.9, 0.8], 1.234), row("b | c", [0.5])]
    frame = to_frame(rows)
    assert list(frame["accuracy (%)"]) == ["85.00 ± 7.07", "50.00"]
    assert "random split (%)" not in frame.columns and "group" not in frame.columns  # empty / constant: dropped
    md = to_markdown(rows)
    assert md.splitlines()[0].startswith("| model | accuracy (%) |") and "b \\| c" in md
    text = to_text(rows).splitlines()
    assert len({len(line) for line in text}) == 1  # header, rule and rows align


def test_picking_rule_takes_the_fastest_within_one_point_else_the_most_accurate():
    rows = book_rows()
    base = next(r for r in rows if r.model == DRSN)
    conv = [r for r in rows if r.group == "channel_conversion"]
    assert claims.pick_fastest_within(conv, base).model == "fast, 0.5 points less"
    assert claims.pick_fastest_within(conv, base, points=0.1).model == "slow but exact"
    far = [row("x", [0.5], 0.1), row("y", [0.6], 0.2)]
    assert claims.pick_fastest_within(far, base).model == "y"  # none within: the most accurate
    with pytest.raises(ValueError, match="no timed"):
        claims.pick_fastest_within([row("untimed", [0.9])], base)


def test_picks_read_validation_accuracy_never_test_accuracy():
    base = row(DRSN, [0.95, 0.95], 1.0, val=[0.90, 0.90])
    # test says "fast" is 5 points worse, validation says it is as good: validation decides
    fast = row("fast", [0.90, 0.90], 0.2, group="channel_conversion", val=[0.90, 0.90])
    exact = row("exact", [0.95, 0.95], 0.9, group="channel_conversion", val=[0.80, 0.80])
    assert claims.pick_fastest_within([fast, exact], base).model == "fast"
    far = [row("x", [0.99], 0.1, val=[0.5]), row("y", [0.5], 0.2, val=[0.6])]
    assert claims.pick_fastest_within(far, base).model == "y"  # none within: the best on validation
    no_val = Row(model="no val", accuracy=stat([0.9]), latency_b1_ms=0.1)
    with pytest.raises(ValueError, match="validation accuracy"):
        claims.pick_fastest_within([no_val], base)
    assert claims.pick_best([row("a", [0.99], val=[0.7]), row("b", [0.7], val=[0.9])]).model == "b"


def test_paired_comparison_matches_splits_by_seed_and_says_within_noise():
    from ramancmp.experiments.tables import interval, paired

    a = row("a", [0.90, 0.92, 0.94], seeds=[0, 1, 2], test_train_ratio=0.25)
    b = row("b", [0.80, 0.91, 0.93, 0.99], seeds=[3, 0, 1, 2], test_train_ratio=0.25)
    d = paired(a, b)
    assert d.n == 3 and d.mean == pytest.approx((-0.01 - 0.01 - 0.05) / 3)  # seed 3 has no partner
    assert d.lo < 0 < d.hi and d.within_noise
    clear = paired(row("c", [0.95, 0.96, 0.97]), row("d", [0.80, 0.80, 0.82]))
    assert clear.lo > 0 and not clear.within_noise
    iv = interval(a)
    assert iv.lo < iv.mean < iv.hi and iv.mean == pytest.approx(0.92)
    assert paired(row("one", [0.9]), row("two", [0.8])).lo is None  # one split: no interval
    r = row("v", [0.91, 0.93, 0.95]).compare_to(row("base", [0.90, 0.92, 0.94]))
    assert "within noise" not in to_frame([r])["Δ accuracy (points, 95 % CI)"][0]  # +1 point on every split
    r = row("w", [0.91, 0.90, 0.95]).compare_to(row("base", [0.90, 0.92, 0.94]))
    assert to_frame([r])["Δ accuracy (points, 95 % CI)"][0].endswith("within noise")


def test_judge_claims_computes_every_claim_once_from_the_rows():
    judged = claims.judge_claims(book_rows())
    primary = {c.key: c for c in judged if c.primary}
    assert set(primary) == {c.key for c in claims.CLAIMS}  # one primary reading per claim
    gap = primary["deep_vs_classical_gap"]
    assert gap.ours == pytest.approx(96.0 - 91.0) and gap.at == f"{EFFNET} vs {CNN}"
    # 5 < 20 points on both splits: the interval says not reached, but no sign test on 2 splits can say so
    assert gap.interval_verdict == "not reached" and gap.verdict == claims.TOO_FEW_SPLITS
    assert (gap.wins, gap.ties, gap.losses, gap.sign_p) == (0, 0, 2, 0.5)
    halves = {c.reading: c for c in judged if c.key == "deep_vs_classical_gap" and not c.primary}
    assert set(halves) == {f"{n} - {b}, test accuracy" for n in (EFFNET, DRSN) for b in ("lda", CNN)}
    assert halves[f"{EFFNET} - lda, test accuracy"].ours == pytest.approx(96.0 - 71.0)
    dist = primary["distillation_loss"]
    assert dist.at == f"{CNN}_distilled" and dist.ours == pytest.approx(94.0 - 96.0)  # the chosen (T, alpha)
    assert dist.interval_verdict == "reached" and dist.verdict == claims.TOO_FEW_SPLITS  # -2.0 vs -2.07
    assert dist.beyond == pytest.approx(0.07)  # a smaller loss than the paper's: beyond it
    conv = next(c for c in judged if c.key == "channel_conversion_speedup" and c.reading.endswith("batch 1"))
    assert (conv.at == "fast, 0.5 points less" and conv.ours == pytest.approx(70.0)
            and conv.verdict == "reached" and conv.sign is None)  # a timing: no splits, no sign test
    assert primary["feature_lda_accuracy"].ours == pytest.approx(92.0)
    gain = primary["distillation_gain"]  # distilled - the CNN alone: +3 points, not the paper's +20
    assert gain.ours == pytest.approx(3.0) and gain.interval_verdict == "not reached"
    time = primary["distillation_time"]  # the pipeline teacher + student against the teacher alone
    assert time.reading == claims.TRAINING_TOTAL and time.unit == "%"
    assert time.ours == pytest.approx((30 / 40 + 30 / 50) / 2 * 100) and time.verdict == claims.NOT_COMPARABLE
    secs = next(c for c in judged if c.reading.startswith("training time per split"))
    assert secs.ours == pytest.approx(-15.0) and secs.verdict == claims.NOT_COMPARABLE and secs.beyond is None
    only = claims.judge_claims(book_rows(), keys=["feature_lda_speedup"])
    assert [c.key for c in only] == ["feature_lda_speedup"]
    assert claims.judge_claims([row("lda", [0.7])]) == []  # nothing to compare: no verdict is made up
    old_run = book_rows()
    for r in old_run:
        r.val_accuracy = None  # results of a run before validation accuracy was kept: nothing may be picked on test
    verdicts = {c.key: c.verdict for c in claims.judge_claims(old_run) if c.reading.startswith(("as stated", "book"))}
    assert verdicts["channel_conversion_speedup"] == verdicts["deep_vs_classical_gap"] == "not measured"


def test_readings_use_the_timing_protocol_cells_and_intervals():
    base = row(DRSN, [0.94, 0.96], 1.0)
    paper = row("paper", [0.94, 0.96], 4.0, group="channel_conversion", extra={"role": "paper baseline"})
    fold = row("paper fold", [0.94, 0.96], 2.0, group="channel_conversion", extra={"role": "paper variant"})
    fold.compare_to(paper)
    fold.timing = {"cells": {"1/torch/256": {"median_ms": 0.1, "lo_ms": 0.09, "hi_ms": 0.11}},
                   "speedup": {"paper": {"1/torch/256": {"pct": 58.0, "lo": 52.0, "hi": 63.0}}}}
    judged = claims.judge_claims([base, paper, fold], keys=["channel_conversion_speedup"])
    primary = [c for c in judged if c.primary]
    # the end-to-end reading is primary: one spectrum in, its class out, against the paper's own DRSN
    assert len(primary) == 1 and primary[0].reading == "full-resolution DRSN, eager PyTorch, batch 1"
    assert primary[0].ours == pytest.approx(50.0) and primary[0].lo is None  # plain latencies: no interval
    b256 = next(c for c in judged if c.reading == "full-resolution DRSN, eager PyTorch, batch 256")
    assert b256.ours == 58.0 and b256.lo == 52.0
    # 58 [52, 63]: the interval reaches 60, but its worse end is more than 5 points short of it
    assert b256.verdict == "consistent (within noise)"
    assert (b256.beyond, b256.beyond_lo, b256.beyond_hi) == (-2.0, -8.0, 3.0)


def test_verdict_tolerance_and_direction():
    c = next(c for c in claims.CLAIMS if c.key == "feature_lda_accuracy")
    assert claims.verdict(c, c.value + 0.4) == claims.verdict(c, c.value + 6.0) == "reached"  # one-sided
    assert claims.verdict(c, c.value - 0.4) == "reached"  # within the tolerance
    assert claims.verdict(c, c.value - 0.6) == "not reached"
    v = lambda lo, hi: claims.verdict_with_interval(c, (lo + hi) / 2, lo, hi)
    assert v(c.value - 0.4, c.value + 9) == "reached"  # even the worse end is within 0.5 points
    assert v(c.value - 3.0, c.value + 1) == "consistent (within noise)"  # the interval reaches it, its worse end not
    assert v(c.value - 3.0, c.value - 0.6) == "not reached"  # even the better end is more than 0.5 points short
    t = claims.claim("distillation_time")  # lower is better: a saving of 9,680.9 s, stored as -9680.9
    assert not t.higher_is_better and claims.beyond_paper(t, -10.0) == pytest.approx(-9670.9)
    assert claims.verdict_with_interval(t, -9700.0, -9710.0, -9690.0) == "reached"
    assert claims.verdict_with_interval(t, -10.0, -14.0, -6.0) == "not reached"
    entry = {"key": "channel_conversion_speedup", "ours": 68.6, "lo": 61.8, "hi": 70.6,
             "verdict": "reproduced (within noise)"}  # written by the earlier two-sided rule
    assert claims.rejudge(entry) == "reached"  # 61.8 is within 5 points of 60
    assert claims.rejudge({**entry, "verdict": "not reached (the fallback pick runs the whole network)"}) \
        == "not reached (the fallback pick runs the whole network)"  # not a verdict of the numbers: kept
    assert claims.rejudge({"key": "deep_vs_classical_gap", "ours": None, "verdict": "not measured"}) == "not measured"
    # how far from a change of verdict: reached by its worse end 61.8 - 55 = 6.8 points
    assert claims.decision_margin(entry) == pytest.approx(6.8)
    assert claims.decision_margin({**entry, "lo": 40.0, "hi": 50.0}) == pytest.approx(5.0)  # not reached: 55 - 50
    assert claims.decision_margin({**entry, "lo": 54.0, "hi": 58.0}) == pytest.approx(1.0)  # consistent: nearer end
    assert claims.decision_margin({**entry, "verdict": "not reached (the fallback pick runs the whole network)"}) \
        is None


def test_report_renders_the_readme_section_and_replaces_only_between_markers(tmp_path):
    rows = book_rows()
    rows[0] = row("lda", [0.70, 0.72, 0.71], 0.1, seeds=[0, 1, 2],  # a classical model: more repeats
                  accuracy_known_species=stat([0.8, 0.82, 0.81]), accuracy_new_species=stat([0.4, 0.5, 0.45]),
                  specificity=stat([0.96, 0.97, 0.965]))
    payload = {"name": "bench_all", "metrics": {"task": "t", "n_spectra": 10, "n_classes": 3, "repeats": 2,
                                                "threads": 1, "gemm": {"gflops": 50.0},
                                                "rows": [r.to_dict() for r in rows]},
               "provenance": {"profile": "full", "seed": 0, "git_commit": "abc", "created": "now",
                              "machine": {"processor": "cpu"}}}
    (tmp_path / "bench_all.json").write_text(json.dumps(payload))
    (tmp_path / "book_timings.json").write_text(json.dumps({"profile": "full", "cpu_count": 2,
                                                            "chapters": {"00_a": 10.0, "01_b": 50.0}}))
    section = report.readme_section(tmp_path)
    assert "| lda |" in section and "not reached" in section and "1.0 min" in section
    assert "over 3 (the cheap classical models) or 2 (networks" in section
    assert "* lda: known species 81.00 %" in section and "Macro specificity ranges" in section
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{report.START}\nold\n{report.END}\n\n## after\n")
    report.update_readme(readme, tmp_path)
    text = readme.read_text()
    assert text.startswith("# title") and text.endswith("## after\n") and "old" not in text and "| lda |" in text
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        report.update_readme(readme, tmp_path)
    with pytest.raises(FileNotFoundError, match="run the book first"):
        report.readme_section(tmp_path / "empty")


def test_pareto_front_joins_only_the_rows_nothing_beats():
    rows = book_rows()
    fig = plots.pareto_figure(rows)
    points, front = fig.data
    assert len(points.x) == len(rows)
    fastest_first = sorted(rows, key=lambda r: r.latency_b1_ms)
    best, expected = -np.inf, []
    for r in fastest_first:
        if r.mean() > best:
            expected.append(r.model)
            best = r.mean()
    assert list(front.x) == [next(r for r in rows if r.model == m).latency_b1_ms for m in expected]
    untimed = plots.pareto_figure([row("no latency", [0.9])] + rows[:2])
    assert len(untimed.data[0].x) == 2  # rows without a latency are left out, not plotted at 0


def test_deployment_figure_one_colour_per_network_and_a_pruning_curve():
    variants = [{"model": m, "variant": v, "prune_ratio": p, "accuracy": a, "mflops": 1.0, "latency_b1_ms": t,
                 "throughput_b256": 100.0, "params": 10}
                for m in ("cnn", "drsn") for v, p, a, t in (("float", 0.0, 0.9, 1.0), ("int8", 0.0, 0.88, 0.8),
                                                           ("pruned 50%", 0.5, 0.85, 0.5))]
    fig = plots.deployment_figure(variants)
    assert len(fig.data) == 4  # per network: the pruning curve and the markers
    curve = fig.data[0]
    assert list(curve.x) == [1.0, 0.5] and list(curve.y) == [90.0, 85.0]


def test_the_full_network_fallback_is_never_judged_a_speed_up():
    base = row(DRSN, [0.96, 0.96], 1.0)
    full = row("full + LDA", [0.96, 0.96], 0.05, group="feature_extraction", extra={"depth": 3, "bins": None,
                                                                                  "lda": {}})
    cut = row("cut + LDA", [0.80, 0.80], 0.01, group="feature_extraction", extra={"depth": 0, "bins": 8, "lda": {}})
    judged = claims.judge_claims([base, full.compare_to(base), cut.compare_to(base)], keys=["feature_lda_speedup"])
    assert judged and all(c.verdict.startswith("not reached (the fallback") for c in judged)
    assert "not a speed-up" in judged[0].at and judged[0].primary and judged[0].margin is None


def test_end_to_end_drops_rows_timed_without_their_feature_extraction():
    from ramancmp.experiments.tables import Row, end_to_end

    full = Row(model="drsn_features_full_slda", group="feature_extraction", extra={"role": "variant"})
    alone = Row(model="LDA alone on stored features (depth 3)", group="feature_extraction",
                extra={"role": "classifier alone"})
    model = Row(model="cnn")
    assert end_to_end([model, full, alone]) == [model, full]


def test_compare_runs_flags_every_reading_whose_verdict_changed(tmp_path):
    from ramancmp.cli import main

    def claim(key, reading, ours, verdict):
        return {"key": key, "reading": reading, "ours": ours, "lo": ours - 1, "hi": ours + 1, "verdict": verdict}

    first, second = tmp_path / "first", tmp_path / "second"
    for folder, value in ((first, 61.0), (second, 55.0)):
        folder.mkdir()
        (folder / "10_comparison.json").write_text(json.dumps({"name": "10_comparison", "metrics": {"claims": [
            claim("distillation_loss", "as stated", -0.1, "reproduced"),
            claim("channel_conversion_speedup", "batch 256", value, "beaten" if value > 60 else "not reached")]}}))
    rows, changed = report.compare_runs(first, first)
    assert changed == 0 and all(r["same"] for r in rows)
    text, changed = report.compare_runs_markdown(first, second)
    assert changed == 1
    # judged again by the current rule: 61 [60, 62] reaches 60; 55 [54, 56] reaches 55 only at its better end
    # moved 6 points; margins: 61 [60, 62] is 5 points above the threshold 55, 55 [54, 56] 1 point from it
    assert ("| channel_conversion_speedup | batch 256 | 61 [60, 62] reached | 55 [54, 56] consistent (within noise) "
            "| 6.00 | 1.00 | **NO** |") in text
    stored, _ = report.compare_runs_markdown(first, second, as_stored=True)
    assert "| 61 [60, 62] beaten | 55 [54, 56] not reached | 6.00 | 1.00 | **NO** |" in stored
    assert "1 of 2 readings keep their verdict; 1 changed." in text
    assert main(["report", "compare", str(first), str(second)]) == 1
    assert main(["report", "compare", str(first), str(first)]) == 0
    assert main(["report", "compare", str(first), str(tmp_path / "missing")]) == 2  # a clear error, no traceback


def test_compare_runs_judges_both_runs_by_one_rule_and_reads_older_results(tmp_path):
    """A change of the verdict rule is not a change of results: stored words of an older rule are judged again."""
    def write(folder, claims_):
        folder.mkdir()
        (folder / "10_comparison.json").write_text(json.dumps({"name": "x", "metrics": {"claims": claims_}}))

    write(tmp_path / "a", [{"key": "channel_conversion_speedup", "reading": "r", "ours": 70.6, "lo": 69.7,
                            "hi": 71.6, "verdict": "beaten"},
                           {"key": "distillation_loss", "ours": -0.1, "lo": None, "hi": None,  # no reading yet
                            "verdict": "reproduced"}])
    write(tmp_path / "b", [{"key": "channel_conversion_speedup", "reading": "r", "ours": 68.6, "lo": 61.8,
                            "hi": 70.6, "verdict": "reproduced (within noise)"},
                           {"key": "distillation_loss", "reading": "as stated", "ours": -0.1, "lo": -2.4,
                            "hi": 2.2, "verdict": "reproduced (within noise)"}])
    assert report.compare_runs(tmp_path / "a", tmp_path / "b", as_stored=True)[1] == 2
    rows, changed = report.compare_runs(tmp_path / "a", tmp_path / "b")
    assert changed == 0 and [r["after"] for r in rows] == ["68.6 [61.8, 70.6] reached", "-0.1 [-2.4, 2.2] reached"]
    assert rows[1]["before"] == "-0.1 reached"  # no interval stored: none shown
    write(tmp_path / "bad", [{"ours": 1.0}])
    with pytest.raises(ValueError, match="without 'key' and 'verdict'"):
        report.run_claims(tmp_path / "bad")


def test_rechoose_per_split_picks_on_validation_and_reports_the_picks_test_values():
    seeds = [0, 1, 2]
    default = row("bins 4", [0.90, 0.91, 0.92], val=[0.95, 0.90, 0.93], seeds=seeds, test_train_ratio=0.25)
    # better on validation only on split 1, where its TEST accuracy is worse: re-choosing must take it there anyway
    other = row("bins 1", [0.99, 0.80, 0.99], val=[0.94, 0.96, 0.93], seeds=seeds, test_train_ratio=0.25)
    chosen, picks = claims.rechoose_per_split({"bins 4": default, "bins 1": other}, "bins 4")
    assert picks == ["bins 4", "bins 1", "bins 4"]  # split 2 ties on validation: the default is kept
    assert chosen.accuracy.values == (0.90, 0.80, 0.92) and chosen.seeds == seeds
    assert chosen.val_accuracy.values == (0.95, 0.96, 0.93)
    diff = paired(chosen, default)
    assert diff.mean == pytest.approx(-0.11 / 3)
    with pytest.raises(ValueError, match="not among the candidates"):
        claims.rechoose_per_split({"bins 1": other}, "bins 4")
    with pytest.raises(ValueError, match="validation accuracy"):
        claims.rechoose_per_split({"bins 4": default, "x": Row(model="x", accuracy=stat([0.9]))}, "bins 4")
