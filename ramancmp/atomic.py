"""Atomic file writes: results, caches, checkpoints and the downloaded archive are never left half-written.

>>> with atomic_path(Path("results/x.json")) as tmp:     # doctest: +SKIP
...     tmp.write_text("{}")
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds it replaces ``path`` in one ``os.replace``.

    If the block raises (or is interrupted), the temporary file is removed and ``path`` is left as it was. The
    finished file gets ordinary ``0644`` permissions (``mkstemp`` creates ``0600``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
