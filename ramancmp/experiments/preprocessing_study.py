"""Preprocessing, measured (chapter 12): what baseline correction, spike removal and smoothing recover on spectra
whose truth is known, and what each preprocessing choice does to classification on the book's splits.

* :func:`baseline_benchmark`, :func:`spike_benchmark`, :func:`smoothing_benchmark`: RRUFF Processed spectra (the
  truth) with known artefacts added -- a fluorescence-like baseline, cosmic-ray spikes, noise -- and how close each
  method gets back to the truth. :func:`raw_benchmark`: RRUFF's RAW files corrected by each method, compared with
  RRUFF's own Processed spectrum of the same sample.
* :func:`preprocessing_choices`: the candidates, each a change of ONE setting of the book's default
  (:class:`~ramancmp.data.preprocess.PreprocessConfig`): normalisation, intensity squashing, smoothing, and wider
  wavenumber ranges with zero fill where a spectrum was not measured.
* :func:`measure_choices`: the 1-NN cosine library search and the book's CNN (with the profile's short budget,
  ``preprocess_epochs``) on the SAME spectra and the SAME by-sample splits for every choice, so every difference is
  paired; :func:`choices_table` reports test and validation accuracy and the paired differences to the default with
  95 % intervals, and :func:`ramancmp.experiments.claims.pick_preprocessing` picks on validation accuracy only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ramancmp.config import Profile
from ramancmp.data.preprocess import PreprocessConfig, correct_baseline, make_grid, remove_spikes, smooth
from ramancmp.data.splits import repeated_splits
from ramancmp.data.tasks import load_variants
from ramancmp.experiments.evaluation import evaluate
from ramancmp.experiments.store import get_or_train, make_job, train_all
from ramancmp.experiments.tables import Row, interval, paired
from ramancmp.metrics.attribution import class_occlusion
from ramancmp.metrics.statistics import format_interval

__all__ = ["BASELINE_SETTINGS", "CNN_MODEL", "LIBRARY_MODEL", "band_overlap", "baseline_benchmark", "choices_table",
           "cnn_attribution", "describe",
           "measure_choices", "preprocessing_choices", "range_coverage", "raw_benchmark", "short_profile",
           "smoothing_benchmark", "spike_benchmark", "synthetic_baseline"]

LIBRARY_MODEL = "knn_cosine"
CNN_MODEL = "cnn"
# The baseline methods compared (pybaselines names and settings), fixed before any measurement: penalised least
# squares with the usual stiffness for ~2,000-point spectra, a modified polynomial, and SNIP clipping.
BASELINE_SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "AsLS (lam 1e6, p 0.01)": ("asls", {"lam": 1e6, "p": 0.01}),
    "arPLS (lam 1e6)": ("arpls", {"lam": 1e6}),
    "I-ModPoly (order 5)": ("imodpoly", {"poly_order": 5}),
    "SNIP (half window 60)": ("snip", {"max_half_window": 60}),
}


# ------------------------------------------------------------------------------------------- synthetic artefacts
def synthetic_baseline(wavenumber: np.ndarray, rng: np.random.Generator, height: float = 1.0) -> np.ndarray:
    """A fluorescence-like background on ``wavenumber``: a broad Gaussian hump plus a gentle slope, both random,
    scaled so that its largest value is ``height``."""
    wn = np.asarray(wavenumber, dtype=np.float64)
    span = wn[-1] - wn[0]
    centre = wn[0] + rng.uniform(0.3, 1.5) * span
    width = rng.uniform(0.4, 1.0) * span
    hump = np.exp(-0.5 * ((wn - centre) / width) ** 2)
    slope = rng.uniform(-0.3, 0.3) * (wn - wn[0]) / span
    b = hump + slope
    b = b - b.min()
    return height * b / b.max()


def _truth(X: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"need a non-empty (n, L) array of spectra, got shape {X.shape}")
    return X[rng.choice(len(X), size=min(int(n), len(X)), replace=False)]


def _rel_rmse(est: np.ndarray, true: np.ndarray) -> float:
    return float(np.sqrt(np.mean((est - true) ** 2)) / (true.max() - true.min()))


def _summary(records: list[dict], by: str, columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(records)
    return frame.groupby(by, sort=False)[columns].agg(["mean", "std"]).round(4)


def baseline_benchmark(X: np.ndarray, grid: np.ndarray, *, n: int = 40, heights: tuple[float, ...] = (1.0, 3.0),
                       noise: float = 0.01, seed: int = 0,
                       settings: dict[str, tuple[str, dict]] | None = None) -> pd.DataFrame:
    """How well each baseline method recovers known spectra: ``n`` rows of ``X`` (Processed, min-max, on ``grid``)
    plus a :func:`synthetic_baseline` of each height in ``heights`` (times the spectrum's range) and Gaussian noise
    (sd ``noise``); per method and height the relative RMSE (RMSE / range of the true spectrum, smaller is better)
    and the correlation with the truth, mean and sd over the spectra. ``"no correction"`` is the reference."""
    rng = np.random.default_rng(seed)
    settings = settings or BASELINE_SETTINGS
    records = []
    for true in _truth(X, n, rng):
        for h in heights:
            observed = true + synthetic_baseline(grid, rng, h) + rng.normal(0, noise, true.shape)
            estimates = {"no correction": observed - observed.min()}
            for label, (method, params) in settings.items():
                estimates[label] = correct_baseline((grid, observed), method, **params)[0]
            for label, est in estimates.items():
                records.append({"method": label, "baseline height": h, "relative RMSE": _rel_rmse(est, true),
                                "correlation": float(np.corrcoef(est, true)[0, 1])})
    return _summary(records, ["method", "baseline height"], ["relative RMSE", "correlation"])


def raw_benchmark(pairs: list[tuple[Any, Any]], *, settings: dict[str, tuple[str, dict]] | None = None,
                  n_points: int = 1024) -> tuple[pd.DataFrame, dict[str, Any]]:
    """RRUFF's RAW spectra corrected by each method, compared with RRUFF's Processed spectrum of the same sample (the
    reference: RRUFF's own correction): the correlation of the two on their common range (``n_points`` points).
    Returns a table (one row per RAW spectrum with a partner, one column per method and ``"no correction"``) and, for
    drawing, the curves of the pair whose uncorrected RAW spectrum differs most from RRUFF's (the largest baseline)."""
    settings = settings or BASELINE_SETTINGS
    rows, example = [], {}
    for raw, processed in pairs:
        if processed is None:
            continue
        lo = max(raw.wavenumber[0], processed.wavenumber[0])
        hi = min(raw.wavenumber[-1], processed.wavenumber[-1])
        if hi - lo < 100:
            continue
        grid = make_grid(lo, hi, n_points)
        ref = np.interp(grid, processed.wavenumber, processed.intensity)
        curves = {"no correction": np.interp(grid, raw.wavenumber, raw.intensity)}
        for label, (method, params) in settings.items():
            curves[label] = np.interp(grid, raw.wavenumber, correct_baseline(raw, method, **params)[0])
        rows.append({"mineral": raw.mineral, "RRUFF ID": raw.rruff_id, "laser nm": raw.laser_nm,
                     **{label: round(float(np.corrcoef(c, ref)[0, 1]), 4) for label, c in curves.items()}})
        if not example or rows[-1]["no correction"] < example["uncorrected_r"]:
            example = {"grid": grid, "processed": ref, "raw": curves["no correction"], "mineral": raw.mineral,
                       "rruff_id": raw.rruff_id, "uncorrected_r": rows[-1]["no correction"],
                       "corrected": {k: v for k, v in curves.items() if k != "no correction"}}
    return pd.DataFrame(rows), example


def spike_benchmark(X: np.ndarray, *, n: int = 40, spikes: int = 3, noise: float = 0.01, threshold: float = 8.0,
                    seed: int = 0) -> pd.DataFrame:
    """Cosmic-ray removal on known spikes: ``n`` spectra with Gaussian noise and ``spikes`` one- or two-point spikes
    (0.3-1.5 times the spectrum's range) each; :func:`~ramancmp.data.preprocess.remove_spikes` is scored by the share of
    spectra whose spikes were all found, the points it replaced (spike points and their ``width`` neighbours) against
    the spike points, and the relative RMSE to the spike-free spectrum before and after -- and, on the same spectra
    WITHOUT spikes, by how many points it changes (harm done)."""
    rng = np.random.default_rng(seed)
    records = []
    for true in _truth(X, n, rng):
        noisy = true + rng.normal(0, noise, true.shape)
        spiked, where = noisy.copy(), np.zeros(true.size, dtype=bool)
        for _ in range(spikes):
            i = int(rng.integers(2, true.size - 3))
            w = int(rng.integers(1, 3))
            spiked[i:i + w] += rng.uniform(0.3, 1.5) * np.ptp(true)
            where[i:i + w] = True
        cleaned, flagged = remove_spikes(spiked, threshold=threshold)
        _, flagged_clean = remove_spikes(noisy, threshold=threshold)
        records.append({"threshold": threshold, "spikes found": float(np.all(flagged[where])),
                        "spike points": int(where.sum()), "points replaced": int(flagged.sum()),
                        "relative RMSE with spikes": _rel_rmse(spiked, noisy),
                        "relative RMSE after removal": _rel_rmse(cleaned, noisy),
                        "points changed without spikes": int(flagged_clean.sum())})
    return _summary(records, "threshold", [k for k in records[0] if k != "threshold"])


def smoothing_benchmark(X: np.ndarray, *, n: int = 40, noise: float = 0.03, windows: tuple[int, ...] = (5, 11, 21),
                        polyorder: int = 3, seed: int = 0) -> pd.DataFrame:
    """Savitzky-Golay smoothing of known spectra: relative RMSE to the truth of noisy (sd ``noise``) spectra and of
    each window's smoothing of them, and the height lost by each spectrum's strongest band when the CLEAN spectrum
    is smoothed (what smoothing costs where there is no noise to remove)."""
    rng = np.random.default_rng(seed)
    records = []
    for true in _truth(X, n, rng):
        noisy = true + rng.normal(0, noise, true.shape)
        peak = int(np.argmax(true))
        records.append({"window": "none", "relative RMSE": _rel_rmse(noisy, true), "strongest band height lost": 0.0})
        for w in windows:
            records.append({"window": str(w), "relative RMSE": _rel_rmse(smooth(noisy[None], w, polyorder)[0], true),
                            "strongest band height lost":
                                float((true[peak] - smooth(true[None], w, polyorder)[0][peak]) / np.ptp(true))})
    return _summary(records, "window", ["relative RMSE", "strongest band height lost"])


# ------------------------------------------------------------------------------------------------ the choices
def describe(config: PreprocessConfig) -> str:
    """A short label: normalisation, squashing, smoothing and range (``"min-max, 150–1200 cm⁻¹"``)."""
    name = {"minmax": "min-max", "vector": "vector", "area": "area", "none": "none"}[config.normalisation]
    parts = [f"sqrt of {name}" if config.squash == "sqrt" else name]
    if config.smoothing:
        parts.append(f"Savitzky–Golay {config.smoothing}")
    rng = f"{config.grid_start:g}–{config.grid_stop:g} cm⁻¹"
    parts.append(rng + (" zero-filled" if config.outside == "zero" else ""))
    return ", ".join(parts)


def _same_step(config: PreprocessConfig, start: float, stop: float) -> PreprocessConfig:
    """``config`` on ``start``-``stop`` at (about) its own grid step, zero-filled where a spectrum was not measured."""
    step = (config.grid_stop - config.grid_start) / (config.n_points - 1)
    return replace(config, grid_start=float(start), grid_stop=float(stop),
                   n_points=int(round((stop - start) / step)) + 1, outside="zero")


def preprocessing_choices(default: PreprocessConfig | None = None,
                          ranges: tuple[tuple[float, float], ...] = ((100.0, 1300.0), (100.0, 1500.0))
                          ) -> dict[str, PreprocessConfig]:
    """The candidates, ``{label: config}``, the default first: each changes ONE setting of ``default`` (the book's
    :class:`PreprocessConfig` if None) -- the other normalisations, squashing on/off, Savitzky-Golay smoothing (11
    points) on/off, and each wider range of ``ranges`` at the same grid step with zero fill."""
    default = default or PreprocessConfig()
    configs = [default]
    configs += [replace(default, normalisation=m) for m in ("minmax", "vector", "area")]
    configs.append(replace(default, squash=None if default.squash else "sqrt"))
    configs.append(replace(default, smoothing=None if default.smoothing else 11))
    configs += [_same_step(default, lo, hi) for lo, hi in ranges]
    out: dict[str, PreprocessConfig] = {}
    for c in configs:
        if c not in out.values():
            out[describe(c)] = c
    return out


def range_coverage(dataset: Any, ranges: list[tuple[float, float]], tolerance: float = 5.0) -> pd.DataFrame:
    """Per wavenumber range: the share of ``dataset``'s spectra measured over all of it (within ``tolerance`` cm^-1 at
    each end, the grid's rule). ``attrs`` holds where the spectra start and end (min, median, max)."""
    lo_m, hi_m = dataset.meta["wn_min"].to_numpy(float), dataset.meta["wn_max"].to_numpy(float)
    frame = pd.DataFrame([{"range cm⁻¹": f"{lo:g}–{hi:g}", "spectra measured over all of it %":
                           round(100 * float(((lo_m <= lo + tolerance) & (hi_m >= hi - tolerance)).mean()), 1)}
                          for lo, hi in ranges])
    frame.attrs.update(start_min=float(lo_m.min()), start_max=float(lo_m.max()), end_min=float(hi_m.min()),
                       end_median=float(np.median(hi_m)), end_max=float(hi_m.max()))
    return frame


def short_profile(profile: Profile) -> Profile:
    """The profile with the short training budget of the preprocessing comparison (``preprocess_epochs``)."""
    epochs = profile.preprocess_epochs
    return replace(profile, max_epochs=epochs, patience=min(profile.patience, epochs), epochs_by_model=())


def measure_choices(base: Any, choices: dict[str, PreprocessConfig], *, profile: Profile,
                    seed: int = 0, networks: bool = True) -> list[Row]:
    """One :class:`Row` per (choice, model): the library search on the profile's ``classical_repeats`` by-sample
    splits and (``networks``) the book's CNN with the short budget on its ``repeats`` splits -- the same splits and the
    same spectra (:func:`~ramancmp.data.tasks.load_variants`) for every choice. ``row.model`` is the choice's label,
    ``row.extra["model"]`` the model, ``row.extra["preprocess"]`` the settings."""
    datasets = load_variants(base, choices)
    rows = []
    if networks:
        short = short_profile(profile)
        jobs = [make_job(CNN_MODEL, ds, split, short)
                for ds in datasets.values()
                for split in repeated_splits(ds.y, ds.groups, kind="sample", repeats=profile.repeats, seed=seed)]
        train_all(jobs)  # every choice's networks in one batch, on every core
    for label, ds in datasets.items():
        models = [(LIBRARY_MODEL, profile)] + ([(CNN_MODEL, short)] if networks else [])
        for model, p in models:
            result = evaluate(model, ds, seed=seed, profile=p, measure_speed=False, progress=False)
            rows.append(Row.from_evaluation(result, group="preprocessing", name=label, model=model,
                                            preprocess=ds.preprocess.to_dict()))
    return rows


def choices_table(rows: list[Row], default: str) -> pd.DataFrame:
    """Per model and choice: test accuracy (mean, 95 % interval), validation accuracy, and the paired differences
    (test and validation) to the choice labelled ``default`` on the same splits, "within noise" when the interval
    covers 0."""
    out = []
    for model in dict.fromkeys(r.extra["model"] for r in rows):
        mine = [r for r in rows if r.extra["model"] == model]
        ref = next((r for r in mine if r.model == default), None)
        if ref is None:
            raise ValueError(f"no row for the default {default!r} of {model}")
        for r in mine:
            same = r is ref
            out.append({"model": model, "choice": r.model + (" (default)" if same else ""),
                        "test accuracy %": format_interval(interval(r)),
                        "validation accuracy %": format_interval(interval(r, "val_accuracy")),
                        "test − default (points)": "–" if same else format_interval(paired(r, ref), signed=True),
                        "validation − default (points)":
                            "–" if same else format_interval(paired(r, ref, "val_accuracy"), signed=True),
                        "splits": len(r.values())})
    return pd.DataFrame(out)


# ------------------------------------------------------------------------------------------------- band marks
# Used when data/bands.csv (the primer's table of characteristic bands) is absent: one well-known band per group.
# ------------------------------------------------------------------------------------------ what the CNN looks at
def cnn_attribution(dataset: Any, *, profile: Profile, seed: int = 0, window: int = 24,
                    stride: int = 12, per_class: int | None = 8) -> dict[str, Any]:
    """Per-class occlusion (:func:`ramancmp.metrics.attribution.class_occlusion`) of the book's CNN -- the network of
    chapter 3 from the model store (first by-sample split of ``seed``; trained now if not stored) -- on that split's
    TEST spectra (at most ``per_class`` of each class, drawn with ``seed``; ``None``: all), with the class means of the
    same spectra: ``{"grid", "means", "attribution", "n_test", "split_seed"}``. The cost is one forward pass per
    spectrum and window position."""
    split = repeated_splits(dataset.y, dataset.groups, kind="sample", repeats=1, seed=seed)[0]
    from_store = get_or_train(CNN_MODEL, dataset, split, profile)
    test = np.asarray(split.test)
    if per_class is not None:
        rng = np.random.default_rng(seed)
        y_test = np.asarray(dataset.y)[test]
        test = np.sort(np.concatenate([rng.permutation(test[y_test == c])[:int(per_class)]
                                       for c in np.unique(y_test)]))
    X, y = np.asarray(dataset.X[test], dtype=np.float32), np.asarray(dataset.y[test])
    n_classes = len(dataset.class_names)
    means = np.stack([X[y == c].mean(axis=0) if np.any(y == c) else np.full(X.shape[1], np.nan)
                      for c in range(n_classes)])
    attribution = class_occlusion(from_store.predict_proba, X, y, n_classes, window=window, stride=stride)
    return {"grid": np.asarray(dataset.grid), "means": means, "attribution": attribution, "n_test": len(y),
            "split_seed": int(split.seed)}


def band_overlap(result: dict[str, Any], class_names: list[str], bands: pd.DataFrame, top: float = 0.1) -> pd.DataFrame:
    """Per class: the share of its most attributed grid points (the top ``top`` fraction) that lie in one of its
    marked bands, against the share of the grid the bands cover (what a random choice of points would give)."""
    grid = result["grid"]
    rows = []
    for c, name in enumerate(class_names):
        own = bands[bands["group"] == name]
        in_band = np.zeros(grid.size, dtype=bool)
        for lo, hi in zip(own["low_cm1"], own["high_cm1"]):
            in_band |= (grid >= float(lo) - 5) & (grid <= float(hi) + 5)
        a = result["attribution"][c]
        if not np.isfinite(a).all() or not in_band.any():
            continue
        k = max(1, int(round(top * grid.size)))
        best = np.argsort(a)[::-1][:k]
        rows.append({"class": name, "bands marked on the grid": int(len(own)),
                     "top points in a band %": round(100 * float(in_band[best].mean()), 1),
                     "grid share of the bands %": round(100 * float(in_band.mean()), 1)})
    return pd.DataFrame(rows)
