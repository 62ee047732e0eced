"""One execution engine for the book's independent units of work.

The unit of work of the book is independent of every other: (model or variant x split x seed) -> train -> save a
checkpoint. All such units run through one interface, :class:`Executor`, whose :meth:`Executor.map` calls a
function on every item and returns the results in the order of the items. Three executors implement it:

``SerialExecutor`` (``"serial"``)
    A plain loop in the calling process. For debugging (breakpoints, full tracebacks) and for the reference
    results the other executors are checked against.
``LocalExecutor`` (``"local"``, ``"local:N"``)
    ``joblib.Parallel`` with the *loky* backend: ``N`` worker processes on this machine (default
    ``os.cpu_count()``). Worker processes are reused between calls.
``DaskExecutor`` (a scheduler address ``"tcp://HOST:8786"``, ``"tls://..."``, ``"inproc://..."``)
    ``distributed.Client``: the units are spread over the workers of a Dask cluster, on one machine or many.

Which one runs is chosen by :func:`get_executor` / :func:`resolve_scheduler`: the argument, else the environment
variable ``$RAMANCMP_SCHEDULER``, else ``"local"``. Anything else is an error, not a silent fallback.

Determinism. Every unit runs with ONE torch intra-op thread and one BLAS/OpenMP thread
(:func:`ramancmp.metrics.timing.num_threads` ``(1)`` around the call, in every executor including the serial one),
so a unit that seeds itself from its item (``torch.manual_seed(seed)``) gives bit-identical losses and weights
whatever the executor and however many workers: serial, local and Dask results agree to the last digit (tested in
``tests/test_executor.py``). Parallelism comes from running many units at once, never from threads inside a unit.

Rules for units:

- ``fn`` must be a module-level function of an importable module (or a ``functools.partial`` of one): it is
  pickled to the workers (with cloudpickle, by reference: the module must be importable there too). Items and
  results must be picklable. An item or function that cannot be pickled is a ``TypeError`` in the caller before
  anything runs; one that cannot be *unpickled* in a worker, or a result that cannot be sent back, fails as its
  unit (below). Results should be small (metrics, paths): a unit saves its checkpoint itself and returns where.
- A unit must not depend on environment variables read in the worker. Loky reuses worker processes whose
  environment was captured when they were spawned (an ``os.environ`` change in the caller afterwards is not seen),
  and Dask workers run on other machines with their own environment. Callers therefore put everything a unit
  needs -- data, checkpoint and results directories, profile, seeds -- explicitly into the items.
- An exception in a unit is re-raised in the caller as a ``RuntimeError`` that names the failing item and the
  original error (chained as ``__cause__``; for worker processes the worker's traceback is in the message). The
  remaining units are cancelled where the executor can (local, Dask).

Timing (latency, throughput, GEMM peak) is never done on an executor: it runs in the main process, in an exclusive
phase after training, so that no other unit competes for the cores while a model is timed.

Scale-out with Dask. Start a scheduler and workers (one thread per worker process; the units are single-threaded
anyway, and several threads in one process would share torch's process-wide thread setting)::

    dask scheduler                                           # on HOST, listens on tcp://HOST:8786
    dask worker tcp://HOST:8786 --nworkers N --nthreads 1    # on every machine that should train

Checkpoints and results must be written to a location every worker and the caller share (a network file system):
set ``RAMANCMP_CHECKPOINT_DIR`` and ``RAMANCMP_RESULTS_DIR`` (and ``RAMANCMP_DATA_DIR`` for the data cache) to
such paths in the caller; the book passes the directories to the units in their items. Then point the book at the
cluster with ``RAMANCMP_SCHEDULER=tcp://HOST:8786 python -m ramancmp book run --profile full`` (or the CLI flag
``--scheduler tcp://HOST:8786``). Workers need the same ``ramancmp`` and torch versions as the caller.

Example::

    from ramancmp.experiments.executor import get_executor

    with get_executor("local:2") as ex:
        results = ex.map(train_one, items, desc="training", progress=True)
"""

from __future__ import annotations

import functools
import os
import pickle
import re
import reprlib
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from ramancmp.config import SCHEDULER_ENV, env_setting
from ramancmp.metrics.timing import num_threads

__all__ = [
    "SCHEDULER_ENV",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "SerialExecutor",
    "get_executor",
    "resolve_scheduler",
]

_DEFAULT_SCHEDULER = "local"
_LOCAL_N = re.compile(r"^local:(\d+)$")
_ADDRESS = re.compile(r"^(tcp|tls|inproc)://\S+$")
_VALID_FORMS = ('"serial", "local", "local:N" (N >= 1 worker processes), or a Dask scheduler address '
                '("tcp://HOST:8786", "tls://HOST:PORT", "inproc://...")')


def resolve_scheduler(scheduler: str | None = None) -> str:
    """The scheduler to use: ``scheduler``, else ``$RAMANCMP_SCHEDULER`` (if set and not empty), else ``"local"``.

    Valid values: ``"serial"``, ``"local"``, ``"local:N"`` (``N >= 1`` worker processes) or a Dask scheduler
    address (``"tcp://host:8786"``, ``"tls://..."``, ``"inproc://..."``). Surrounding whitespace is ignored and
    ``serial``/``local`` are case-insensitive. Anything else raises ``ValueError`` naming the value (and where it
    came from) and the valid forms. Returns the normalised value.
    """
    source = "scheduler"
    if scheduler is None:
        env = env_setting(SCHEDULER_ENV)
        if env:
            scheduler, source = env, f"${SCHEDULER_ENV}"
        else:
            return _DEFAULT_SCHEDULER
    if not isinstance(scheduler, str):
        raise ValueError(f"invalid {source} {scheduler!r}: expected a string, one of {_VALID_FORMS}")
    value = scheduler.strip()
    low = value.lower()
    if low in ("serial", "local"):
        return low
    m = _LOCAL_N.match(low)
    if m and int(m.group(1)) >= 1:
        return f"local:{int(m.group(1))}"
    if _ADDRESS.match(value):
        return value
    raise ValueError(f"invalid {source} {scheduler!r}: expected {_VALID_FORMS}")


# --------------------------------------------------------------------------------------------------- the unit call

class _UnitFailure:
    """What a unit returns instead of raising: the exception and the traceback text from where it ran.

    Returning (rather than raising) lets every executor know *which* item failed. If the exception cannot be
    pickled (it is sent back from a worker process), a ``RuntimeError`` with the same text replaces it.
    """

    def __init__(self, exc: BaseException, tb: str):
        self.exc = exc
        self.tb = tb

    def __reduce__(self):
        exc = self.exc
        try:
            pickle.dumps(exc)
        except Exception:
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        return (_UnitFailure, (exc, self.tb))


def _call_unit(fn: Callable[[Any], Any], item: Any) -> Any:
    """Run one unit with one torch / BLAS thread; an ``Exception`` is returned as a :class:`_UnitFailure`."""
    with num_threads(1):
        try:
            return fn(item)
        except Exception as exc:  # noqa: BLE001 -- re-raised in the caller, naming the item
            return _UnitFailure(exc, traceback.format_exc())


def _call_in_worker(fn_bytes: bytes, index: int, item_bytes: bytes) -> tuple[int, Any]:
    """One unit in a worker process (loky or Dask): ``(index, result or _UnitFailure)``.

    The unit and its item travel as cloudpickle bytes and are unpickled here, so that one that cannot be unpickled
    in the worker (a module missing there, say) fails as that unit, naming its item, instead of breaking the pool
    or the worker's connection; bytes also keep Dask from looking inside tuples, lists and dicts. Likewise a result
    that cannot be sent back becomes a failure here, where the item is known.
    """
    import cloudpickle

    try:
        fn = cloudpickle.loads(fn_bytes)
        item = cloudpickle.loads(item_bytes)
    except Exception as exc:  # noqa: BLE001
        return index, _UnitFailure(RuntimeError(f"cannot unpickle the unit or its item in the worker: "
                                                f"{type(exc).__name__}: {exc}"), traceback.format_exc())
    out = _call_unit(fn, item)
    if not isinstance(out, _UnitFailure):
        try:
            cloudpickle.dumps(out)
        except Exception as exc:  # noqa: BLE001
            out = _UnitFailure(TypeError(f"the result cannot be sent back from the worker: {type(exc).__name__}: "
                                         f"{exc}"), traceback.format_exc())
    return index, out


def _dumps(obj: Any, what: str) -> bytes:
    import cloudpickle

    try:
        return cloudpickle.dumps(obj)
    except Exception as exc:
        raise TypeError(f"cannot send {what} to the workers (it must be picklable): "
                        f"{type(exc).__name__}: {exc}") from exc


_short = reprlib.Repr()
_short.maxstring = 80
_short.maxother = 80
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 6


def _item_repr(item: Any, limit: int = 200) -> str:
    text = _short.repr(item)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fn_name(fn: Callable) -> str:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__qualname__", None) or repr(fn)


def _unit_error(fn: Callable, item: Any, exc: BaseException, desc: str | None, tb: str | None = None) -> RuntimeError:
    what = f"{desc}: " if desc else ""
    msg = f"{what}unit {_fn_name(fn)} failed on item {_item_repr(item)}: {type(exc).__name__}: {exc}"
    if tb:
        msg += "\n\nTraceback in the worker:\n" + tb.rstrip()
    err = RuntimeError(msg)
    err.__cause__ = exc
    return err


def _progress_bar(total: int, desc: str | None, progress: bool):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="unit", leave=False)


# ------------------------------------------------------------------------------------------------------ executors

class Executor:
    """Runs independent units of work: ``fn(item)`` for every item, results in the order of the items.

    Attributes: ``name`` (``"serial"``, ``"local"`` or ``"dask"``) and ``n_workers`` (how many units can run at
    once). Use as a context manager, or call :meth:`close` when done. Subclasses implement :meth:`_map`.
    """

    name: str = "executor"
    n_workers: int = 1

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, desc: str | None = None,
            progress: bool = False) -> list:
        """``[fn(item) for item in items]``, run by this executor; results in the order of ``items``.

        ``fn`` must be a module-level (picklable) function, or a ``functools.partial`` of one. Every call runs
        with ONE torch / BLAS thread (:func:`ramancmp.metrics.timing.num_threads` ``(1)``), in every executor, so
        results are bit-identical whatever the executor. ``desc`` labels the progress bar and error messages;
        ``progress=True`` shows a tqdm bar over completed units. An exception in a unit is re-raised here as a
        ``RuntimeError`` whose message names the failing item (its repr, shortened) and the original error,
        which is chained as ``__cause__``.
        """
        items = list(items)
        if not items:
            return []
        return self._map(fn, items, desc=desc, progress=progress)

    def _map(self, fn: Callable[[Any], Any], items: list, *, desc: str | None, progress: bool) -> list:
        raise NotImplementedError

    def close(self) -> None:
        """Release what this executor holds (nothing for serial and local)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_workers={self.n_workers})"


class SerialExecutor(Executor):
    """An in-process loop: for debugging (breakpoints, real tracebacks) and for the reference results."""

    name = "serial"

    def __init__(self) -> None:
        self.n_workers = 1

    def _map(self, fn, items, *, desc, progress):
        return _serial_map(fn, items, desc=desc, progress=progress)


def _serial_map(fn, items: list, *, desc: str | None, progress: bool) -> list:
    bar = _progress_bar(len(items), desc, progress)
    results = []
    try:
        for item in items:
            out = _call_unit(fn, item)
            if isinstance(out, _UnitFailure):
                raise _unit_error(fn, item, out.exc, desc) from out.exc
            results.append(out)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return results


class LocalExecutor(Executor):
    """Worker processes on this machine: ``joblib.Parallel(backend="loky")``, ``n_jobs`` of them.

    ``n_jobs`` defaults to ``os.cpu_count()``. The workers are started with ``inner_max_num_threads=1`` (one
    OpenMP/BLAS thread per worker) and every unit additionally runs under ``num_threads(1)``. A single item, or
    ``n_jobs == 1``, runs in the calling process (same results, no start-up cost). Loky reuses its worker
    processes between calls, with the environment they were spawned with: units must not read environment
    variables (see the module docstring). Items are pickled as they are (no memory-mapping of large arrays):
    pass paths, not data.
    """

    name = "local"

    def __init__(self, n_jobs: int | None = None) -> None:
        if n_jobs is None:
            n_jobs = os.cpu_count() or 1
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
            raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
        self.n_workers = int(n_jobs)

    def _map(self, fn, items, *, desc, progress):
        if self.n_workers == 1 or len(items) == 1:
            return _serial_map(fn, items, desc=desc, progress=progress)

        import joblib

        unordered = tuple(int(p) for p in joblib.__version__.split(".")[:2]) >= (1, 4)
        n_jobs = min(self.n_workers, len(items))
        fn_bytes = _dumps(fn, "the unit function")
        payloads = [_dumps(item, f"item {_item_repr(item)}") for item in items]
        results: list[Any] = [None] * len(items)
        bar = _progress_bar(len(items), desc, progress)
        gen = None
        try:
            with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
                parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered" if unordered else "generator",
                                           batch_size=1, pre_dispatch="all", max_nbytes=None)
                gen = parallel(joblib.delayed(_call_in_worker)(fn_bytes, i, payload)
                               for i, payload in enumerate(payloads))
                for i, out in gen:
                    if isinstance(out, _UnitFailure):
                        raise _unit_error(fn, items[i], out.exc, desc, out.tb) from out.exc
                    results[i] = out
                    if bar is not None:
                        bar.update(1)
        finally:
            if gen is not None:
                import warnings

                with warnings.catch_warnings():  # joblib warns about the units it cancels; the error says enough
                    warnings.simplefilter("ignore", UserWarning)
                    gen.close()  # cancels the units not yet run if we stop early
            if bar is not None:
                bar.close()
        return results

    def __repr__(self) -> str:
        return f"LocalExecutor(n_jobs={self.n_workers})"


class DaskExecutor(Executor):
    """The workers of a Dask cluster: ``distributed.Client(address)``, or an existing ``Client``.

    Units are submitted with ``client.map(..., pure=False)`` (every call runs, nothing is deduplicated) and the
    results gathered in the order of the items. :meth:`close` closes the client only if this executor created it.
    Workers should run one thread each (``dask worker ADDRESS --nworkers N --nthreads 1``); a warning is given
    otherwise, since units in threads of one process share torch's process-wide thread setting.
    """

    name = "dask"

    def __init__(self, address_or_client: Any) -> None:
        from distributed import Client

        if isinstance(address_or_client, Client):
            self.client = address_or_client
            self._owns_client = False
        elif isinstance(address_or_client, str):
            self.client = Client(address_or_client, set_as_default=False)
            self._owns_client = True
        else:
            raise ValueError("DaskExecutor needs a scheduler address or a distributed.Client, "
                             f"got {address_or_client!r}")
        nthreads = self.client.nthreads()
        self.n_workers = max(1, sum(nthreads.values()))
        many = {w: n for w, n in nthreads.items() if n > 1}
        if many:
            import warnings

            warnings.warn(f"Dask workers with more than one thread: {many}; start them with --nthreads 1 "
                          "(units in threads of one process share torch's thread setting)", stacklevel=2)

    @property
    def address(self) -> str:
        return self.client.scheduler.address

    def _map(self, fn, items, *, desc, progress):
        from distributed import as_completed

        fn_bytes = _dumps(fn, "the unit function")
        futures = self.client.map(functools.partial(_call_in_worker, fn_bytes), range(len(items)),
                                  [_dumps(item, f"item {_item_repr(item)}") for item in items], pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(items)
        bar = _progress_bar(len(items), desc, progress)
        done = False
        try:
            for f in as_completed(futures, loop=self.client.loop):  # loop: the client need not be the default
                i = index[f.key]
                if f.status == "error":  # the unit could not even run (e.g. unpicklable, worker killed)
                    exc = f.exception()
                    tb = "".join(traceback.format_tb(f.traceback())) if f.traceback() is not None else None
                    raise _unit_error(fn, items[i], exc, desc, tb) from exc
                try:
                    _, out = f.result()
                except Exception as exc:  # e.g. a result the worker could not serialise
                    raise _unit_error(fn, items[i], exc, desc) from exc
                if isinstance(out, _UnitFailure):
                    raise _unit_error(fn, items[i], out.exc, desc, out.tb) from out.exc
                results[i] = out
                if bar is not None:
                    bar.update(1)
            done = True
        finally:
            if not done:
                self.client.cancel(futures)
            if bar is not None:
                bar.close()
        return results

    def close(self) -> None:
        """Close the client if this executor created it (an existing client passed in is left open)."""
        if self._owns_client and self.client is not None:
            self.client.close()
            self.client = None

    def __repr__(self) -> str:
        try:
            where = self.address
        except Exception:  # noqa: BLE001 -- closed client
            where = "closed"
        return f"DaskExecutor({where!r}, n_workers={self.n_workers})"


def get_executor(scheduler: str | None = None, n_jobs: int | None = None) -> Executor:
    """The executor for ``scheduler`` (resolved by :func:`resolve_scheduler`: argument, ``$RAMANCMP_SCHEDULER``,
    ``"local"``).

    ``"serial"`` -> :class:`SerialExecutor`; ``"local"`` / ``"local:N"`` -> :class:`LocalExecutor` with ``N``
    workers (an explicit ``n_jobs`` takes precedence over ``N``; neither: ``os.cpu_count()``); an address ->
    :class:`DaskExecutor` connected to that scheduler (``n_jobs`` is ignored: the cluster decides).
    """
    resolved = resolve_scheduler(scheduler)
    if resolved == "serial":
        return SerialExecutor()
    if resolved == "local" or resolved.startswith("local:"):
        if n_jobs is None and ":" in resolved:
            n_jobs = int(resolved.split(":", 1)[1])
        return LocalExecutor(n_jobs)
    return DaskExecutor(resolved)
