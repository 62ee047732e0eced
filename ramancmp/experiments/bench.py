"""Benchmarks: every model and every compressed variant side by side, in one run, on the same splits.

``python -m ramancmp bench models|compression|all`` evaluates :data:`ramancmp.config.BOOK_MODELS` (and the
compression experiments and deployment variants) with :func:`~ramancmp.experiments.evaluation.evaluate` on the same
task, split kind, seed and profile -- hence the same repeated splits. Training happens first, in parallel, through
the model store (networks trained by the chapters are loaded, never retrained); speed is measured afterwards in
this process, with nothing training, on :data:`ramancmp.config.TIMING_THREADS`, together with the machine's float32
GEMM peak, so every latency and throughput in a table comes from one run on the same threads.

"% of GEMM peak" is the arithmetic rate a model achieves at batch 256 (FLOPs per spectrum x spectra per second)
divided by the rate of one large matrix multiply: how much of the processor the model actually uses.

Beside the library search (``knn_cosine``, the numpy search of :mod:`ramancmp.models.library_search`), three rows of
the group ``"library search"`` (:func:`library_search_rows`), timed in the same rounds as every model: scikit-learn's
kNN (the cross-check, the same predictions: what its per-call overhead costs), the library search on square-root
squashed spectra (the preprocessing option of chapter 12), and the library that also holds each split's validation
spectra (legitimate for a method that tunes nothing on them). :func:`library_search_text` says what they do to the
paper's premise, from the rows.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ramancmp.config import BOOK_MODELS, DEFAULT_SEED, DRSN, NETWORKS, TIMING_THREADS, Profile
from ramancmp.config import results_dir as default_results_dir
from ramancmp.data.preprocess import PreprocessConfig, squash
from ramancmp.data.splits import classes_hold_species
from ramancmp.data.tasks import load_task
from ramancmp.experiments.compression_study import (
    bench_compression,
    channel_conversion_experiment,
    compression_rows,
    distillation_experiment,
    feature_extraction_experiment,
)
from ramancmp.experiments.curated_evaluation import evaluate_curated, flagged_mask
from ramancmp.experiments.deployment import bench_deployment, deployment_rows
from ramancmp.experiments.evaluation import evaluate, train_networks
from ramancmp.experiments.executor import Executor
from ramancmp.experiments.results import load_result, save_result
from ramancmp.experiments.speed import time_rows
from ramancmp.experiments.tables import Row, accuracy_text, difference_text, end_to_end, to_text
from ramancmp.metrics import gemm_peak_gflops
from ramancmp.models import is_torch_model, list_models

__all__ = ["BENCHES", "FULL_LIBRARY", "LIBRARY", "LIBRARY_GROUP", "LIBRARY_SKLEARN", "SQRT_LIBRARY", "bench_all",
           "bench_compression", "bench_models", "format_table", "library_search_rows", "library_search_text", "run",
           "timing_check"]

LIBRARY, LIBRARY_SKLEARN = "knn_cosine", "knn_cosine_sklearn"  # the book's library search and its cross-check
SQRT_LIBRARY = "knn_cosine, sqrt-squashed spectra"
FULL_LIBRARY = "knn_cosine, library = training + validation"
LIBRARY_GROUP = "library search"


def _header(what: str, ds: Any, profile: Profile, seed: int, gemm: dict[str, Any]) -> dict[str, Any]:
    return {"what": what, "task": ds.task, "profile": profile.name, "seed": seed, "split_kind": "sample",
            "repeats": profile.repeats, "comparison_repeats": profile.comparison_repeats, "n_spectra": int(len(ds.y)),
            "n_classes": len(ds.class_names),
            "threads": TIMING_THREADS, "gemm": gemm}


def _save(name: str, table: dict[str, Any], ds: Any, profile: Profile, seed: int,
          directory: Path | None = None) -> None:
    path = save_result(name, table, directory=directory, data_sha256=ds.source_sha256, task=ds.task,
                       split_kind="sample", seed=seed,
                       profile=profile.name, preprocess=ds.preprocess.to_dict())
    table["saved_to"] = str(path)


def _squashed(ds: Any) -> Any | None:
    """``ds`` with every spectrum square-root squashed (:func:`ramancmp.data.preprocess.squash`, the preprocessing
    option ``squash="sqrt"`` applied to the normalised spectra, as :func:`ramancmp.data.tasks.load_task` applies it):
    the same spectra, labels and samples, hence the same splits. ``None`` when ``ds`` is squashed already."""
    config = getattr(ds, "preprocess", None)
    if isinstance(config, PreprocessConfig) and config.squash is not None:
        return None
    out = copy.copy(ds)
    out.X = squash(np.asarray(ds.X, dtype=np.float64), "sqrt").astype(np.float32)
    if isinstance(config, PreprocessConfig):
        out.preprocess = dataclasses.replace(config, squash="sqrt")
    return out


def library_search_rows(ds: Any, profile: Profile, seed: int, *, library: Row | None = None,
                        progress: bool = False) -> tuple[list[Row], dict[str, Any]]:
    """The rows beside the library search (group :data:`LIBRARY_GROUP`, by-sample splits, the classical models'
    repeats) and the fitted estimator of each, to time with the rest (:func:`model_rows`):

    * :data:`LIBRARY_SKLEARN`: scikit-learn's brute-force cosine kNN, the cross-check (the same predictions, so the
      same accuracy; its latency is the numpy search's plus scikit-learn's per-call overhead);
    * :data:`SQRT_LIBRARY`: the library search on square-root squashed spectra (chapter 12's preprocessing option);
    * :data:`FULL_LIBRARY`: the library holds each split's training *and* validation spectra, tested on the same
      test parts. Legitimate because the library search tunes nothing on the validation part; its validation
      accuracy is left out (validation spectra are their own nearest neighbours there).

    ``library``: the ``knn_cosine`` row of the same splits, the baseline of each row's paired difference.
    """
    common = dict(split_kind="sample", seed=seed, profile=profile, progress=progress, measure_speed=False)
    rows, targets = [], {}

    def add(name: str, result: Any, **extra: Any) -> Row:
        row = Row.from_evaluation(result, group=LIBRARY_GROUP, name=name, **extra)
        if library is not None:
            row.compare_to(library)
        rows.append(row)
        targets[name] = result.estimator
        return row

    add(LIBRARY_SKLEARN, evaluate(LIBRARY_SKLEARN, ds, **common), role="cross-check")
    squashed = _squashed(ds)
    if squashed is not None:
        add(SQRT_LIBRARY, evaluate(LIBRARY, squashed, **common), role="variant", squash="sqrt")
    full = add(FULL_LIBRARY, evaluate(LIBRARY, ds, model_kwargs={"include_validation": True}, **common),
               role="variant", library="train + validation")
    full.val_accuracy = None  # its validation spectra are in its library: no validation accuracy
    return rows, targets


def _library_ratio(sk: Row) -> tuple[float, float | None, float | None] | None:
    """scikit-learn's batch-1 time over the numpy search's, with the paired interval (same rounds)."""
    s = sk.speedup_over(LIBRARY)
    if s is None:
        return None
    return (1 - s.pct / 100, None if s.hi is None else 1 - s.hi / 100, None if s.lo is None else 1 - s.lo / 100)


def library_search_text(rows: list[Row], peak_gflops: float | None = None) -> str:
    """What the library search, timed as a practitioner writes it, does to the paper's premise -- generated from the
    rows of one run: its accuracy and batch-1 latency, scikit-learn's latency for the same predictions and their
    ratio (same interleaved rounds), its FLOPs limit at the GEMM peak, whether any network or compressed variant timed
    from spectrum to class is more accurate or faster, which classical rows are faster, and the two variants beside
    it."""
    by_name = {r.model: r for r in rows}
    lib = by_name.get(LIBRARY)
    if lib is None or lib.latency_b1_ms is None:
        return "(no timed library-search row in this table)"
    parts = [f"The library search as a practitioner writes it (`{LIBRARY}`: numpy, the library scaled to unit length "
             f"once as a float32 matrix, one matrix-vector product per spectrum) scores {accuracy_text(lib)} and "
             f"takes {lib.latency_b1_ms:.4f} ms per spectrum at batch 1"]
    if peak_gflops and lib.mflops:
        limit = lib.mflops * 1e6 / (peak_gflops * 1e9) * 1e3
        parts[-1] += (f" ({lib.mflops:.3g} MFLOPs: {limit:.4f} ms at this CPU's GEMM peak of {peak_gflops:.1f} "
                      f"GFLOP/s; at batch 256 it reaches {lib.pct_gemm_peak or float('nan'):.1f} % of that peak)")
    parts[-1] += "."
    sk = by_name.get(LIBRARY_SKLEARN)
    ratio = _library_ratio(sk) if sk is not None else None
    if sk is not None and sk.latency_b1_ms is not None and ratio is not None:
        same = "the same" if sk.accuracy and lib.accuracy and list(sk.accuracy.values) == list(lib.accuracy.values) \
            else "not quite the same"
        interval = "" if ratio[1] is None else f" [{ratio[1]:.1f}, {ratio[2]:.1f}]"
        why = ("; the same arithmetic, so the difference is scikit-learn's per-call overhead (input validation, the "
               "whole library re-normalised on every call)" if ratio[1] is not None and ratio[1] > 1 else
               "; in this run the difference is not outside the timing noise")
        parts.append(f"scikit-learn's `KNeighborsClassifier` gives {same} accuracy split by split "
                     f"({accuracy_text(sk)}) and takes {sk.latency_b1_ms:.4f} ms, timed in the same interleaved "
                     f"rounds: {ratio[0]:.1f}×{interval} the numpy search's time{why}.")
    timed = [r for r in end_to_end(rows) if r.latency_b1_ms is not None and r.accuracy
             and r.group != LIBRARY_GROUP and r is not lib]
    classical = set(list_models("sklearn"))
    networks = [r for r in timed if r.model not in classical]  # networks and their compressed / deployed variants
    others = [r for r in timed if r.model in classical]  # LDA, PCA + LDA
    if networks:
        best = max(networks, key=lambda r: r.accuracy.mean)
        fast = min(networks, key=lambda r: r.latency_b1_ms)
        more_accurate = lib.accuracy.mean >= best.accuracy.mean
        faster = lib.latency_b1_ms <= fast.latency_b1_ms
        parts.append(
            f"Against the {len(networks)} network rows of this table timed from spectrum to class (the book's networks "
            "and every compressed or deployed variant): "
            + (f"none is more accurate (the most accurate, {best.model}, minus the library search: "
               if more_accurate else f"{best.model} is more accurate (minus the library search: ")
            + f"{difference_text(best, lib)}), and "
            + (f"none is faster at batch 1 (the fastest, {fast.model}, takes {fast.latency_b1_ms:.4f} ms, "
               f"{fast.latency_b1_ms / lib.latency_b1_ms:.1f}× the library search's time)." if faster else
               f"{fast.model} is faster at batch 1 ({fast.latency_b1_ms:.4f} ms)."))
        if more_accurate and faster:
            parts.append("So the paper's premise -- that a lightweight or compressed network is what makes Raman "
                         "classification fast -- does not hold on this task: the method a mineralogist already uses, "
                         "written plainly, is both faster and at least as accurate as every network and every "
                         "compressed variant, with nothing trained. What compression buys a network is speed relative "
                         "to that network, not relative to the library search.")
        elif faster:
            parts.append("So on speed the paper's premise does not hold on this task: no network or compressed "
                         "variant is faster than the library search written plainly; a network has to earn its place "
                         "by accuracy.")
    quicker = sorted((r for r in others if r.latency_b1_ms < lib.latency_b1_ms), key=lambda r: r.latency_b1_ms)
    if quicker:
        parts.append("Of the classical rows, faster than it: " + ", ".join(
            f"{r.model} ({r.latency_b1_ms:.4f} ms, {accuracy_text(r)})" for r in quicker)
            + " -- each one matrix product with as many rows as classes, not as library spectra.")
    for name, words in ((SQRT_LIBRARY, "On square-root squashed spectra"),
                        (FULL_LIBRARY, "With each split's validation spectra added to its library (legitimate: the "
                                       "library search tunes nothing on them, so the test parts stay untouched)")):
        r = by_name.get(name)
        if r is not None and r.accuracy:
            lat = "" if r.latency_b1_ms is None else f" at {r.latency_b1_ms:.4f} ms"
            parts.append(f"{words} it scores {accuracy_text(r)}{lat}, {difference_text(r, lib)} against the plain "
                         "library search on the same splits.")
    return " ".join(parts)


def model_rows(ds: Any, profile: Profile, seed: int, *, models: Sequence[str] | None = None, random_split: bool = True,
               progress: bool = True, executor: Executor | str | None = None,
               peak_gflops: float | None = None, duplicate: str | None = None, species_split: bool = True,
               curated: bool = True, library_variants: bool = True) -> list[Row]:
    """One :class:`Row` per model (names of ``BOOK_MODELS``, default all): by-sample splits (the profile's
    ``comparison_repeats`` for every model, networks included, so every row pairs on the same splits), random splits
    beside.

    Beside them, for the same models as the random split: ``accuracy_species_split``, the accuracy on by-species
    splits (every test species absent from training; only on a task whose classes hold several species), and
    ``accuracy_curated``, the by-sample accuracy without the spectra ``data/curation.csv`` flags (same splits; only
    when the task holds flagged spectra; :mod:`ramancmp.experiments.curated_evaluation`).

    All rows are timed together by the book's protocol (:func:`ramancmp.experiments.speed.time_rows`) after
    everything is trained, with the book's DRSN (:data:`ramancmp.config.DRSN`) as the baseline of the speed-ups.
    With ``library_variants`` (and ``knn_cosine`` among the models), the rows of :func:`library_search_rows` follow
    the models, timed in the same rounds (their speed-ups also over ``knn_cosine``). ``duplicate`` (a
    model of ``BOOK_MODELS``) times that model a second time in the same run, as its own row ``"<name> (timed again)"``
    placed last: the check that one model timed twice agrees within its interval.
    """
    keys = list(models if models is not None else BOOK_MODELS)
    # random splits for the classical models and the book's networks; the paper-faithful baselines of the readings
    # (BOOK_MODELS not in NETWORKS, e.g. "drsn_paper") are slow to train and only judged on by-sample splits
    random_keys = [k for k in keys if random_split and (k in NETWORKS or not is_torch_model(k))]
    n_sample = profile.comparison_repeats  # every model's by-sample splits (None: each model's default)
    train_networks([(k, {}) for k in keys], ds, profile=profile, seed=seed, executor=executor, progress=progress,
                   split_kinds=("sample",), repeats=n_sample)
    species_keys = random_keys if species_split and classes_hold_species(ds) else []
    flagged = flagged_mask(ds) if curated else np.zeros(len(ds.y), bool)
    train_networks([(k, {}) for k in random_keys], ds, profile=profile, seed=seed, executor=executor,
                   progress=progress, split_kinds=("random",))
    train_networks([(k, {}) for k in species_keys], ds, profile=profile, seed=seed, executor=executor,
                   progress=progress, split_kinds=("species",))  # everything trained, then measured
    rows, targets, last = [], {}, None
    for key in keys:
        name = key
        common = dict(seed=seed, profile=profile, progress=progress, executor=executor)
        res = evaluate(name, ds, split_kind="sample", measure_speed=False, repeats=n_sample, **common)
        row = Row.from_evaluation(res)
        targets[row.model], last = res.estimator, res
        if key in random_keys:
            res_r = evaluate(name, ds, split_kind="random", measure_speed=False, **common)
            row.accuracy_random = Row.from_evaluation(res_r).accuracy
        if key in species_keys:
            row.accuracy_species_split = Row.from_evaluation(
                evaluate(name, ds, split_kind="species", measure_speed=False, **common)).accuracy
        if key in random_keys and flagged.any():
            evaluate_curated(name, ds, full=row, split_kind="sample", measure_speed=False, repeats=n_sample, **common)
        rows.append(row)
    base = DRSN
    baselines = [base] if base in targets else []
    for r in rows:
        if baselines:
            r.baseline = base
    if library_variants and LIBRARY in targets:
        extra_rows, extra_targets = library_search_rows(ds, profile, seed, library=rows[keys.index(LIBRARY)],
                                                        progress=progress)
        rows += extra_rows
        targets.update(extra_targets)
        baselines = baselines + [LIBRARY]
    if duplicate is not None:
        original = duplicate
        again = Row(model=f"{original} (timed again)", group="timing check", baseline=original,
                    accuracy=next(r for r in rows if r.model == original).accuracy)
        rows.append(again)
        targets[again.model] = targets[original]
        baselines = baselines + [original]
    X_test = np.asarray(ds.X, dtype=np.float32)[np.asarray(last.last_split.test)]
    time_rows(rows, targets, baselines=baselines, profile=profile, inputs=X_test, seed=seed)
    for r in rows:
        r.set_gemm_peak(peak_gflops)
    return rows


def timing_check(rows: list[Row]) -> list[dict[str, Any]]:
    """For each "timed again" row: both medians with their intervals and the speed-up of the second timing over
    the first with its paired interval, per timing cell; ``agrees``: the interval of that speed-up covers 0."""
    out = []
    for again in (r for r in rows if r.group == "timing check" and r.timing):
        first = next(r for r in rows if r.model == again.baseline)
        for key, s in again.timing.speedup.get(first.model, {}).items():
            a, b = first.timing.cells[key], again.timing.cells[key]
            out.append({"model": first.model, "cell": key, "first_ms": a.median_ms, "first_ci": a.ci_ms,
                        "again_ms": b.median_ms, "again_ci": b.ci_ms, "difference_pct": -s.pct,
                        "difference_ci": [-s.hi, -s.lo], "agrees": bool(s.lo <= 0.0 <= s.hi)})
    return out


def bench_models(task: str = "rruff-groups-10", *, profile: Profile, seed: int = DEFAULT_SEED,
                 models: Sequence[str] | None = None, save: bool = True, dataset: Any = None,
                 progress: bool = True, executor: Executor | str | None = None) -> dict[str, Any]:
    """The models of ``BOOK_MODELS`` (names; default all) side by side; writes ``results/bench_models.json``."""
    ds = dataset if dataset is not None else load_task(task)
    gemm = gemm_peak_gflops(n=2048, runs=5, threads=TIMING_THREADS)
    table = _header("models", ds, profile, seed, gemm)
    table["rows"] = model_rows(ds, profile, seed, models=models, progress=progress, executor=executor,
                               peak_gflops=gemm["gflops"])
    if save:
        _save("bench_models", table, ds, profile, seed)
    return table


def _chosen_distillation(directory: Path) -> list[tuple[float, float]] | None:
    """The (T, alpha) that chapter 6 chose on validation data in this profile (its results in ``directory``), so the
    final table does not search the grid again; ``None`` (search it) when chapter 6 has not run."""
    try:
        chosen = load_result("06_distillation", directory=directory)["metrics"]["chosen"]
    except (FileNotFoundError, KeyError, ValueError):
        return None
    return [(float(chosen["temperature"]), float(chosen["alpha"]))]


#: The chapters whose rows the final table takes when the profile says so (``Profile.final_table_reuses_chapters``).
COMPRESSION_CHAPTERS = ("06_distillation", "07_channel_conversion", "08_feature_extraction", "09_beyond_compression")


def _listed_once(compressed: list[Row], known: set[str]) -> list[Row]:
    """The compression experiments' rows for the final table: baselines listed once (the first time), and of the
    distillation grid only the (T, alpha) chosen on validation."""
    out = []
    for row in compressed:
        if row.model in known or (row.group == "distillation" and row.extra.get("role") == "distilled"
                                  and not row.extra.get("chosen")):
            continue
        out.append(row)
        known.add(row.model)
    return out


def _chapters_rows(directory: Path, ds: Any, profile: Profile, seed: int,
                   peak_gflops: float | None) -> tuple[list[Row], dict, list[Row], dict] | None:
    """What chapters 6-9 measured in this profile, seed and task (their results in ``directory``): the compression
    rows, the chosen (T, alpha), the deployment rows and the deployment run's settings; ``None`` when one of the
    chapters has not run (or ran with other settings): then the final table measures them itself."""
    metrics = {}
    for chapter in COMPRESSION_CHAPTERS:
        try:
            payload = load_result(chapter, directory=directory)
        except (FileNotFoundError, ValueError):
            return None
        prov = payload.get("provenance", {})
        if (prov.get("profile"), prov.get("seed"), prov.get("task")) != (profile.name, seed, ds.task):
            return None
        metrics[chapter] = payload["metrics"]
    compressed = [Row.from_dict(r) for c in COMPRESSION_CHAPTERS[:3] for r in metrics[c]["rows"]]
    for row in compressed:
        row.set_gemm_peak(peak_gflops)
    deployment = metrics["09_beyond_compression"]
    about = {"from": "09_beyond_compression", "fine_tune": deployment.get("fine_tune"),
             "split_sizes": deployment.get("split_sizes")}
    return (compressed, metrics["06_distillation"]["chosen"], deployment_rows(deployment["variants"], peak_gflops),
            about)


def bench_all(task: str = "rruff-groups-10", *, profile: Profile, seed: int = DEFAULT_SEED,
              dataset: Any = None, save: bool = True, progress: bool = True,
              executor: Executor | str | None = None, results_dir: Path | None = None) -> dict[str, Any]:
    """Every model and compressed variant in one table, from one run (writes ``results/bench_all.json``).

    ``results_dir``: the run's results folder (where chapter 6's choice is read and the table written; default
    the profile's, :func:`ramancmp.config.results_dir`).

    Models: by-sample *and* random split (per-split values, mean ± sd over the profile's repeats), size, speed. The
    paper's three compression methods (same splits) and the deployment variants (int8, pruning, ONNX Runtime; one
    split) follow. Networks trained earlier in the same profile (by the chapters) are loaded from the model store,
    not retrained. With ``profile.final_table_reuses_chapters`` (the quick profile: a pipeline check) the
    compression and deployment rows are the ones chapters 6-9 saved in ``results_dir``, when all four have run.
    """
    ds = dataset if dataset is not None else load_task(task)
    gemm = gemm_peak_gflops(n=2048, runs=5, threads=TIMING_THREADS)
    rows = model_rows(ds, profile, seed, progress=progress, executor=executor, peak_gflops=gemm["gflops"],
                      duplicate=DRSN)
    check = timing_check(rows)
    rows = [r for r in rows if r.group != "timing check"]
    results = Path(results_dir) if results_dir is not None else default_results_dir(profile.name)
    reused = _chapters_rows(results, ds, profile, seed, gemm["gflops"]) if profile.final_table_reuses_chapters \
        else None
    if reused is None:  # measured again, in this run
        kw = dict(profile=profile, seed=seed, progress=progress, executor=executor)
        dist = distillation_experiment(ds, grid=_chosen_distillation(results), **kw)
        conv = channel_conversion_experiment(ds, **kw)
        feat = feature_extraction_experiment(ds, **kw)
        deployment = bench_deployment(task=task, profile=profile, seed=seed, dataset=ds, save=False,
                                      progress=progress, executor=executor)
        compressed, chosen = compression_rows(dist, conv, feat, gemm["gflops"]), dist["chosen"]
        deployed = deployment_rows(deployment["rows"], gemm["gflops"])
        about = {k: v for k, v in deployment.items() if k != "rows"}
    else:
        compressed, chosen, deployed, about = reused
    rows += _listed_once(compressed, {r.model for r in rows})
    rows += deployed
    table = _header("all", ds, profile, seed, gemm)
    table.update({"rows": rows, "distillation_chosen": chosen, "timing_check": check, "deployment": about})
    if save:
        _save("bench_all", table, ds, profile, seed, results)
    return table


BENCHES: dict[str, Callable[..., dict[str, Any]]] = {"models": bench_models, "compression": bench_compression,
                                                     "all": bench_all}


def run(what: str, task: str = "rruff-groups-10", *, profile: Profile, seed: int = DEFAULT_SEED,
        executor: Executor | str | None = None) -> dict[str, Any]:
    """Run benchmark ``what`` (``"models"``, ``"compression"`` or ``"all"``) and return its table."""
    try:
        bench = BENCHES[what]
    except KeyError:
        raise ValueError(f"unknown benchmark {what!r}; choose one of {sorted(BENCHES)}") from None
    return bench(task=task, profile=profile, seed=seed, executor=executor)


def format_table(table: dict[str, Any]) -> str:
    """The benchmark as one aligned text table, with the task, protocol, GEMM peak and thread count above it."""
    gemm = table.get("gemm") or {}
    lines = [
        f"{table.get('what', 'bench')}: task {table.get('task')}, {table.get('split_kind')} split, "
        f"{table.get('repeats')} repeats, profile {table.get('profile')}, seed {table.get('seed')}",
        f"GEMM peak {gemm.get('gflops', float('nan')):.1f} GFLOP/s (float32 {gemm.get('n')}x{gemm.get('n')} matmul), "
        f"{table.get('threads')} threads; accuracy etc. mean ± sd over repeats; latency: median of batch-1 calls "
        "[95 % interval] by the timing protocol (interleaved rounds, same run)",
        "",
        to_text(table.get("rows", [])),
    ]
    for c in table.get("timing_check") or []:
        lines.append(f"timed twice: {c['model']} {c['cell']}: {c['first_ms']:.4f} vs {c['again_ms']:.4f} ms per "
                     f"spectrum, difference {c['difference_pct']:.1f} % [{c['difference_ci'][0]:.1f}, "
                     f"{c['difference_ci'][1]:.1f}] -> {'agrees' if c['agrees'] else 'DISAGREES'} within its interval")
    if table.get("saved_to"):
        lines += ["", f"saved to {table['saved_to']}"]
    return "\n".join(lines)
