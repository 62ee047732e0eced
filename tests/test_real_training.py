"""A real training run in the quick profile must clearly beat chance on the book's main task."""

from __future__ import annotations

import numpy as np

from ramancmp.config import PROFILES
from ramancmp.data.tasks import load_task
from ramancmp.experiments.evaluation import evaluate


def test_quick_profile_cnn_beats_chance_on_unseen_samples(rruff_zip):
    ds = load_task("rruff-groups-10", source=rruff_zip)
    majority = np.bincount(ds.y).max() / len(ds.y)  # 0.27: always answering "carbonate"
    result = evaluate("cnn", ds, profile=PROFILES["quick"], repeats=1, measure_speed=False, progress=False,
                      reuse_checkpoints=False)
    accuracy = result.metrics["accuracy"]["mean"]
    assert accuracy > max(0.6, 2 * majority), f"quick-profile CNN reached only {accuracy:.3f}"
    assert result.per_repeat[0]["n_test"] > 0 and result.split_kind == "sample"
