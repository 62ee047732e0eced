"""Rows timed together: the book's timing protocol applied to a table's rows (chapters 6-10, ``bench``).

:func:`time_rows` takes :class:`~ramancmp.experiments.tables.Row` objects and the fitted thing each row stands for
(a torch network, or any predictor), times them all in ONE :func:`~ramancmp.metrics.timing.compare_speed` run per
thread setting -- interleaved rounds, batch 1 and batch 256 per spectrum, eager PyTorch and ONNX Runtime (networks
are exported once with the TorchScript exporter: seconds instead of tens of seconds per network, and ONNX Runtime
optimises both exporters' graphs to the same kernels; chapter 9 checks the logits), 1 thread and, when the profile asks,
all cores, the rounds spread over the profile's ``timing_processes`` separate processes -- and writes into
every row its cells with 95 % intervals and its speed-ups over the baselines named, each with a paired interval
(over the processes' per-process ratios; over the rounds with one process). Ratios are only ever computed between
rows of the same run; ``row.timing.processes`` records how many processes each thread setting used.

Cells are read by ``row.cell(threads, runtime, batch)`` and ``row.speedup_over(baseline, threads, runtime,
batch)`` (:class:`~ramancmp.experiments.tables.Timing`; in JSON keyed ``f"{threads}/{runtime}/{batch}"``) with
``threads`` "1" or "all", ``runtime`` "torch" or
"onnxruntime". ``row.latency_b1_ms`` / ``latency_b1_ci`` / ``throughput_b256`` / ``speedup_pct`` / ``speedup_ci``
are the 1-thread eager-PyTorch values, so every table keeps its familiar columns.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ramancmp.compression.onnx_export import OnnxClassifier, export_onnx
from ramancmp.config import TIMING_THREADS, Profile
from ramancmp.experiments.tables import Row, Timing, cell_key
from ramancmp.metrics import as_torch_module
from ramancmp.metrics.statistics import Speedup
from ramancmp.metrics.timing import PROTOCOL_NOTE, compare_speed
from ramancmp.models.layers import FoldSpectrum

__all__ = ["PROTOCOL_NOTE", "cell_key", "describe_speedup", "speed_frame", "speedup_of", "time_rows"]

RUNTIMES = ("torch", "onnxruntime")


def _thread_settings(profile: Profile) -> list[tuple[str, int]]:
    settings = [("1", int(TIMING_THREADS))]
    cores = os.cpu_count() or 1
    if profile.timing_all_cores and cores > TIMING_THREADS:
        settings.append(("all", cores))
    return settings


def time_rows(rows: list[Row], targets: dict[str, Any], *, baselines: list[str] | None = None, profile: Profile,
              inputs: np.ndarray | None = None, onnx: bool = True, length: int | None = None,
              seed: int = 0) -> dict[str, Any]:
    """Time ``targets`` (row name -> fitted network or predictor) together and fill the rows of those names.

    Args:
        rows: the table's rows; those named in ``targets`` get ``timing`` and the speed columns.
        targets: row name -> a torch network (timed eagerly and, with ``onnx``, exported and run by ONNX Runtime),
            a fitted estimator with ``predict``, or a callable on ``(N, L)`` float32 arrays (eager only).
        baselines: row names every row is compared with (default: each row's own ``baseline``); a baseline must
            be among ``targets``. ``row.speedup_pct`` is against ``row.baseline``.
        profile: rounds, minimum sample time, budget and the all-cores column (:class:`ramancmp.config.Profile`).
        inputs: real spectra to feed (tiled to the batch size), e.g. the test part of a split.
    Returns the comparisons' summaries (``{"1": ..., "all": ...}``) with the phase's load check, for saving.
    """
    if not targets:
        raise ValueError("time_rows: no targets to time")
    by_name = {r.model: r for r in rows}
    missing = [n for n in targets if n not in by_name]
    if missing:
        raise ValueError(f"time_rows: no row named {missing}; rows: {sorted(by_name)}")
    base_names = list(baselines) if baselines is not None else sorted({r.baseline for r in rows
                                                                       if r.baseline and r.model in targets})
    unknown = [b for b in base_names if b not in targets]
    if unknown:
        raise ValueError(f"time_rows: baseline(s) {unknown} are not timed in this run (ratios only between rows "
                         "of the same run)")
    if length is None:
        length = int(np.asarray(inputs).shape[-1]) if inputs is not None else 1024
    modules = {n: as_torch_module(t) for n, t in targets.items()}
    summaries: dict[str, Any] = {"note": PROTOCOL_NOTE}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        if onnx:
            for n, m in modules.items():
                if m is not None:
                    exported = _export(m.cpu().eval(), Path(tmp) / f"m{len(paths)}", length)
                    if exported is not None:
                        paths[n] = exported
        for label, n_threads in _thread_settings(profile):
            timed: dict[str, Any] = {}
            for n, t in targets.items():
                timed[f"{n}|torch"] = modules[n].cpu().eval() if modules[n] is not None else t
                if n in paths:
                    timed[f"{n}|onnxruntime"] = _onnx_runner(paths[n], n_threads)
            cmp = compare_speed(timed, length=length, batches=(1, 256), threads=n_threads,
                                inputs=inputs, seed=seed, **profile.timing)
            summaries[label] = cmp.summary()
            for n in targets:
                row = by_name[n]
                row.timing = row.timing or Timing()
                row.timing.rounds[label] = cmp.rounds
                row.timing.processes[label] = cmp.processes
                for runtime in RUNTIMES:
                    key = f"{n}|{runtime}"
                    if key not in cmp.cells:
                        continue
                    for b in (1, 256):
                        row.timing.cells[cell_key(label, runtime, b)] = cmp.cell(key, b).without_samples()
                        for base in base_names:
                            bkey = f"{base}|{runtime}"
                            if bkey in cmp.cells and base != n:
                                row.timing.speedup.setdefault(base, {})[cell_key(label, runtime, b)] = \
                                    cmp.speedup(key, bkey, b)
    for n in targets:
        _fill_columns(by_name[n])
    return summaries


def _export(module: Any, stem: Path, length: int) -> dict[int | None, Path] | None:
    """ONNX file(s) of ``module`` (TorchScript exporter): one with a symbolic batch dimension, or -- where that
    exporter cannot keep a pooling length static (the folded DRSNs) -- one file per timed batch size."""
    channels = int(getattr(module, "in_channels", 1))
    attempts = [lambda: {b: export_onnx(module, stem.with_name(f"{stem.name}_b{b}.onnx"),
                                        (b, channels, length // channels), dynamo=False, dynamic_batch=False)
                         for b in (1, 256)},
                lambda: {None: export_onnx(module, stem.with_name(f"{stem.name}_dynamo.onnx"), dynamo=True)}]
    if not any(isinstance(m, FoldSpectrum) for m in module.modules()):
        attempts.insert(0, lambda: {None: export_onnx(module, stem.with_suffix(".onnx"), dynamo=False)})
    error: Exception | None = None
    for attempt in attempts:  # the quick exporter first; torch.export's (slow) where it cannot
        try:
            with _silenced_output():
                return attempt()
        except Exception as exc:  # noqa: BLE001 -- torch.onnx raises several unrelated types
            error = exc
    warnings.warn(f"ONNX export of {type(module).__name__} failed, no ONNX Runtime timing for it: "
                  f"{str(error).splitlines()[0]}", RuntimeWarning, stacklevel=3)
    return None


@contextlib.contextmanager
def _silenced_output():
    """Silence an export attempt at the file-descriptor level, not only Python's ``sys.stdout``: when the TorchScript
    exporter fails (the folded DRSNs' adaptive pooling) its C++ side prints the whole IR graph (~40 KB) straight to
    fd 1, which a Jupyter kernel forwards into the notebook. The attempt's error is still raised and reported."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
        sink = stack.enter_context(tempfile.TemporaryFile())
        saved = []
        for stream in (sys.__stdout__, sys.__stderr__):
            if stream is not None:
                stream.flush()  # what was printed before the attempt is kept
        try:
            for fd in (1, 2):
                try:
                    saved.append((fd, os.dup(fd)))
                except OSError:  # no such descriptor (an embedding host): nothing to silence there
                    continue
                os.dup2(sink.fileno(), fd)
            yield
        finally:
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)


def _onnx_runner(paths: dict[int | None, Path], threads: int) -> Any:
    """``predict_logits`` of ONNX Runtime session(s) on ``threads`` intra-op threads (by batch size if static)."""
    sessions = {b: OnnxClassifier(p, threads=threads) for b, p in paths.items()}
    if None in sessions:
        return sessions[None].predict_logits
    return _SessionsByBatch(sessions)


class _SessionsByBatch:
    """ONNX Runtime sessions of static batch sizes as one callable (``predict_logits`` of the batch's session); a
    module-level class, so the timing protocol can save it for its separate processes."""

    def __init__(self, sessions: dict[int, OnnxClassifier]):
        self.sessions = sessions

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.sessions[len(X)].predict_logits(X)


def _fill_columns(row: Row) -> None:
    b1, b256 = row.cell(batch=1), row.cell(batch=256)
    if b1:
        row.latency_b1_ms, row.latency_b1_ci = b1.median_ms, b1.ci_ms
        row.latency_b1_p10_ms = row.latency_b1_p90_ms = None  # superseded by the interval
    if b256:
        row.throughput_b256 = 1e3 / b256.median_ms
    s = row.speedup_over(row.baseline)
    if s:
        row.speedup_pct, row.speedup_ci = s.pct, [s.lo, s.hi]
    elif row.baseline == row.model:
        row.speedup_pct, row.speedup_ci = 0.0, None


def speed_frame(rows: list[Row], baseline: str | None = None) -> pd.DataFrame:
    """Every timed row x threads x runtime x batch: time per spectrum (median [95 % interval], µs) and the
    speed-up over ``baseline`` (default: the row's own) with its interval -- the long view of :func:`time_rows`."""
    out = []
    for r in rows:
        if not r.timing:
            continue
        base = baseline or r.baseline
        for threads, runtime, batch in r.timing.cell_keys():
            c, s = r.cell(threads, runtime, batch), r.speedup_over(base or "", threads, runtime, batch)
            out.append({"model": r.model, "threads": threads, "runtime": runtime, "batch": batch,
                        "µs per spectrum": f"{1e3 * c.median_ms:.1f} [{1e3 * c.lo_ms:.1f}, {1e3 * c.hi_ms:.1f}]",
                        f"speed-up vs {base} (%)": "–" if s is None else f"{s.pct:.1f} [{s.lo:.1f}, {s.hi:.1f}]"})
    return pd.DataFrame(out)


def describe_speedup(s: Speedup | None, unit: str = "%") -> str:
    """A :class:`~ramancmp.metrics.statistics.Speedup` in words that cannot contradict its interval: "19.6 % faster
    [15.2,
    23.1]", "4.5 % slower [2.0, 7.1]", or "no faster or slower within noise (-1.2 % [-3.0, 0.8])"."""
    if s is None:
        return "not timed"
    s = Speedup.from_dict(s)  # also the older dict
    if s.lo is None or s.hi is None:
        return f"{abs(s.pct):.1f} {unit} {'faster' if s.pct > 0 else 'slower'} (no interval)"
    if s.lo > 0:
        return f"{s.pct:.1f} {unit} faster [{s.lo:.1f}, {s.hi:.1f}]"
    if s.hi < 0:
        return f"{-s.pct:.1f} {unit} slower [{-s.hi:.1f}, {-s.lo:.1f}]"
    return f"no faster or slower within noise ({s.pct:.1f} {unit} [{s.lo:.1f}, {s.hi:.1f}])"


def speedup_of(row: Row, baseline: str, key: str = "1/torch/1") -> Speedup | None:
    """The speed-up of ``row`` over row ``baseline`` at timing cell ``key`` (same run), or ``None``
    (:meth:`Row.speedup_over <ramancmp.experiments.tables.Row.speedup_over>` with the cell's parts)."""
    threads, runtime, batch = key.split("/")
    return row.speedup_over(baseline, threads, runtime, int(batch))
