"""A real training run must clearly beat chance on the book's main task (the quick profile's settings with the 8
epochs it had before it became a 2-epoch pipeline check)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ramancmp.config import PROFILES
from ramancmp.data.tasks import load_task
from ramancmp.experiments.evaluation import evaluate


@pytest.mark.slow
def test_quick_profile_cnn_beats_chance_on_unseen_samples(rruff_zip):
    ds = load_task("rruff-groups-10", source=rruff_zip)
    majority = np.bincount(ds.y).max() / len(ds.y)  # 0.27: always answering "carbonate"
    result = evaluate("cnn", ds, profile=replace(PROFILES["quick"], max_epochs=8, patience=3), repeats=1,
                      measure_speed=False, progress=False, reuse_checkpoints=False)
    accuracy = result.metrics["accuracy"].mean
    assert accuracy > max(0.6, 2 * majority), f"quick-profile CNN reached only {accuracy:.3f}"
    assert result.per_repeat[0]["n_test"] > 0 and result.split_kind == "sample"
