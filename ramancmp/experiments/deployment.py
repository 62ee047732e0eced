"""Deployment variants of one trained network, measured side by side: float, int8, pruned (+ fine-tuned), ONNX.

:func:`deployment_variants` takes a trained network and produces one row per variant -- accuracy on the test part,
agreement with the float model's predictions, parameters, FLOPs per spectrum, size on disk, batch-1 latency and
batch-256 throughput -- with every measurement made by :mod:`ramancmp.metrics` on the same threads, in one run, so
the rows can be compared. :func:`bench_deployment` runs it for the book's compact networks on one split of a task.

Notes on the numbers:

* int8 models do the same arithmetic in 8-bit integers: their parameter count and FLOPs are the float model's
  (what changes is bytes per weight and the kernels), so those columns repeat the float values and ``size_kb``
  shows the saving.
* Pruned models are fine-tuned with :func:`ramancmp.training.train_model` on the training part (early stopping on
  the validation part) -- the book's one training loop -- starting from the pruned weights.
* Timings depend on the thread count, which is set for the whole measurement (``threads``) and recorded per row.
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ramancmp.compression.onnx_export import OnnxClassifier, export_onnx, quantize_onnx
from ramancmp.compression.pruning import prune_channels
from ramancmp.compression.quantization import quantize_int8
from ramancmp.config import NETWORKS, TIMING_THREADS, Profile
from ramancmp.data.splits import make_split
from ramancmp.data.tasks import load_task
from ramancmp.experiments.executor import Executor
from ramancmp.experiments.results import save_result
from ramancmp.experiments.store import get_or_train, shared_executor, train_part
from ramancmp.experiments.tables import Row
from ramancmp.fileio import atomic_path, fingerprint
from ramancmp.metrics import as_torch_module, count_flops, count_params
from ramancmp.metrics.statistics import Speedup, Stat
from ramancmp.metrics.timing import compare_speed, num_threads
from ramancmp.models import encode_labels
from ramancmp.training import TrainConfig, train_model

__all__ = ["DeploymentVariant", "bench_deployment", "deployment_frame", "deployment_rows", "deployment_variants"]


@dataclass
class DeploymentVariant:
    """One deployment variant of a network (:func:`deployment_variants`), measured on one split in one run.

    ``accuracy`` and ``agreement`` (with the float model's predictions) are fractions of the test part; ``size_kb``
    the size on disk; the timing protocol's batch-1 median with its 95 % interval, batch-256 throughput and the
    speed-ups over the float model (``None`` for the float model itself). ``extra``: what only some variants have
    (int8: ``int8_layers``, ``float_layers``, ``backend``, ``quantization``; pruned: ``fine_tuned``,
    ``fine_tune_s``; ONNX: ``opset``). JSON (:meth:`to_dict`): one flat dict, ``extra``'s keys beside the others.
    """

    model: str
    variant: str
    runtime: str | None = None
    precision: str | None = None
    prune_ratio: float | None = None
    accuracy: float | None = None
    agreement: float | None = None
    params: int | None = None
    mflops: float | None = None
    size_kb: float | None = None
    threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    latency_b1_ms: float | None = None
    latency_b1_ci: list[float] | None = None
    throughput_b256: float | None = None
    per_spectrum_b256_ci_ms: list[float] | None = None
    timing_rounds: int | None = None
    speedup_b1: Speedup | None = None  # over the float model, paired bootstrap interval over the same rounds
    speedup_b256: Speedup | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "extra":
                out.update(v)
            elif not (f.name.startswith("speedup_") and v is None):
                out[f.name] = v.to_dict() if isinstance(v, Speedup) else v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeploymentVariant:
        if isinstance(d, cls):
            return d
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in d.items() if k in names}
        for k in ("speedup_b1", "speedup_b256"):
            known[k] = Speedup.from_dict(known.get(k))
        return cls(**known, extra={k: v for k, v in d.items() if k not in names and k != "extra"}
                   | dict(d.get("extra") or {}))

    def __getitem__(self, key: str) -> Any:  # legacy read access: the dict deployment_variants used to return
        if key in self.extra:
            return self.extra[key]
        if key in {f.name for f in fields(self)} - {"extra"}:
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


def deployment_frame(variants: Sequence[Any]) -> pd.DataFrame:
    """The variants as a DataFrame, one column per :meth:`DeploymentVariant.to_dict` key; the speed-up columns
    hold :class:`~ramancmp.metrics.statistics.Speedup` objects (``None`` for the float model)."""
    vs = [DeploymentVariant.from_dict(v) for v in variants]
    frame = pd.DataFrame([v.to_dict() for v in vs])
    for k in ("speedup_b1", "speedup_b256"):
        if k in frame:
            frame[k] = [getattr(v, k) for v in vs]
    return frame


def _torch_bytes(module: nn.Module) -> int:
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getbuffer().nbytes


@torch.no_grad()
def _torch_logits(module: nn.Module, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    module.eval()
    X_t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    return torch.cat([module(X_t[i:i + batch_size]).float() for i in range(0, len(X_t), batch_size)]).numpy()


def _pruned_path(cache_dir: str | Path, base_name: str, net: nn.Module, ratio: float, X_train: Any, y_train: Any,
                 config: TrainConfig) -> Path:
    """Where the fine-tuned weights of ``net`` pruned at ``ratio`` are kept: keyed by the float weights, the training
    data and the fine-tune settings."""
    key = fingerprint(*[t.detach().cpu().numpy() for t in net.state_dict().values()],
                      np.asarray(X_train, dtype=np.float32), np.asarray(y_train),
                      np.frombuffer(repr((float(ratio), config.to_dict())).encode(), dtype=np.uint8))
    return Path(cache_dir) / f"{base_name}-pruned{ratio:g}-{key}.pt"


@dataclass
class FineTuneJob:
    """Prune ``net`` at ``ratio`` and fine-tune it (labels already encoded); a unit of work for the executor.

    With ``path`` the fine-tuned weights are stored there and loaded (not trained again) when present: pruning the
    same float network again is deterministic, so the architecture matches (``torch.load(weights_only=True)``).
    """

    net: nn.Module
    ratio: float
    length: int
    X_train: Any
    y_train: Any
    X_val: Any
    y_val: Any
    config: TrainConfig
    path: Path | None = None

    def run(self) -> tuple[nn.Module, float | None]:
        """(the pruned, fine-tuned network, seconds of fine-tuning or ``None`` when loaded)."""
        pruned = prune_channels(self.net, (1, 1, self.length), self.ratio)
        if self.path is not None and self.path.exists():
            pruned.load_state_dict(torch.load(self.path, map_location="cpu", weights_only=True))
            return pruned, None
        has_val = self.X_val is not None and self.y_val is not None and len(self.X_val) > 0
        start = time.perf_counter()
        with num_threads(1):  # the same weights whichever thread count the caller times with
            train_model(pruned, self.X_train, self.y_train, self.X_val if has_val else None,
                        self.y_val if has_val else None, self.config, progress=False)
        seconds = time.perf_counter() - start
        if self.path is not None:
            with atomic_path(self.path) as tmp:
                torch.save({k: v.detach().cpu() for k, v in pruned.state_dict().items()}, tmp)
        return pruned, seconds


def _fine_tune(job: FineTuneJob) -> Path | None:
    """Executor unit: run the job for its stored weights (nothing big travels back)."""
    job.run()
    return job.path


def deployment_variants(model: Any, calibration_X: Any, X_test: Any, y_test: Any, *, X_train: Any = None,
                        y_train: Any = None, X_val: Any = None, y_val: Any = None,
                        ratios: Sequence[float] = (0.25, 0.5, 0.75), fine_tune: Any = None, int8: bool = True,
                        onnx: bool = True, onnx_int8: bool = True, onnx_dynamo: bool = True, backend: str = "x86",
                        threads: int | None = None,
                        latency_runs: int = 15, throughput_runs: int | None = None, timing_min_ms: float = 10.0,
                        timing_max_s: float | None = 60.0, idle_wait_s: float = 30.0, workdir: str | Path | None = None,
                        name: str | None = None, progress: bool = False,
                        cache_dir: str | Path | None = None) -> list[DeploymentVariant]:
    """One :class:`DeploymentVariant` (model, variant, runtime, precision, prune_ratio, accuracy, agreement,
    params, mflops, size_kb, threads, timings and speed-ups over the float model) for each variant.

    Args:
        model: a trained network or :class:`~ramancmp.models.TorchClassifier` (its ``classes_`` map outputs to
            labels); it is not modified.
        calibration_X: training spectra for int8 calibration (never test spectra).
        X_test, y_test: the held-out part, labels as the classifier's ``classes_`` (or output indices).
        X_train, y_train, X_val, y_val: for fine-tuning pruned networks; without ``X_train`` they are not
            fine-tuned (the row says so).
        ratios: channel-pruning ratios (empty: no pruning rows).
        fine_tune: a :class:`ramancmp.training.TrainConfig` for the fine-tune (default: 10 epochs, lr 1e-3,
            patience 4, CPU).
        int8, onnx, onnx_int8: which other variants to include.
        onnx_dynamo: export with the ``torch.export``-based exporter (default) or the legacy TorchScript one
            (seconds instead of tens of seconds on a small CPU; same logits within 1e-4, see the tests).
        threads: torch and ONNX Runtime intra-op threads for every timing (``None``: torch's current setting).
        latency_runs: interleaved rounds of the timing protocol (:func:`ramancmp.metrics.timing.compare_speed`:
            every variant at batch 1 and 256 per round, each sample at least ``timing_min_ms`` long, the whole
            comparison capped at ``timing_max_s``); ``throughput_runs`` is ignored (kept for old callers).
            Rows get the medians, 95 % intervals and speed-ups over the float model with paired intervals.
        workdir: where ONNX files go (default: a temporary folder, removed afterwards).
        cache_dir: where fine-tuned pruned weights are kept (``None``: not kept). A pruned network is rebuilt by
            pruning the same float network again (deterministic) and loading its stored fine-tuned weights
            (``weights_only=True``), so a second run never fine-tunes the same network again.
    """
    net = as_torch_module(model)
    if net is None:
        raise ValueError(f"deployment_variants needs a torch network, got {type(model).__name__}")
    net = net.cpu().eval()
    classes = np.asarray(model.classes_) if hasattr(model, "classes_") else None
    X_test = np.asarray(X_test, dtype=np.float32)
    y_test = np.asarray(y_test)
    if len(X_test) != len(y_test) or len(X_test) == 0:
        raise ValueError(f"X_test and y_test must be non-empty and of equal length, got {len(X_test)}, {len(y_test)}")
    base_name = name or getattr(net, "default_cfg", {}).get("name", type(net).__name__)
    length = int(getattr(net, "in_length", X_test.shape[-1])) * int(getattr(net, "in_channels", 1))
    labels = (lambda idx: classes[idx]) if classes is not None else (lambda idx: idx)

    with num_threads(threads), tempfile.TemporaryDirectory() as tmp:
        n_threads = torch.get_num_threads()
        folder = Path(workdir) if workdir is not None else Path(tmp)
        float_pred = labels(_torch_logits(net, X_test).argmax(1))
        flops_float = count_flops(net, (1, 1, length))

        timed_targets: dict[str, Any] = {}

        def row(variant: str, runtime: str, precision: str, pred: np.ndarray, timed: Any, *, params: int,
                flops: int, size: int, ratio: float = 0.0, predict_fn: Any = None,
                **extra: Any) -> DeploymentVariant:
            timed_targets[variant] = predict_fn if predict_fn is not None else timed  # timed together below
            return DeploymentVariant(base_name, variant, runtime, precision, ratio, float(np.mean(pred == y_test)),
                                     float(np.mean(pred == float_pred)), int(params), flops / 1e6, size / 1024,
                                     n_threads, extra=extra)

        steps = ["float"] + (["int8"] if int8 else []) + [f"prune {r:g}" for r in ratios] + (
            ["onnx"] if onnx else [])
        bar = _progress(steps, base_name, progress)
        rows = [row("float", "torch", "fp32", float_pred, net, params=count_params(net)["total"],
                    flops=flops_float["flops"], size=_torch_bytes(net))]
        bar.update()
        if int8:
            q = quantize_int8(net, calibration_X, backend=backend)
            rows.append(row("int8", "torch", "int8", labels(_torch_logits(q, X_test).argmax(1)), q,
                            params=rows[0].params, flops=flops_float["flops"], size=_torch_bytes(q),
                            int8_layers=q.report.n_quantized, float_layers=int(sum(q.report.float_modules.values())),
                            backend=backend, quantization=q.report.to_dict()))
            bar.update()
        for ratio in ratios:
            tuned, fit_time = False, None
            if X_train is not None and y_train is not None:
                config = fine_tune or TrainConfig(max_epochs=10, lr=1e-3, patience=4, device="cpu")
                job = FineTuneJob(net, float(ratio), length, X_train, encode_labels(classes, y_train), X_val,
                                  None if y_val is None else encode_labels(classes, y_val), config,
                                  None if cache_dir is None else _pruned_path(cache_dir, base_name, net, ratio,
                                                                              X_train, y_train, config))
                pruned, fit_time = job.run()
                tuned = True
            else:
                pruned = prune_channels(net, (1, 1, length), ratio)
            pruned.cpu().eval()
            rows.append(row(f"pruned {ratio:.0%}" + (" + fine-tune" if tuned else ""), "torch", "fp32",
                            labels(_torch_logits(pruned, X_test).argmax(1)), pruned,
                            params=count_params(pruned)["total"], flops=count_flops(pruned, (1, 1, length))["flops"],
                            size=_torch_bytes(pruned), ratio=float(ratio), fine_tuned=tuned, fine_tune_s=fit_time))
            bar.update()
        if onnx:
            path = export_onnx(net, folder / f"{base_name}.onnx", dynamo=onnx_dynamo)
            sess = OnnxClassifier(path, threads=n_threads)
            rows.append(row("onnx", "onnxruntime", "fp32", labels(sess.predict_logits(X_test).argmax(1)), None,
                            params=rows[0].params, flops=flops_float["flops"], size=path.stat().st_size,
                            predict_fn=sess.predict_logits, opset=_opset(path)))
            if onnx_int8:
                qpath = quantize_onnx(path, folder / f"{base_name}.int8.onnx", calibration_X)
                qsess = OnnxClassifier(qpath, threads=n_threads)
                rows.append(row("onnx int8", "onnxruntime", "int8", labels(qsess.predict_logits(X_test).argmax(1)),
                                None, params=rows[0].params, flops=flops_float["flops"],
                                size=qpath.stat().st_size, predict_fn=qsess.predict_logits))
            bar.update()
        bar.close()
        # every variant in one run of the protocol: interleaved rounds, intervals, speed-ups over the float model
        cmp = compare_speed(timed_targets, length=length, batches=(1, 256), rounds=latency_runs,
                            min_sample_ms=timing_min_ms, threads=None, inputs=X_test, max_s=timing_max_s,
                            idle_wait_s=idle_wait_s)
        for r in rows:
            b1, b256 = cmp.cell(r.variant, 1), cmp.cell(r.variant, 256)
            r.latency_b1_ms, r.latency_b1_ci = b1.median_ms, b1.ci_ms
            r.throughput_b256, r.per_spectrum_b256_ci_ms = 1e3 / b256.median_ms, b256.ci_ms
            r.timing_rounds = cmp.rounds
            if r.variant != "float":
                r.speedup_b1 = cmp.speedup(r.variant, "float", 1)
                r.speedup_b256 = cmp.speedup(r.variant, "float", 256)
    return rows


def _opset(path: Path) -> int:
    import onnx  # deferred on purpose: only needed for this one read

    proto = onnx.load(str(path), load_external_data=False)
    return int(next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")))


def _progress(steps: list[str], desc: str, enabled: bool):
    return tqdm(total=len(steps), desc=desc, unit="variant", disable=not enabled, leave=False)


def deployment_rows(rows: Sequence[Any], peak_gflops: float | None = None) -> list[Row]:
    """:func:`deployment_variants` rows (:class:`DeploymentVariant`, or their saved dicts) as table :class:`Row`
    (one split: accuracy has one value, no sd)."""
    out = []
    for v in map(DeploymentVariant.from_dict, rows):
        s = v.speedup_b1
        row = Row(model=f"{v.model} {v.variant}", group="deployment", accuracy=Stat(v.accuracy, None, (v.accuracy,)),
                  params=v.params, mflops=v.mflops, latency_b1_ms=v.latency_b1_ms, latency_b1_ci=v.latency_b1_ci,
                  throughput_b256=v.throughput_b256, baseline=f"{v.model} float",
                  speedup_pct=None if s is None else s.pct, speedup_ci=None if s is None else [s.lo, s.hi],
                  extra={"variant": v.variant, "runtime": v.runtime, "precision": v.precision,
                         "prune_ratio": v.prune_ratio, "agreement": v.agreement, "size_kb": v.size_kb})
        row.set_gemm_peak(peak_gflops)
        out.append(row)
    return out


def bench_deployment(task: str = "rruff-groups-10", *, profile: Profile, seed: int = 0,
                     models: Sequence[str] | None = None, threads: int | None = TIMING_THREADS, dataset: Any = None,
                     save: bool = True, device: str = "auto", progress: bool = False,
                     executor: Executor | str | None = None) -> dict[str, Any]:
    """Deployment variants of the book's networks, trained on one by-sample split (seed ``seed``) of ``task``.

    ``models`` are registry names (default: the book's networks, :data:`ramancmp.config.NETWORKS`). Networks
    come from the model store: the same checkpoints as the earlier chapters (first split of ``repeated_splits``
    with this seed); pruned fine-tunes are kept beside them. Calibration size, pruning ratios, fine-tune epochs and
    the ONNX exporter are the profile's. Writes ``results/bench_deployment.json``.
    """
    ds = dataset if dataset is not None else load_task(task)
    models = tuple(models) if models is not None else NETWORKS
    split = make_split(ds.y, ds.groups, kind="sample", seed=seed)
    X_tr, y_tr, X_val, y_val = train_part(ds, split)
    X, y = np.asarray(ds.X, dtype=np.float32), np.asarray(ds.y)
    tune = TrainConfig(max_epochs=profile.fine_tune_epochs, patience=profile.fine_tune_patience, lr=1e-3,
                       batch_size=profile.batch_size, device="cpu", seed=seed)
    nets = {}
    for key in models:
        nets[key] = get_or_train(key, ds, split, profile, device=device)
    # the pruned networks' fine-tunes are independent units of work: all of them in parallel first, then measure
    jobs = []
    for clf in nets.values():
        net, classes, cache = clf.model_.cpu().eval(), np.asarray(clf.classes_), _cache_dir(clf)
        base = getattr(net, "default_cfg", {}).get("name", type(net).__name__)
        length = int(getattr(net, "in_length", X_tr.shape[1])) * int(getattr(net, "in_channels", 1))
        jobs += [FineTuneJob(net, float(r), length, X_tr, encode_labels(classes, y_tr), X_val,
                             encode_labels(classes, y_val), tune, _pruned_path(cache, base, net, r, X_tr, y_tr, tune))
                 for r in profile.prune_ratios if cache is not None]
    pending = [j for j in jobs if not j.path.exists()]
    if pending:
        shared_executor(executor).map(_fine_tune, pending, desc="fine-tuning", progress=progress)
    rows = []
    for clf in nets.values():
        rows += deployment_variants(clf, X_tr[:profile.calibration_size], X[split.test], y[split.test], X_train=X_tr,
                                    y_train=y_tr, X_val=X_val, y_val=y_val, ratios=profile.prune_ratios,
                                    fine_tune=tune, threads=threads, latency_runs=profile.timing_rounds,
                                    timing_min_ms=profile.timing_min_ms, timing_max_s=profile.timing_max_s,
                                    idle_wait_s=profile.idle_wait_s, onnx_dynamo=profile.onnx_dynamo,
                                    progress=progress, cache_dir=_cache_dir(clf))
    table = {"what": "deployment", "task": getattr(ds, "task", task), "profile": profile.name, "seed": seed,
             "split_kind": "sample", "split_sizes": split.sizes(), "threads": threads or torch.get_num_threads(),
             "fine_tune": tune.to_dict(), "rows": rows}
    if save:
        path = save_result("bench_deployment", table, data_sha256=getattr(ds, "source_sha256", None),
                           task=table["task"], split_kind="sample", seed=seed, profile=profile.name)
        table["saved_to"] = str(path)
    return table


def _cache_dir(clf: Any) -> Path | None:
    """The folder of a stored network's checkpoint (where its pruned fine-tunes are kept)."""
    path = getattr(clf, "checkpoint_path_", None)
    return Path(path).parent if path else None
