"""The claims' rules fixed in code (issue 19): one interval rule for tables and verdicts, the sign test beside every
paired comparison, primary (★) readings that are end to end and pinned here, "not comparable" for seconds, claim 1
in both halves, typed readings."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from ramancmp.config import DRSN, PROFILES, STUDENT, TEACHER
from ramancmp.experiments import claims
from ramancmp.experiments.tables import Row, interval, paired, stat, to_frame
from ramancmp.metrics.statistics import (
    BEYOND_NOISE,
    TOO_FEW_SPLITS,
    WITHIN_NOISE,
    corrected_interval,
    format_interval,
    paired_difference,
    sign_test,
)

RATIO = 0.314  # n_test / n_train of the book's by-sample splits


def _row(model, acc, *, group="model", seeds=None, **kw):
    seeds = list(range(len(acc))) if seeds is None else seeds
    return Row(model=model, group=group, accuracy=stat(acc), val_accuracy=stat(acc), seeds=seeds,
               test_train_ratio=RATIO, latency_b1_ms=kw.pop("latency", None), **kw)


def _rows(n=10):
    """A table of ``n`` splits: the main comparison's models, a distillation, a feature-extraction reading."""
    rng = np.random.default_rng(0)
    noise = lambda: rng.normal(0, 0.01, n)
    teacher = _row(TEACHER, 0.95 + noise(), fit_time_s=stat(40 + rng.normal(0, 2, n)))
    rows = [_row("lda", 0.80 + noise()), _row(STUDENT, 0.90 + noise()), teacher,
            _row(DRSN, 0.94 + noise(), latency=1.0, fit_time_s=stat(100 + rng.normal(0, 5, n))),
            _row(f"{STUDENT}_distilled", 0.93 + noise(), group="distillation", extra={"chosen": True},
                 fit_time_s=stat(30 + rng.normal(0, 2, n))),
            _row("drsn_features_full_lda", 0.92 + noise(), group="feature_extraction", latency=0.99,
                 extra={"role": "variant", "lda": {}, "bins": None, "reading": "full depth, LDA", "depth": 3},
                 fit_time_s=stat(3 + rng.normal(0, 0.2, n))),
            _row("drsn_features_full_slda", 0.94 + noise(), group="feature_extraction", latency=0.99,
                 extra={"role": "variant", "lda": {"solver": "lsqr", "shrinkage": "auto"}, "bins": None,
                        "reading": "full depth, shrinkage LDA", "depth": 3},
                 fit_time_s=stat(3 + rng.normal(0, 0.2, n)))]
    return [r.compare_to(rows[3]) if r.group == "feature_extraction" else r for r in rows]


# ---------------------------------------------------------------------------------------- the sign test
def test_sign_test_counts_splits_drops_ties_and_is_exact():
    s = sign_test([0.01] * 5)
    assert (s.wins, s.ties, s.losses) == (5, 0, 0) and s.p == pytest.approx(0.0625) and not s.can_reach
    s = sign_test([0.01, 0.0, -0.02, 0.03, 0.0, 0.01])
    assert (s.wins, s.ties, s.losses) == (3, 2, 1) and s.p == pytest.approx(0.625) and s.n == 4
    assert sign_test([0.01] * 6).can_reach and sign_test([0.01] * 6).p == pytest.approx(2 / 64)
    assert sign_test([0.0, 0.0]).p == 1.0  # nothing but ties: nothing to count
    assert sign_test([95.0, 96.0, 93.0], threshold=94.0).wins == 2  # against a claim's threshold


def test_a_near_constant_difference_is_not_called_certain():
    """One test spectrum better on every split: the t interval shrinks to a point and excludes 0; with 5 splits the
    sign test cannot reach 0.05 (0.0625 at best), so the call is "too few splits to call"; with 10 it can."""
    a5, b5 = np.full(5, 0.9 + 1 / 187), np.full(5, 0.9)
    d = paired_difference(a5, b5, RATIO)
    assert d.lo == pytest.approx(d.hi) and d.lo > 0 and not d.within_noise  # zero width, excludes 0
    assert (d.wins, d.ties, d.losses) == (5, 0, 0) and d.sign_p == pytest.approx(0.0625)
    assert d.call == TOO_FEW_SPLITS and not d.beyond_noise
    assert format_interval(d, signed=True).endswith("5/0/0 (sign p 0.0625) too few splits to call")
    d10 = paired_difference(np.full(10, 0.9 + 1 / 187), np.full(10, 0.9), RATIO)
    assert d10.call == BEYOND_NOISE and d10.sign_p == pytest.approx(2 / 1024)
    mixed = paired_difference(np.array([0.02] * 7 + [-0.001] * 3) + 0.9, np.full(10, 0.9), 0.0)
    assert not mixed.within_noise and mixed.sign_p >= 0.05 and mixed.call == WITHIN_NOISE  # splits disagree
    back = type(d).from_dict(json.loads(json.dumps(d.to_dict())))
    assert back == d and back.call == TOO_FEW_SPLITS


def test_table_cells_show_wins_ties_losses_beside_the_difference():
    base = _row("base", [0.90] * 5)
    r = _row("v", [0.90 + 1 / 187] * 5).compare_to(base)
    cell = to_frame([r])["Δ accuracy (points, 95 % CI)"][0]
    assert "5/0/0 (sign p 0.0625)" in cell and cell.endswith(TOO_FEW_SPLITS)


# ---------------------------------------------------------------------------------------- one interval rule
def test_the_interval_a_verdict_uses_is_the_one_the_table_prints():
    rows = _rows()
    judged = claims.judge_claims(rows)
    acc = next(c for c in judged if c.key == "feature_lda_accuracy" and c.primary)
    feat = next(r for r in rows if r.model == acc.at)
    frame = to_frame(rows).set_index("model")
    assert frame.loc[feat.model, "95 % CI (%)"] == f"[{acc.lo:.2f}, {acc.hi:.2f}]"  # same row, same numbers
    iv = interval(feat)
    assert (acc.lo, acc.hi) == (round(100 * iv.lo, 2), round(100 * iv.hi, 2))
    loss = next(c for c in judged if c.key == "distillation_loss")
    distilled, teacher = (next(r for r in rows if r.model == m) for m in (f"{STUDENT}_distilled", TEACHER))
    cell = to_frame([distilled.compare_to(teacher)])["Δ accuracy (points, 95 % CI)"][0]
    assert cell.startswith(f"{loss.ours:+.2f} [{loss.lo:+.2f}, {loss.hi:+.2f}]")
    p = paired(distilled, teacher)
    assert (loss.wins, loss.ties, loss.losses) != (None, None, None) and p.n == 10


def test_per_split_time_readings_use_the_corrected_t_not_a_bootstrap():
    rows = _rows()
    judged = claims.judge_claims(rows)
    drsn, feat = rows[3], rows[6]  # the shrinkage-LDA reading is the one fitted in the training-time reading
    pct = 100 * (1 - np.asarray(feat.fit_time_s.values) / np.asarray(drsn.fit_time_s.values))
    iv = corrected_interval(pct, RATIO)
    train = next(c for c in judged if c.reading.startswith("training/adaptation"))
    assert (train.ours, train.lo, train.hi) == tuple(round(v, 2) for v in (iv.mean, iv.lo, iv.hi))
    source = inspect.getsource(claims)
    assert "bootstrap" not in source and "percentile" not in source  # one interval rule: no second one


# ---------------------------------------------------------------------------------------- the verdict rule
def test_verdicts_need_the_interval_and_the_splits():
    c = claims.claim("feature_lda_accuracy")  # 94.48 %, tolerance 0.5
    reached = dict(ours=97.0, lo=96.0, hi=98.0)
    assert claims.judge(c, **reached) == claims.REACHED  # no splits (a timing): the interval alone
    assert claims.judge(c, **reached, sign=sign_test([97.0] * 5, 93.98)) == claims.TOO_FEW_SPLITS
    assert claims.judge(c, **reached, sign=sign_test([97.0] * 10, 93.98)) == claims.REACHED
    split_votes = sign_test([97.0] * 6 + [93.0] * 4, 93.98)  # 6 of 10 reach it: p = 0.75
    assert claims.judge(c, **reached, sign=split_votes) == claims.CONSISTENT
    short = sign_test([90.0] * 10, 93.98)
    assert claims.judge(c, 90.0, 89.0, 91.0, sign=short) == claims.NOT_REACHED
    assert claims.judge(c, 94.0, 92.0, 96.0, sign=short) == claims.CONSISTENT  # the interval reaches it


def test_seconds_are_not_comparable_and_shown_with_relative_readings():
    judged = [c for c in claims.judge_claims(_rows()) if c.key == "distillation_time"]
    assert judged and all(c.verdict == claims.NOT_COMPARABLE and c.beyond is None for c in judged)
    assert all(claims.decision_margin(c) is None and claims.rejudge(c) == claims.NOT_COMPARABLE for c in judged)
    units = {c.reading: c.unit for c in judged}
    assert units[claims.TRAINING_TOTAL] == "%" and "s" in units.values()  # relative and absolute side by side
    primary = next(c for c in judged if c.primary)
    assert primary.reading == claims.TRAINING_TOTAL and primary.ours > 0  # a student costs its teacher's training
    assert primary.paper_text == "-9680.9 s"


def test_claim_one_is_judged_in_both_halves():
    judged = [c for c in claims.judge_claims(_rows()) if c.key == "deep_vs_classical_gap"]
    readings = {c.reading for c in judged}
    assert readings == {claims.AS_STATED} | {f"{n} - {b}, test accuracy" for n in (TEACHER, DRSN)
                                             for b in ("lda", STUDENT)}
    vs_lda = next(c for c in judged if c.reading == f"{TEACHER} - lda, test accuracy")
    assert vs_lda.ours == pytest.approx(15.0, abs=2.0) and vs_lda.sign is not None and vs_lda.sign.n == 10


# ---------------------------------------------------------------------------------------- primary readings
def test_primary_readings_are_end_to_end_and_pinned():
    """Fixed before the results: changing which reading is primary must change this test."""
    assert {k: p.readings[0] for k, p in claims.PRIMARY.items()} == {
        "deep_vs_classical_gap": "as stated",
        "distillation_loss": "distilled - teacher, test accuracy",
        "distillation_gain": "distilled - student trained alone, test accuracy",
        "channel_conversion_speedup": "full-resolution DRSN, eager PyTorch, batch 1",
        "feature_lda_speedup": "prefix + LDA as one graph, eager PyTorch, batch 1",
        "feature_lda_accuracy": "full depth, LDA",
        "distillation_time": "training, teacher + student vs the teacher alone (% more time)",
    }
    assert set(claims.PRIMARY) == {c.key for c in claims.CLAIMS}
    assert all(p.reason for p in claims.PRIMARY.values())
    assert not any("classifier alone" in r for p in claims.PRIMARY.values() for r in p.readings)
    judged = claims.judge_claims(_rows())
    stars = [c for c in judged if c.primary]
    assert len(stars) == len({c.key for c in stars}) and all(c.reason for c in stars)
    assert all(not c.reason for c in judged if not c.primary)


# ---------------------------------------------------------------------------------------- typed readings
def test_claim_readings_are_typed_and_json_round_trips():
    judged = claims.judge_claims(_rows())
    assert all(isinstance(c, claims.ClaimReading) for c in judged)
    saved = json.loads(json.dumps([c.to_dict() for c in judged]))
    assert [claims.ClaimReading.from_dict(d) for d in saved] == judged
    c = next(c for c in judged if c.key == "feature_lda_accuracy")
    assert c.definition and c.margin == pytest.approx(claims.decision_margin(c), abs=0.01) and c.sign.n == 10
    with pytest.raises(TypeError):
        c["verdict"]
    old = claims.ClaimReading.from_dict({"key": "feature_lda_accuracy", "reading": "full depth, LDA", "closest": True,
                                         "why_closest": "why", "ours": 92.0, "lo": 90.0, "hi": 94.0,
                                         "verdict": "not reached"})
    assert old.primary and old.reason == "why" and old.sign is None
    assert claims.rejudge(old) == claims.CONSISTENT  # the interval reaches 93.98; no splits stored


def test_the_full_profile_pairs_every_model_of_the_main_comparison_on_at_least_ten_splits():
    full = PROFILES["full"]
    assert full.comparison_repeats >= 10 and full.classical_repeats <= full.comparison_repeats
