"""Speed: batch-1 latency, batch-256 throughput and the machine's GEMM peak, measured the same way for every model.

Why these three numbers: an instrument identifying one spectrum at a time cares about *latency* (batch 1); a
library screening a folder cares about *throughput* (large batches); and the *GEMM peak* -- the speed of one large
float32 matrix multiply on the same threads -- says how much of the hardware a model actually uses
(``achieved FLOP/s / peak``). Small 1-D networks are dominated by per-layer overhead, not arithmetic, so their
FLOPs alone do not predict their speed; this is one of the lessons of the book.

Every model is timed by ONE protocol, :func:`compare_speed` (see :data:`PROTOCOL_NOTE`): ``time.perf_counter``
wall-clock time on the CPU, warm-up calls first (allocations, lazy initialisation), interleaved rounds spread over
a profile's number of separate processes (``processes``: fresh interpreters, one after another, every target saved
once and loaded anew in each), medians per process and 95 % intervals over the processes (:func:`across_processes`:
an interval that a rerun in a new process would leave behind is not an interval of the quantity); with one process,
medians over rounds with 95 % bootstrap intervals. Torch models run in ``eval()`` mode under
``torch.inference_mode()``. The number of intra-op threads (``torch.get_num_threads()``) is recorded with every
measurement because it changes everything.

Anything that predicts works: a ``torch.nn.Module`` (input ``(N, 1, L)`` float32 tensors), a scikit-learn
estimator or pipeline (input ``(N, L)`` float32 arrays, timed through ``predict``), or a plain callable on numpy
arrays (``predict_fn``), so LDA, kNN and the networks are timed by the same code.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from ramancmp.metrics.statistics import Ratio, Speedup, TimingCell
from ramancmp.models.registry import _REGISTRY, create_model, is_torch_model

__all__ = [
    "PROTOCOL_NOTE",
    "SpeedComparison",
    "across_processes",
    "compare_speed",
    "exclusive_phase",
    "gemm_peak_gflops",
    "load_target",
    "machine_busy",
    "measure_fit_time",
    "num_threads",
    "save_target",
    "WithThreads",
    "threads",
]


def threads() -> int:
    """The number of intra-op threads torch (and the timings) use right now."""
    return int(torch.get_num_threads())


@contextmanager
def num_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` torch intra-op threads and ``n`` BLAS/OpenMP threads (numpy, scikit-learn).

    ``None`` changes nothing. Worth knowing: on a machine whose cores are busy with other work, several spinning
    OpenMP threads can make a small network *hundreds* of times slower than one thread; timings on shared
    machines are only meaningful with ``n`` at most the number of idle cores.
    """
    if n is None:
        yield
        return
    if int(n) < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        with threadpool_limits(limits=int(n)):
            yield
    finally:
        torch.set_num_threads(before)


class WithThreads(torch.nn.Module):
    """``module`` run with ``n`` torch intra-op threads: wrap each thread count of one network in its own target of
    :func:`compare_speed` (called with ``threads=None``) and the thread counts are timed in the same interleaved
    rounds, so warm-up and order effects fall on every count alike instead of on whichever is timed first.

    The thread count is set on the first call of each sample only (when it differs), so the switch costs nothing
    measurable in a sample of many calls.
    """

    def __init__(self, module: torch.nn.Module, n: int):
        super().__init__()
        if int(n) < 1:
            raise ValueError(f"threads must be >= 1, got {n}")
        self.module, self.n = module, int(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.get_num_threads() != self.n:
            torch.set_num_threads(self.n)
        return self.module(x)


_threads = threads  # the parameter ``threads`` shadows the function inside the measuring functions


def _timed_calls(run: Callable[[], Any], runs: int, warmup: int) -> np.ndarray:
    if runs < 1 or warmup < 0:
        raise ValueError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    for _ in range(warmup):
        run()
    seconds = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        run()
        seconds[i] = time.perf_counter() - start
    return seconds


def gemm_peak_gflops(n: int = 2048, runs: int = 5, warmup: int = 1, dtype: torch.dtype = torch.float32,
                     threads: int | None = None) -> dict[str, Any]:
    """The practical arithmetic peak: GFLOP/s of an ``n x n`` float32 matrix multiply (``2 n^3`` FLOPs per call).

    Returns ``{"gflops"`` (median), ``"best_gflops"``, ``"n"``, ``"runs"``, ``"threads"``, ``"device"}``. A model's
    achieved GFLOP/s divided by this number is the fraction of the hardware it uses.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen, dtype=dtype)
    b = torch.randn(n, n, generator=gen, dtype=dtype)
    with torch.inference_mode(), num_threads(threads):
        seconds = _timed_calls(lambda: torch.mm(a, b), runs, warmup)
        used = _threads()
    gflops = 2.0 * n ** 3 / seconds / 1e9
    return {"gflops": float(np.median(gflops)), "best_gflops": float(np.max(gflops)), "n": int(n), "runs": int(runs),
            "dtype": str(dtype).replace("torch.", ""), "threads": used, "device": "cpu"}


def measure_fit_time(fit: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call ``fit(*args, **kwargs)`` once; return ``(its result, wall-clock seconds)``."""
    start = time.perf_counter()
    result = fit(*args, **kwargs)
    return result, time.perf_counter() - start


# =============================================================================================== the protocol
#: What every timing of the book says about itself (chapters print it beside their tables).
PROTOCOL_NOTE = (
    "Timing protocol: an exclusive phase (training workers shut down first; a warning if other processes keep the "
    "CPUs busy), torch.set_flush_denormal(True) (denormal floats flushed to zero, so tiny activations cannot slow a "
    "kernel down), warm-up calls, then interleaved rounds -- every model once per round, in an order drawn afresh "
    "for each round (B, A, C, C, B, A, ...: no model always follows the same neighbour) -- each call repeated until "
    "a sample lasts the profile's minimum time. The rounds are split between the profile's timing processes, run "
    "one after another: each a fresh interpreter that loads every model's weights anew, checks its outputs, warms "
    "up and times its share (the same total budget as one process). Per model: the geometric mean of the "
    "per-process median times per spectrum; per ratio or speed-up: of the per-process ratios of medians (paired "
    "within each process; only between models of the same run); each with a 95 % t interval over the processes "
    "on the log scale, so an interval holds what a rerun in a new process changes. With one process (the "
    "pipeline checks): medians over rounds with 95 % bootstrap intervals over them. Batch 1 and batch 256 (per "
    "spectrum), eager PyTorch and ONNX Runtime, on 1 thread (and on all cores as a second column).")


def machine_busy(interval: float = 0.5, top: int = 3) -> dict[str, Any]:
    """How busy the CPUs are with *other* processes right now: ``{"other_cpus", "loadavg_1min", "cpus", "top"}``.

    ``other_cpus`` is the number of CPUs' worth of work done by every other process during ``interval`` seconds
    (system-wide CPU time from :mod:`psutil` minus this process's own); ``loadavg_1min`` is ``os.getloadavg()[0]``
    (slow to react: it still counts work that ended within the last minute); ``top`` names the ``top`` busiest
    other processes (``"name (pid): cpus"``), so a warning can say *what* was running.
    """
    import psutil

    cpus = os.cpu_count() or 1
    own = psutil.Process()
    before = _process_times(psutil, own.pid)
    t_sys, t_own, t0 = psutil.cpu_times(), own.cpu_times(), time.perf_counter()
    time.sleep(interval)
    t_sys2, t_own2, t1 = psutil.cpu_times(), own.cpu_times(), time.perf_counter()
    after = _process_times(psutil, own.pid)
    busy = lambda t: t.user + t.system + getattr(t, "nice", 0.0) + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
    other = (busy(t_sys2) - busy(t_sys)) - ((t_own2.user + t_own2.system) - (t_own.user + t_own.system))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    per_process = sorted(((after[k] - before[k]) / (t1 - t0), k) for k in after.keys() & before.keys())
    busiest = [f"{name} ({pid}): {c:.2f}" for c, (pid, name) in reversed(per_process[-top:]) if c >= 0.05]
    return {"other_cpus": max(0.0, other / (t1 - t0)), "loadavg_1min": load, "cpus": cpus, "top": busiest}


def _process_times(psutil: Any, own_pid: int) -> dict[tuple[int, str], float]:
    """CPU seconds (user + system) of every other process that can be read, keyed by ``(pid, name)``."""
    times = {}
    for proc in psutil.process_iter(["pid", "name", "cpu_times"]):
        info = proc.info
        if info["pid"] == own_pid or info.get("cpu_times") is None:
            continue
        times[(info["pid"], info.get("name") or "?")] = info["cpu_times"].user + info["cpu_times"].system
    return times


def _shutdown_workers() -> None:
    """Stop joblib/loky's reusable worker processes (the executor's training workers), if any were started."""
    if "joblib" not in sys.modules:
        return
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


@contextmanager
def exclusive_phase(busy_threshold: float = 0.25, check: bool = True,
                    max_wait_s: float = 30.0) -> Iterator[dict[str, Any]]:
    """The timing phase: worker processes shut down, denormals flushed, the machine's load checked and recorded.

    Yields a dict (``{"busy": machine_busy(), "warning": str | None, "waited_s": float, "checks": int,
    "flush_denormal": bool}``) to store beside the timings. The phase waits up to ``max_wait_s`` seconds for other
    processes to go below
    ``busy_threshold`` CPUs (shut-down workers wind down); if they do not, a loud :class:`RuntimeWarning` names the
    busiest ones and says the timings are not trustworthy (they are still measured and recorded, with the warning).
    """
    _shutdown_workers()
    info: dict[str, Any] = {"busy": None, "warning": None, "waited_s": 0.0, "checks": 0}
    if check:
        start = time.perf_counter()
        info["busy"], info["checks"] = machine_busy(), 1
        # workers that were just shut down, and the kernel's own output threads, take a moment to go quiet: wait
        # (up to ``max_wait_s``) for the machine to be idle before deciding that something else is running
        while info["busy"]["other_cpus"] > busy_threshold and time.perf_counter() - start < max_wait_s:
            info["busy"] = machine_busy(interval=1.0)
            info["checks"] += 1
        info["waited_s"] = round(time.perf_counter() - start, 1)
    if check and info["busy"]["other_cpus"] > busy_threshold:
        info["warning"] = (f"TIMINGS NOT TRUSTWORTHY: other processes keep {info['busy']['other_cpus']:.2f} of "
                           f"{info['busy']['cpus']} CPUs busy after waiting {info['waited_s']:g} s (1-min load "
                           f"{info['busy']['loadavg_1min']}; busiest: {', '.join(info['busy']['top']) or 'none'}); "
                           "rerun on an idle machine before quoting them")
        warnings.warn(info["warning"], RuntimeWarning, stacklevel=3)
        print(f"WARNING: {info['warning']}", file=sys.stderr)
    info["flush_denormal"] = bool(torch.set_flush_denormal(True))
    try:
        yield info
    finally:
        torch.set_flush_denormal(False)  # torch's default


@contextmanager
def _flush_denormals() -> Iterator[dict[str, Any]]:
    info = {"busy": None, "warning": None, "flush_denormal": bool(torch.set_flush_denormal(True))}
    try:
        yield info
    finally:
        torch.set_flush_denormal(False)  # torch's default


def _runner(target: Any, x_np: np.ndarray) -> Callable[[], Any]:
    """A zero-argument call of ``target`` on the fixed batch ``x_np`` (``(N, L)`` float32)."""
    if isinstance(target, torch.nn.Module):
        module = target.cpu().eval()
        x = torch.from_numpy(np.ascontiguousarray(x_np)).unsqueeze(1)

        def run() -> Any:
            with torch.inference_mode():
                return module(x)
        return run
    fn = target.predict if hasattr(target, "predict") else (target if callable(target) else None)
    if fn is None:
        raise ValueError(f"cannot time {type(target).__name__}: pass a torch module, an estimator with predict(), "
                         "or a callable on (N, L) float32 arrays")
    return lambda: fn(x_np)


def _batch(inputs: np.ndarray | None, batch: int, length: int, seed: int) -> np.ndarray:
    if inputs is None:
        return np.random.default_rng(seed).standard_normal((batch, length)).astype(np.float32)
    X = np.asarray(inputs, dtype=np.float32).reshape(len(inputs), -1)
    reps = -(-batch // len(X))
    return np.ascontiguousarray(np.tile(X, (reps, 1))[:batch])


def _median_ci(samples: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    if len(samples) < 2 or np.ptp(samples) == 0:
        return float(np.median(samples)), float(np.median(samples))
    res = stats.bootstrap((samples,), np.median, n_resamples=n_boot, confidence_level=0.95, method="percentile",
                          rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def across_processes(values: Any, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(point, lo, hi)`` of positive per-process values (medians or ratios of medians): a Student-t interval on
    their logarithms, ``P - 1`` degrees of freedom, back-transformed (the point is their geometric mean).

    THE interval of the multi-process protocol, for latencies, throughputs, ratios and speed-ups alike. Why this
    rule, and not a bootstrap over the pooled rounds or a hierarchical bootstrap (processes, then rounds in them):

    * The process is the unit that repeats. What a fresh interpreter draws -- memory layout, allocator state, code
      placement, which core and which frequency it starts on -- stays for its whole life, so rounds of one process
      are not independent replicates of the quantity: between chapters 7 and 10 of one run, 16 of 34 eager-PyTorch
      speed-ups had disjoint intervals built over rounds. The per-process median summarises each process robustly
      (a disturbed round moves it little); its spread over processes holds both the within-process noise and the
      between-process effect, so no variance component has to be modelled.
    * With the few processes a timing budget affords (3 to 5), a bootstrap over processes has only a handful of
      distinct resamples and a percentile interval of 3 values covers at most 75 %; the t quantile instead pays
      for estimating the spread from ``P - 1`` degrees of freedom (4.30 for 3 processes, 2.78 for 5).
    * Logarithms: a process effect is a factor (a slower layout slows every call by a share), times are positive,
      and on the log scale the geometric mean of per-process ratios equals the ratio of the two cells' geometric
      means, so a ratio, its speed-up ``100 (1 - ratio)`` and the two cells it compares are one consistent estimate.
    """
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"per-process values must be positive finite numbers, got {values!r}")
    if np.ptp(v) == 0:  # one process, or all alike: no spread to build an interval from
        return float(v[0]), float(v[0]), float(v[0])
    logs = np.log(v)
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1)) * float(logs.std(ddof=1)) / np.sqrt(v.size)
    return float(np.exp(logs.mean())), float(np.exp(logs.mean() - half)), float(np.exp(logs.mean() + half))


@dataclass
class SpeedComparison:
    """The interleaved timings of one run: per-spectrum milliseconds per (target, batch) and every round's sample.

    ``cells[name][batch]`` = a :class:`~ramancmp.metrics.statistics.TimingCell` (``median_ms, lo_ms, hi_ms,
    samples_ms, reps``, and ``process_ms`` when timed in several processes). In one process: the median over
    rounds with a 95 % bootstrap interval of the median; in several (``processes > 1``): the interval of
    :func:`across_processes` over the per-process medians. :meth:`ratio` and :meth:`speedup` compare two targets of
    *this* run: a paired bootstrap over the same rounds (one process) or :func:`across_processes` of the per-process
    ratios of medians (each ratio paired within its process). ``round_process[i]`` is the process of round ``i``
    (every cell's ``samples_ms`` is in that order); ``pids`` the processes' ids.
    """

    cells: dict[str, dict[int, TimingCell]]
    rounds: int
    threads: int
    batches: tuple[int, ...]
    n_boot: int = 2000
    seed: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    processes: int = 1
    round_process: tuple[int, ...] = ()
    pids: tuple[int, ...] = ()

    def cell(self, name: str, batch: int = 1) -> TimingCell:
        try:
            return self.cells[name][int(batch)]
        except KeyError:
            raise KeyError(f"no timing of {name!r} at batch {batch} in this run; timed: {sorted(self.cells)}, "
                           f"batches {self.batches}") from None

    def ratio(self, name: str, reference: str, batch: int = 1) -> Ratio:
        """``time(name) / time(reference)`` per spectrum with its 95 % interval (see the class docstring)."""
        a, b = (np.asarray(self.cell(n, batch).samples_ms) for n in (name, reference))
        if self.processes > 1:
            where = np.asarray(self.round_process)
            per = [np.median(a[where == p]) / np.median(b[where == p]) for p in range(self.processes)]
            return Ratio(*across_processes(per))
        point = float(np.median(a) / np.median(b))
        if len(a) < 2:
            return Ratio(point, point, point)
        stat = lambda u, v, axis=-1: np.median(u, axis=axis) / np.median(v, axis=axis)
        res = stats.bootstrap((a, b), stat, paired=True, vectorized=True, n_resamples=self.n_boot,
                              confidence_level=0.95, method="percentile", rng=np.random.default_rng(self.seed))
        lo, hi = res.confidence_interval
        return Ratio(point, float(lo), float(hi))

    def speedup(self, name: str, reference: str, batch: int = 1) -> Speedup:
        """Per cent less time per spectrum than ``reference``: ``100 (1 - ratio)``, with its 95 % interval."""
        return self.ratio(name, reference, batch).speedup()

    def summary(self) -> dict[str, Any]:
        """JSON-able: every cell without its samples' list, the settings and the phase's load check."""
        return {"rounds": self.rounds, "threads": self.threads, "batches": list(self.batches), "info": self.info,
                "processes": self.processes, "pids": list(self.pids),
                "cells": {n: {str(b): c.without_samples(keep_reps=True).to_dict() for b, c in per.items()}
                          for n, per in self.cells.items()}}


def _time_rounds(runs: dict[tuple[str, int], Callable[[], Any]], *, rounds: int, min_sample_ms: float, warmup: int,
                 max_s: float | None, min_rounds: int, order_seed: Any
                 ) -> tuple[dict[tuple[str, int], np.ndarray], dict[tuple[str, int], int], int, float]:
    """Warm-up, calibration and interleaved rounds of ``runs`` in THIS process: ``(samples, reps, rounds, seconds
    of warm-up and calibration)``."""
    begin = time.perf_counter()
    reps: dict[tuple[str, int], int] = {}
    per_round = 0.0
    for key, run in runs.items():  # warm-up, and how many calls make one sample
        for _ in range(warmup):
            run()
        if min_sample_ms <= 0:  # one call per sample: nothing to calibrate
            reps[key] = 1
            continue
        start = time.perf_counter()
        run()
        one = max(time.perf_counter() - start, 1e-7)
        reps[key] = max(1, int(np.ceil(min_sample_ms / 1e3 / one)))
        per_round += reps[key] * one
    if max_s is not None:
        rounds = max(min_rounds, min(rounds, int(max_s / max(per_round, 1e-9))))
    samples = {key: np.empty(rounds) for key in runs}
    keys, order_rng = list(runs), np.random.default_rng(order_seed)
    warm_s = time.perf_counter() - begin
    for r in range(rounds):
        # every target once per round, in an order drawn afresh each round (seeded): a fixed order would give
        # each target the same neighbours every round, and any effect of position (caches the previous call
        # left, frequency steps) would become a systematic difference between targets instead of noise
        for i in order_rng.permutation(len(keys)):
            key = keys[i]
            run = runs[key]
            n = reps[key]
            start = time.perf_counter()
            for _ in range(n):
                run()
            samples[key][r] = (time.perf_counter() - start) / n / key[1] * 1e3
    return samples, reps, rounds, warm_s


def compare_speed(targets: dict[str, Any], *, length: int = 1024, batches: tuple[int, ...] = (1, 256),
                  rounds: int = 15, min_sample_ms: float = 20.0, warmup: int = 3, threads: int | None = 1,
                  inputs: np.ndarray | None = None, seed: int = 0, n_boot: int = 2000, max_s: float | None = None,
                  exclusive: bool = True, idle_wait_s: float = 30.0, processes: int = 1) -> SpeedComparison:
    """THE timing protocol of the book (see :data:`PROTOCOL_NOTE`): time every target at every batch size in
    interleaved rounds and return a :class:`SpeedComparison`.

    Args:
        targets: name -> a torch module (input ``(N, 1, L)``), an estimator with ``predict``, or a callable on
            ``(N, L)`` float32 arrays (e.g. an ONNX Runtime session's ``predict_logits``).
        batches: batch sizes; times are reported *per spectrum* (batch-256 time / 256).
        rounds: interleaved rounds (after warm-up); each gives one sample per target and batch. With several
            ``processes`` this is the TOTAL, split between them (41 rounds in 3 processes: 14, 14, 13).
        min_sample_ms: each sample repeats the call until it lasts at least this long (calibrated in warm-up).
        threads: torch/BLAS intra-op threads (``None``: as configured). ONNX Runtime sessions carry their own.
        inputs: spectra to feed (tiled to the batch size; default: random normal).
        max_s: a budget for the whole comparison's rounds: fewer rounds (at least 3 in all) when the calibrated
            cost exceeds it; with several processes each gets ``max_s / processes``.
        exclusive: run inside :func:`exclusive_phase` (shut workers down, flush denormals, check the load).
        idle_wait_s: how long the exclusive phase waits for other processes to go quiet (a profile's
            ``idle_wait_s``: 0 in the quick and tiny profiles, whose timings are pipeline checks).
        processes: how many separate processes the rounds are spread over (a profile's ``timing_processes``).
            1: everything in this process (intervals over rounds). More: every target is saved once to a temporary
            folder (:func:`save_target`), then each process -- a fresh interpreter (``spawn``), started only after
            the previous one ended, on the same ``threads`` -- loads every target fresh, checks that it gives this
            process's outputs, warms up, calibrates and times its share of the rounds; intervals over processes
            (:func:`across_processes`). A target that cannot be saved raises a ``ValueError`` naming it.
    """
    if not targets:
        raise ValueError("nothing to time: targets is empty")
    if rounds < 1 or warmup < 0 or min_sample_ms < 0:
        raise ValueError(f"need rounds >= 1, warmup >= 0, min_sample_ms >= 0; got {rounds}, {warmup}, "
                         f"{min_sample_ms}")
    if int(processes) < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    processes = int(processes)
    if processes > rounds:
        raise ValueError(f"{rounds} rounds cannot be spread over {processes} processes: give at least one round per "
                         "process (the rounds are a total, split between the processes)")
    batches = tuple(int(b) for b in batches)
    if not batches or min(batches) < 1:
        raise ValueError(f"batch sizes must be >= 1, got {batches}")
    phase = exclusive_phase(max_wait_s=idle_wait_s) if exclusive else _flush_denormals()
    with phase as info, num_threads(threads):
        used = _threads()
        runs = {(n, b): _runner(t, _batch(inputs, b, length, seed)) for n, t in targets.items() for b in batches}
        if processes == 1:
            samples, reps, rounds, _ = _time_rounds(runs, rounds=rounds, min_sample_ms=min_sample_ms,
                                                    warmup=warmup, max_s=max_s, min_rounds=3, order_seed=seed)
            per_process = None
        else:
            per_process = _time_in_processes(targets, runs, processes=processes, length=length, batches=batches,
                                             rounds=rounds, min_sample_ms=min_sample_ms, warmup=warmup, threads=used,
                                             inputs=inputs, seed=seed, max_s=max_s)
            samples = {k: np.concatenate([p["samples"][k] for p in per_process]) for k in runs}
            reps = {k: int(np.median([p["reps"][k] for p in per_process])) for k in runs}
            rounds = sum(p["rounds"] for p in per_process)
    cells: dict[str, dict[int, TimingCell]] = {}
    for (name, b), s in samples.items():
        if per_process is None:
            median = float(np.median(s))
            lo, hi = _median_ci(s, n_boot, seed)
            medians = None
        else:
            medians = tuple(float(np.median(p["samples"][(name, b)])) for p in per_process)
            median, lo, hi = across_processes(medians)
        cells.setdefault(name, {})[b] = TimingCell(median, lo, hi, tuple(float(v) for v in s), reps[(name, b)],
                                                   process_ms=medians)
    info = dict(info or {})
    info.update({"protocol": "interleaved rounds", "min_sample_ms": float(min_sample_ms), "warmup": int(warmup),
                 "processes": processes})
    if per_process is None:
        return SpeedComparison(cells, rounds, used, batches, n_boot, seed, info)
    info.update({"interval": "t on the logs of per-process medians (across_processes)",
                 "rounds_per_process": [p["rounds"] for p in per_process],
                 # where each process's time went: wall (start to end, seen from here), loading and checking the
                 # targets, warm-up and calibration; wall - run_s is the interpreter's start-up and shut-down
                 **{f"process_{k}": [round(p[k], 2) for p in per_process]
                    for k in ("wall_s", "run_s", "setup_s", "warmup_s")}})
    order = tuple(i for i, p in enumerate(per_process) for _ in range(p["rounds"]))
    return SpeedComparison(cells, rounds, used, batches, n_boot, seed, info, processes, order,
                           tuple(p["pid"] for p in per_process))


# =============================================================================================== several processes
def _split(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` near-equal whole numbers, the larger first (41 in 3: 14, 14, 13)."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def _time_in_processes(targets: dict[str, Any], runs: dict[tuple[str, int], Callable[[], Any]], *, processes: int,
                       length: int, batches: tuple[int, ...], rounds: int, min_sample_ms: float, warmup: int,
                       threads: int, inputs: np.ndarray | None, seed: int,
                       max_s: float | None) -> list[dict[str, Any]]:
    """Save the targets once, then run :func:`_timing_process` in ``processes`` fresh interpreters, one after
    another (never two at once: each times alone, as the exclusive phase promises)."""
    import multiprocessing
    import tempfile
    from concurrent.futures import ProcessPoolExecutor

    # what each target gives in this process, to check that the saved form reloads as the same model
    reference = {n: _output(runs[(n, batches[0])]()) for n in targets}
    context = multiprocessing.get_context("spawn")
    results = []
    with tempfile.TemporaryDirectory(prefix="ramancmp-timing-") as tmp:
        files = {n: save_target(t, Path(tmp), f"target{i}", name=n) for i, (n, t) in enumerate(targets.items())}
        for i, share in enumerate(_split(rounds, processes)):
            job = {"files": files, "reference": reference, "length": length, "batches": batches, "inputs": inputs,
                   "seed": seed, "rounds": share, "min_sample_ms": min_sample_ms, "warmup": warmup,
                   "threads": threads, "max_s": None if max_s is None else max_s / processes,
                   "min_rounds": min(share, -(-3 // processes)), "order_seed": [seed, i]}
            start = time.perf_counter()
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                result = pool.submit(_timing_process, job).result()
            result["wall_s"] = time.perf_counter() - start
            results.append(result)
    return results


def _timing_process(job: dict[str, Any]) -> dict[str, Any]:
    """One timing process (run in a fresh interpreter): load every target, check it, time its rounds."""
    start = time.perf_counter()
    torch.set_flush_denormal(True)
    with num_threads(job["threads"]):
        runs = {}
        for name, path in job["files"].items():
            target = load_target(path)
            for b in job["batches"]:
                runs[(name, b)] = _runner(target, _batch(job["inputs"], b, job["length"], job["seed"]))
            _check_reloaded(name, _output(runs[(name, job["batches"][0])]()), job["reference"][name])
        setup = time.perf_counter() - start
        samples, reps, rounds, warm_s = _time_rounds(runs, rounds=job["rounds"], min_sample_ms=job["min_sample_ms"],
                                                     warmup=job["warmup"], max_s=job["max_s"],
                                                     min_rounds=job["min_rounds"], order_seed=job["order_seed"])
        used = _threads()
    return {"pid": os.getpid(), "threads": used, "samples": samples, "reps": reps, "rounds": rounds,
            "setup_s": setup, "warmup_s": warm_s, "run_s": time.perf_counter() - start}


def _output(out: Any) -> Any:
    """A target's output as numpy (``None`` when it is not an array: nothing to compare)."""
    if isinstance(out, torch.Tensor):
        return out.detach().cpu().numpy()
    try:
        arr = np.asarray(out)
    except Exception:  # noqa: BLE001 -- any output type: then it is not checked
        return None
    return None if arr.dtype == object else arr


def _check_reloaded(name: str, got: Any, expected: Any) -> None:
    if got is None or expected is None:
        return
    same = got.shape == expected.shape and (
        np.allclose(got, expected, rtol=1e-4, atol=1e-5) if np.issubdtype(expected.dtype, np.floating)
        else np.array_equal(got, expected))
    if not same:
        raise RuntimeError(f"timing target {name!r}, reloaded in a fresh process from its saved form, gives other "
                           "outputs than in the process that saved it: its saved form misses part of its state "
                           "(an attribute set after it was built?); time it with processes=1 or make it rebuild "
                           "from what it saves")


# ------------------------------------------------------------------------------------ saving and loading targets
def save_target(target: Any, folder: str | Path, stem: str, *, name: str | None = None) -> Path:
    """Write ``target`` to ``folder`` so that a fresh process can load it with :func:`load_target`; returns the
    file to pass to it.

    One pickle file (``<stem>.pkl``, written by this process), in which
    * every torch network that :func:`ramancmp.models.create_model` rebuilds (its ``default_cfg`` names a builder
      and the rebuilt network has the same layers and tensor shapes) is stored as that builder's name and keyword
      arguments plus its ``state_dict`` in a ``.pt`` file (``torch.save``), loaded back with
      ``torch.load(..., weights_only=True)``;
    * every ONNX Runtime ``InferenceSession`` (inside an ``OnnxClassifier``, a bound ``predict_logits``, ...) is
      stored as a copy of its model as an ``.onnx`` file plus its session options and providers;
    * everything else (scikit-learn estimators and pipelines, numpy models, torch modules no builder rebuilds, such
      as pruned or int8 networks) is pickled as it is.
    A target that cannot be pickled (a lambda, a closure, an open file) raises a ``ValueError`` naming it.
    """
    import pickle

    folder = Path(folder)
    path = folder / f"{stem}.pkl"
    label = name if name is not None else stem
    try:
        with open(path, "wb") as fh:
            _TargetPickler(fh, folder, stem).dump(target)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise ValueError(f"cannot time {label!r} in separate processes: it cannot be saved for a fresh process "
                         f"({type(exc).__name__}: {exc}). Pass a torch module, an estimator with predict() or a "
                         "callable defined at module level (no lambda, closure or local class), or time it with "
                         "processes=1 (the profile's timing_processes)") from exc
    return path


def load_target(path: str | Path) -> Any:
    """A target written by :func:`save_target` (a file this process or its parent wrote: a pickle)."""
    import pickle

    with open(path, "rb") as fh:
        return pickle.load(fh)  # noqa: S301 -- our own file, written by save_target for this timing


def _builder_config(module: torch.nn.Module) -> dict[str, Any] | None:
    """``default_cfg`` of ``module`` when :func:`ramancmp.models.create_model` rebuilds it layer for layer."""
    cfg = getattr(module, "default_cfg", None)
    if not isinstance(cfg, dict) or not {"name", "num_classes", "in_length", "kwargs"} <= set(cfg):
        return None
    builder = _REGISTRY.get(cfg["name"])
    if builder is None or not is_torch_model(cfg["name"]) or builder.__module__ == "__main__":
        return None  # a fresh interpreter would not know it
    try:
        with torch.random.fork_rng(devices=[]):  # building draws initial weights: leave this process's RNG alone
            fresh = create_model(cfg["name"], cfg["num_classes"], cfg["in_length"], **cfg["kwargs"])
    except Exception:  # noqa: BLE001 -- any builder error: then it is pickled instead
        return None
    shapes = lambda m: [(k, tuple(v.shape), v.dtype) for k, v in m.state_dict().items()]
    if [type(m) for m in fresh.modules()] != [type(m) for m in module.modules()] or shapes(fresh) != shapes(module):
        return None  # changed after it was built (pruned, quantized, ...)
    return cfg


def _rebuild_module(cfg: dict[str, Any], state_path: str, training: bool) -> torch.nn.Module:
    module = create_model(cfg["name"], cfg["num_classes"], cfg["in_length"], **cfg["kwargs"])
    module.load_state_dict(torch.load(state_path, map_location="cpu", weights_only=True))
    return module.train(training)


_SESSION_OPTIONS = ("intra_op_num_threads", "inter_op_num_threads", "graph_optimization_level", "execution_mode",
                    "enable_cpu_mem_arena", "enable_mem_pattern")


def _load_session(model_path: str, options: dict[str, Any], providers: list[str]) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    for k, v in options.items():
        current = getattr(opts, k)
        setattr(opts, k, v if isinstance(current, (bool, int)) else type(current)(v))
    return ort.InferenceSession(model_path, sess_options=opts, providers=providers)


class _TargetPickler:
    """A pickler that stores networks as builder + ``state_dict`` and ONNX sessions as ``.onnx`` files."""

    def __init__(self, fh: Any, folder: Path, stem: str):
        import pickle

        outer = self

        class Pickler(pickle.Pickler):
            def reducer_override(self, obj: Any) -> Any:
                return outer.reduce(obj)

        self.pickler = Pickler(fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.folder, self.stem, self.count = folder, stem, 0

    def dump(self, obj: Any) -> None:
        self.pickler.dump(obj)

    def _file(self, suffix: str) -> Path:
        self.count += 1
        return self.folder / f"{self.stem}_{self.count}{suffix}"

    def reduce(self, obj: Any) -> Any:
        if isinstance(obj, torch.nn.Module):
            cfg = _builder_config(obj)
            if cfg is None:
                return NotImplemented
            path = self._file(".pt")
            torch.save(obj.state_dict(), path)
            return _rebuild_module, (cfg, str(path), bool(obj.training))
        ort = sys.modules.get("onnxruntime")
        if ort is not None and isinstance(obj, ort.InferenceSession):
            import shutil

            path = self._file(".onnx")
            source = getattr(obj, "_model_path", None)
            if source:
                shutil.copyfile(source, path)
                if os.path.exists(f"{source}.data"):  # external weights, kept beside the model
                    shutil.copyfile(f"{source}.data", f"{path}.data")
            elif getattr(obj, "_model_bytes", None) is not None:
                path.write_bytes(obj._model_bytes)
            else:
                raise _pickle_error("an ONNX Runtime session that holds neither a file nor its model's bytes")
            opts = obj.get_session_options()
            options = {k: getattr(opts, k) for k in _SESSION_OPTIONS}  # enums as numbers: they pickle
            options = {k: v if isinstance(v, (bool, int)) else int(v) for k, v in options.items()}
            return _load_session, (str(path), options, list(obj.get_providers()))
        return NotImplemented


def _pickle_error(what: str) -> Exception:
    import pickle

    return pickle.PicklingError(f"cannot save {what}")
