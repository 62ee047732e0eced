"""Chapter 12's package code: squashing, zero fill and the coverage mask, baseline correction, spike removal,
occlusion, the same-spectra variants of a task, the raw/processed pairs, and the validation-only pick rule."""

import numpy as np
import pytest
from test_tasks import write_spectrum

from ramancmp.data.preprocess import (
    PreprocessConfig,
    correct_baseline,
    coverage_mask,
    preprocess_spectrum,
    remove_spikes,
    squash,
)
from ramancmp.data.tasks import load_task, load_variants, raw_pairs, variant_name
from ramancmp.experiments import preprocessing_study as P
from ramancmp.experiments.claims import pick_preprocessing
from ramancmp.experiments.tables import Row
from ramancmp.metrics.attribution import class_occlusion, occlusion

from conftest import make_spectrum_arrays


# ------------------------------------------------------------------------------------------------ settings
def test_new_settings_keep_old_keys_and_validate():
    old = {"grid_start", "grid_stop", "n_points", "normalisation", "smoothing", "smoothing_polyorder",
           "coverage_tolerance", "max_gap", "min_nonnegative"}
    assert set(PreprocessConfig().to_dict()) == old  # existing caches and checkpoints keep their keys
    cfg = PreprocessConfig(squash="sqrt", outside="zero")
    assert cfg.to_dict()["squash"] == "sqrt" and PreprocessConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.key() != PreprocessConfig().key()
    with pytest.raises(ValueError, match="squash"):
        PreprocessConfig(squash="log")
    with pytest.raises(ValueError, match="outside"):
        PreprocessConfig(outside="extrapolate")


def test_squash_is_the_square_root_of_min_max():
    wn, inten = make_spectrum_arrays(n=400, start=100, stop=1300)
    plain = preprocess_spectrum((wn, inten))
    rooted = preprocess_spectrum((wn, inten), PreprocessConfig(squash="sqrt"))
    np.testing.assert_allclose(rooted, np.sqrt(plain), atol=1e-6)
    np.testing.assert_allclose(squash(np.array([-4.0, 0.0, 9.0])), [-2.0, 0.0, 3.0])
    assert squash(np.array([0.25]), None)[0] == 0.25


def test_zero_fill_keeps_a_short_spectrum_and_marks_what_was_measured():
    wn, inten = make_spectrum_arrays(n=400, start=140, stop=1300)
    wide = PreprocessConfig(grid_start=100, grid_stop=1500, n_points=1401)
    with pytest.raises(ValueError, match="not covering grid"):
        preprocess_spectrum((wn, inten), wide)
    x = preprocess_spectrum((wn, inten), PreprocessConfig(grid_start=100, grid_stop=1500, n_points=1401,
                                                          outside="zero"))
    mask = coverage_mask(wn, wide.grid)
    assert mask.sum() == np.sum((wide.grid >= 140) & (wide.grid <= 1300))
    assert np.all(x[~mask] == x[~mask][0]) and x[mask].max() == pytest.approx(1.0)
    # min-max maps the zeros to 0 only when the spectrum's minimum is >= 0: here the noise goes below 0
    assert x[~mask][0] >= 0
    with pytest.raises(ValueError, match="outside the grid"):
        preprocess_spectrum((wn + 2000, inten), PreprocessConfig(outside="zero"))


# ------------------------------------------------------------------------------------------- cleaning steps
def test_baseline_correction_recovers_a_known_spectrum():
    wn, true = make_spectrum_arrays(n=1000, start=150, stop=1300)
    background = 3000 * np.exp(-0.5 * ((wn - 900) / 600) ** 2) + 0.5 * (wn - 150)
    corrected, base = correct_baseline((wn, true + background), "arpls", lam=1e6)
    before = np.sqrt(np.mean(background ** 2)) / np.ptp(true)
    after = np.sqrt(np.mean((corrected - true) ** 2)) / np.ptp(true)
    assert after < 0.05 < before
    np.testing.assert_allclose(corrected + base, true + background)
    with pytest.raises(ValueError, match="unknown baseline method"):
        correct_baseline((wn, true), "magic")


def test_spikes_are_found_and_bands_are_left_alone():
    wn, y = make_spectrum_arrays(n=1000, start=150, stop=1300)
    spiked = y.copy()
    spiked[300] += 5000
    cleaned, mask = remove_spikes(spiked)
    assert mask[300] and mask.sum() <= 6
    assert abs(cleaned[300] - y[300]) < 100
    _, clean_mask = remove_spikes(y)
    assert not clean_mask[np.abs(wn - 1085) < 20].any()  # a real band (6 cm^-1 wide) is not a spike
    with pytest.raises(ValueError, match="length >= 4"):
        remove_spikes(np.array([1.0, 2.0]))


def test_benchmarks_measure_known_artefacts():
    rng = np.random.default_rng(0)
    grid = np.linspace(150, 1200, 512)
    X = np.stack([np.exp(-0.5 * ((grid - c) / 6) ** 2) for c in rng.uniform(300, 1100, 8)])
    base = P.baseline_benchmark(X, grid, n=4, heights=(2.0,), settings={"arPLS": ("arpls", {"lam": 1e5})})
    rmse = base[("relative RMSE", "mean")]
    assert rmse[("arPLS", 2.0)] < rmse[("no correction", 2.0)]
    spikes = P.spike_benchmark(X, n=4)
    assert (spikes[("relative RMSE after removal", "mean")].iloc[0]
            < spikes[("relative RMSE with spikes", "mean")].iloc[0])
    smooth = P.smoothing_benchmark(X, n=4, windows=(11,))
    assert smooth.loc["11", ("relative RMSE", "mean")] < smooth.loc["none", ("relative RMSE", "mean")]


# ----------------------------------------------------------------------------------------------- occlusion
def test_occlusion_finds_the_evidence():
    def proba(X):  # class 1's probability depends only on points 40-59
        s = 1 / (1 + np.exp(-10 * (X[:, 40:60].mean(axis=1) - 0.5)))
        return np.stack([1 - s, s], axis=1)

    X = np.ones((3, 128), dtype=np.float32)
    A = occlusion(proba, X, 1, window=8, stride=4)
    assert A.shape == (3, 128)
    assert A[:, 40:60].min() > 0 and np.abs(A[:, :30]).max() == 0 and np.abs(A[:, 70:]).max() == 0
    per_class = class_occlusion(proba, X, np.array([1, 1, 1]), 3, window=8, stride=4)
    assert np.isnan(per_class[0]).all() and np.isnan(per_class[2]).all()
    np.testing.assert_allclose(per_class[1], A[0])
    with pytest.raises(ValueError, match="stride"):
        occlusion(proba, X, 1, window=200)


# ---------------------------------------------------------------------------------------------- variants
def test_variants_keep_the_same_spectra_and_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("RAMANCMP_DATA_DIR", str(tmp_path / "cache-root"))
    src = tmp_path / "rruff"
    src.mkdir()
    for i, sp in enumerate(["Calcite", "Almandine", "Forsterite"]):
        for k in range(4):
            write_spectrum(src, sp, f"R{i:02d}{k % 2:04d}", 10 * i + k, lo=120.0, hi=1250.0)
    write_spectrum(src, "Calcite", "R990002", 99, processing="RAW", lo=90.0, hi=1300.0, scale=3.0)
    base = load_task("rruff-groups-10", source=src)
    wide = PreprocessConfig(grid_start=100, grid_stop=1500, n_points=1366, outside="zero")
    out = load_variants(base, {"default": base.preprocess, "sqrt": PreprocessConfig(squash="sqrt"), "wide": wide},
                        source=src)
    np.testing.assert_array_equal(out["default"].X, base.X)
    np.testing.assert_allclose(out["sqrt"].X, np.sqrt(base.X), atol=1e-6)
    assert out["wide"].X.shape == (len(base), 1366) and (out["wide"].y == base.y).all()
    assert out["wide"].task == variant_name(base.task, "wide") != base.task
    again = load_variants(base, {"wide": wide}, source=src)  # from the cache
    np.testing.assert_array_equal(again["wide"].X, out["wide"].X)
    with pytest.raises(ValueError, match="would not be paired"):
        load_variants(base, {"reject": PreprocessConfig(grid_start=100, grid_stop=1500)}, source=src, cache=False)
    pairs = raw_pairs(src)
    assert len(pairs) == 1 and pairs[0][0].processing == "RAW" and pairs[0][1] is None


# ------------------------------------------------------------------------------------------------- the pick
def _row(choice, model, test, val):
    return Row(model=choice, accuracy={"mean": np.mean(test), "sd": 0, "values": list(test)},
               val_accuracy={"mean": np.mean(val), "sd": 0, "values": list(val)}, seeds=list(range(len(test))),
               test_train_ratio=0.3, extra={"model": model})


def test_the_pick_reads_validation_only_and_keeps_the_default_within_noise():
    v0 = [0.90, 0.91, 0.92, 0.90, 0.91, 0.92, 0.90, 0.91, 0.92, 0.91]
    clearly = [v + 0.05 for v in v0]
    noisy = [v + d for v, d in zip(v0, [0.03, -0.03, 0.02, -0.02, 0.03, -0.03, 0.02, -0.02, 0.03, -0.02])]
    rows = [_row("default", "knn_cosine", v0, v0), _row("better on test only", "knn_cosine", clearly, v0),
            _row("noisy", "knn_cosine", v0, noisy)]
    assert pick_preprocessing(rows, "default").model == "default"
    rows.append(_row("better on validation", "knn_cosine", v0, clearly))
    assert pick_preprocessing(rows, "default").model == "better on validation"
    # ... unless the network loses more than the tolerance with it
    rows += [_row("default", "cnn", v0[:2], [0.9, 0.9]), _row("better on validation", "cnn", v0[:2], [0.8, 0.8])]
    assert pick_preprocessing(rows, "default").model == "default"
    with pytest.raises(ValueError, match="no knn_cosine row"):
        pick_preprocessing(rows, "absent")


def test_choices_change_one_setting_each():
    choices = P.preprocessing_choices()
    first, *others = choices.values()
    assert first == PreprocessConfig()
    for c in others:
        changed = {k for k, v in c.to_dict().items() if first.to_dict().get(k) != v} | (
            set(first.to_dict()) - set(c.to_dict()))
        assert changed and (len(changed) == 1 or changed <= {"grid_start", "grid_stop", "n_points", "outside"}), changed
    wide = [c for c in others if c.outside == "zero"]
    step = (first.grid_stop - first.grid_start) / (first.n_points - 1)
    assert wide and all(abs((c.grid_stop - c.grid_start) / (c.n_points - 1) - step) < 0.01 for c in wide)
