"""Speed: batch-1 latency, batch-256 throughput and the machine's GEMM peak, measured the same way for every model.

Why these three numbers: an instrument identifying one spectrum at a time cares about *latency* (batch 1); a
library screening a folder cares about *throughput* (large batches); and the *GEMM peak* -- the speed of one large
float32 matrix multiply on the same threads -- says how much of the hardware a model actually uses
(``achieved FLOP/s / peak``). Small 1-D networks are dominated by per-layer overhead, not arithmetic, so their
FLOPs alone do not predict their speed; this is one of the lessons of the book.

Conventions: ``time.perf_counter`` wall-clock time; warm-up calls first (allocations, lazy initialisation); the
median and the 10th/90th percentiles of the timed calls (robust to a noisy shared machine); torch models run in
``eval()`` mode under ``torch.inference_mode()``; on CUDA the device is synchronised around every call. The number
of intra-op threads (``torch.get_num_threads()``) is recorded with every measurement because it changes everything.

Anything that predicts works: a ``torch.nn.Module`` (input ``(N, 1, L)`` float32 tensors), a scikit-learn
estimator or pipeline (input ``(N, L)`` float32 arrays, timed through ``predict``), or a plain callable on numpy
arrays (``predict_fn``), so LDA, kNN and the networks are timed by the same code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

__all__ = [
    "gemm_peak_gflops",
    "measure_fit_time",
    "measure_latency",
    "measure_throughput",
    "num_threads",
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


_threads = threads  # the parameter ``threads`` shadows the function inside the measuring functions


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _prepare(model: Any, input_shape: tuple[int, ...], device: str | torch.device,
             predict_fn: Callable | None, seed: int) -> tuple[Callable[[], Any], torch.device]:
    """A zero-argument callable that runs one prediction on a fixed random input, and the device it runs on."""
    device = torch.device(device)
    if predict_fn is None and isinstance(model, torch.nn.Module):
        module = model.to(device).eval()
        x = torch.randn(*input_shape, generator=torch.Generator().manual_seed(seed)).to(device)

        def run() -> Any:
            with torch.inference_mode():
                return module(x)
        return run, device

    fn = predict_fn
    if fn is None:
        if hasattr(model, "predict"):
            fn = model.predict
        elif callable(model):
            fn = model
        else:
            raise ValueError(f"cannot time {type(model).__name__}: pass a torch module, an estimator with "
                             "predict(), a callable, or predict_fn=")
    if device.type != "cpu":
        raise ValueError(f"numpy predictors run on the CPU only, got device={device}")
    n = input_shape[0]
    x_np = np.random.default_rng(seed).standard_normal((n, int(np.prod(input_shape[1:])))).astype(np.float32)
    return (lambda: fn(x_np)), device


def _timed_calls(run: Callable[[], Any], device: torch.device, runs: int, warmup: int) -> np.ndarray:
    if runs < 1 or warmup < 0:
        raise ValueError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    for _ in range(warmup):
        run()
    _sync(device)
    seconds = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        run()
        _sync(device)
        seconds[i] = time.perf_counter() - start
    return seconds


def measure_latency(model: Any, input_shape: tuple[int, ...] = (1, 1, 1024), runs: int = 200, warmup: int = 20,
                    device: str | torch.device = "cpu", predict_fn: Callable | None = None,
                    seed: int = 0, threads: int | None = None) -> dict[str, Any]:
    """Time single predictions; returns milliseconds ``{"median_ms", "p10_ms", "p90_ms", "mean_ms", ...}``.

    ``input_shape`` is the torch shape ``(N, 1, L)``; numpy predictors get ``(N, L)``. ``threads`` runs the
    measurement with that many threads (see :func:`num_threads`; default: as configured).
    """
    run, device = _prepare(model, tuple(input_shape), device, predict_fn, seed)
    with num_threads(threads):
        ms = _timed_calls(run, device, runs, warmup) * 1e3
        used = _threads()
    return {
        "median_ms": float(np.median(ms)), "p10_ms": float(np.percentile(ms, 10)),
        "p90_ms": float(np.percentile(ms, 90)), "mean_ms": float(np.mean(ms)),
        "batch": int(input_shape[0]), "runs": int(runs), "warmup": int(warmup),
        "threads": used, "device": str(device),
    }


def measure_throughput(model: Any, batch: int = 256, runs: int = 10, warmup: int = 2, length: int = 1024,
                       device: str | torch.device = "cpu", predict_fn: Callable | None = None,
                       seed: int = 0, threads: int | None = None) -> dict[str, Any]:
    """Spectra per second at a fixed batch size (median over ``runs`` timed batches)."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    run, device = _prepare(model, (batch, 1, length), device, predict_fn, seed)
    with num_threads(threads):
        seconds = _timed_calls(run, device, runs, warmup)
        used = _threads()
    per_s = batch / seconds
    return {
        "spectra_per_s": float(np.median(per_s)), "median_ms_per_batch": float(np.median(seconds) * 1e3),
        "batch": int(batch), "runs": int(runs), "warmup": int(warmup), "threads": used, "device": str(device),
    }


def gemm_peak_gflops(n: int = 2048, runs: int = 5, warmup: int = 1, device: str | torch.device = "cpu",
                     dtype: torch.dtype = torch.float32, threads: int | None = None) -> dict[str, Any]:
    """The practical arithmetic peak: GFLOP/s of an ``n x n`` float32 matrix multiply (``2 n^3`` FLOPs per call).

    Returns ``{"gflops"`` (median), ``"best_gflops"``, ``"n"``, ``"runs"``, ``"threads"``, ``"device"}``. A model's
    achieved GFLOP/s divided by this number is the fraction of the hardware it uses.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen, dtype=dtype).to(device)
    b = torch.randn(n, n, generator=gen, dtype=dtype).to(device)
    with torch.inference_mode(), num_threads(threads):
        seconds = _timed_calls(lambda: torch.mm(a, b), device, runs, warmup)
        used = _threads()
    gflops = 2.0 * n ** 3 / seconds / 1e9
    return {"gflops": float(np.median(gflops)), "best_gflops": float(np.max(gflops)), "n": int(n), "runs": int(runs),
            "dtype": str(dtype).replace("torch.", ""), "threads": used, "device": str(device)}


def measure_fit_time(fit: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call ``fit(*args, **kwargs)`` once; return ``(its result, wall-clock seconds)``."""
    start = time.perf_counter()
    result = fit(*args, **kwargs)
    return result, time.perf_counter() - start
