"""Results files: every chapter and benchmark writes ``results/<name>.json`` with its metrics and provenance.

``{"name", "metrics", "provenance"}``; tables go into ``metrics["rows"]`` as :class:`~ramancmp.experiments.tables.Row`
dicts (per-split values kept). Writes are atomic (:func:`ramancmp.fileio.write_json_atomic`) so an interrupted run
never leaves a half-written result.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from ramancmp.config import PROJECT_ROOT, results_dir
from ramancmp.data.fetch import archive_content_fingerprint
from ramancmp.experiments.tables import Row
from ramancmp.fileio import read_json, write_json_atomic

_PACKAGES = ("ramancmp", "torch", "numpy", "scipy", "scikit-learn", "pandas", "thop", "onnxruntime", "torch-pruning")


def git_commit() -> str:
    """The project's current git commit (``git rev-parse HEAD``), with ``+dirty`` when tracked files have
    uncommitted changes, or ``"unknown"`` outside a git checkout (an installed package, an unpacked archive)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + ("+dirty" if dirty else "")) if sha else "unknown"


#: Every stored network this process has loaded (``<task>/<model>/<split>`` -> the commit that trained it), filled
#: by the model store (:func:`ramancmp.experiments.store.train_all` / ``get_or_train``): a result computed in this
#: process names the commit behind each network it may have used. Over-inclusive by design -- a process that writes
#: several results lists in each the networks loaded so far -- never silent.
_LOADED_NETWORKS: dict[str, str] = {}


def record_loaded_network(name: str, commit: str | None) -> None:
    """Note that the stored network ``name`` (trained at ``commit``; ``None``: a checkpoint written before
    commits were recorded) was loaded by this process."""
    _LOADED_NETWORKS[str(name)] = commit or "unknown"


def loaded_networks() -> dict[str, str]:
    """``{network: commit that trained it}`` of every stored network this process loaded, sorted by name."""
    return dict(sorted(_LOADED_NETWORKS.items()))


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def provenance(**fields: Any) -> dict[str, Any]:
    """Provenance block: what produced a result (caller adds data sha256, task, split, seed, profile, ...): the
    commit of this code (:func:`git_commit`), the commit that trained every stored network the process loaded
    (:func:`loaded_networks`), package versions, the machine and the time."""
    networks = loaded_networks()
    return {
        **fields,
        "git_commit": git_commit(),
        # the commit that trained each stored network this process loaded, and those commits once each
        "networks": networks,
        "network_commits": sorted(set(networks.values())),
        "versions": package_versions(),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count()},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def save_result(name: str, metrics: dict[str, Any], *, directory: Path | None = None, **provenance_fields: Any) -> Path:
    """Write ``<results>/<name>.json`` = ``{"name", "metrics", "provenance"}`` atomically and return its path.

    ``<results>`` is ``directory``, else the folder of the ``profile`` given in the provenance
    (:func:`ramancmp.config.results_dir`), so a quick run never overwrites the full profile's results.

    A result that names its archive by the zip's ``data_sha256`` also gets ``data_content_sha256``, the archive's
    content fingerprint (robust to re-zipping; :func:`ramancmp.data.fetch.content_fingerprint`) when the archive is
    the data cache's; older results without it stay readable.
    """
    if provenance_fields.get("data_sha256") and "data_content_sha256" not in provenance_fields:
        provenance_fields["data_content_sha256"] = archive_content_fingerprint(provenance_fields["data_sha256"])
    path = Path(directory or results_dir(provenance_fields.get("profile"))) / f"{name}.json"
    return write_json_atomic(path, {"name": name, "metrics": metrics, "provenance": provenance(**provenance_fields)})


def load_result(name: str, *, directory: Path | None = None) -> dict[str, Any]:
    path = Path(directory or results_dir()) / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"no results for {name!r} at {path}; run the chapter first: python -m ramancmp book run --chapters {name}")
    return read_json(path, "results file")


def load_rows(chapters: list[str], *, directory: Path | None = None, group: str | None = None) -> list[Row]:
    """The table rows saved by earlier chapters (their results' ``"rows"``), in chapter order.

    Chapters that have not run yet are skipped (the returned list's ``missing`` attribute names them), so a chapter
    can be run on its own.
    """
    rows, missing = RowList(), []
    for chapter in chapters:
        try:
            metrics = load_result(chapter, directory=directory)["metrics"]
        except FileNotFoundError:
            missing.append(chapter)
            continue
        rows += [Row.from_dict(r) for r in metrics.get("rows", []) if group is None or r.get("group") == group]
    rows.missing = missing
    return rows


class RowList(list):
    """A list of :class:`~ramancmp.experiments.tables.Row` with ``missing`` (chapters whose results were absent)."""

    missing: list[str] = []
