"""Classification tasks built from a RRUFF archive: spectra, labels, sample IDs and an honest summary.

Four tasks (:func:`list_tasks`):

``rruff-groups-10``
    The book's main task, our analogue of the paper's "10 mineral categories": every spectrum whose mineral maps to
    one of ten IMA-defined groups in ``data/mineral_groups.csv`` (garnet, carbonate, pyroxene, amphibole, feldspar,
    mica, olivine, tourmaline, apatite, zeolite; the rules are in ``data/README.md``).
``rruff-species-10``
    The ten species with the most usable spectra (ties broken by name).
``rruff-all-species``
    Every species with usable spectra from at least two RRUFF samples (so a by-sample split can test it).
``rruff-outside-groups``
    Every species that belongs to none of the ten groups of ``rruff-groups-10`` (not in ``data/mineral_groups.csv``,
    or listed there without a group as a documented exclusion), labelled by species: the "unknown" minerals that an
    identifier trained on the ten groups must answer with "not in library" (:mod:`ramancmp.models.open_set`).

Classes are always in alphabetical order, so label ``i`` means the same class on every machine.

What is used: files the parser accepts (unreadable files are listed with reasons), of the requested processing
(default ``Processed``; RAW files are excluded and counted), of a named mineral (``unknown`` is excluded), and whose
spectrum covers the preprocessing grid (see :mod:`ramancmp.data.preprocess`). Every exclusion is counted in
``dataset.summary``.

Parsing the 5,471-file archive takes tens of seconds, so results are cached in ``<data cache>/cache/``: a *catalog*
(every spectrum preprocessed, with the reason it is unusable if it is) and one file pair per task. Cache files are
keyed by the archive's sha256, the preprocessing settings, the task, the mineral-group table and :data:`CACHE_VERSION`,
and written atomically; a cache whose key does not match is never read. (The sha256 of a zip is remembered together
with its size and modification time, so an unchanged archive is not re-hashed on every load.)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import ramancmp
from ramancmp import config as _config
from ramancmp.data.fetch import archive_path, file_sha256
from ramancmp.data.preprocess import PreprocessConfig, preprocess_many
from ramancmp.data.rruff import MAX_FILE_BYTES, load_archive
from ramancmp.fileio import atomic_path

__all__ = ["CACHE_VERSION", "GROUPS_CSV", "TASKS", "SpectraDataset", "list_tasks", "load_task", "load_catalog",
           "load_variants", "raw_pairs", "variant_name",
           "mineral_groups", "resolve_source"]

CACHE_VERSION = 2
"""Bump when a change in this module or the parser changes what a task contains: old cache files then stop matching."""

GROUPS_CSV = _config.PROJECT_ROOT / "data" / "mineral_groups.csv"
PROCESSINGS = ("Processed", "RAW", "all")


@dataclass(eq=False)
class SpectraDataset:
    """A task ready for learning: ``X[i]`` is a preprocessed spectrum, ``y[i]`` its class, ``groups[i]`` its sample."""

    X: np.ndarray = field(repr=False)  # float32 (n, L)
    y: np.ndarray = field(repr=False)  # int64 (n,)
    groups: np.ndarray = field(repr=False)  # str (n,): RRUFF sample IDs, for leakage-free splits
    class_names: list[str]
    grid: np.ndarray = field(repr=False)  # float64 (L,)
    meta: pd.DataFrame = field(repr=False)  # one row per spectrum: mineral, label, rruff_id, sample_id, laser_nm, ...
    task: str
    source_sha256: str | None
    preprocess: PreprocessConfig
    summary: dict = field(repr=False)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


# ------------------------------------------------------------------------------------------------------ sources
def resolve_source(source: str | Path | None = None) -> Path:
    """The archive to read: ``source`` if given, else the data cache's archive. Raises FileNotFoundError if absent."""
    path = Path(source).expanduser() if source is not None else archive_path()
    if not path.exists():
        if source is not None:  # the user's own path: a download would not put anything there
            raise FileNotFoundError(f"no RRUFF archive at {path}: no such file or folder")
        raise FileNotFoundError(f"no RRUFF archive at {path} (the data cache is $RAMANCMP_DATA_DIR or data/raw); "
                                "download it with `python -m ramancmp data fetch` "
                                "or pass source= a RRUFF zip or folder")
    if not path.is_dir() and not path.is_file():  # a FIFO or a device: hashing it would block or never end
        raise ValueError(f"{path}: not a regular file or folder (a device, FIFO or socket); give a RRUFF zip or folder")
    return path


def _cache_dir() -> Path:
    return _config.data_dir() / "cache"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _atomic_write(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    with atomic_path(path) as tmp, open(tmp, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as fh:
        write(fh)


def _write_json(path: Path, payload: Any) -> None:
    _atomic_write(path, lambda fh: json.dump(payload, fh, separators=(",", ":"), allow_nan=False), mode="w")


def source_fingerprint(path: Path) -> str:
    """sha256 of a zip file, or of a folder's ``.txt`` files (relative names and contents, in sorted order).

    A zip's digest is remembered in ``<cache>/fingerprints.json`` with its size, mtime, status-change time and inode
    and reused while all are unchanged, so loading a cached task does not re-read a 115 MB archive.
    """
    path = path.resolve()
    if path.is_dir():
        digest = hashlib.sha256()
        for p in sorted(q for q in path.rglob("*") if q.is_file() and q.suffix.lower() == ".txt"):
            digest.update(p.relative_to(path).as_posix().encode() + b"\0")
            st = p.stat()  # a file too large to be a spectrum is skipped unread by the parser: named, not hashed
            digest.update(bytes.fromhex(file_sha256(p)) if st.st_size <= MAX_FILE_BYTES
                          else f"{st.st_size}:{st.st_mtime_ns}".encode())
        return digest.hexdigest()
    index_path = _cache_dir() / "fingerprints.json"
    index = _read_json(index_path)
    index = index if isinstance(index, dict) else {}
    st = path.stat()
    # size and mtime alone can be kept by a replaced file (a copy with `cp -p`, `touch -r`); the inode and the
    # status-change time cannot: any write or replacement changes ctime, and it cannot be set back
    stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino}
    entry = index.get(str(path))
    if isinstance(entry, dict) and all(entry.get(k) == v for k, v in stamp.items()) and "sha256" in entry:
        return str(entry["sha256"])
    sha = file_sha256(path)
    index[str(path)] = {**stamp, "sha256": sha}
    try:
        _write_json(index_path, index)
    except OSError:  # a read-only data cache only costs speed
        pass
    return sha


# ------------------------------------------------------------------------------------------------------- cache
def _key(**parts: Any) -> str:
    blob = json.dumps({**parts, "cache_version": CACHE_VERSION, "ramancmp": ramancmp.__version__}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _meta_to_json(meta: pd.DataFrame) -> dict[str, list]:
    return {c: [None if (isinstance(v, float) and not np.isfinite(v)) else v for v in meta[c].tolist()]
            for c in meta.columns}


def _save(stem: Path, key: str, arrays: dict[str, np.ndarray], info: dict[str, Any]) -> None:
    """Write ``stem.npz`` then ``stem.json``; both carry ``token`` so a torn pair is detected and ignored.

    The cache only saves time: a cache folder that cannot be written (read-only, or a file in the way) is reported
    with a warning and the result is used without being cached.
    """
    token = os.urandom(8).hex()
    try:
        _atomic_write(stem.with_suffix(".npz"), lambda fh: np.savez(fh, token=np.array(token), **arrays))
        _write_json(stem.with_suffix(".json"), {**info, "key": key, "token": token})
    except OSError as exc:
        warnings.warn(f"cannot write the task cache in {stem.parent} ({exc.strerror or exc}); continuing without "
                      "caching (set $RAMANCMP_DATA_DIR to a writable folder to cache)", stacklevel=3)


def _load(stem: Path, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    info = _read_json(stem.with_suffix(".json"))
    if not isinstance(info, dict) or info.get("key") != key:
        return None
    try:
        with np.load(stem.with_suffix(".npz"), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):  # a truncated cache file: rebuilt, not a traceback
        return None
    if str(arrays.pop("token", "")) != info.get("token"):
        return None
    return arrays, info


# ----------------------------------------------------------------------------------------------------- catalog
@dataclass(eq=False)
class Catalog:
    """Every file of a source: ``meta`` (one row per readable spectrum, ``reason`` None when usable), the
    preprocessed ``X`` of the usable rows (``usable`` mask), and the files the parser skipped."""

    X: np.ndarray = field(repr=False)
    meta: pd.DataFrame = field(repr=False)
    skipped: list[dict[str, str]] = field(repr=False)
    source: str
    source_sha256: str
    preprocess: PreprocessConfig

    @property
    def usable(self) -> np.ndarray:
        return self.meta["reason"].isna().to_numpy()


_CATALOGS: dict[str, Catalog] = {}  # in-process memo: building several tasks parses the archive once


def load_catalog(source: str | Path | None = None, preprocess: PreprocessConfig | None = None,
                 cache: bool = True) -> Catalog:
    """Parse and preprocess every spectrum of ``source`` (default: the data cache's archive), cached on disk."""
    path = resolve_source(source)
    config = preprocess or PreprocessConfig()
    sha = source_fingerprint(path)
    key = _key(kind="catalog", source_sha256=sha, preprocess=config.to_dict())
    if key in _CATALOGS:
        return _CATALOGS[key]
    stem = _cache_dir() / f"catalog-{key}"
    loaded = _load(stem, key) if cache else None
    if loaded is not None:
        arrays, info = loaded
        cat = Catalog(arrays["X"], pd.DataFrame(info["meta"]), info["skipped"], str(path), sha, config)
    else:
        contents = load_archive(path)
        meta = pd.DataFrame([s.meta() for s in contents.spectra],
                            columns=["mineral", "rruff_id", "sample_id", "laser_nm", "orientation", "processing",
                                     "locality", "n_points", "wn_min", "wn_max", "source"])
        X, kept, reasons = preprocess_many(contents.spectra, config)
        unknown = meta["mineral"].str.strip().str.lower().isin(["", "unknown"]).to_numpy()
        reasons = ["unknown mineral" if u else r for u, r in zip(unknown, reasons)]
        meta["reason"] = pd.Series(reasons, dtype=object)
        X = X[~unknown[kept]]
        skipped = [{"source": s.source, "reason": s.reason} for s in contents.skipped]
        cat = Catalog(X, meta, skipped, str(path), sha, config)
        if cache:
            _save(stem, key, {"X": X}, {"meta": _meta_to_json(meta), "skipped": skipped})
    _CATALOGS.clear()  # keep one catalog in memory (about 20 MB)
    _CATALOGS[key] = cat
    return cat


# ------------------------------------------------------------------------------------------------------- tasks
def mineral_groups(path: str | Path | None = None) -> dict[str, str]:
    """``{species: group}`` from ``data/mineral_groups.csv`` (rows with an empty group are documented exclusions)."""
    table = pd.read_csv(path or GROUPS_CSV, dtype=str, keep_default_na=False)
    missing = {"species", "group"} - set(table.columns)
    if missing:
        raise ValueError(f"{path or GROUPS_CSV}: missing columns {sorted(missing)}")
    dup = table["species"][table["species"].duplicated()].tolist()
    if dup:
        raise ValueError(f"{path or GROUPS_CSV}: species listed more than once: {dup}")
    table = table[table["group"].str.strip() != ""]
    return dict(zip(table["species"].str.strip(), table["group"].str.strip()))


def _labels_groups(meta: pd.DataFrame, usable: np.ndarray) -> pd.Series:
    return meta["mineral"].map(mineral_groups())


def _labels_species_10(meta: pd.DataFrame, usable: np.ndarray) -> pd.Series:
    counts = meta.loc[usable, "mineral"].value_counts()
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    chosen = {name for name, _ in top}
    return meta["mineral"].where(meta["mineral"].isin(chosen))


def _labels_all_species(meta: pd.DataFrame, usable: np.ndarray) -> pd.Series:
    samples = meta.loc[usable].groupby("mineral")["sample_id"].nunique()
    chosen = set(samples.index[samples >= 2])
    return meta["mineral"].where(meta["mineral"].isin(chosen))


def _labels_outside_groups(meta: pd.DataFrame, usable: np.ndarray) -> pd.Series:
    return meta["mineral"].where(~meta["mineral"].isin(set(mineral_groups())))


TASKS: dict[str, tuple[str, Callable[[pd.DataFrame, np.ndarray], pd.Series]]] = {
    "rruff-groups-10": ("10 IMA mineral groups (data/mineral_groups.csv)", _labels_groups),
    "rruff-species-10": ("the 10 species with the most usable spectra (ties by name)", _labels_species_10),
    "rruff-all-species": ("every species with usable spectra from at least 2 samples", _labels_all_species),
    "rruff-outside-groups": ("every species in none of the 10 groups of rruff-groups-10 (the open-set unknowns)",
                             _labels_outside_groups),
}


def list_tasks() -> list[str]:
    return list(TASKS)


def _check_task(name: str) -> None:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {list_tasks()}")


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(values.value_counts().items(), key=lambda kv: str(kv[0]))}


def _build(name: str, cat: Catalog, processing: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    meta = cat.meta
    usable_all = cat.usable
    row_in_X = np.cumsum(usable_all) - 1  # catalog row -> row of cat.X (valid where usable)
    proc_ok = np.ones(len(meta), bool) if processing == "all" else (meta["processing"] == processing).to_numpy()
    known = (meta["reason"] != "unknown mineral").to_numpy()
    candidate = proc_ok & known
    labels = TASKS[name][1](meta, usable_all & candidate)
    in_class = candidate & labels.notna().to_numpy()
    keep = in_class & usable_all
    class_names = sorted(labels[keep].unique().tolist())
    index = {c: i for i, c in enumerate(class_names)}

    task_meta = meta.loc[keep].drop(columns=["reason"]).reset_index(drop=True)
    task_meta.insert(1, "label", labels[keep].to_numpy())
    X = cat.X[row_in_X[keep]]
    y = np.array([index[c] for c in task_meta["label"]], dtype=np.int64)
    groups = task_meta["sample_id"].to_numpy(dtype=str)

    dropped = meta.loc[in_class & ~usable_all]
    classes = {c: {"spectra": int((task_meta["label"] == c).sum()),
                   "samples": int(task_meta.loc[task_meta["label"] == c, "sample_id"].nunique())}
               for c in class_names}
    lasers = task_meta["laser_nm"].map(lambda v: "unknown" if pd.isna(v) else f"{v:g}")
    summary = {
        "task": name,
        "description": TASKS[name][0],
        "source": cat.source,
        "source_sha256": cat.source_sha256,
        "processing": processing,
        "preprocess": cat.preprocess.to_dict(),
        "n_spectra": int(len(y)),
        "n_classes": len(class_names),
        "n_samples": int(task_meta["sample_id"].nunique()),
        "classes": classes,
        "lasers": _counts(lasers),
        "funnel": {
            "files": len(meta) + len(cat.skipped),
            "unreadable_files": len(cat.skipped),
            "other_processing": int((~proc_ok).sum()),
            "unknown_mineral": int((proc_ok & ~known).sum()),
            "not_in_task": int((candidate & ~in_class).sum()),
            "not_covering_grid": int(dropped["reason"].str.startswith("not covering grid").sum()),
            "flat": int(dropped["reason"].str.startswith("flat").sum()),
            "mostly_negative": int(dropped["reason"].str.startswith("mostly negative").sum()),
            "used": int(len(y)),
        },
        "skipped_files": cat.skipped,
        "dropped": [{"source": s, "mineral": m, "reason": r}
                    for s, m, r in zip(dropped["source"], dropped["mineral"], dropped["reason"])],
    }
    arrays = {"X": X, "y": y, "groups": groups}
    info = {"class_names": class_names, "meta": _meta_to_json(task_meta), "summary": summary}
    return arrays, info


def _groups_csv_sha() -> str:
    return hashlib.sha256(GROUPS_CSV.read_bytes()).hexdigest()


def load_task(name: str = "rruff-groups-10", source: str | Path | None = None,
              preprocess: PreprocessConfig | dict | None = None, cache: bool = True,
              processing: str = "Processed") -> SpectraDataset:
    """Load a task (see the module docstring) from ``source`` (default: the data cache's archive).

    ``preprocess`` is a :class:`PreprocessConfig` (or its ``to_dict()``, as stored in checkpoints); default settings
    if None. ``processing`` picks ``"Processed"`` (default), ``"RAW"`` or ``"all"`` spectra. ``cache=False`` neither
    reads nor
    writes cache files. Raises FileNotFoundError if there is no archive, ValueError for an unknown task or option.
    """
    _check_task(name)
    if processing not in PROCESSINGS:
        raise ValueError(f"unknown processing {processing!r}; choose one of {list(PROCESSINGS)}")
    config = (PreprocessConfig.from_dict(preprocess) if isinstance(preprocess, dict)
              else preprocess or PreprocessConfig())
    if not isinstance(config, PreprocessConfig):
        raise ValueError(f"preprocess must be a PreprocessConfig or its dict, got {type(config).__name__}")
    path = resolve_source(source)
    sha = source_fingerprint(path)
    key = _key(kind="task", task=name, source_sha256=sha, preprocess=config.to_dict(), processing=processing,
               groups_csv=_groups_csv_sha() if name in ("rruff-groups-10", "rruff-outside-groups") else None)
    stem = _cache_dir() / f"{name}-{key}"
    loaded = _load(stem, key) if cache else None
    if loaded is None:
        arrays, info = _build(name, load_catalog(path, config, cache=cache), processing)
        if cache:
            _save(stem, key, arrays, info)
    else:
        arrays, info = loaded
    summary = dict(info["summary"], source=str(path))
    return SpectraDataset(
        X=arrays["X"].astype(np.float32, copy=False), y=arrays["y"].astype(np.int64, copy=False),
        groups=arrays["groups"].astype(str), class_names=list(info["class_names"]), grid=config.grid,
        meta=pd.DataFrame(info["meta"]), task=name, source_sha256=sha, preprocess=config, summary=summary)


# ---------------------------------------------------------------------------------------- preprocessing variants
def variant_name(task: str, label: str) -> str:
    """The task name of ``task``'s spectra preprocessed as ``label`` (keeps their networks apart in the model store)."""
    slug = re.sub(r"-+", "-", "".join(c if c.isascii() and c.isalnum() else "-" for c in label.lower())).strip("-")
    return f"{task}~pre-{slug}"


def load_variants(base: SpectraDataset, configs: dict[str, PreprocessConfig], source: str | Path | None = None,
                  cache: bool = True) -> dict[str, SpectraDataset]:
    """``base``'s spectra -- the same rows in the same order, hence the same splits -- preprocessed with each of
    ``configs`` (``{label: PreprocessConfig}``), for comparisons of preprocessing choices that are paired spectrum by
    spectrum and split by split.

    Only ``base``'s files are read again from ``source`` (default: the data cache's archive); results are cached like
    tasks. A configuration that would drop one of ``base``'s spectra (a grid the spectrum does not cover, with
    ``outside="reject"``) raises ``ValueError`` naming the first such files: use ``outside="zero"`` for wider grids.
    Each variant's ``task`` is :func:`variant_name` of ``base.task`` and its label.
    """
    path = resolve_source(source)
    sha = source_fingerprint(path)
    if base.source_sha256 is not None and sha != base.source_sha256:
        raise ValueError(f"{path}: not the archive {base.task} was loaded from (sha256 {sha[:12]}..., the task's "
                         f"{base.source_sha256[:12]}...)")
    members = [_member(s) for s in base.meta["source"]]
    out, todo = {}, {}
    for label, config in configs.items():
        if not isinstance(config, PreprocessConfig):
            raise ValueError(f"variant {label!r}: expected a PreprocessConfig, got {type(config).__name__}")
        key = _key(kind="variant", task=base.task, source_sha256=sha, members=_digest_list(members),
                   preprocess=config.to_dict())
        stem = _cache_dir() / f"{variant_name(base.task, label)}-{key}"
        loaded = _load(stem, key) if cache else None
        if loaded is not None:
            out[label] = _variant(base, label, config, loaded[0]["X"])
        else:
            todo[label] = (config, stem, key)
    if todo:
        wanted = set(members)
        contents = load_archive(path, select=lambda s: _member(s) in wanted)
        by_member = {_member(s.source): s for s in contents.spectra}
        missing = [m for m in members if m not in by_member]
        if missing:
            raise ValueError(f"{path}: {len(missing)} of {base.task}'s files are missing or unreadable, e.g. "
                             f"{missing[:3]}")
        spectra = [by_member[m] for m in members]
        for label, (config, stem, key) in todo.items():
            X, kept, reasons = preprocess_many(spectra, config)
            if not kept.all():
                bad = [f"{members[i]}: {reasons[i]}" for i in np.flatnonzero(~kept)[:3]]
                raise ValueError(f"variant {label!r} drops {int((~kept).sum())} of {base.task}'s spectra, so the "
                                 f"comparison would not be paired; e.g. {bad} (outside='zero' keeps them)")
            if cache:
                _save(stem, key, {"X": X}, {"label": label})
            out[label] = _variant(base, label, config, X)
    return {label: out[label] for label in configs}


def _member(source: str) -> str:
    """A spectrum's file name inside its archive or folder (sources of one archive differ only in the path prefix)."""
    return str(source).split("::")[-1].replace("\\", "/").rsplit("/", 1)[-1]


def _digest_list(items: list[str]) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


def _variant(base: SpectraDataset, label: str, config: PreprocessConfig, X: np.ndarray) -> SpectraDataset:
    return SpectraDataset(X=np.asarray(X, dtype=np.float32), y=base.y, groups=base.groups,
                          class_names=list(base.class_names), grid=config.grid, meta=base.meta,
                          task=variant_name(base.task, label), source_sha256=base.source_sha256, preprocess=config,
                          summary=dict(base.summary, preprocess=config.to_dict(), variant=label))


def raw_pairs(source: str | Path | None = None) -> list[tuple[Any, Any]]:
    """Every RAW spectrum of ``source`` (default: the data cache's archive) with the Processed spectrum of the same
    RRUFF ID and laser (else of the same RRUFF ID at another laser; ``None`` if the archive has none): RRUFF's own
    baseline correction is the reference a
    baseline method applied to the RAW file can be compared with. The 2019 snapshot holds 10 RAW files."""
    contents = load_archive(resolve_source(source), select=lambda s: "raw" in _member(s).lower())
    raws = [s for s in contents.spectra if s.processing == "RAW"]
    ids = {(s.rruff_id, s.laser_nm) for s in raws}
    names = {s.rruff_id for s in raws}
    partners = load_archive(resolve_source(source),
                            select=lambda s: any(f"__{n}__" in _member(s) for n in names)).spectra
    processed = [s for s in partners if s.processing == "Processed"]
    same_laser = {(s.rruff_id, s.laser_nm): s for s in processed if (s.rruff_id, s.laser_nm) in ids}
    any_laser = {s.rruff_id: s for s in processed}
    return [(r, same_laser.get((r.rruff_id, r.laser_nm), any_laser.get(r.rruff_id)))
            for r in sorted(raws, key=lambda s: s.mineral)]
