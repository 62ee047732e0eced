"""Preprocessing on synthetic spectra: grid, interpolation, coverage rule, smoothing, normalisations, config."""

from dataclasses import FrozenInstanceError
from types import SimpleNamespace

import numpy as np
import pytest

from ramancmp.data.preprocess import (
    DEFAULT_GRID,
    PreprocessConfig,
    make_grid,
    normalise,
    preprocess_many,
    preprocess_spectrum,
    resample,
    smooth,
)


def spectrum(wn, intensity, source="synthetic.txt"):
    return SimpleNamespace(wavenumber=np.asarray(wn, float), intensity=np.asarray(intensity, float), source=source)


def peaks(wn, centres=(300.0, 700.0, 1085.0)):
    return sum(np.exp(-0.5 * ((wn - c) / 6.0) ** 2) * (i + 1) for i, c in enumerate(centres)) + 0.05


def test_default_grid():
    assert DEFAULT_GRID.shape == (1024,) and DEFAULT_GRID.dtype == np.float64
    assert DEFAULT_GRID[0] == 150.0 and DEFAULT_GRID[-1] == 1200.0
    np.testing.assert_allclose(np.diff(DEFAULT_GRID), 1050.0 / 1023)


@pytest.mark.parametrize("args", [(1200.0, 150.0, 10), (150.0, 1200.0, 1), (150.0, np.inf, 10), (0.0, 1.0, 2.5)])
def test_make_grid_rejects_bad_arguments(args):
    with pytest.raises(ValueError, match="grid"):
        make_grid(*args)


def test_resample_is_exact_on_a_linear_function():
    rng = np.random.default_rng(0)
    wn = np.sort(rng.uniform(100.0, 1300.0, 900))
    out = resample((wn, 3.0 * wn - 7.0), DEFAULT_GRID)
    np.testing.assert_allclose(out, 3.0 * DEFAULT_GRID - 7.0, rtol=0, atol=1e-9)


def test_resample_rejects_unsorted_or_mismatched_input():
    with pytest.raises(ValueError, match="strictly increasing"):
        resample(([3.0, 2.0, 1.0], [1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="same length"):
        resample(([1.0, 2.0, 3.0], [1.0, 2.0]))
    with pytest.raises(ValueError, match="finite"):
        resample(([1.0, 2.0, 3.0], [1.0, np.nan, 2.0]))


def test_minmax_vector_area_and_none():
    X = np.vstack([peaks(DEFAULT_GRID), 5.0 * peaks(DEFAULT_GRID) - 2.0])
    mm = normalise(X, "minmax")
    np.testing.assert_allclose(mm.min(axis=1), 0.0)
    np.testing.assert_allclose(mm.max(axis=1), 1.0)
    np.testing.assert_allclose(mm[0], mm[1], atol=1e-12)  # invariant to offset and scale
    np.testing.assert_allclose(np.linalg.norm(normalise(X, "vector"), axis=1), 1.0)
    np.testing.assert_allclose(np.abs(normalise(X, "area")).sum(axis=1), 1.0)
    np.testing.assert_array_equal(normalise(X, "none"), X)
    with pytest.raises(ValueError, match="unknown normalisation"):
        normalise(X, "snv")


@pytest.mark.parametrize("method", ["minmax", "vector", "area"])
def test_constant_spectra_raise_instead_of_nan(method):
    X = np.vstack([peaks(DEFAULT_GRID), np.full(DEFAULT_GRID.size, 4.0), np.zeros(DEFAULT_GRID.size)])
    expected_rows = [1, 2] if method == "minmax" else [2]  # a constant non-zero row has a norm and an area
    with pytest.raises(ValueError, match=r"constant spectra .*rows \[" + ", ".join(map(str, expected_rows))):
        normalise(X, method)


def test_values_near_the_float64_limits_normalise_like_counts_not_as_constant():
    """max - min of +-1e308 overflows to inf, the norm of 1e-310 values underflows to 0: both were called "constant"."""
    np.testing.assert_allclose(normalise(np.array([[-1e308, 0.0, 1e308]])), [[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(normalise(np.array([[-1e308, 0.0, 1e308]]), "vector"), [[-0.5 ** 0.5, 0.0, 0.5 ** 0.5]])
    np.testing.assert_allclose(normalise(np.array([[3e-310, 1e-310]]), "area"), [[0.75, 0.25]], rtol=1e-6)
    wn = np.linspace(100.0, 1300.0, 3000)
    y = peaks(wn)
    y[1500] = -y.max()  # so that the values span -1.7e308 .. +1.7e308 once scaled
    for method in ("minmax", "vector", "area"):
        for smoothing in (None, 11):
            config = PreprocessConfig(normalisation=method, smoothing=smoothing)
            counts = preprocess_spectrum(spectrum(wn, y), config)
            for factor in (1.7e308 / y.max(), 1e-312):
                np.testing.assert_allclose(preprocess_spectrum(spectrum(wn, y * factor), config), counts,
                                           atol=1e-6, err_msg=f"{method} smoothing={smoothing} x{factor:g}")
            X, kept, _ = preprocess_many([spectrum(wn, y * (1.7e308 / y.max()))], config)
            assert kept.all()
            np.testing.assert_allclose(X[0], counts, atol=1e-6)
    with pytest.raises(ValueError, match=r"NaN or infinite values: rows \[1\]"):
        normalise(np.array([[1.0, 2.0], [1.0, np.inf]]))


def test_normalisation_none_refuses_values_beyond_float32():
    wn = np.linspace(100.0, 1300.0, 3000)
    config = PreprocessConfig(normalisation="none")
    with pytest.raises(ValueError, match=r"huge\.txt: out of range: intensities up to \d\.\d+e\+300 do not fit"):
        preprocess_spectrum(spectrum(wn, peaks(wn) * 1e300, "huge.txt"), config)
    X, kept, reasons = preprocess_many([spectrum(wn, peaks(wn) * 1e300), spectrum(wn, peaks(wn))], config)
    assert kept.tolist() == [False, True] and reasons[0].startswith("out of range") and np.isfinite(X).all()


def test_coverage_rule_tolerance_and_edge_values():
    config = PreprocessConfig()  # tolerance 5 cm^-1
    wn = np.linspace(154.0, 1196.0, 2000)
    out = preprocess_spectrum(spectrum(wn, wn), PreprocessConfig(normalisation="none"))
    assert out.dtype == np.float32 and out.shape == (1024,)
    assert out[0] == pytest.approx(154.0) and out[-1] == pytest.approx(1196.0)  # edge values repeated
    assert np.all(np.isfinite(preprocess_spectrum(spectrum(wn, peaks(wn)), config)))
    for lo, hi in [(160.0, 1300.0), (100.0, 1190.0)]:
        wn = np.linspace(lo, hi, 2000)
        with pytest.raises(ValueError, match=r"short\.txt: not covering grid"):
            preprocess_spectrum(spectrum(wn, peaks(wn), "short.txt"), config)
    with pytest.raises(ValueError, match="not covering grid"):
        preprocess_spectrum(spectrum(np.linspace(154.0, 1300.0, 99), np.ones(99)),
                            PreprocessConfig(coverage_tolerance=0.0))


def test_flat_spectrum_names_its_source():
    wn = np.linspace(100.0, 1300.0, 500)
    with pytest.raises(ValueError, match=r"flat\.txt: flat"):
        preprocess_spectrum(spectrum(wn, np.full(500, 3.0), "flat.txt"))


def test_smoothing_keeps_polynomials_and_reduces_noise():
    x = np.linspace(-1.0, 1.0, 300)
    quad = 2.0 * x**2 - x + 0.5
    np.testing.assert_allclose(smooth(quad, window=11, polyorder=3), quad, atol=1e-10)
    noisy = quad + np.random.default_rng(1).normal(0.0, 0.1, x.size)
    assert np.std(smooth(noisy, 21, 3) - quad) < 0.6 * np.std(noisy - quad)
    with pytest.raises(ValueError, match="odd"):
        smooth(quad, window=10)
    with pytest.raises(ValueError, match="polyorder"):
        smooth(quad, window=5, polyorder=5)


def test_config_round_trip_and_validation():
    config = PreprocessConfig(grid_start=200.0, grid_stop=1100.0, n_points=512, normalisation="vector",
                              smoothing=9, coverage_tolerance=2.0)
    assert PreprocessConfig.from_dict(config.to_dict()) == config
    assert config.key() == PreprocessConfig.from_dict(config.to_dict()).key() != PreprocessConfig().key()
    assert config.grid.shape == (512,)
    with pytest.raises(FrozenInstanceError):
        config.n_points = 10
    with pytest.raises(ValueError, match="unknown preprocessing settings"):
        PreprocessConfig.from_dict({**config.to_dict(), "baseline": "als"})
    with pytest.raises(ValueError, match="normalisation"):
        PreprocessConfig(normalisation="max")
    with pytest.raises(ValueError, match="odd"):
        PreprocessConfig(smoothing=8)
    with pytest.raises(ValueError, match="coverage_tolerance"):
        PreprocessConfig(coverage_tolerance=-1.0)


@pytest.mark.parametrize("config", [PreprocessConfig(), PreprocessConfig(normalisation="area", smoothing=11)])
def test_preprocess_many_matches_single_and_reports_drops(config):
    rng = np.random.default_rng(2)
    items = []
    for i in range(6):
        wn = np.sort(rng.uniform(120.0, 1250.0, 1500))
        items.append(spectrum(wn, peaks(wn) + rng.normal(0, 0.01, wn.size), f"ok{i}.txt"))
    wn = np.linspace(300.0, 1250.0, 800)
    items.insert(2, spectrum(wn, peaks(wn), "short.txt"))
    wn = np.linspace(100.0, 1300.0, 800)
    items.insert(4, spectrum(wn, np.zeros(800), "flat.txt"))
    X, kept, reasons = preprocess_many(items, config)
    assert kept.tolist() == [True, True, False, True, False, True, True, True]
    assert reasons[2].startswith("not covering grid") and reasons[4].startswith("flat")
    assert all(r is None for r, k in zip(reasons, kept) if k)
    assert X.dtype == np.float32 and X.shape == (6, config.n_points) and np.all(np.isfinite(X))
    single = np.vstack([preprocess_spectrum(s, config) for s, k in zip(items, kept) if k])
    np.testing.assert_allclose(X, single, rtol=1e-6, atol=1e-7)


def test_preprocess_many_with_nothing_usable():
    wn = np.linspace(500.0, 900.0, 50)
    X, kept, reasons = preprocess_many([spectrum(wn, wn)], PreprocessConfig())
    assert X.shape == (0, 1024) and not kept.any() and reasons[0].startswith("not covering grid")


@pytest.mark.parametrize("case, match", [
    ("gap", r"no measured point between 299\.\d and 1100\.\d cm\^-1"),
    ("ten points", r"a gap of 1\d\d\.\d cm\^-1, more than max_gap 20"),
    ("all negative", r"mostly negative: 100% of the points on the grid are below zero"),
])
def test_degenerate_spectra_are_rejected_with_the_reason(case, match):
    """Ends covered but holes inside, a few points spread over the grid, or an inverted spectrum: never resampled
    into a confident-looking input (each would be a silent wrong answer)."""
    wn = np.linspace(100.0, 1300.0, 2400)
    inten = 1.0 + np.exp(-0.5 * ((wn - 700.0) / 8.0) ** 2)
    if case == "gap":
        keep = (wn <= 300.0) | (wn >= 1100.0)
        wn, inten = wn[keep], inten[keep]
    elif case == "ten points":
        wn, inten = np.linspace(150.0, 1200.0, 10), np.linspace(1.0, 2.0, 10)
    else:
        inten = -inten
    with pytest.raises(ValueError, match=match) as info:
        preprocess_spectrum(spectrum(wn, inten, f"{case}.txt"))
    assert f"{case}.txt" in str(info.value)
    X, kept, reasons = preprocess_many([spectrum(wn, inten, "x.txt")])
    assert not kept.any() and reasons[0] in str(info.value)


def test_degenerate_rules_keep_real_processed_spectra_and_validate_settings():
    wn = np.linspace(140.0, 1210.0, 1100)
    # baseline-corrected: noise around a small positive baseline dips below zero at a third of the points
    dips = np.exp(-0.5 * ((wn - 500.0) / 6.0) ** 2) + 0.005 + 0.01 * np.sin(wn / 7.0)
    assert 0.2 < np.mean(dips < 0) < 0.5
    assert preprocess_spectrum(spectrum(wn, dips)).shape == (1024,)
    with pytest.raises(ValueError, match="max_gap"):
        PreprocessConfig(max_gap=0.0)
    with pytest.raises(ValueError, match="min_nonnegative"):
        PreprocessConfig(min_nonnegative=1.5)
