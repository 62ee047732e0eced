"""Units of work for ``tests/test_executor.py``, in a module of their own so that they pickle by reference.

``tests/`` is not a package the workers can import (loky and Dask workers are separate processes, Dask ones possibly
on other machines), so ``test_executor.py`` registers this module with ``cloudpickle.register_pickle_by_value``:
its functions then travel to the workers by value and nothing has to be importable there but torch and ramancmp.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn


def train_tiny(item: tuple[str, int], steps: int = 5) -> tuple[list[float], str, int]:
    """Train a tiny 1-D CNN for a few steps on synthetic data seeded by the item.

    Returns the loss of every step (exact floats), the sha256 of the final ``state_dict`` (its serialised bytes)
    and the number of torch intra-op threads the unit ran with.
    """
    _name, seed = item
    torch.manual_seed(seed)
    x = torch.randn(32, 1, 64)
    y = torch.randint(0, 3, (32,))
    net = nn.Sequential(nn.Conv1d(1, 4, 5), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 3))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    h = hashlib.sha256()
    for key, tensor in net.state_dict().items():
        t = tensor.detach().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return losses, h.hexdigest(), torch.get_num_threads()


def square_or_fail(bad: int, item: int) -> int:
    """``item ** 2``, except for ``item == bad``, which raises ``ValueError`` (use with ``functools.partial``)."""
    if item == bad:
        raise ValueError(f"unit {item} is broken on purpose")
    return item * item


class Unpicklable(Exception):
    """An exception that cannot travel back from a worker (it holds a lock)."""

    def __init__(self, msg: str):
        super().__init__(msg)
        import threading

        self.lock = threading.Lock()


def fail_unpicklable(item: int) -> int:
    """Raises :class:`Unpicklable` for item 1, returns the others."""
    if item == 1:
        raise Unpicklable(f"unpicklable failure on {item}")
    return item


def sleep_then_square(item: tuple[int, float]) -> int:
    """``value ** 2`` after sleeping ``delay`` seconds: later items can finish first, to test that order is kept."""
    import time

    value, delay = item
    time.sleep(delay)
    return value * value


def pid(item: object) -> int:
    """The id of the process the unit ran in."""
    import os

    return os.getpid()


def _only_in(pid: int) -> OnlyHere:
    import os

    if os.getpid() != pid:
        raise OSError(f"this item cannot be unpickled outside process {pid}")
    return OnlyHere(pid)


class OnlyHere:
    """An item that unpickles only in the process that made it (like an object whose module a worker lacks)."""

    def __init__(self, pid: int):
        self.pid = pid

    def __reduce__(self):
        return (_only_in, (self.pid,))

    def __repr__(self) -> str:
        return f"OnlyHere({self.pid})"


def identity(item: object) -> object:
    return item


def lock_for_two(item: int) -> object:
    """A result that cannot be pickled (a lock) for item 2, the item itself otherwise."""
    import threading

    return threading.Lock() if item == 2 else item
