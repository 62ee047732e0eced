"""Files written safely and data identified exactly: the one place for atomic writes, JSON and fingerprints.

* :func:`atomic_path` / :func:`write_json_atomic`: results, caches, checkpoints and the downloaded archive are never
  left half-written (temporary file beside the target + one ``os.replace``).
* :func:`jsonable`: numpy arrays and scalars, paths and non-finite floats as plain JSON values.
* :func:`fingerprint`: a short sha256 of arrays -- identifies the exact data a model was trained on;
  :func:`file_sha256` the sha256 of a file.

>>> with atomic_path(Path("results/x.json")) as tmp:     # doctest: +SKIP
...     tmp.write_text("{}")
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_path", "file_sha256", "fingerprint", "jsonable", "printable", "read_json", "write_json_atomic"]


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


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy arrays and scalars, paths, dataclass-like ``to_dict`` objects and non-finite floats turned
    into plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return jsonable(obj.to_dict())
    return obj


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` (made :func:`jsonable`) as indented JSON, atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(jsonable(payload), indent=2) + "\n", encoding="utf-8")
    return path


#: The largest JSON file :func:`read_json` reads (results, side-cars and records are kilobytes).
MAX_JSON_BYTES = 64 * 2**20


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: str | Path, what: str = "file", allow_nan: bool = True) -> Any:
    """The JSON in ``path``; a ``ValueError`` naming the file (and what it is) when it is not valid JSON, not a
    regular file (a FIFO would block), larger than :data:`MAX_JSON_BYTES`, nested too deeply, or -- with
    ``allow_nan=False`` -- holds ``NaN``/``Infinity``. A UTF-8 byte-order mark is accepted."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise ValueError(f"{what} {path} is not a regular file (a folder, device, FIFO or socket); give a JSON file")
    if path.is_file() and path.stat().st_size > MAX_JSON_BYTES:
        raise ValueError(f"{what} {path} is {path.stat().st_size:,} bytes, more than {MAX_JSON_BYTES:,}; not a file "
                         "of this project")
    try:
        text = path.read_text(encoding="utf-8-sig")
        return json.loads(text) if allow_nan else json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} {path} is not valid JSON ({exc.msg} at line {exc.lineno}); delete or regenerate "
                         "it") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} {path} is not UTF-8 text ({exc.reason}); delete or regenerate it") from None
    except RecursionError:
        raise ValueError(f"{what} {path} is nested too deeply to be a file of this project; delete or regenerate "
                         "it") from None
    except ValueError as exc:  # a NaN or Infinity refused by _no_constant
        raise ValueError(f"{what} {path} holds {exc}; delete or regenerate it") from None


_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def printable(text: Any) -> str:
    """``text`` safe to print on a terminal: control characters (ESC sequences, CR, newlines, tabs, DEL, C1) and
    bidirectional overrides written as ``\\xNN`` / ``\\uNNNN`` escapes, so an untrusted file name, zip member
    name, header value or class name cannot erase a line, retitle the window, reorder text or print a fake line."""
    out = []
    for ch in str(text):
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif ch in _BIDI or ch in "\u2028\u2029":
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def fingerprint(*arrays: Any) -> str:
    """A short sha256 of arrays' shapes, dtypes and bytes: identifies the exact data a model was trained on."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(f"{a.shape}|{a.dtype.str}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
