"""Getting the RRUFF archive into the data cache, verified, with a provenance record beside it.

``fetch()`` downloads (or copies) ``excellent_unoriented.zip`` into a temporary file next to its destination, checks
that it is a complete zip holding ``.txt`` spectra, and only then moves it into place with ``os.replace`` (atomic on
one file system) and writes ``excellent_unoriented.json`` (source, date, size, sha256). An interrupted or failed fetch
therefore never leaves a file that looks valid, and a later call can tell a verified copy from a stale one by its
sha256.

A zip's sha256 changes when the same spectra are zipped again (member order, timestamps, compression level), so the
record also holds a *content fingerprint* (:func:`content_fingerprint`): a sha256 over the sorted (member base name,
sha256 of the member's bytes) pairs of the ``.txt`` spectra, which names the data rather than the container.
:func:`describe_archive` says which archive is in use -- the book's 2019 snapshot or another one -- by either digest.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import urllib.error
import urllib.request
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from ramancmp import config
from ramancmp.data.cache import archive_path, record_path
from ramancmp.data.rruff import MAX_FILE_BYTES, SpectrumParseError, parse_spectrum, wanted_member
from ramancmp.fileio import atomic_path, file_sha256, write_json_atomic

__all__ = ["FetchError", "archive_content_fingerprint", "archive_path", "content_fingerprint", "describe_archive",
           "fetch", "file_sha256", "record_path", "snapshot_of"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20  # 1 MiB
_TIMEOUT_S = 60.0  # per read: a server silent this long is given up on
_DEADLINE_S = 1800.0  # the whole download: a server trickling bytes cannot hold `data fetch` for ever
_PROGRESS_EVERY_S = 10.0  # a progress line this often when stderr is not a terminal (no progress bar there)


class FetchError(ValueError):
    """A download or copy that failed; names the source and the reason. (A ValueError, so the CLI reports it.)"""


def _is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _verified_record(dest: Path) -> dict | None:
    """The provenance record if ``dest`` exists and its sha256 matches the record, else None."""
    rec = record_path(dest)
    if not (dest.is_file() and rec.is_file()):
        return None
    try:
        record = json.loads(rec.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("sha256") == file_sha256(dest) else None


def _copy_stream(src: BinaryIO, dst: BinaryIO, total: int | None, desc: str,
                 deadline_s: float | None = None) -> tuple[int, str]:
    """Stream ``src`` into ``dst`` with a byte progress bar on a terminal, else a progress line every
    :data:`_PROGRESS_EVERY_S` s; give up (FetchError) once ``deadline_s`` seconds have passed. Returns (bytes,
    sha256)."""
    import sys
    import time

    from tqdm.auto import tqdm

    digest, size = hashlib.sha256(), 0
    start = last = time.monotonic()
    read = getattr(src, "read1", src.read)  # what has arrived, not a full MiB: a slow server cannot block for ever
    quiet = not sys.stderr.isatty()
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=None) as bar:
        for chunk in iter(lambda: read(_CHUNK), b""):
            dst.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            bar.update(len(chunk))
            now = time.monotonic()
            if deadline_s is not None and now - start > deadline_s:
                raise FetchError(f"{desc}: gave up after {now - start:.0f} s with {size:,} bytes"
                                 + (f" of {total:,}" if total else "") + f" (the deadline is {deadline_s:.0f} s); the "
                                 "server is too slow -- try again later, or download the zip and use --from FILE")
            if quiet and now - last >= _PROGRESS_EVERY_S:
                last = now
                of = f" of {total / 2**20:.1f} MiB ({size / total:.0%})" if total else ""
                log.info("%s: %.1f MiB%s after %.0f s", desc, size / 2**20, of, now - start)
    return size, digest.hexdigest()


def _download(url: str, out: BinaryIO) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"User-Agent": "ramancmp (+https://rruff.info)"})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            size, sha = _copy_stream(response, out, expected, config.RRUFF_ZIP_NAME, deadline_s=_DEADLINE_S)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise FetchError(f"could not download {url}: {exc.reason}") from exc
    except (http.client.HTTPException, OSError) as exc:  # connection reset, timeout, IncompleteRead
        raise FetchError(f"download of {url} broke off: {exc!r}") from exc
    if expected is not None and size != expected:
        raise FetchError(f"download of {url} is incomplete: received {size:,} of {expected:,} bytes "
                         "(Content-Length); the connection was cut, try again")
    return size, sha


def _copy_local(path: Path, out: BinaryIO) -> tuple[int, str]:
    if path.is_dir():
        raise FetchError(f"cannot copy {path}: it is a folder; give the zip file itself (--from "
                         f"{path / config.RRUFF_ZIP_NAME}?)")
    if path.exists() and not path.is_file():  # a FIFO or a device would block or never end
        raise FetchError(f"cannot copy {path}: not a regular file (a device, FIFO or socket)")
    if not path.is_file():
        raise FetchError(f"cannot copy {path}: no such file")
    with open(path, "rb") as src:
        return _copy_stream(src, out, path.stat().st_size, path.name)


def _check_zip(path: Path, source: str) -> int:
    """Number of ``.txt`` members; raises FetchError unless the file is a complete zip with at least one."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()  # reads every member and checks its CRC
            n_txt = sum(1 for n in zf.namelist() if n.lower().endswith(".txt"))
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise FetchError(f"{source} is not a valid zip archive ({exc})") from exc
    if bad is not None:
        raise FetchError(f"{source} is a corrupt zip archive: member {bad!r} fails its CRC check")
    if n_txt == 0:
        raise FetchError(f"{source} is a zip archive without any .txt spectrum files")
    _check_rruff_layout(path, source)
    return n_txt


def _check_rruff_layout(path: Path, source: str, sample: int = 100) -> None:
    """Raise FetchError unless most of (up to ``sample``) ``.txt`` members parse as RRUFF spectra."""
    with zipfile.ZipFile(path) as zf:
        names = sorted(n for n in zf.namelist() if n.lower().endswith(".txt"))[:sample]
        ok, first_problem = 0, None
        for name in names:
            size = zf.getinfo(name).file_size
            if size > MAX_FILE_BYTES:  # checked before inflating: a 1.5 GiB member is never read into memory
                first_problem = first_problem or (f"{name}: {size:,} bytes, more than a spectrum file "
                                                  f"({MAX_FILE_BYTES:,})")
                continue
            try:
                with zf.open(name) as fh:
                    data = fh.read(MAX_FILE_BYTES + 1)
                parse_spectrum(data, name)
                ok += 1
            except (SpectrumParseError, NotImplementedError, RuntimeError) as exc:
                first_problem = first_problem or f"{name}: {getattr(exc, 'reason', exc)}"
    if ok < max(1, len(names) // 2):
        raise FetchError(f"{source} does not look like a RRUFF Raman archive: {ok} of the {len(names)} .txt files "
                         f"checked are spectra (first problem: {first_problem})")


def _stream_sha256(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: fh.read(_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def content_fingerprint(source: Path) -> str:
    """sha256 of an archive's spectra, independent of how they were zipped.

    The digest runs over the sorted pairs (member base name, sha256 of the member's bytes) of the ``.txt`` spectra
    of a zip -- or of a folder, so an unzipped copy has the same fingerprint as its zip. Folder prefixes, member
    order, timestamps, compression and macOS ``__MACOSX/`` forks do not change it; renaming, adding, removing or
    editing a spectrum does. Raises :class:`FetchError` naming the file if it cannot be read as a zip or folder.
    """
    source = Path(source)
    pairs: list[tuple[str, str]] = []
    try:
        if source.is_dir():
            for p in source.rglob("*"):
                rel = p.relative_to(source).as_posix()
                if p.is_file() and wanted_member(rel):
                    with open(p, "rb") as fh:
                        pairs.append((p.name, _stream_sha256(fh)))
        else:
            with zipfile.ZipFile(source) as zf:
                for info in zf.infolist():
                    if not info.is_dir() and wanted_member(info.filename):
                        base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
                        with zf.open(info) as fh:
                            pairs.append((base, _stream_sha256(fh)))
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise FetchError(f"cannot compute the content fingerprint of {source}: {exc}") from exc
    digest = hashlib.sha256()
    for base, member_sha in sorted(pairs):
        digest.update(f"{base}\0{member_sha}\n".encode())
    return digest.hexdigest()


def snapshot_of(sha256: str | None = None, content_sha256: str | None = None) -> str | None:
    """The name of the book's pinned RRUFF snapshot if either digest is its digest, else None.

    ``sha256`` is the zip file's digest (matches only the book's own zip), ``content_sha256`` the
    :func:`content_fingerprint` (matches any re-zipped or unzipped copy of the same spectra).
    """
    if content_sha256 is not None and content_sha256 == config.RRUFF_SNAPSHOT_CONTENT_SHA256:
        return config.RRUFF_SNAPSHOT_NAME
    return config.RRUFF_SNAPSHOT_NAME if sha256 is not None and sha256 == config.RRUFF_SNAPSHOT_SHA256 else None


def describe_archive(archive: Path | None = None) -> dict:
    """What the archive in use is: its record (file, size, sha256, content fingerprint, date) and whether it is the
    book's 2019 snapshot, with a sentence (``"note"``) saying what that means for the book's counts and results.

    ``archive`` defaults to the data cache's :func:`archive_path`. A record written before content fingerprints
    existed (or a missing one) is completed by computing the fingerprint on demand (a few seconds for the full
    archive) and written back when the folder is writable; a missing or stale record (its sha256 is not the file's)
    is not trusted: the file itself is described. Raises :class:`FetchError` if there is no archive.
    """
    path = Path(archive) if archive is not None else archive_path()
    if not path.is_file():
        raise FetchError(f"no RRUFF archive at {path}; run: python -m ramancmp data fetch")
    rec_path = record_path(path)
    try:
        record = json.loads(rec_path.read_text(encoding="utf-8")) if rec_path.is_file() else {}
    except (OSError, ValueError):
        record = {}
    record = record if isinstance(record, dict) else {}
    sha = file_sha256(path)
    if record.get("sha256") != sha:  # no record, or a stale one (the file was replaced): describe the file itself
        record = {"file": path.name, "size": path.stat().st_size, "sha256": sha,
                  "record_problem": "no valid fetch record; described from the file"}
    if not record.get("content_sha256"):
        record = {"file": path.name, "size": path.stat().st_size, **record, "content_sha256": content_fingerprint(path)}
        record["snapshot"] = snapshot_of(record["sha256"], record["content_sha256"])
        if rec_path.is_file() and "record_problem" not in record and os.access(rec_path.parent, os.W_OK):
            try:
                write_json_atomic(rec_path, record)
            except OSError:
                pass
    record["snapshot"] = snapshot_of(record.get("sha256"), record.get("content_sha256"))
    record["is_book_snapshot"] = record["snapshot"] is not None
    record["note"] = _snapshot_note(record)
    return record


def archive_content_fingerprint(sha256: str | None) -> str | None:
    """The content fingerprint of the data cache's archive if its zip has digest ``sha256``, else None.

    Results name their archive by both digests (:func:`ramancmp.experiments.results.save_result`); this reads the
    fetch record (completing an old record on demand, see :func:`describe_archive`) and never raises: a source that
    is not the cached archive (a folder, another zip) simply gets None.
    """
    if not sha256:
        return None
    path = archive_path()
    try:
        rec = json.loads(record_path(path).read_text(encoding="utf-8"))
        if not (isinstance(rec, dict) and rec.get("sha256") == sha256):
            return None
        return rec.get("content_sha256") or describe_archive(path).get("content_sha256")
    except (OSError, ValueError):
        return None


def _snapshot_note(record: dict) -> str:
    fp = str(record.get("content_sha256") or "?")[:12]
    if record.get("snapshot"):
        how = ("the same zip file" if record.get("sha256") == config.RRUFF_SNAPSHOT_SHA256
               else "the same spectra in another zip (the zip's sha256 differs, its content fingerprint matches)")
        return (f"This is the book's {config.RRUFF_SNAPSHOT_NAME} ({how}; content fingerprint {fp}...): your counts "
                f"and results should match the book's. {config.RRUFF_SNAPSHOT_ORIGIN}")
    return (f"This is NOT the book's {config.RRUFF_SNAPSHOT_NAME} (content fingerprint {fp}..., the book's is "
            f"{config.RRUFF_SNAPSHOT_CONTENT_SHA256[:12]}...): probably a newer rruff.info download. The code runs "
            "on it, but the counts (spectra, samples, species per group), the exclusions and every accuracy, "
            "interval and timing will differ from the book's, and numbers checked against the book's notebooks will "
            f"not match. {config.RRUFF_SNAPSHOT_ORIGIN}")


def _check_data_folder(folder: Path) -> None:
    """The data folder must be a writable folder (created if missing); otherwise a FetchError that says so."""
    if folder.exists() and not folder.is_dir():
        raise FetchError(f"the data folder {folder} is a file, not a folder; remove it or point $RAMANCMP_DATA_DIR "
                         "(or --dest) at a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create the data folder {folder}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FetchError(f"the data folder {folder} is not writable; choose another with $RAMANCMP_DATA_DIR or --dest")


def fetch(source: str | None = None, dest_dir: Path | None = None, force: bool = False) -> Path:
    """Download (URL) or copy (local path) the RRUFF archive into the data cache and return its path.

    ``source`` defaults to :data:`ramancmp.config.RRUFF_URL`; the file lands at :func:`archive_path` ``(dest_dir)``.
    If a copy whose sha256 matches its ``excellent_unoriented.json`` record is already there, nothing is done
    (whatever ``source`` is); ``force=True`` fetches again. Raises :class:`FetchError` naming the source and the
    reason on an HTTP error, a cut connection, a size that differs from ``Content-Length``, or a file that is not a
    complete zip with ``.txt`` members; the temporary file is removed and any previous copy is left untouched.
    """
    source = str(source or config.RRUFF_URL)
    dest = archive_path(dest_dir)
    _check_data_folder(dest.parent)
    if not force:
        record = _verified_record(dest)
        if record is not None:
            log.info("%s already present (sha256 %s, from %s); use force=True to fetch again",
                     dest, record["sha256"][:12], record.get("source"))
            return dest

    local = None if _is_url(source) else Path(source).expanduser()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if local is not None and local.is_file() and local.resolve() == dest.resolve():
        # the archive is already where it belongs (placed by hand): verify it and write the record
        n_txt = _check_zip(dest, source)
        size, sha = dest.stat().st_size, file_sha256(dest)
        content = content_fingerprint(dest)
    else:
        with atomic_path(dest, suffix=".part") as tmp:
            with open(tmp, "wb") as out:
                size, sha = _download(source, out) if local is None else _copy_local(local, out)
            n_txt = _check_zip(tmp, source)
            content = content_fingerprint(tmp)
    write_json_atomic(record_path(dest), {
        "file": dest.name,
        "source": source if local is None else str(local.resolve()),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "size": size,
        "sha256": sha,
        "content_sha256": content,
        "n_txt_files": n_txt,
        "snapshot": snapshot_of(sha, content),
    })
    log.info("fetched %s (%s bytes, %d .txt files, sha256 %s) from %s", dest, f"{size:,}", n_txt, sha[:12], source)
    if snapshot_of(sha, content) is None:
        log.warning("this is not the book's %s (content fingerprint %s..., the book's is %s...): a newer or different "
                    "archive; the book's counts and results will differ from yours", config.RRUFF_SNAPSHOT_NAME,
                    content[:12], config.RRUFF_SNAPSHOT_CONTENT_SHA256[:12])
    else:
        log.info("this is the book's %s (content fingerprint %s...): your counts will match the book's",
                 config.RRUFF_SNAPSHOT_NAME, content[:12])
    return dest
