"""Benchmarks: every model (and later every compression method) side by side, in one run, on the same splits.

``python -m ramancmp bench models`` evaluates the classical baselines and the networks with
:func:`ramancmp.evaluation.evaluate` on the same task, split kind, seed and profile -- hence the same repeated
splits -- measures the machine's float32 GEMM peak on the same threads, and writes ``results/bench_models.json``.
:func:`format_table` prints one aligned table.

"% of GEMM peak" is the arithmetic rate a model achieves at batch 256 (FLOPs per spectrum x spectra per second)
divided by the rate of one large matrix multiply: how much of the processor the model actually uses. Small 1-D
networks use a few per cent; a model's FLOPs alone therefore do not predict its speed.

New benchmark kinds are registered in :data:`BENCHES` (``what -> function(task, profile, seed) -> table``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ramancmp.config import DEFAULT_SEED, TIMING_THREADS, get_profile, results_dir
from ramancmp.metrics import format_mean_sd, gemm_peak_gflops

__all__ = ["BENCH_MODELS", "BENCHES", "run", "bench_models", "format_table"]

BENCH_MODELS = ("lda", "pca_lda", "knn_cosine", "cnn", "efficientnet_b0", "drsn_cw")


def _row(result: Any, peak_gflops: float) -> dict[str, Any]:
    """One table row from an :class:`~ramancmp.evaluation.EvaluationResult`."""
    m = result.metrics
    flops = result.complexity["flops"]
    row = {"model": result.model, "params": result.complexity["params"],
           "mflops": flops / 1e6 if flops is not None else None}
    for key in ("accuracy", "sensitivity", "specificity", "fit_time_s"):
        row[key] = {"mean": m[key]["mean"], "sd": m[key]["sd"]}
    if result.speed:
        lat, thr = result.speed["latency_b1"], result.speed["throughput_b256"]
        row.update({"latency_b1_ms": lat["median_ms"], "latency_b1_p10_ms": lat["p10_ms"],
                    "latency_b1_p90_ms": lat["p90_ms"], "throughput_b256": thr["spectra_per_s"]})
        if flops is not None:
            achieved = flops * thr["spectra_per_s"] / 1e9
            row.update({"achieved_gflops_b256": achieved, "pct_gemm_peak": 100.0 * achieved / peak_gflops})
    return row


def bench_models(task: str = "rruff-groups-10", profile: str = "quick", seed: int = DEFAULT_SEED,
                 models: tuple[str, ...] = BENCH_MODELS, split_kind: str = "sample", save: bool = True,
                 dataset: Any = None, progress: bool = True) -> dict[str, Any]:
    """Evaluate ``models`` side by side; returns the table and (``save=True``) writes ``results/bench_models.json``."""
    from ramancmp.data.tasks import load_task
    from ramancmp.evaluation import evaluate
    from ramancmp.results import save_result

    prof = get_profile(profile)
    ds = dataset if dataset is not None else load_task(task)
    gemm = gemm_peak_gflops(n=2048, runs=5, threads=TIMING_THREADS)
    results = [evaluate(name, ds, split_kind=split_kind, seed=seed, profile=prof, progress=progress)
               for name in models]
    table = {
        "what": "models", "task": ds.task, "profile": prof.name, "seed": seed, "split_kind": split_kind,
        "repeats": prof.repeats, "n_spectra": int(len(ds.y)), "n_classes": len(ds.class_names),
        "threads": TIMING_THREADS, "gemm": gemm,
        "rows": [_row(r, gemm["gflops"]) for r in results],
        "details": {r.model: r.to_dict() for r in results},
    }
    if save:
        path = save_result("bench_models", table, data_sha256=ds.source_sha256, task=ds.task, split_kind=split_kind,
                           seed=seed, profile=prof.name, preprocess=ds.preprocess.to_dict())
        table["saved_to"] = str(path)
    return table


def bench_compression(task: str = "rruff-groups-10", profile: str = "quick", seed: int = DEFAULT_SEED,
                      **kwargs: Any) -> dict[str, Any]:
    """Distillation, channel conversion and DRSN features + LDA beside their baselines (issue 4).

    Implemented in :func:`ramancmp.compression.experiments.bench_compression`; writes
    ``results/bench_compression.json``.
    """
    from ramancmp.compression.experiments import bench_compression as _bench_compression

    return _bench_compression(task=task, profile=profile, seed=seed, **kwargs)


def _deployment_row(row: dict[str, Any], peak_gflops: float) -> dict[str, Any]:
    """A :func:`ramancmp.compression.deployment.deployment_variants` row in the common table format."""
    achieved = (row["mflops"] * 1e6 * row["throughput_b256"] / 1e9) if row.get("mflops") else None
    return {"model": f"{row['model']} {row['variant']}", "group": "deployment", "params": row.get("params"),
            "mflops": row.get("mflops"), "accuracy": {"mean": row["accuracy"], "sd": None},
            "sensitivity": None, "specificity": None, "fit_time_s": None, "agreement": row.get("agreement"),
            "latency_b1_ms": row["latency_b1_ms"], "throughput_b256": row["throughput_b256"],
            "pct_gemm_peak": None if achieved is None else 100.0 * achieved / peak_gflops,
            "note": "one by-sample split (seed of the run); agreement = share of predictions equal to the float model's"}


def _chosen_distillation(profile: str) -> list | None:
    """The (T, alpha) that chapter 6 chose on validation data in this profile, so the final table does not search the
    grid again; ``None`` (search it) when chapter 6 has not run."""
    from ramancmp.compression.distillation import DistillationConfig
    from ramancmp.results import load_result

    try:
        chosen = load_result("06_distillation", directory=results_dir(profile))["metrics"]["chosen"]
    except (FileNotFoundError, KeyError):
        return None
    return [DistillationConfig(float(chosen["temperature"]), float(chosen["alpha"]))]


def bench_all(task: str = "rruff-groups-10", profile: str = "quick", seed: int = DEFAULT_SEED,
              dataset: Any = None, save: bool = True, progress: bool = True) -> dict[str, Any]:
    """Every model and compressed variant in one table, from one run (writes ``results/bench_all.json``).

    Models: by-sample *and* random split (mean ± sd over the profile's repeats), size, speed. The paper's three
    compression methods (:func:`ramancmp.compression.experiments.bench_compression`, same splits) and the deployment
    variants (int8, pruning, ONNX Runtime; one split) follow. Networks trained earlier in the same profile (by the
    chapters) are loaded from their per-split checkpoints, not retrained; speed is always measured in this run, so
    every latency and throughput in the table comes from the same process on the same threads.
    """
    from ramancmp.compression.deployment import bench_deployment
    from ramancmp.compression.experiments import bench_compression as compression_rows
    from ramancmp.config import BOOK_MODELS
    from ramancmp.data.tasks import load_task
    from ramancmp.evaluation import evaluate
    from ramancmp.results import save_result

    prof = get_profile(profile)
    ds = dataset if dataset is not None else load_task(task)
    gemm = gemm_peak_gflops(n=2048, runs=5, threads=TIMING_THREADS)
    models = [("lda", {}), ("pca_lda", {}), ("knn_cosine", {}), *BOOK_MODELS.values()]
    rows = []
    for name, kwargs in models:
        common = dict(seed=seed, profile=prof, model_kwargs=kwargs, progress=progress)
        by_sample = evaluate(name, ds, split_kind="sample", **common)
        random_split = evaluate(name, ds, split_kind="random", measure_speed=False, **common)
        row = _row(by_sample, gemm["gflops"])
        row.update({"group": "model", "accuracy_random": {k: random_split.metrics["accuracy"][k]
                                                          for k in ("mean", "sd")}})
        rows.append(row)
    known = {r["model"] for r in rows}
    compression = compression_rows(task=task, profile=prof, seed=seed, dataset=ds, save=False, progress=progress,
                                   distillation_grid=_chosen_distillation(prof.name))
    for row in compression["rows"]:
        if row["model"] in known or (row["group"] == "distillation" and row.get("distillation")
                                     and not row.get("chosen")):
            continue  # baselines are listed once; of the distillation grid, the (T, alpha) chosen on validation
        rows.append(row)
        known.add(row["model"])
    deployment = bench_deployment(task=task, profile=prof, seed=seed, dataset=ds, save=False, progress=progress)
    rows += [_deployment_row(r, gemm["gflops"]) for r in deployment["rows"]]
    table = {"what": "all", "task": ds.task, "profile": prof.name, "seed": seed, "split_kind": "sample",
             "repeats": prof.repeats, "n_spectra": int(len(ds.y)), "n_classes": len(ds.class_names),
             "threads": TIMING_THREADS, "gemm": gemm, "rows": rows,
             "distillation_chosen": compression.get("distillation_chosen"),
             "deployment": {k: v for k, v in deployment.items() if k != "rows"}}
    if save:
        path = save_result("bench_all", table, data_sha256=ds.source_sha256,
                           task=ds.task, split_kind="sample", seed=seed, profile=prof.name,
                           preprocess=ds.preprocess.to_dict())
        table["saved_to"] = str(path)
    return table


BENCHES: dict[str, Callable[..., dict[str, Any]]] = {"models": bench_models, "compression": bench_compression,
                                                     "all": bench_all}


def run(what: str, task: str = "rruff-groups-10", profile: str = "quick", seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """Run benchmark ``what`` (``"models"``, ``"compression"`` or ``"all"``) and return its table."""
    try:
        bench = BENCHES[what]
    except KeyError:
        raise ValueError(f"unknown benchmark {what!r}; choose one of {sorted(BENCHES)}") from None
    return bench(task=task, profile=profile, seed=seed)


def _mean_sd(stat: dict[str, Any] | None) -> str:
    return format_mean_sd(stat) if stat else "-"


_COLUMNS = (  # header, width, formatter(row) -> str
    ("model", 28, lambda r: str(r["model"])),
    ("accuracy", 15, lambda r: _mean_sd(r["accuracy"])),
    ("random split", 15, lambda r: _mean_sd(r.get("accuracy_random"))),
    ("sensitivity", 15, lambda r: _mean_sd(r["sensitivity"])),
    ("specificity", 15, lambda r: _mean_sd(r["specificity"])),
    ("params", 10, lambda r: "-" if r["params"] is None else f"{r['params']:,}"),
    ("MFLOPs", 9, lambda r: "-" if r["mflops"] is None else f"{r['mflops']:.3f}" if r["mflops"] < 1
     else f"{r['mflops']:.1f}"),
    ("train s", 8, lambda r: f"{r['fit_time_s']['mean']:.1f}" if r.get("fit_time_s") else "-"),
    ("lat b1 ms", 10, lambda r: f"{r['latency_b1_ms']:.3f}" if "latency_b1_ms" in r else "-"),
    ("b256 /s", 10, lambda r: f"{r['throughput_b256']:,.0f}" if "throughput_b256" in r else "-"),
    ("% GEMM", 7, lambda r: f"{r['pct_gemm_peak']:.2f}" if r.get("pct_gemm_peak") is not None else "-"),
)


def format_table(table: dict[str, Any]) -> str:
    """The benchmark as one aligned text table, with the task, protocol, GEMM peak and thread count above it."""
    gemm = table.get("gemm") or {}
    lines = [
        f"{table.get('what', 'bench')}: task {table.get('task')}, {table.get('split_kind')} split, "
        f"{table.get('repeats')} repeats, profile {table.get('profile')}, seed {table.get('seed')}",
        f"GEMM peak {gemm.get('gflops', float('nan')):.1f} GFLOP/s (float32 {gemm.get('n')}x{gemm.get('n')} matmul), "
        f"{table.get('threads')} threads; accuracy etc. mean ± sd over repeats; latency median of batch-1 calls; "
        "% GEMM = achieved FLOP/s at batch 256 / GEMM peak",
        "",
    ]
    header = "  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w, _) in enumerate(_COLUMNS))
    lines += [header, "-" * len(header)]
    for row in table.get("rows", []):
        cells = [fmt(row) for _, _, fmt in _COLUMNS]
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, (_, w, _)) in enumerate(zip(cells, _COLUMNS))))
    if table.get("saved_to"):
        lines += ["", f"saved to {table['saved_to']}"]
    return "\n".join(lines)
