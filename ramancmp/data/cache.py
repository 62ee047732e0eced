"""The data cache: where the fetched RRUFF archive and its fetch record live, and whether the archive found there is
still the one ``data fetch`` verified. Below both the fetcher (:mod:`ramancmp.data.fetch`) and the reader
(:mod:`ramancmp.data.rruff`), which both need it."""

from __future__ import annotations

import json
from pathlib import Path

from ramancmp import config

__all__ = ["archive_path", "record_path", "replaced_archive_warning"]


def archive_path(dest_dir: Path | None = None) -> Path:
    """Where the cached archive lives: ``<dest_dir or data cache>/excellent_unoriented.zip`` (may not exist yet)."""
    return Path(dest_dir or config.data_dir()).expanduser() / config.RRUFF_ZIP_NAME


def record_path(archive: Path) -> Path:
    """The provenance record beside an archive: ``excellent_unoriented.json``."""
    return Path(archive).with_suffix(".json")


def replaced_archive_warning(path: Path, sha256: str) -> str | None:
    """A warning when ``path`` is the data cache's archive and its sha256 is not the one its fetch record holds
    (the archive was replaced by another after ``data fetch``); None otherwise (also when there is no record)."""
    try:
        if Path(path).resolve() != archive_path().resolve():
            return None
        record = json.loads(record_path(archive_path()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("sha256") in (None, sha256):
        return None
    return (f"{path} is not the archive `data fetch` verified (sha256 {sha256[:12]}..., its record says "
            f"{str(record.get('sha256'))[:12]}...): it was replaced afterwards, and counts and results will differ "
            "from the book's; run `python -m ramancmp data fetch --force` to fetch and verify it again")
