"""Identify spectra: ``python -m ramancmp predict spectra/`` -- a class, or "not in library".

Input: what instruments write, read by :func:`ramancmp.data.instruments.read_inputs` (RRUFF ``.txt``, delimited text
and CSV with header lines and decimal commas, B&W Tek BWSpec and Horiba LabSpec exports, JCAMP-DX, Galactic SPC,
Renishaw WDF), folders and zip archives of them; each answer names the reader used.

**Before the search** each spectrum is checked and, where needed, repaired, each step reported in its
``warnings``: a spectrum that *looks* uncorrected (its arPLS baseline spans at least :data:`RAW_BASELINE_SPAN` of
its signal range on the grid, measured, not taken from metadata) is baseline-corrected with
:func:`ramancmp.data.preprocess.correct_baseline` (``baseline="auto"``; ``"on"`` always, ``"off"`` never); a
spectrum covering only part of the grid is compared on the part it covers (preprocessed with ``outside="zero"``),
with the covered fraction reported, and refused below :data:`MIN_COVERAGE`; a flat top at the maximum intensity is
reported as possibly saturated.

**Library search with a calibration tolerance**: the query is compared with every library spectrum at shifts of
``-max_shift..+max_shift`` cm^-1 (step :data:`SHIFT_STEP`) by masked cosine similarity on the covered grid points,
and the best shift is reported per match; the "not in library" threshold is set the same way (on the same
validation unknowns, with the same shifts), so tolerating shifts does not let more unknowns in. The answer lists the
top ``top`` library species with RRUFF ID, laser, similarity and shift. ``library=FOLDER`` adds a lab's own
reference spectra (named by their header or file name) to the search.

Each spectrum goes through
:func:`ramancmp.data.preprocess.preprocess_spectrum` with the model's preprocessing config -- the same code and
settings the model was built with -- and the top classes with calibrated probabilities are reported. A file that
cannot be read, or that does not cover the model's wavenumber grid, is reported by name with the reason; the other
files are still classified.

**Which model.** Without ``--model``: the book's default network (``PREDICT_MODEL``,
:mod:`ramancmp.config`) when its checkpoint exists, else the **library search** -- 1-NN cosine similarity to every
spectrum of the task (:class:`ramancmp.models.LibrarySearch`), which needs no training, so ``predict`` works on a
fresh clone right after ``data fetch``. ``--model library`` forces the library search; ``--model NAME`` a network:
a checkpoint (``name.pt`` + ``name.json`` from :meth:`ramancmp.experiments.evaluation.EvaluationResult.save_checkpoint`
or :func:`ramancmp.training.save_checkpoint` with ``class_names`` and ``preprocess`` in its extra info) or a model
name, looked up as ``<task>/<name>.pt`` under :func:`ramancmp.config.checkpoints_dir` (``$RAMANCMP_CHECKPOINT_DIR``
if set), then the full profile's ``checkpoints/`` and the quick profile's ``build/quick/checkpoints``; where no
model was saved explicitly, the book's stored network of the first by-sample split is used.

**"Not in library".** Every model is wrapped in :class:`ramancmp.models.OpenSetClassifier`, fitted on the task's
first by-sample split (seed ``DEFAULT_SEED``; a stored network was trained on its training part): temperature
scaling on the validation part, and a threshold that rejects 95 % of the validation *unknowns* -- spectra of half of
the species outside the task's classes (task ``rruff-outside-groups``, split by species with
:func:`ramancmp.data.species_halves`). A spectrum whose open-set score is not above the threshold is reported as
"not in library" with its score (the closest classes are still listed). The library search then searches every
spectrum of the task (:meth:`OpenSetClassifier.refit_library`). A checkpoint of another task, or one whose classes
are not the task's, is used closed-set, with a note.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.frozen import FrozenEstimator

from ramancmp.config import CHECKPOINT_DIR_ENV, DEFAULT_SEED, PREDICT_MODEL, checkpoints_dir, data_dir, env_setting
from ramancmp.data import list_tasks, load_task, make_split, species_halves
from ramancmp.data.instruments import Reading, read_inputs
from ramancmp.data.preprocess import (
    PreprocessConfig,
    correct_baseline,
    coverage_mask,
    coverage_problem,
    preprocess_spectrum,
)
from ramancmp.data.rruff import Spectrum
from ramancmp.fileio import printable as _p
from ramancmp.fileio import write_json_atomic
from ramancmp.models import LibrarySearch, OpenSetClassifier, list_models
from ramancmp.training import TorchClassifier

__all__ = ["LIBRARY", "NOT_IN_LIBRARY", "Predictor", "default_model", "format_predictions", "load_predictor",
           "predict_paths", "resolve_checkpoint", "write_csv"]

DEFAULT_TASK = "rruff-groups-10"
DEFAULT_MODEL = PREDICT_MODEL
LIBRARY = "library"
"""``--model library``: the 1-NN cosine library search (no training, no checkpoint)."""
LIBRARY_ALIASES = (LIBRARY, "library_search", "knn_cosine")
UNKNOWNS_TASK = {"rruff-groups-10": "rruff-outside-groups"}
"""The task whose spectra are the open-set unknowns of each task (minerals outside its classes)."""
UNKNOWN_REJECTION = 0.95
NOT_IN_LIBRARY = "not in library"
BASELINES = ("auto", "on", "off")
RAW_BASELINE_SPAN = 0.10
"""A spectrum looks uncorrected when its arPLS baseline (lam 1e7 on the 1,024-point grid) spans at least this share of
its signal range. Measured on a 1-in-25 sample of the 2019 archive (229 Processed spectra): 99th percentile 0.087,
median 0.001; the archive's RAW files with a visible background: 0.23-0.38."""
CORRECTION_LAM = 1e6
"""arPLS stiffness of the correction (per 1,024 grid points; the detection uses a stiffer 1e7). Measured on 40
random in-library archive spectra with a broad added background (one Gaussian hump 1.5x the strongest band, plus a
slope): nearest species right for 36 / 38 / 38 of 40 with lam 1e7 / 1e6 / 1e5, 2 of 40 uncorrected; 1e6 keeps broad
bands (glasses, fluorescent minerals) better than 1e5."""
MIN_COVERAGE = 0.6
"""The smallest share of the grid a spectrum must cover to be searched (on the part it covers); below, refused."""
DEFAULT_MAX_SHIFT = 5.0
"""The default calibration tolerance (cm^-1). Its cost on RRUFF's own validation spectra (which have no calibration
error), by ``Predictor("library").shift_rule(s)``, 2019 archive, task rruff-groups-10, seed 0: the threshold that
rejects 95 % of the validation unknowns is 0.901 / 0.914 / 0.918 / 0.926 for s = 0 / 2 / 3 / 5 cm^-1, accepting
81.8 / 83.1 / 81.8 / 77.7 % of the validation knowns. 5 covers the +2 to +6 cm^-1 offsets seen on other instruments
(issue 21); ``--max-shift 3`` gives up little on RRUFF's own spectra."""
SHIFT_STEP = 1.0
LARGE_SHIFT = 3.0
"""A best shift of at least this many cm^-1 is reported as a warning (check the instrument's calibration)."""
SATURATION_RUN = 3


def resolve_checkpoint(model: str | Path, task: str = DEFAULT_TASK) -> Path:
    """The checkpoint path for a path (``.pt``/``.json``/stem) or a model name trained on ``task``."""
    path = Path(model).expanduser()
    stem = path.with_suffix("") if path.suffix in (".pt", ".json") else path
    if stem.with_name(stem.name + ".json").exists():
        return stem.with_name(stem.name + ".pt")
    if path.suffix in (".pt", ".json") or len(path.parts) > 1:
        raise FileNotFoundError(f"checkpoint {path} not found (expected {stem.name}.pt and {stem.name}.json)")
    roots = list(dict.fromkeys([checkpoints_dir(), checkpoints_dir("full"), checkpoints_dir("quick")]))
    # an explicitly saved model (EvaluationResult.save_checkpoint), then the book's stored network of the first
    # by-sample split (trained on that split's training part; see ramancmp.experiments.store)
    candidates = [root / task / str(model) for root in roots] + [
        root / task / str(model) / f"sample-seed{DEFAULT_SEED}" for root in roots]
    for candidate in candidates:
        if candidate.with_name(candidate.name + ".json").exists():
            return candidate.with_name(candidate.name + ".pt")
    if str(model) not in list_models():
        raise ValueError(f"{model!r} is neither a checkpoint file nor a model name; models: {', '.join(list_models())}")
    if str(model) not in list_models("torch"):
        raise ValueError(f"{model!r} is a scikit-learn model: predict uses trained networks (weights-only checkpoints) "
                         f"or the library search (--model {LIBRARY}); choose one of "
                         f"{', '.join([LIBRARY, *list_models('torch')])}")
    raise FileNotFoundError(
        f"no trained {model!r} checkpoint for task {task!r}; "
        f"looked for {', '.join(str(c) + '.pt' for c in candidates)}. "
        "Train it with the book (python -m ramancmp book run), or in Python: "
        f"evaluate({str(model)!r}, load_task({task!r}), profile=PROFILES['quick']).save_checkpoint()")


def _profile_of(path: Path) -> str:
    """``full`` / ``quick`` when ``path`` is in that profile's checkpoint store, else ``custom``."""
    if env_setting(CHECKPOINT_DIR_ENV):
        return "unknown (checkpoints from $RAMANCMP_CHECKPOINT_DIR)"
    for profile in ("full", "quick"):
        root = checkpoints_dir(profile)
        if path.resolve().is_relative_to(root.resolve()):
            return profile
    return "custom"


class Predictor:
    """A model ready to identify spectra: the open-set classifier (or a closed-set network), its class names and
    preprocessing config, and a description of what was used (``info``)."""

    def __init__(self, model: str | Path = LIBRARY, task: str = DEFAULT_TASK, open_set: bool = True):
        self.notes: list[str] = []
        if str(model) in LIBRARY_ALIASES:
            self._init_library(task)
        else:
            self._init_network(resolve_checkpoint(model, task), open_set)

    # ------------------------------------------------------------------------------------------------ builders
    def _init_library(self, task: str) -> None:
        if task not in UNKNOWNS_TASK:
            raise ValueError(f"the library search's open-set rule is defined for tasks {sorted(UNKNOWNS_TASK)}, "
                             f"not {task!r}")
        self.preprocess = PreprocessConfig()
        ds = load_task(task, preprocess=self.preprocess)
        unknown = load_task(UNKNOWNS_TASK[ds.task], preprocess=ds.preprocess)
        split = make_split(ds.y, ds.groups, kind="sample", seed=DEFAULT_SEED)
        val_unknown, _ = species_halves(unknown.meta["mineral"].to_numpy(), seed=DEFAULT_SEED)
        self._setup_library(task, ds.X, ds.y, list(ds.class_names), ds.meta, split.train, split.val,
                            unknown.X[val_unknown])
        self.cache_rules_in(data_dir() / "cache")

    @classmethod
    def from_arrays(cls, X: np.ndarray, y: np.ndarray, class_names: list[str], meta: Any, train: np.ndarray,
                    val: np.ndarray, X_unknown: np.ndarray, preprocess: PreprocessConfig,
                    task: str = "custom") -> Predictor:
        """A library-search predictor from preprocessed arrays (the task's, or a test's): ``meta`` has columns
        ``mineral``, ``rruff_id`` and ``laser_nm``; ``train``/``val`` index the calibration split."""
        self = cls.__new__(cls)
        self.notes, self.preprocess = [], preprocess
        self._setup_library(task, X, y, class_names, meta, train, val, X_unknown)
        return self

    def _setup_library(self, task: str, X: np.ndarray, y: np.ndarray, class_names: list[str], meta: Any,
                       train: np.ndarray, val: np.ndarray, X_unknown: np.ndarray) -> None:
        self.task, self.class_names, self.path, self.profile = task, list(class_names), None, "none (no training)"
        self.name = "library search (1-NN cosine)"
        self.library_meta = meta
        self.classifier = OpenSetClassifier(LibrarySearch(), unknown_rejection=UNKNOWN_REJECTION).fit(
            X[train], y[train], X_val=X[val], y_val=y[val], X_unknown=X_unknown)
        self.classifier.refit_library(X, y)  # search every spectrum of the task
        self.library_size = len(X)
        self.library_X = np.asarray(X, dtype=np.float64)
        self.library_y = np.asarray(y)
        self.library_rows = [{"mineral": str(meta["mineral"].iat[i]), "rruff_id": str(meta["rruff_id"].iat[i]),
                              "laser_nm": _float_or_none(meta["laser_nm"].iat[i]) if "laser_nm" in meta else None,
                              "source": "RRUFF"} for i in range(len(X))]
        self._calibration = (np.asarray(train), np.asarray(val), np.asarray(X_unknown, dtype=np.float64))
        self._shift_rules: dict[float, dict[str, float]] = {}
        self._cache_file = None
        self.user_references = 0

    def cache_rules_in(self, folder: Path) -> None:
        """Keep the shift rules in ``folder`` (the data cache), keyed by a digest of everything they depend on: the
        library and calibration arrays, the split, the rejection rate, the shift step and the score."""
        import hashlib

        train, val, X_unknown = self._calibration
        h = hashlib.sha256()
        for part in (self.library_X.astype(np.float32), self.library_y.astype(np.int64), train.astype(np.int64),
                     val.astype(np.int64), X_unknown.astype(np.float32)):
            h.update(np.ascontiguousarray(part).tobytes())
        h.update(f"{UNKNOWN_REJECTION}|{SHIFT_STEP}|{self.classifier.score_}|{self.classifier.temperature_!r}".encode())
        digest = h.hexdigest()[:16]
        self._cache_file = lambda max_shift: Path(folder) / f"predict-shift-rule-{digest}-{max_shift:g}.json"

    # ------------------------------------------------------------------------------------------ library search
    def shift_rule(self, max_shift: float) -> dict[str, float]:
        """The open-set threshold of the shift-tolerant, masked search, chosen like the classifier's: on the
        calibration split (library = its training part), rejecting ``UNKNOWN_REJECTION`` of the validation unknowns
        with the same shifts allowed. With no shift it is the classifier's own rule."""
        clf = self.classifier
        if max_shift <= 0:
            return {"threshold": clf.threshold_, "validation_unknowns_rejected": clf.val_unknown_rejection_,
                    "validation_knowns_accepted": clf.val_known_acceptance_}
        if max_shift not in self._shift_rules and self._cache_file is not None:
            cached = _read_rule(self._cache_file(max_shift))
            if cached is not None:
                self._shift_rules[max_shift] = cached
        if max_shift not in self._shift_rules:
            train, val, X_unknown = self._calibration
            lib, labels = self.library_X[train], self.library_y[train]
            grid_mask = np.ones(self.library_X.shape[1], bool)
            val_scores = self._scores(_search(self.library_X[val], np.tile(grid_mask, (len(val), 1)), lib,
                                              max_shift)[0], labels)
            unk_scores = self._scores(_search(X_unknown, np.tile(grid_mask, (len(X_unknown), 1)), lib,
                                              max_shift)[0], labels)
            thr = float(np.quantile(unk_scores, UNKNOWN_REJECTION, method="higher"))
            self._shift_rules[max_shift] = {"threshold": thr,
                                            "validation_unknowns_rejected": float(np.mean(unk_scores <= thr)),
                                            "validation_knowns_accepted": float(np.mean(val_scores > thr))}
            if self._cache_file is not None:
                _write_rule(self._cache_file(max_shift), self._shift_rules[max_shift])
        return self._shift_rules[max_shift]

    def _class_logits(self, sims: np.ndarray, labels: np.ndarray) -> np.ndarray:
        out = np.full((len(sims), len(self.class_names)), -1.0)
        for c in np.unique(labels):
            out[:, c] = sims[:, labels == c].max(axis=1)
        return out

    def _scores(self, sims: np.ndarray, labels: np.ndarray) -> np.ndarray:
        from scipy.special import softmax

        logits = self._class_logits(sims, labels)
        if self.classifier.score_ == "max_score":
            return logits.max(axis=1)
        return softmax(logits / self.classifier.temperature_, axis=1).max(axis=1)

    def add_references(self, readings: list[Reading], baseline: str) -> list[dict[str, str]]:
        """Add a lab's own reference spectra (one class each, named by header or file name) to the search."""
        errors = []
        for reading in readings:
            spectrum = reading.spectrum
            name = spectrum.mineral or Path(spectrum.source.rsplit("::", 1)[-1]).stem
            try:
                row, mask, _notes = _prepare(reading, self.preprocess, baseline, for_library=True)
            except ValueError as exc:
                errors.append({"source": spectrum.source, "reason": f"reference not added: {_reason(exc, spectrum)}"})
                continue
            label = f"{name} (your library)"
            if label not in self.class_names:
                self.class_names.append(label)
            self.library_X = np.vstack([self.library_X, np.where(mask, row, 0.0)[None, :]])
            self.library_y = np.append(self.library_y, self.class_names.index(label))
            self.library_rows.append({"mineral": name, "rruff_id": "", "laser_nm": spectrum.laser_nm,
                                      "source": f"your library: {spectrum.source}"})
            self.user_references += 1
        return errors

    def _init_network(self, path: Path, open_set: bool) -> None:
        self.path, self.profile, self.library_meta = path, _profile_of(path), None
        net = TorchClassifier.from_checkpoint(path, device="cpu")
        info = net.checkpoint_info_
        names = info.get("class_names")
        num_classes = int(info["model"]["num_classes"])
        if not names or len(names) != num_classes:
            raise ValueError(f"checkpoint {path} has {len(names or [])} class names for {num_classes} outputs; "
                             "save it with EvaluationResult.save_checkpoint() or pass extra={'class_names': ...}")
        if "preprocess" not in info:
            raise ValueError(f"checkpoint {path} has no preprocessing config; it cannot be used on raw spectra")
        self.class_names = [str(n) for n in names]
        self.preprocess = PreprocessConfig.from_dict(info["preprocess"])
        self.name = str(info["model"]["name"])
        self.task = info.get("task")
        self.classifier = net
        if not open_set:
            return
        if self.task not in UNKNOWNS_TASK or self.task not in list_tasks():
            self.notes.append(f"no open-set rule for task {self.task!r}: every spectrum is forced into a class")
            return
        ds = load_task(self.task, preprocess=self.preprocess)
        if list(ds.class_names) != self.class_names or not np.array_equal(net.classes_, np.arange(len(names))):
            self.notes.append(f"the checkpoint's classes are not those of task {self.task!r}: no open-set rule")
            return
        self.classifier = self._calibrate(FrozenEstimator(net), ds)

    def _calibrate(self, estimator: Any, ds: Any) -> OpenSetClassifier:
        """Temperature and threshold on the first by-sample split and half of the unknown species."""
        unknown = load_task(UNKNOWNS_TASK[ds.task], preprocess=ds.preprocess)
        split = make_split(ds.y, ds.groups, kind="sample", seed=DEFAULT_SEED)
        val_unknown, _ = species_halves(unknown.meta["mineral"].to_numpy(), seed=DEFAULT_SEED)
        return OpenSetClassifier(estimator, unknown_rejection=UNKNOWN_REJECTION).fit(
            ds.X[split.train], ds.y[split.train], X_val=ds.X[split.val], y_val=ds.y[split.val],
            X_unknown=unknown.X[val_unknown])

    # --------------------------------------------------------------------------------------------------- use
    @property
    def open_set(self) -> bool:
        return isinstance(self.classifier, OpenSetClassifier)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.classifier.predict_proba(X)

    def info(self, max_shift: float = 0.0) -> dict[str, Any]:
        out = {"name": self.name, "task": self.task, "classes": len(self.class_names), "profile": self.profile,
               "checkpoint": str(self.path) if self.path else None, "open_set": self.open_set, "notes": self.notes}
        if self.library_meta is not None:
            out["library_spectra"] = self.library_size
            out["user_references"] = getattr(self, "user_references", 0)
        if self.open_set:
            clf = self.classifier
            out["open_set_rule"] = {"score": clf.score_, "threshold": clf.threshold_, "temperature": clf.temperature_,
                                    "validation_unknowns_rejected": clf.val_unknown_rejection_,
                                    "validation_knowns_accepted": clf.val_known_acceptance_}
            if self.library_meta is not None:
                out["open_set_rule"].update(self.shift_rule(max_shift))
                out["open_set_rule"]["max_shift_cm1"] = max_shift
            out["open_set_rule"]["meaning"] = _rule_meaning(out)
        return out


_RULE_KEYS = ("threshold", "validation_unknowns_rejected", "validation_knowns_accepted")


def _read_rule(path: Path) -> dict[str, float] | None:
    """A cached shift rule, or None when it is missing or not exactly what was written (then it is recomputed)."""
    import json

    try:
        if not path.is_file() or path.stat().st_size > 4096:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        rule = {k: float(data[k]) for k in _RULE_KEYS}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return rule if all(np.isfinite(v) for v in rule.values()) else None


def _write_rule(path: Path, rule: dict[str, float]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, rule)  # atomic: a reader sees the old file or the whole new one
    except OSError:  # a read-only data cache: the rule is recomputed next time
        pass


def _rule_meaning(info: dict[str, Any]) -> str:
    rule = info["open_set_rule"]
    what = ("the cosine similarity of the most similar library spectrum" + (
        f" (best over shifts of +-{rule['max_shift_cm1']:g} cm^-1, on the grid points the spectrum covers)"
        if rule.get("max_shift_cm1") else "")) if info.get("library_spectra") else "the network's open-set score"
    return (f"'not in library' means the score ({what}) is not above {rule['threshold']:.4f}, the value that "
            f"rejected {rule['validation_unknowns_rejected']:.0%} of validation spectra of minerals outside the "
            f"library's classes while accepting {rule['validation_knowns_accepted']:.0%} of validation spectra of its "
            "classes (RRUFF spectra; spectra from other instruments tend to score lower, so more of them are rejected)")


def _float_or_none(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def load_predictor(model: str | Path = LIBRARY, task: str = DEFAULT_TASK, open_set: bool = True) -> Predictor:
    return Predictor(model, task, open_set)


def default_model(task: str = DEFAULT_TASK) -> str:
    """The book's default network if its checkpoint exists, else the library search (no training needed)."""
    try:
        resolve_checkpoint(DEFAULT_MODEL, task)
    except (FileNotFoundError, ValueError):
        return LIBRARY
    return DEFAULT_MODEL


def _shift_rows(Q: np.ndarray, M: np.ndarray, shift_points: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows resampled at ``grid + shift`` (in grid points): a query whose axis reads ``shift`` too high is corrected;
    points shifted in from outside the measured range are masked."""
    n = Q.shape[1]
    idx = np.arange(n, dtype=np.float64) + shift_points
    lo = np.clip(np.floor(idx).astype(int), 0, n - 1)
    hi = np.clip(lo + 1, 0, n - 1)
    frac = np.clip(idx - lo, 0.0, 1.0)
    Qs = Q[:, lo] * (1 - frac) + Q[:, hi] * frac
    inside = (idx >= 0) & (idx <= n - 1)
    Ms = M[:, lo] & M[:, hi] & inside
    return np.where(Ms, Qs, 0.0), Ms


def _search(Q: np.ndarray, M: np.ndarray, library: np.ndarray, max_shift: float, grid_step: float | None = None,
            batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``(similarity, shift)`` arrays ``(n_queries, n_library)``: the best masked cosine similarity of each query
    with each library spectrum over shifts of ``-max_shift..max_shift`` cm^-1, and the shift (cm^-1) that gave it."""
    Q = np.asarray(Q, dtype=np.float64)
    step = grid_step if grid_step is not None else 1050.0 / 1023  # the default grid's step (cm^-1 per point)
    shifts = np.arange(-max_shift, max_shift + 1e-9, SHIFT_STEP) if max_shift > 0 else np.zeros(1)
    shifts = shifts[np.argsort(np.abs(shifts), kind="stable")]  # ties go to the smallest shift
    L2 = library ** 2
    best = np.full((len(Q), len(library)), -np.inf)
    best_shift = np.zeros((len(Q), len(library)))
    for start in range(0, len(Q), batch):
        q, m = Q[start:start + batch], M[start:start + batch]
        for shift in shifts:
            qs, ms = _shift_rows(q, m, shift / step)
            num = qs @ library.T
            if np.all(ms == ms[:1]):  # one mask for the whole batch (full-range spectra): one library norm per shift
                lib_norm = np.sqrt(np.maximum(ms[:1].astype(np.float64) @ L2.T, 0.0))
            else:
                lib_norm = np.sqrt(np.maximum(ms.astype(np.float64) @ L2.T, 0.0))
            den = lib_norm * np.linalg.norm(qs, axis=1, keepdims=True)
            sim = np.where(den > 0, num / np.where(den > 0, den, 1.0), -1.0)
            better = sim > best[start:start + batch] + 1e-12
            best[start:start + batch] = np.where(better, sim, best[start:start + batch])
            best_shift[start:start + batch] = np.where(better, shift, best_shift[start:start + batch])
    return best, best_shift


def _reason(exc: Exception, spectrum: Spectrum) -> str:
    return str(exc).removeprefix(f"{spectrum.source}: ")


def _looks_raw(grid: np.ndarray, values: np.ndarray) -> tuple[bool, float, np.ndarray]:
    """(looks uncorrected, baseline span / signal range, baseline) of a spectrum on (part of) the uniform grid."""
    lam = 1e7 * (len(grid) / 1024) ** 4  # the same stiffness per cm^-1 on a partial grid
    _corrected, base = correct_baseline((grid, values), "arpls", lam=lam)
    span = float(np.ptp(base) / np.ptp(values)) if np.ptp(values) > 0 else 0.0
    return span >= RAW_BASELINE_SPAN, span, base


def _prepare(reading: Reading, config: PreprocessConfig, baseline: str, for_library: bool = False
             ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The preprocessed row, its coverage mask on the grid, and notes: partial range, baseline, saturation."""
    spectrum = reading.spectrum
    notes: list[str] = []
    wn, inten = spectrum.wavenumber, spectrum.intensity
    measured_top = float(inten.max())
    if config.normalisation != "none" and np.isfinite(peak := float(np.max(np.abs(inten)))) and peak > 0:
        inten = inten / peak  # scale-free from here on: no overflow (1e308) or underflow (1e-310) in the baseline
        spectrum = replace(spectrum, intensity=inten)
    grid = config.grid
    tol = config.coverage_tolerance
    partial = wn[0] > config.grid_start + tol or wn[-1] < config.grid_stop - tol
    mask = coverage_mask(wn, grid) if partial else np.ones(grid.size, bool)
    covered = float(mask.mean())
    if partial and covered < MIN_COVERAGE:
        raise ValueError(f"not covering grid: spectrum spans {wn[0]:.1f}-{wn[-1]:.1f} cm^-1, {covered:.0%} of the grid "
                         f"{config.grid_start:g}-{config.grid_stop:g} cm^-1; at least {MIN_COVERAGE:.0%} is needed "
                         "to search on the part covered")
    cfg = replace(config, outside="zero") if partial else config
    if partial:
        notes.append(f"partial range: covers {wn[0]:.0f}-{wn[-1]:.0f} cm^-1, {covered:.0%} of the "
                     f"{config.grid_start:g}-{config.grid_stop:g} cm^-1 grid; compared on the covered part only")
    top = inten.max()
    at_top = np.flatnonzero(inten >= top - 1e-9 * max(abs(top), 1.0))
    if top > 0 and at_top.size >= SATURATION_RUN and np.any(np.convolve(np.diff(at_top) == 1, np.ones(
            SATURATION_RUN - 1), "valid") == SATURATION_RUN - 1):
        notes.append(f"possibly saturated: {at_top.size} points at the maximum intensity {measured_top:g} "
                     "(a flat-topped "
                     "band); the band's shape and relative height are lost -- measure again with a shorter exposure")
    problem = coverage_problem(wn, cfg, inten)  # gaps, mostly negative: judged on the spectrum as measured
    if problem:
        raise ValueError(problem)
    g = grid[mask]
    values = np.interp(g, wn, inten)
    if np.ptp(values) == 0:
        raise ValueError(f"flat: constant after resampling, cannot {cfg.normalisation}-normalise (constant over the "
                         f"{wn[0]:.0f}-{wn[-1]:.0f} cm^-1 it covers; no band to compare)")
    if baseline != "off":
        raw, span, base = _looks_raw(g, values)
        if baseline == "on" or raw:
            _corr, base = correct_baseline((g, values), "arpls", lam=CORRECTION_LAM * (len(g) / 1024) ** 4)
            corrected = values - base
            corrected = corrected - np.quantile(corrected, 0.01)  # noise around the baseline: mostly >= 0
            why = "requested" if baseline == "on" else f"it looks uncorrected: its baseline spans {span:.0%} of the " \
                                                       f"signal range (threshold {RAW_BASELINE_SPAN:.0%})"
            notes.append(f"baseline corrected (arPLS) before the search: {why}")
            spectrum = Spectrum(wavenumber=g, intensity=corrected, mineral=spectrum.mineral, rruff_id=spectrum.rruff_id,
                                sample_id=spectrum.sample_id, laser_nm=spectrum.laser_nm, orientation=None,
                                processing="corrected", locality=None, source=spectrum.source)
    row = preprocess_spectrum(spectrum, cfg)
    return row, mask, notes


def _warnings(spectrum: Any) -> list[str]:
    """Why a classified spectrum's prediction deserves less trust than the book's test accuracy suggests."""
    out = []
    if str(getattr(spectrum, "processing", "") or "").upper() == "RAW":
        out.append("RAW spectrum (not baseline-corrected, by its metadata): the library holds RRUFF's processed "
                   "spectra; expect lower accuracy -- the Processed file is better")
    return out


def predict_paths(model: str | Path | Predictor | None, paths: list[str | Path] | str | Path, top: int = 3,
                  task: str = DEFAULT_TASK, open_set: bool = True, *, baseline: str = "auto",
                  max_shift: float = DEFAULT_MAX_SHIFT, library: str | Path | None = None,
                  x_column: str | int | None = None, y_column: str | int | None = None,
                  plot_dir: str | Path | None = None) -> dict[str, Any]:
    """Identify every spectrum in ``paths``; returns ``{"model", "predictions", "errors"}``.

    ``model``: ``None`` (:func:`default_model`), ``"library"``, a network name / checkpoint path, or a
    :class:`Predictor`. ``baseline``: ``"auto"`` (correct spectra that look uncorrected), ``"on"`` or ``"off"``.
    ``max_shift``: the calibration tolerance of the library search in cm^-1 (0: none). ``library``: a folder (or
    file, or zip) of the lab's own reference spectra added to the library search. ``x_column``/``y_column``: which
    columns of a many-column table to use. ``plot_dir``: write one HTML figure per spectrum there (plotly, offline).

    ``model``: what was used (:meth:`Predictor.info`: name, task, profile, checkpoint, open-set rule).
    ``predictions``: one ``{"source", "reader", "label_in_file", "identified", "score", "top": [{"class",
    "probability"}, ...], "warnings"}`` per spectrum: ``identified`` is the class, or ``"not in library"`` when the
    open-set score is not above the threshold (``score`` is that score; None for a closed-set model); ``top`` the
    closest classes with calibrated probabilities; ``label_in_file`` the name given by the file, if any; ``reader``
    which reader read the file; ``covered`` the share of the grid the spectrum covers; ``baseline_corrected``. For the
    library search also ``matches`` (the top library species: mineral, RRUFF ID, class, laser, similarity, shift in
    cm^-1, source) and ``nearest`` (the best of them); ``warnings`` why a prediction deserves less trust.
    ``errors``: one ``{"source", "reason"}`` per file that could not be read or preprocessed.
    """
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {list(BASELINES)}, got {baseline!r}")
    if not (np.isfinite(max_shift) and 0 <= max_shift <= 50):
        raise ValueError(f"max_shift must be between 0 and 50 cm^-1, got {max_shift!r}")
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if isinstance(model, Predictor):
        predictor = model
    else:
        predictor = load_predictor(default_model(task) if model is None else model, task, open_set)
    is_library = predictor.library_meta is not None
    if library is not None and not is_library:
        raise ValueError("--library adds reference spectra to the library search; use it with --model library")
    readings, errors = read_inputs(list(paths), x_column=x_column, y_column=y_column)
    if library is not None:
        refs, ref_errors = read_inputs([library])
        errors += [{"source": e["source"], "reason": f"reference not added: {e['reason']}"} for e in ref_errors]
        errors += predictor.add_references(refs, baseline)
        if not predictor.user_references:
            raise ValueError(f"{library}: no reference spectrum could be added (see the reasons above, or check the "
                             "folder)")
    rows, masks, kept, notes = [], [], [], []
    for reading in readings:
        spectrum = reading.spectrum
        try:
            if is_library:
                row, mask, note = _prepare(reading, predictor.preprocess, baseline)
            else:  # a network sees the grid as it was trained on; partial ranges as zeros
                row, mask, note = _prepare(reading, predictor.preprocess, baseline)
            rows.append(row)
            masks.append(mask)
            kept.append(reading)
            notes.append(note)
        except ValueError as exc:
            errors.append({"source": spectrum.source, "reason": _reason(exc, spectrum)})
    predictions = []
    if rows:
        X, M = np.stack(rows).astype(np.float64), np.stack(masks)
        clf = predictor.classifier
        matches = None
        if is_library:
            from scipy.special import softmax

            sims, shifts = _search(X, M, predictor.library_X, max_shift)
            logits = predictor._class_logits(sims, predictor.library_y)
            proba = softmax(logits / clf.temperature_, axis=1)
            scores = predictor._scores(sims, predictor.library_y)
            rule = predictor.shift_rule(max_shift)
            accepted = scores > rule["threshold"]
            matches = [_top_matches(predictor, sims[n], shifts[n], top) for n in range(len(X))]
        else:
            proba = clf.predict_proba(X.astype(np.float32))
            scores = clf.score_samples(X.astype(np.float32)) if predictor.open_set else [None] * len(X)
            accepted = scores > clf.threshold_ if predictor.open_set else np.ones(len(X), bool)
        k = min(top, proba.shape[1])
        for n, (reading, p) in enumerate(zip(kept, proba)):
            spectrum = reading.spectrum
            order = np.argsort(-p, kind="stable")[:k]
            best = predictor.class_names[order[0]]
            warnings = list(reading.warnings) + notes[n] + _warnings(spectrum)
            pred = {"source": spectrum.source, "reader": reading.reader, "label_in_file": spectrum.mineral or None,
                    "identified": best if accepted[n] else NOT_IN_LIBRARY,
                    "score": None if scores[n] is None else float(scores[n]),
                    "top": [{"class": predictor.class_names[j], "probability": float(p[j])} for j in order],
                    "covered": float(M[n].mean()),
                    "baseline_corrected": any(w.startswith("baseline corrected") for w in notes[n]),
                    "warnings": warnings}
            if matches is not None:
                pred["matches"] = matches[n]
                nn = matches[n][0]
                pred["nearest"] = {"mineral": nn["mineral"], "rruff_id": nn["rruff_id"], "cosine": nn["similarity"],
                                   "shift_cm1": nn["shift_cm1"]}
                if abs(nn["shift_cm1"]) >= LARGE_SHIFT:
                    warnings.append(f"the best match needs a shift of {nn['shift_cm1']:+g} cm^-1: check the "
                                    "instrument's wavenumber calibration (e.g. on silicon, 520.7 cm^-1)")
            if plot_dir is not None:
                pred["plot"] = _plot(predictor, X[n], M[n], pred, Path(plot_dir), n)
            predictions.append(pred)
    return {"model": predictor.info(max_shift if is_library else 0.0),
            "predictions": predictions, "errors": errors}


def _top_matches(predictor: Predictor, sims: np.ndarray, shifts: np.ndarray, top: int) -> list[dict[str, Any]]:
    """The ``top`` most similar library species (the best spectrum of each), best first."""
    out, seen = [], set()
    for i in np.argsort(-sims, kind="stable"):
        row = predictor.library_rows[i]
        if row["mineral"] in seen:
            continue
        seen.add(row["mineral"])
        out.append({"mineral": row["mineral"], "rruff_id": row["rruff_id"],
                    "class": predictor.class_names[int(predictor.library_y[i])], "laser_nm": row["laser_nm"],
                    "similarity": float(sims[i]), "shift_cm1": float(shifts[i]), "source": row["source"],
                    "library_index": int(i)})
        if len(out) >= top:
            break
    return out


def _plot(predictor: Predictor, row: np.ndarray, mask: np.ndarray, pred: dict[str, Any], folder: Path,
          n: int) -> str:
    """An HTML figure (plotly, offline: plotly.min.js written once beside it) of the spectrum over its best
    matches, each drawn at the shift that matched best; returns its path."""
    import re

    import plotly.graph_objects as go

    folder.mkdir(parents=True, exist_ok=True)
    grid = predictor.preprocess.grid
    fig = go.Figure()
    q = np.where(mask, row, np.nan)
    fig.add_trace(go.Scatter(x=grid, y=q / np.nanmax(np.abs(q)), name="your spectrum", line={"width": 2.5}))
    for rank, m in enumerate(pred.get("matches", []), 1):
        lib = predictor.library_X[m["library_index"]]
        fig.add_trace(go.Scatter(x=grid + m["shift_cm1"], y=lib / np.max(np.abs(lib)) - 1.1 * rank,
                                 name=f"{rank}. {m['mineral']} {m['rruff_id']} ({m['similarity']:.3f}, "
                                      f"{m['shift_cm1']:+g} cm^-1)"))
    title = f"{pred['source'].rsplit('/', 1)[-1]}: {pred['identified']} (score {pred['score']:.3f})"
    fig.update_layout(title=title, xaxis_title="Raman shift (cm^-1)", yaxis_title="normalised intensity (offset)",
                      template="plotly_white")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", pred["source"].rsplit("/", 1)[-1].rsplit("::", 1)[-1])[:80]
    path = folder / f"{n:03d}_{stem}.html"
    fig.write_html(path, include_plotlyjs="directory")
    return str(path)


CSV_FIELDS = ("source", "reader", "label_in_file", "identified", "score", "threshold", "best_match", "rruff_id",
              "similarity", "shift_cm1", "covered", "baseline_corrected", "warnings")


def write_csv(report: dict[str, Any], path: str | Path) -> Path:
    """One row per spectrum (and per file not read, with its reason in ``warnings``)."""
    path = Path(path)
    rule = report["model"].get("open_set_rule") or {}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for p in report["predictions"]:
            nn = p.get("nearest") or {}
            writer.writerow({"source": p["source"], "reader": p.get("reader"), "label_in_file": p["label_in_file"],
                             "identified": p["identified"], "score": p["score"], "threshold": rule.get("threshold"),
                             "best_match": nn.get("mineral"), "rruff_id": nn.get("rruff_id"),
                             "similarity": nn.get("cosine"), "shift_cm1": nn.get("shift_cm1"),
                             "covered": p.get("covered"), "baseline_corrected": p.get("baseline_corrected"),
                             "warnings": " | ".join(p.get("warnings", []))})
        for e in report["errors"]:
            writer.writerow({"source": e["source"], "identified": "error", "warnings": e["reason"]})
    return path




def format_predictions(report: dict[str, Any]) -> str:
    """Human-readable report: what was used, per file the answer, its top classes and library matches, then the
    files that failed."""
    model = report["model"]
    where = f"checkpoint {_p(model['checkpoint'])}" if model.get("checkpoint") else \
        f"{model.get('library_spectra', '?')} library spectra, no checkpoint"
    if model.get("user_references"):
        where += f", {model['user_references']} of your reference spectra added"
    lines = [f"model: {_p(model['name'])} ({model['classes']} classes of task {model['task']}; profile "
             f"{model.get('profile')}; {where})"]
    rule = model.get("open_set_rule")
    if rule:
        what = {"max_score": "largest raw score" + (" = cosine similarity of the nearest library spectrum"
                                                    if model.get("library_spectra") else
                                                    " = log of the largest uncalibrated softmax probability"),
                "max_proba": "largest calibrated probability"}[rule["score"]]
        shift = f"; calibration tolerance +-{rule['max_shift_cm1']:g} cm^-1" if rule.get("max_shift_cm1") else ""
        lines.append(f"open-set rule: not in library unless score > {rule['threshold']:.4f} (score: {what}; "
                     f"rejects {rule['validation_unknowns_rejected']:.0%} of the validation unknowns, accepts "
                     f"{rule['validation_knowns_accepted']:.0%} of the validation knowns; temperature "
                     f"{rule['temperature']:.4g}{shift})")
        if rule.get("meaning"):
            lines.append(f"what it means: {rule['meaning']}")
    lines += [f"note: {_p(n)}" for n in model.get("notes", [])]
    for pred in report["predictions"]:
        note = f"  [file says: {_p(pred['label_in_file'])}]" if pred.get("label_in_file") else ""
        lines.append(f"\n{_p(pred['source'])}{note}")
        if pred.get("reader"):
            lines.append(f"  read as: {_p(pred['reader'])}")
        if pred.get("score") is not None:
            lines.append(f"  -> {_p(pred['identified'])} (score {pred['score']:.4f})"
                         + ("; closest classes:" if pred["identified"] == NOT_IN_LIBRARY else ""))
        for rank, entry in enumerate(pred["top"], 1):
            lines.append(f"  {rank}. {_p(entry['class']):<28} {entry['probability']:6.1%}")
        if pred.get("matches"):
            lines.append("  top library matches (species, RRUFF ID, class, laser, similarity, shift):")
            for rank, m in enumerate(pred["matches"], 1):
                laser = f"{m['laser_nm']:g} nm" if m.get("laser_nm") else "laser ?"
                ident = _p(m["rruff_id"] or m["source"])
                lines.append(f"    {rank}. {_p(m['mineral']):<24} {ident:<12} {_p(m['class']):<14} {laser:<8} "
                             f"{m['similarity']:.4f}  {m['shift_cm1']:+g} cm^-1")
        if pred.get("nearest"):
            nn = pred["nearest"]
            lines.append(f"  nearest library spectrum: {_p(nn['mineral'])} {_p(nn['rruff_id'])} (cosine "
                         f"{nn['cosine']:.4f}, "
                         f"shift {nn.get('shift_cm1', 0):+g} cm^-1)")
        if pred.get("plot"):
            lines.append(f"  plot: {_p(pred['plot'])}")
        lines += [f"  warning: {_p(w)}" for w in pred.get("warnings", [])]
    if report["errors"]:
        lines.append(f"\ncould not classify {len(report['errors'])} file(s):")
        lines += [f"  {_p(e['source'])}: {_p(e['reason'])}" for e in report["errors"]]
    unknown = sum(p["identified"] == NOT_IN_LIBRARY for p in report["predictions"])
    lines.append(f"\n{len(report['predictions'])} classified, {len(report['errors'])} failed"
                 + (f"; {unknown} of them not in library" if model.get("open_set") else ""))
    return "\n".join(lines)
