"""Speed: batch-1 latency, batch-256 throughput and the machine's GEMM peak, measured the same way for every model.

Why these three numbers: an instrument identifying one spectrum at a time cares about *latency* (batch 1); a
library screening a folder cares about *throughput* (large batches); and the *GEMM peak* -- the speed of one large
float32 matrix multiply on the same threads -- says how much of the hardware a model actually uses
(``achieved FLOP/s / peak``). Small 1-D networks are dominated by per-layer overhead, not arithmetic, so their
FLOPs alone do not predict their speed; this is one of the lessons of the book.

Every model is timed by ONE protocol, :func:`compare_speed` (see :data:`PROTOCOL_NOTE`): ``time.perf_counter``
wall-clock time on the CPU, warm-up calls first (allocations, lazy initialisation), interleaved rounds, medians over
rounds with 95 % bootstrap intervals (robust to a noisy shared machine); torch models run in ``eval()`` mode under
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
from typing import Any

import numpy as np
import torch
from scipy import stats

from ramancmp.metrics.statistics import Ratio, Speedup, TimingCell

__all__ = [
    "PROTOCOL_NOTE",
    "SpeedComparison",
    "compare_speed",
    "exclusive_phase",
    "gemm_peak_gflops",
    "machine_busy",
    "measure_fit_time",
    "num_threads",
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
    "a sample lasts the profile's minimum time. Per model: the median time per "
    "spectrum over rounds with a 95 % bootstrap interval; per ratio or speed-up: a 95 % paired bootstrap interval "
    "over the same rounds (only between models of the same run). Batch 1 and batch 256 (per spectrum), eager "
    "PyTorch and ONNX Runtime, on 1 thread (and on all cores as a second column).")


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


@dataclass
class SpeedComparison:
    """The interleaved timings of one run: per-spectrum milliseconds per (target, batch) and every round's sample.

    ``cells[name][batch]`` = a :class:`~ramancmp.metrics.statistics.TimingCell` (``median_ms, lo_ms, hi_ms,
    samples_ms, reps``: per spectrum, 95 % bootstrap interval of the median over rounds). :meth:`ratio` and
    :meth:`speedup` compare two targets of *this* run with a
    paired bootstrap over the same rounds.
    """

    cells: dict[str, dict[int, TimingCell]]
    rounds: int
    threads: int
    batches: tuple[int, ...]
    n_boot: int = 2000
    seed: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def cell(self, name: str, batch: int = 1) -> TimingCell:
        try:
            return self.cells[name][int(batch)]
        except KeyError:
            raise KeyError(f"no timing of {name!r} at batch {batch} in this run; timed: {sorted(self.cells)}, "
                           f"batches {self.batches}") from None

    def ratio(self, name: str, reference: str, batch: int = 1) -> Ratio:
        """``time(name) / time(reference)`` per spectrum: the ratio of medians, 95 % paired bootstrap interval."""
        a, b = (np.asarray(self.cell(n, batch).samples_ms) for n in (name, reference))
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
                "cells": {n: {str(b): c.without_samples(keep_reps=True).to_dict() for b, c in per.items()}
                          for n, per in self.cells.items()}}


def compare_speed(targets: dict[str, Any], *, length: int = 1024, batches: tuple[int, ...] = (1, 256),
                  rounds: int = 15, min_sample_ms: float = 20.0, warmup: int = 3, threads: int | None = 1,
                  inputs: np.ndarray | None = None, seed: int = 0, n_boot: int = 2000, max_s: float | None = None,
                  exclusive: bool = True, idle_wait_s: float = 30.0) -> SpeedComparison:
    """THE timing protocol of the book (see :data:`PROTOCOL_NOTE`): time every target at every batch size in
    interleaved rounds and return a :class:`SpeedComparison`.

    Args:
        targets: name -> a torch module (input ``(N, 1, L)``), an estimator with ``predict``, or a callable on
            ``(N, L)`` float32 arrays (e.g. an ONNX Runtime session's ``predict_logits``).
        batches: batch sizes; times are reported *per spectrum* (batch-256 time / 256).
        rounds: interleaved rounds (after warm-up); each gives one sample per target and batch.
        min_sample_ms: each sample repeats the call until it lasts at least this long (calibrated in warm-up).
        threads: torch/BLAS intra-op threads (``None``: as configured). ONNX Runtime sessions carry their own.
        inputs: spectra to feed (tiled to the batch size; default: random normal).
        max_s: a budget for the whole comparison: fewer rounds (at least 3) when the calibrated cost exceeds it.
        exclusive: run inside :func:`exclusive_phase` (shut workers down, flush denormals, check the load).
        idle_wait_s: how long the exclusive phase waits for other processes to go quiet (a profile's
            ``idle_wait_s``: 0 in the quick and tiny profiles, whose timings are pipeline checks).
    """
    if not targets:
        raise ValueError("nothing to time: targets is empty")
    if rounds < 1 or warmup < 0 or min_sample_ms < 0:
        raise ValueError(f"need rounds >= 1, warmup >= 0, min_sample_ms >= 0; got {rounds}, {warmup}, "
                         f"{min_sample_ms}")
    batches = tuple(int(b) for b in batches)
    if not batches or min(batches) < 1:
        raise ValueError(f"batch sizes must be >= 1, got {batches}")
    phase = exclusive_phase(max_wait_s=idle_wait_s) if exclusive else _flush_denormals()
    with phase as info, num_threads(threads):
        used = _threads()
        runs = {(n, b): _runner(t, _batch(inputs, b, length, seed)) for n, t in targets.items() for b in batches}
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
            rounds = max(3, min(rounds, int(max_s / max(per_round, 1e-9))))
        samples = {key: np.empty(rounds) for key in runs}
        keys, order_rng = list(runs), np.random.default_rng(seed)
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
    cells: dict[str, dict[int, TimingCell]] = {}
    for (name, b), s in samples.items():
        lo, hi = _median_ci(s, n_boot, seed)
        cells.setdefault(name, {})[b] = TimingCell(float(np.median(s)), lo, hi, tuple(float(v) for v in s),
                                                   reps[(name, b)])
    info = dict(info or {})
    info.update({"protocol": "interleaved rounds", "min_sample_ms": float(min_sample_ms), "warmup": int(warmup)})
    return SpeedComparison(cells, rounds, used, batches, n_boot, seed, info)
