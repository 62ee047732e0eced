"""The execution engine: scheduler resolution, the three executors, bit-identical results, order and errors.

The units (``tests/_executor_units.py``) are pickled *by value* (``cloudpickle.register_pickle_by_value``), so the
loky and Dask worker processes need nothing importable but torch and ramancmp.
"""

from __future__ import annotations

import functools
import os
import re
import threading

import cloudpickle
import pytest
import torch

from ramancmp.experiments.executor import (
    SCHEDULER_ENV,
    DaskExecutor,
    Executor,
    LocalExecutor,
    SerialExecutor,
    get_executor,
    resolve_scheduler,
)

import _executor_units as units

cloudpickle.register_pickle_by_value(units)

ITEMS = [("tiny", 0), ("tiny", 1), ("tiny", 2), ("tiny", 3)]


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def reference():
    """The serial results: the reference the other executors must match to the last digit."""
    return SerialExecutor().map(units.train_tiny, ITEMS)


@pytest.fixture(params=["serial", pytest.param("local", marks=pytest.mark.slow),
                        pytest.param("dask", marks=pytest.mark.slow)])
def executor(request):
    if request.param == "serial":
        yield SerialExecutor()
    elif request.param == "local":
        yield LocalExecutor(n_jobs=2)
    else:
        yield DaskExecutor(request.getfixturevalue("dask_client"))


# ------------------------------------------------------------------------------------------- resolve_scheduler

def test_resolve_default_is_local(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert resolve_scheduler() == "local"
    assert resolve_scheduler(None) == "local"
    monkeypatch.setenv(SCHEDULER_ENV, "   ")  # set but empty: as if unset
    assert resolve_scheduler() == "local"


def test_resolve_env_var(monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, "serial")
    assert resolve_scheduler() == "serial"
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://10.0.0.5:8786")
    assert resolve_scheduler() == "tcp://10.0.0.5:8786"
    assert resolve_scheduler("local:3") == "local:3"  # the argument wins over the environment
    monkeypatch.setenv(SCHEDULER_ENV, "nonsense")
    with pytest.raises(ValueError, match=rf"\${SCHEDULER_ENV}.*'nonsense'"):
        resolve_scheduler()


@pytest.mark.parametrize("value, expected", [
    ("serial", "serial"), ("local", "local"), ("local:3", "local:3"), (" LOCAL:12 ", "local:12"), ("Serial", "serial"),
    ("local:007", "local:7"), ("tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786"), ("tcp://head-node:8786", "tcp://head-node:8786"),
    ("tls://scheduler.example.org:8786", "tls://scheduler.example.org:8786"), ("inproc://10.1.2.3/1234/1", "inproc://10.1.2.3/1234/1"),
])
def test_resolve_valid(value, expected):
    assert resolve_scheduler(value) == expected


@pytest.mark.parametrize("value", ["", "threads", "local:0", "local:-2", "local:x", "local:", "serial:2", "dask",
                                   "tcp://", "http://host:8786", "host:8786", "tcp://host 8786"])
def test_resolve_invalid(value):
    with pytest.raises(ValueError) as info:
        resolve_scheduler(value)
    msg = str(info.value)
    assert repr(value) in msg and "serial" in msg and "local:N" in msg and "tcp://" in msg


# ------------------------------------------------------------------------------------------------ get_executor

def test_get_executor_forms(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    with get_executor("serial") as e:
        assert isinstance(e, SerialExecutor) and e.name == "serial" and e.n_workers == 1
    e = get_executor()
    assert isinstance(e, LocalExecutor) and e.name == "local" and e.n_workers >= 1
    assert get_executor("local:3").n_workers == 3
    assert get_executor("local:3", n_jobs=2).n_workers == 2  # an explicit n_jobs wins
    assert get_executor("local", n_jobs=5).n_workers == 5
    monkeypatch.setenv(SCHEDULER_ENV, "serial")
    assert isinstance(get_executor(), SerialExecutor)
    with pytest.raises(ValueError):
        get_executor("bogus")
    with pytest.raises(ValueError):
        LocalExecutor(n_jobs=0)
    assert all(issubclass(c, Executor) for c in (SerialExecutor, LocalExecutor, DaskExecutor))


@pytest.mark.slow
def test_get_executor_dask_address(dask_client, monkeypatch):
    address = dask_client.scheduler.address
    assert address.startswith("tcp://")
    e = get_executor(address)
    assert isinstance(e, DaskExecutor) and e.name == "dask" and e.n_workers == 2
    assert e.map(units.sleep_then_square, [(3, 0.0), (4, 0.0)]) == [9, 16]
    own = e.client
    e.close()  # it created its client, so it closes it
    assert own.status == "closed"
    monkeypatch.setenv(SCHEDULER_ENV, address)
    with get_executor() as e2:
        assert isinstance(e2, DaskExecutor)
    assert dask_client.status == "running"


@pytest.mark.slow
def test_dask_existing_client_is_not_closed(dask_client):
    with DaskExecutor(dask_client) as e:
        assert e.client is dask_client and e.n_workers == 2
        assert e.map(units.sleep_then_square, [(2, 0.0)]) == [4]
    assert dask_client.status == "running"
    assert dask_client.submit(units.sleep_then_square, (5, 0.0), pure=False).result() == 25


# --------------------------------------------------------------------------------------- results and determinism

def test_reference_is_meaningful(reference):
    hashes = [h for _, h, _ in reference]
    assert len(set(hashes)) == len(ITEMS)  # different seeds -> different networks
    for losses, _, n_threads in reference:
        assert len(losses) == 5 and losses[-1] < losses[0]  # it trained
        assert n_threads == 1
    assert SerialExecutor().map(units.train_tiny, ITEMS) == reference  # and it is reproducible


@pytest.mark.slow  # trains networks; the local case starts two loky workers (~10 s on 2 cores)
def test_identical_results_in_every_executor(executor, reference):
    before = torch.get_num_threads()
    got = executor.map(units.train_tiny, ITEMS, desc="tiny")
    assert torch.get_num_threads() == before  # the caller's thread setting is restored
    assert [h for _, h, _ in got] == [h for _, h, _ in reference]
    assert [losses for losses, _, _ in got] == [losses for losses, _, _ in reference]  # exact floats
    assert all(n == 1 for _, _, n in got)  # one torch thread in every unit


def test_order_is_kept(executor):
    n = 6
    items = [(i, 0.05 * (n - i)) for i in range(n)]  # the first items take longest
    assert executor.map(units.sleep_then_square, items, desc="order", progress=True) == [i * i for i in range(n)]
    pids = executor.map(units.pid, range(4))
    assert (set(pids) == {os.getpid()}) == (executor.name == "serial")  # the others run in worker processes
    assert executor.map(units.sleep_then_square, []) == []
    assert executor.map(units.sleep_then_square, iter([(7, 0.0)])) == [49]


def test_error_names_the_item(executor):
    fn = functools.partial(units.square_or_fail, 2)
    with pytest.raises(RuntimeError) as info:
        executor.map(fn, [0, 1, 2, 3], desc="squares")
    msg = str(info.value)
    assert "item 2:" in msg and "square_or_fail" in msg and "squares" in msg
    assert "ValueError: unit 2 is broken on purpose" in msg
    assert isinstance(info.value.__cause__, ValueError) and "broken on purpose" in str(info.value.__cause__)


def test_error_item_repr_is_shortened():
    item = {"name": "x" * 1000, "values": list(range(1000))}
    with pytest.raises(RuntimeError) as info:
        SerialExecutor().map(units.square_or_fail, [item])  # item is not an int -> TypeError inside
    assert len(str(info.value)) < 600 and "TypeError" in str(info.value)


@pytest.mark.slow  # starts a Dask cluster (like every test that takes dask_client)
def test_what_cannot_travel_fails_as_its_unit_in_dask(dask_client):
    # Dask workers stay up after a failed unit, so every case is checked there
    with DaskExecutor(dask_client) as e:
        with pytest.raises(RuntimeError, match=r"item 1:.*Unpicklable: unpicklable failure on 1") as info:
            e.map(units.fail_unpicklable, [1, 2])  # an exception that cannot be pickled
        assert "Traceback in the worker" in str(info.value)
        assert isinstance(info.value.__cause__, RuntimeError)  # the stand-in for the exception that could not travel
        with pytest.raises(RuntimeError, match=r"item 2:.*result cannot be sent back"):
            e.map(units.lock_for_two, [1, 2, 3])
        here = units.OnlyHere(os.getpid())
        with pytest.raises(RuntimeError, match=rf"item {re.escape(repr(here))}:.*cannot unpickle.*OSError"):
            e.map(units.identity, [0, here])
        assert e.map(units.identity, [0, 1]) == [0, 1]  # and the cluster is still fine


@pytest.mark.slow
def test_unpicklable_item_fails_as_its_unit_locally():
    here = units.OnlyHere(os.getpid())
    with pytest.raises(RuntimeError, match=rf"item {re.escape(repr(here))}:.*cannot unpickle.*OSError"):
        LocalExecutor(n_jobs=2).map(units.identity, [0, here, 2])
    with pytest.raises(TypeError, match="cannot send item"):  # not picklable at all: said before anything runs
        LocalExecutor(n_jobs=2).map(units.identity, [0, threading.Lock()])


def test_progress_bar(capsys):
    assert SerialExecutor().map(units.sleep_then_square, [(1, 0.0), (2, 0.0)], desc="bar", progress=True) == [1, 4]
    assert "bar" in capsys.readouterr().err


def test_local_in_process_when_nothing_to_share():
    me = os.getpid()
    assert LocalExecutor(n_jobs=2).map(units.pid, ["one item"]) == [me]
    assert LocalExecutor(n_jobs=1).map(units.pid, [1, 2, 3]) == [me, me, me]


def test_dask_warns_about_threaded_workers():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        with pytest.warns(UserWarning, match="--nthreads 1"):
            DaskExecutor(client)
