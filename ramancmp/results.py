"""Results files: every chapter and benchmark writes ``results/<name>.json`` with its metrics and provenance.

Writes are atomic (temporary file + ``os.replace``) so an interrupted run never leaves a half-written result.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ramancmp.atomic import atomic_path
from ramancmp.config import PROJECT_ROOT, results_dir

_PACKAGES = ("ramancmp", "torch", "numpy", "scipy", "scikit-learn", "pandas", "thop", "onnxruntime", "torch-pruning")


def git_commit() -> str | None:
    """The project's current git commit (with ``-dirty`` if the tree has changes), or None outside a checkout."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def provenance(**fields: Any) -> dict[str, Any]:
    """Provenance block: what produced a result (caller adds data sha256, task, split, seed, profile, ...)."""
    return {
        **fields,
        "git_commit": git_commit(),
        "versions": package_versions(),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count()},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy arrays and scalars, paths and non-finite floats turned into plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def write_json_atomic(path: Path, payload: Any) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(jsonable(payload), indent=2) + "\n", encoding="utf-8")
    return path


def save_result(name: str, metrics: dict[str, Any], *, directory: Path | None = None, **provenance_fields: Any) -> Path:
    """Write ``<results>/<name>.json`` = ``{"name", "metrics", "provenance"}`` atomically and return its path.

    ``<results>`` is ``directory``, else the folder of the ``profile`` given in the provenance
    (:func:`ramancmp.config.results_dir`), so a quick run never overwrites the full profile's results.
    """
    path = Path(directory or results_dir(provenance_fields.get("profile"))) / f"{name}.json"
    return write_json_atomic(path, {"name": name, "metrics": metrics, "provenance": provenance(**provenance_fields)})


def load_result(name: str, *, directory: Path | None = None) -> dict[str, Any]:
    path = Path(directory or results_dir()) / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"no results for {name!r} at {path}; run the chapter first: python -m ramancmp book run --chapters {name}")
    return json.loads(path.read_text(encoding="utf-8"))


def model_summaries(chapters: list[str], split: str = "sample", *, directory: Path | None = None):
    """One table of the models saved by earlier chapters (``{model: {"sample": row, "random": row}}`` entries);
    accuracy, sensitivity and specificity in per cent (means over the chapter's repeated splits).

    Chapters that have not run yet are listed in the table's ``attrs["missing"]`` instead of failing, so a chapter
    can be run on its own.
    """
    import pandas as pd

    rows, missing = [], []
    for chapter in chapters:
        try:
            metrics = load_result(chapter, directory=directory)["metrics"]
        except FileNotFoundError:
            missing.append(chapter)
            continue
        for model, entry in metrics.items():
            if isinstance(entry, dict) and isinstance(entry.get(split), dict):
                s = entry[split]
                rows.append({"chapter": chapter, "model": s["model"],
                             **{f"{k} (%)": 100 * s[k] for k in ("accuracy", "sensitivity", "specificity")},
                             "accuracy sd": 100 * (s.get("accuracy_sd") or 0.0), "params": s.get("params"),
                             "MFLOPs": s.get("mflops"), "latency b1 (ms)": s.get("latency_b1_ms"),
                             "train s": s.get("fit_time_s")})
    table = pd.DataFrame(rows).round(3)
    table.attrs["missing"] = missing
    return table
