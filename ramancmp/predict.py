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
:mod:`ramancmp.config`) when its checkpoint exists, else the **library search** (:class:`Identifier`) -- 1-NN cosine
similarity to every spectrum of the task, which needs no training, so ``predict`` works on a fresh clone right after
``data fetch``. The library search is numpy only (no torch, no scikit-learn: a fresh process answers in about a
second) and its preprocessed library and rule are kept in the data cache, keyed by the archive's fingerprint and the
preprocessing (``benchmarks/predict_speed.py`` measures both paths). ``--model library`` forces the library search;
``--hold-out ID`` leaves RRUFF samples out of it; ``--model NAME`` a network:
a checkpoint (``name.pt`` + ``name.json`` from :meth:`ramancmp.experiments.evaluation.EvaluationResult.save_checkpoint`
or :func:`ramancmp.training.save_checkpoint` with ``class_names`` and ``preprocess`` in its extra info) or a model
name, looked up as ``<task>/<name>.pt`` under :func:`ramancmp.config.checkpoints_dir` (``$RAMANCMP_CHECKPOINT_DIR``
if set), then the full profile's ``checkpoints/`` and the quick profile's ``build/quick/checkpoints``; where no
model was saved explicitly, the book's stored network of the first by-sample split is used.

**Guards.** A network's answer is checked for distribution shift before it is trusted: the input's library score
must be above the library search's own threshold, else the answer is "not in library" with a ``distribution
shift`` warning (a strong fluorescence background, SNR 3 noise and pure noise had been given classes at p near 1).
A steady rise at the low end of the range (a Rayleigh wing, an edge filter) is left out of the comparison
(:data:`LOW_WING`), and a spectrum whose strongest band is wider than any library spectrum's is not identified
(:data:`BROAD_BANDS`): without them a silicon wafer with a strong wing was called carbonate at 0.94.

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

from ramancmp.config import CHECKPOINT_DIR_ENV, DEFAULT_SEED, PREDICT_MODEL, checkpoints_dir, data_dir, env_setting
from ramancmp.data import list_tasks, load_task, make_split, species_halves
from ramancmp.data.cache import archive_path
from ramancmp.data.instruments import Reading, read_inputs
from ramancmp.data.preprocess import PreprocessConfig, coverage_mask, coverage_problem, preprocess_spectrum
from ramancmp.data.rruff import Spectrum
from ramancmp.data.tasks import GROUPS_CSV, source_fingerprint
from ramancmp.fileio import atomic_path, file_sha256, write_json_atomic
from ramancmp.fileio import printable as _p

__all__ = ["DISTRIBUTION_SHIFT", "LIBRARY", "NOT_IN_LIBRARY", "Identifier", "Predictor", "default_model",
           "format_predictions", "load_predictor", "predict_paths", "resolve_checkpoint", "write_csv"]

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
RAW_CHECK_BLOCK = 4
"""The raw check's baseline is fitted to the spectrum averaged over blocks of this many grid points."""
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
LOW_WING = "steep rise at the low end"
"""The named warning of a spectrum whose low end falls steadily over tens of cm^-1 (a laser/Rayleigh wing or an edge
filter): that part is left out of the comparison. Without it a silicon wafer with a strong wing (decay length 60
cm^-1) matched Bismutite, "carbonate", at 0.94. It fires on 1 of the 931 library spectra (Chabazite-Ca) and 13 of
the 3,076 outside-group spectra."""
WING_MIN_HALF = 25.0
BROAD_BANDS = "only broad bands"
"""The named warning of a spectrum whose strongest band is wider than :data:`BROAD_BAND_FWHM`: answered "not in
library" (a glass's two broad humps were called amphibole at 0.920 after a baseline correction)."""
BROAD_BAND_FWHM = 100.0
"""cm^-1. The strongest band of the library spectra (task rruff-groups-10, 931): FWHM median 15, 99th percentile 54,
largest 79 cm^-1; of the outside-group spectra 142 of 3,076 are wider than 50. A basaltic glass's humps: 150-250."""


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
    from ramancmp.models.registry import list_models  # the model names: only when no checkpoint was found

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


# ------------------------------------------------------------------------------- the library search (numpy only)
INDEX_VERSION = 2
"""Bump when what the cached library index holds, or how its calibration is computed, changes."""


class Identifier:
    """The library search as ``predict`` runs it: numpy (and scipy for the baseline), no torch, no scikit-learn.

    It holds the preprocessed library (float32 rows, their classes, species, RRUFF IDs, lasers), the open-set rule
    (temperature, score, threshold) and the shift rules, and answers with :meth:`identify`. Build one with
    :meth:`for_task` (the task's spectra and rule, kept on disk in the data cache as one ``.npz`` keyed by the
    archive's fingerprint, the preprocessing, the groups table and :data:`INDEX_VERSION`, so a fresh process loads
    it in milliseconds) or :meth:`from_arrays` (a test's or your own library). The rule is computed exactly as
    :class:`ramancmp.models.OpenSetClassifier` around :class:`ramancmp.models.LibrarySearch` computes it (a test
    checks they agree): temperature on the validation part with the training part as library, the score with the
    higher validation AUROC, the threshold rejecting :data:`UNKNOWN_REJECTION` of the validation unknowns.

    >>> ident = Identifier.for_task()                          # doctest: +SKIP
    >>> ident.identify((wavenumbers, intensities))["identified"]  # doctest: +SKIP
    'carbonate'
    """

    name = "library search (1-NN cosine)"
    profile = "none (no training)"
    path = None
    open_set = True

    def __init__(self, library_X: np.ndarray, library_y: np.ndarray, class_names: list[str],
                 library_rows: list[dict[str, Any]], preprocess: PreprocessConfig, rule: dict[str, Any], *,
                 task: str = "custom", key: str | None = None, cache_folder: Path | None = None,
                 calibration: Any = None):
        self.library_X = np.ascontiguousarray(library_X, dtype=np.float32)
        self.library_y = np.asarray(library_y, dtype=np.int64)
        self.class_names = list(class_names)
        self.library_rows = list(library_rows)
        self.preprocess = preprocess
        self.rule = dict(rule)
        self.task = task
        self.notes: list[str] = []
        self.user_references = 0
        self.library_size = len(self.library_X)
        self._key, self._cache_folder = key, cache_folder
        # (X_library, y_library, X_val, X_unknown) of the calibration split, or a callable returning it (lazily)
        self._calibration = calibration
        self._shift_rules: dict[float, dict[str, float]] = {}
        self._lib_sq = None

    # ------------------------------------------------------------------------------------------ builders
    @classmethod
    def from_arrays(cls, X: np.ndarray, y: np.ndarray, class_names: list[str], meta: Any, train: np.ndarray,
                    val: np.ndarray, X_unknown: np.ndarray, preprocess: PreprocessConfig,
                    task: str = "custom") -> Identifier:
        """A library from preprocessed arrays: ``meta`` has columns (or keys) ``mineral``, ``rruff_id`` and
        ``laser_nm``; ``train``/``val`` index the calibration split; ``X_unknown`` are spectra of minerals outside
        the classes (the threshold rejects :data:`UNKNOWN_REJECTION` of them)."""
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.int64)
        train, val = np.asarray(train), np.asarray(val)
        X_unknown = np.asarray(X_unknown, dtype=np.float32)
        rule = _calibrate(X[train], y[train], X[val], y[val], X_unknown, len(class_names))
        return cls(X, y, class_names, _rows_of(meta, len(X)), preprocess, rule, task=task,
                   calibration=(X[train], y[train], X[val], X_unknown))

    @classmethod
    def for_task(cls, task: str = DEFAULT_TASK, cache: bool = True) -> Identifier:
        """The task's library (every spectrum of the task) and its open-set rule, from the data cache's archive;
        loaded from ``<data cache>/cache/predict-library-*.npz`` when it is there and intact, else built (seconds)
        and saved there."""

        if task not in UNKNOWNS_TASK:
            raise ValueError(f"the library search's open-set rule is defined for tasks {sorted(UNKNOWNS_TASK)}, "
                             f"not {task!r}")
        config = PreprocessConfig()
        archive = archive_path()
        if not archive.is_file():
            raise FileNotFoundError(f"no RRUFF archive at {archive}: run `python -m ramancmp data fetch` first")
        parts = {"task": task, "unknowns": UNKNOWNS_TASK[task], "source_sha256": source_fingerprint(archive),
                 "preprocess": config.to_dict(), "groups_csv": file_sha256(GROUPS_CSV) if GROUPS_CSV.is_file() else
                 None, "seed": DEFAULT_SEED, "unknown_rejection": UNKNOWN_REJECTION, "version": INDEX_VERSION}
        import hashlib
        import json

        key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
        folder = data_dir() / "cache"
        index = folder / f"predict-library-{task}-{key}.npz"
        loader = _task_calibration(task, config)
        loaded = _read_index(index) if cache else None
        if loaded is not None:
            X, y, names, rows, rule = loaded
        else:
            X, y, names, meta, (train, val, X_unknown) = _task_library(task, config)
            rule = _calibrate(X[train], y[train], X[val], y[val], X_unknown, len(names))
            calibration = (X[train], y[train], X[val], X_unknown)
            rows = _rows_of(meta, len(X))
            loader = calibration
            if cache:
                _write_index(index, X, y, names, rows, rule)
        return cls(X, y, names, rows, config, rule, task=task, key=key, cache_folder=folder if cache else None,
                   calibration=loader)

    # ------------------------------------------------------------------------------------------- the rule
    def shift_rule(self, max_shift: float) -> dict[str, float]:
        """The open-set threshold of the shift-tolerant, masked search, chosen like the rule without shifts: on
        the calibration split (library = its training part), rejecting ``UNKNOWN_REJECTION`` of the validation
        unknowns with the same shifts allowed. With no shift it is the rule itself. Kept on disk beside the index
        (``predict-shift-rule-<key>-<shift>.json``)."""
        if max_shift <= 0:
            return {k: self.rule[k] for k in _RULE_KEYS}
        if max_shift not in self._shift_rules and self._rule_file(max_shift) is not None:
            cached = _read_rule(self._rule_file(max_shift))
            if cached is not None:
                self._shift_rules[max_shift] = cached
        if max_shift not in self._shift_rules:
            calibration = self._calibration() if callable(self._calibration) else self._calibration
            if calibration is None:
                raise ValueError("this library has no calibration data: it cannot choose a threshold for a shift")
            self._calibration = calibration
            lib, labels, X_val, X_unknown = calibration
            n = len(self.class_names)
            val_scores = self._scores(_search(X_val, None, lib, max_shift)[0], labels, n)
            unk_scores = self._scores(_search(X_unknown, None, lib, max_shift)[0], labels, n)
            thr = float(np.quantile(unk_scores, UNKNOWN_REJECTION, method="higher"))
            self._shift_rules[max_shift] = {"threshold": thr,
                                            "validation_unknowns_rejected": float(np.mean(unk_scores <= thr)),
                                            "validation_knowns_accepted": float(np.mean(val_scores > thr))}
            if self._rule_file(max_shift) is not None:
                _write_rule(self._rule_file(max_shift), self._shift_rules[max_shift])
        return self._shift_rules[max_shift]

    def cache_rules_in(self, folder: Path) -> None:
        """Keep the shift rules in ``folder``, keyed by a digest of everything they depend on (for a library made
        :meth:`from_arrays`: the library and calibration arrays, the rejection rate, the shift step and the rule)."""
        import hashlib

        if self._key is None:
            h = hashlib.sha256()
            lib, labels, X_val, X_unknown = self._calibration
            for part in (np.asarray(lib, np.float32), np.asarray(labels, np.int64), np.asarray(X_val, np.float32),
                         np.asarray(X_unknown, np.float32)):
                h.update(np.ascontiguousarray(part).tobytes())
            h.update(f"{UNKNOWN_REJECTION}|{SHIFT_STEP}|{self.rule['score']}|{self.rule['temperature']!r}".encode())
            self._key = h.hexdigest()[:16]
        self._cache_folder = Path(folder)

    def _rule_file(self, max_shift: float) -> Path | None:
        if self._cache_folder is None or self._key is None:
            return None
        return self._cache_folder / f"predict-shift-rule-{self._key}-{max_shift:g}.json"

    def _class_logits(self, sims: np.ndarray, labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
        return _class_logits(sims, labels, len(self.class_names) if n_classes is None else n_classes)

    def _scores(self, sims: np.ndarray, labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
        return _open_set_scores(self._class_logits(sims, labels, n_classes), self.rule)

    def without(self, rruff_ids: list[str] | tuple[str, ...]) -> Identifier:
        """A copy whose library leaves out every spectrum of the given RRUFF samples (``--hold-out``): to identify a
        sample's spectrum against the *other* samples, as a spectrum from outside the library would be. The rule
        stays (it was chosen with the calibration split's training part as the library)."""
        ids = {str(i).strip() for i in rruff_ids if str(i).strip()}
        known = {r["rruff_id"] for r in self.library_rows}
        missing = sorted(ids - known)
        if missing:
            raise ValueError(f"--hold-out: no library spectrum has RRUFF ID {', '.join(missing)} (IDs look like "
                             "R040068; the report's matches list them)")
        keep = np.array([r["rruff_id"] not in ids for r in self.library_rows])
        out = Identifier(self.library_X[keep], self.library_y[keep], self.class_names,
                         [r for r, k in zip(self.library_rows, keep) if k], self.preprocess, self.rule, task=self.task,
                         key=self._key, cache_folder=self._cache_folder, calibration=self._calibration)
        out._shift_rules = self._shift_rules
        out.notes = [*self.notes, f"held out of the library: every spectrum of {', '.join(sorted(ids))} "
                                  f"({int((~keep).sum())} spectra)"]
        return out

    # ------------------------------------------------------------------------------------------- references
    def add_references(self, readings: list[Reading], baseline: str) -> list[dict[str, str]]:
        """Add a lab's own reference spectra (one class each, named by header or file name) to the search."""
        errors = []
        for reading in readings:
            spectrum = reading.spectrum
            name = spectrum.mineral or Path(spectrum.source.rsplit("::", 1)[-1]).stem
            try:
                row, mask, _notes = _prepare(reading, self.preprocess, baseline)
            except ValueError as exc:
                errors.append({"source": spectrum.source, "reason": f"reference not added: {_reason(exc, spectrum)}"})
                continue
            label = f"{name} (your library)"
            if label not in self.class_names:
                self.class_names.append(label)
            self.library_X = np.vstack([self.library_X, np.where(mask, row, 0.0)[None, :].astype(np.float32)])
            self.library_y = np.append(self.library_y, self.class_names.index(label))
            self.library_rows.append({"mineral": name, "rruff_id": "", "laser_nm": spectrum.laser_nm,
                                      "source": f"your library: {spectrum.source}"})
            self.user_references += 1
        self._lib_sq = None
        return errors

    # ------------------------------------------------------------------------------------------------ use
    def identify(self, spectrum: Any, *, top: int = 3, baseline: str = "auto",
                 max_shift: float = DEFAULT_MAX_SHIFT) -> dict[str, Any]:
        """The answer for one spectrum -- a :class:`~ramancmp.data.instruments.Reading`, a
        :class:`~ramancmp.data.Spectrum` or a ``(wavenumbers, intensities)`` pair -- as one entry of
        :func:`predict_paths`'s ``predictions``. Raises ValueError (naming the problem) for a spectrum that cannot
        be searched."""
        reading = _as_reading(spectrum)
        row, mask, notes = _prepare(reading, self.preprocess, baseline)
        return self.answer(row[None, :], mask[None, :], [reading], [notes], top=top, max_shift=max_shift)[0]

    def answer(self, X: np.ndarray, M: np.ndarray, readings: list[Reading], notes: list[list[str]], *,
               top: int = 3, max_shift: float = DEFAULT_MAX_SHIFT) -> list[dict[str, Any]]:
        """Answers for preprocessed rows ``X`` with coverage masks ``M`` (see :func:`predict_paths`)."""
        sims, shifts = _search(X, M, self.library_X, max_shift, lib_sq=self._squares())
        logits = self._class_logits(sims, self.library_y)
        proba = _softmax(logits / self.rule["temperature"])
        scores = _open_set_scores(logits, self.rule)
        threshold = self.shift_rule(max_shift)["threshold"]
        out = []
        for n, reading in enumerate(readings):
            matches = _top_matches(self, sims[n], shifts[n], top)
            pred = _prediction(reading, self.class_names, proba[n], top, float(scores[n]),
                               bool(scores[n] > threshold) and not _broad(notes[n]), M[n], notes[n])
            pred["matches"] = matches
            nn = matches[0]
            pred["nearest"] = {"mineral": nn["mineral"], "rruff_id": nn["rruff_id"], "cosine": nn["similarity"],
                               "shift_cm1": nn["shift_cm1"]}
            if abs(nn["shift_cm1"]) >= LARGE_SHIFT:
                pred["warnings"].append(f"the best match needs a shift of {nn['shift_cm1']:+g} cm^-1: check the "
                                        "instrument's wavenumber calibration (e.g. on silicon, 520.7 cm^-1)")
            out.append(pred)
        return out

    def library_scores(self, X: np.ndarray, M: np.ndarray, max_shift: float = DEFAULT_MAX_SHIFT) -> np.ndarray:
        """The open-set score of each row (for the distribution check of a network's answers)."""
        sims, _ = _search(X, M, self.library_X, max_shift, lib_sq=self._squares())
        return _open_set_scores(self._class_logits(sims, self.library_y), self.rule)

    def _squares(self) -> np.ndarray:
        if self._lib_sq is None or len(self._lib_sq) != len(self.library_X):
            self._lib_sq = np.ascontiguousarray(self.library_X.astype(np.float32) ** 2)
        return self._lib_sq

    def info(self, max_shift: float = 0.0) -> dict[str, Any]:
        rule = {"score": self.rule["score"], "threshold": self.rule["threshold"],
                "temperature": self.rule["temperature"],
                "validation_unknowns_rejected": self.rule["validation_unknowns_rejected"],
                "validation_knowns_accepted": self.rule["validation_knowns_accepted"]}
        rule.update(self.shift_rule(max_shift))
        rule["max_shift_cm1"] = max_shift
        out = {"name": self.name, "task": self.task, "classes": len(self.class_names), "profile": self.profile,
               "checkpoint": None, "open_set": True, "notes": self.notes, "library_spectra": self.library_size,
               "user_references": self.user_references, "open_set_rule": rule}
        rule["meaning"] = _rule_meaning(out)
        return out


# ------------------------------------------------------------------------------------------ the rule, in numpy
def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _class_logits(sims: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n, n_classes)``: the similarity of the most similar library spectrum of each class (-1 for a class with
    no spectrum in the library)."""
    out = np.full((len(sims), n_classes), -1.0)
    for c in np.unique(labels):
        out[:, c] = sims[:, labels == c].max(axis=1)
    return out


def _open_set_scores(logits: np.ndarray, rule: dict[str, Any]) -> np.ndarray:
    if rule["score"] == "max_score":
        return logits.max(axis=1)
    return _softmax(logits / rule["temperature"]).max(axis=1)


def _auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under the ROC curve of scores ``pos`` (positives) against ``neg`` (ties count half)."""
    allv = np.r_[pos, neg]
    _, inverse, counts = np.unique(allv, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # average ranks, 1-based
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _calibrate(X_lib: np.ndarray, y_lib: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, X_unknown: np.ndarray,
               n_classes: int) -> dict[str, Any]:
    """The open-set rule of the library search, as :class:`ramancmp.models.OpenSetClassifier` fits it around
    :class:`ramancmp.models.LibrarySearch` (library ``X_lib``): temperature by validation NLL
    (:func:`scipy.optimize.minimize_scalar` over log T in [1e-4, 1e4]), the score of higher validation AUROC, the
    threshold rejecting :data:`UNKNOWN_REJECTION` of the unknowns."""
    from scipy.optimize import minimize_scalar

    if len(X_val) == 0 or len(X_unknown) == 0:
        raise ValueError("the open-set rule needs validation spectra of the classes and of unknown minerals")
    val_logits = _class_logits(_search(X_val, None, X_lib, 0.0)[0], y_lib, n_classes)
    unk_logits = _class_logits(_search(X_unknown, None, X_lib, 0.0)[0], y_lib, n_classes)
    rows = np.arange(len(y_val))

    def nll(log_t: float) -> float:
        return float(-_log_softmax(val_logits / np.exp(log_t))[rows, y_val].mean())

    res = minimize_scalar(nll, bounds=(np.log(1e-4), np.log(1e4)), method="bounded", options={"xatol": 1e-4})
    temperature = float(np.exp(res.x))
    auroc = {}
    for score in ("max_proba", "max_score"):
        r = {"score": score, "temperature": temperature}
        auroc[score] = _auroc(_open_set_scores(val_logits, r), _open_set_scores(unk_logits, r))
    score = max(("max_proba", "max_score"), key=auroc.get)
    rule = {"score": score, "temperature": temperature, "val_auroc": auroc}
    unk, val = _open_set_scores(unk_logits, rule), _open_set_scores(val_logits, rule)
    threshold = float(np.quantile(unk, UNKNOWN_REJECTION, method="higher"))
    rule.update(threshold=threshold, validation_unknowns_rejected=float(np.mean(unk <= threshold)),
                validation_knowns_accepted=float(np.mean(val > threshold)))
    return rule


# ------------------------------------------------------------------------------------- the index on disk
def _rows_of(meta: Any, n: int) -> list[dict[str, Any]]:
    def col(name: str) -> list[Any]:
        if meta is None:
            return [None] * n
        try:
            values = meta[name]
        except (KeyError, IndexError, TypeError):
            return [None] * n
        return list(values.tolist() if hasattr(values, "tolist") else values)

    minerals, ids, lasers = col("mineral"), col("rruff_id"), col("laser_nm")
    return [{"mineral": str(minerals[i]), "rruff_id": "" if ids[i] is None else str(ids[i]),
             "laser_nm": _float_or_none(lasers[i]), "source": "RRUFF"} for i in range(n)]


def _task_library(task: str, config: PreprocessConfig) -> tuple[Any, ...]:
    """The task's spectra, classes and metadata, and its calibration split ``(train, validation, X_unknown)``: the
    whole validation part (both halves), as chapter 11 calibrates its open-set rule."""

    ds = load_task(task, preprocess=config)
    unknown = load_task(UNKNOWNS_TASK[ds.task], preprocess=ds.preprocess)
    split = make_split(ds.y, ds.groups, kind="sample", seed=DEFAULT_SEED)
    val_unknown, _ = species_halves(unknown.meta["mineral"].to_numpy(), seed=DEFAULT_SEED)
    return ds.X, ds.y, list(ds.class_names), ds.meta, (np.asarray(split.train), np.asarray(split.validation),
                                                        unknown.X[val_unknown])


def _task_calibration(task: str, config: PreprocessConfig) -> Any:
    def load() -> tuple[np.ndarray, ...]:
        X, y, _names, _meta, (train, val, X_unknown) = _task_library(task, config)
        return X[train], y[train], X[val], X_unknown

    return load


_INDEX_RULE = ("temperature", "threshold", "validation_unknowns_rejected", "validation_knowns_accepted")


def _write_index(path: Path, X: np.ndarray, y: np.ndarray, names: list[str], rows: list[dict[str, Any]],
                 rule: dict[str, Any]) -> None:

    try:
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, X=np.asarray(X, np.float32), y=np.asarray(y, np.int64), class_names=np.array(names, str),
                     mineral=np.array([r["mineral"] for r in rows], str),
                     rruff_id=np.array([r["rruff_id"] for r in rows], str),
                     laser_nm=np.array([np.nan if r["laser_nm"] is None else r["laser_nm"] for r in rows], float),
                     score=np.array(rule["score"]), rule=np.array([rule[k] for k in _INDEX_RULE], float),
                     val_auroc=np.array([rule["val_auroc"]["max_proba"], rule["val_auroc"]["max_score"]], float))
    except OSError:  # a read-only data cache only costs speed: the index is rebuilt next time
        pass


def _read_index(path: Path) -> tuple[Any, ...] | None:
    """The cached index, or None when it is missing or not exactly what was written (then it is rebuilt)."""
    import zipfile

    try:
        if not path.is_file() or path.stat().st_size > 256 << 20:
            return None
        with np.load(path, allow_pickle=False) as z:
            X, y, names = z["X"], z["y"], [str(n) for n in z["class_names"]]
            minerals, ids, lasers = z["mineral"], z["rruff_id"], z["laser_nm"]
            score, values, auroc = str(z["score"]), z["rule"], z["val_auroc"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    n = len(X)
    if (X.ndim != 2 or X.dtype != np.float32 or not np.all(np.isfinite(X)) or y.shape != (n,) or
            not (len(minerals) == len(ids) == len(lasers) == n) or values.shape != (len(_INDEX_RULE),) or
            not np.all(np.isfinite(values)) or score not in ("max_proba", "max_score") or
            y.dtype.kind not in "iu" or n == 0 or y.min() < 0 or y.max() >= len(names)):
        return None
    rule = dict(zip(_INDEX_RULE, map(float, values)), score=score,
                val_auroc={"max_proba": float(auroc[0]), "max_score": float(auroc[1])})
    rows = [{"mineral": str(m), "rruff_id": str(r), "laser_nm": _float_or_none(v), "source": "RRUFF"}
            for m, r, v in zip(minerals, ids, lasers)]
    return X, y, names, rows, rule


def _as_reading(spectrum: Any) -> Reading:
    if isinstance(spectrum, Reading):
        return spectrum
    if isinstance(spectrum, Spectrum):
        return Reading(spectrum, "in memory")
    try:
        wn, inten = spectrum
    except (TypeError, ValueError):
        raise ValueError("a spectrum is a Reading, a Spectrum or a (wavenumbers, intensities) pair, got "
                         f"{type(spectrum).__name__}") from None
    wn, inten = np.asarray(wn, dtype=np.float64), np.asarray(inten, dtype=np.float64)
    if wn.ndim != 1 or wn.shape != inten.shape or wn.size < 2 or not np.all(np.isfinite(wn)) or \
            not np.all(np.isfinite(inten)):
        raise ValueError("wavenumbers and intensities must be finite 1-D arrays of the same length")
    order = np.argsort(wn, kind="stable")
    return Reading(Spectrum(wavenumber=wn[order], intensity=inten[order], mineral="", rruff_id="", sample_id=None,
                            laser_nm=None, orientation=None, processing=None, locality=None, source="<array>"),
                   "in memory")


def _prediction(reading: Reading, class_names: list[str], p: np.ndarray, top: int, score: float | None,
                accepted: bool, mask: np.ndarray, notes: list[str]) -> dict[str, Any]:
    spectrum = reading.spectrum
    order = np.argsort(-p, kind="stable")[:min(top, len(p))]
    return {"source": spectrum.source, "reader": reading.reader, "label_in_file": spectrum.mineral or None,
            "identified": class_names[order[0]] if accepted else NOT_IN_LIBRARY,
            "score": None if score is None else float(score),
            "top": [{"class": class_names[j], "probability": float(p[j])} for j in order],
            "covered": float(mask.mean()),
            "baseline_corrected": any(w.startswith("baseline corrected") for w in notes),
            "warnings": list(reading.warnings) + list(notes) + _warnings(spectrum)}


class Predictor:
    """A trained network ready to identify spectra: the open-set classifier (or the closed-set network), its class
    names and preprocessing config, and a description of what was used (``info``). The library search is
    :class:`Identifier` (``Predictor("library")`` returns one)."""

    def __new__(cls, model: str | Path = LIBRARY, task: str = DEFAULT_TASK, open_set: bool = True):
        if str(model) in LIBRARY_ALIASES:
            return Identifier.for_task(task)
        return super().__new__(cls)

    def __init__(self, model: str | Path = LIBRARY, task: str = DEFAULT_TASK, open_set: bool = True):
        self.notes: list[str] = []
        self._init_network(resolve_checkpoint(model, task), open_set)

    def _init_network(self, path: Path, open_set: bool) -> None:
        from ramancmp.training import TorchClassifier  # torch: only for a network

        self.path, self.profile = path, _profile_of(path)
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
        from sklearn.frozen import FrozenEstimator

        self.classifier = self._calibrate(FrozenEstimator(net), ds)

    def _calibrate(self, estimator: Any, ds: Any) -> Any:
        """Temperature and threshold on the first by-sample split and half of the unknown species."""
        from ramancmp.models.open_set import OpenSetClassifier

        unknown = load_task(UNKNOWNS_TASK[ds.task], preprocess=ds.preprocess)
        split = make_split(ds.y, ds.groups, kind="sample", seed=DEFAULT_SEED)
        val_unknown, _ = species_halves(unknown.meta["mineral"].to_numpy(), seed=DEFAULT_SEED)
        return OpenSetClassifier(estimator, unknown_rejection=UNKNOWN_REJECTION).fit(
            ds.X[split.train], ds.y[split.train], X_val=ds.X[split.validation], y_val=ds.y[split.validation],
            X_unknown=unknown.X[val_unknown])

    @property
    def open_set(self) -> bool:
        return hasattr(self.classifier, "threshold_")

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.classifier.predict_proba(X)

    def info(self, max_shift: float = 0.0) -> dict[str, Any]:
        out = {"name": self.name, "task": self.task, "classes": len(self.class_names), "profile": self.profile,
               "checkpoint": str(self.path), "open_set": self.open_set, "notes": self.notes}
        if self.open_set:
            clf = self.classifier
            out["open_set_rule"] = {"score": clf.score_, "threshold": clf.threshold_, "temperature": clf.temperature_,
                                    "validation_unknowns_rejected": clf.val_unknown_rejection_,
                                    "validation_knowns_accepted": clf.val_known_acceptance_}
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


def load_predictor(model: str | Path = LIBRARY, task: str = DEFAULT_TASK,
                   open_set: bool = True) -> Predictor | Identifier:
    """The library search (:class:`Identifier`) for ``"library"``, else the network (:class:`Predictor`)."""
    if str(model) in LIBRARY_ALIASES:
        return Identifier.for_task(task)
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
    frac = np.clip(idx - lo, 0.0, 1.0).astype(Q.dtype)
    Qs = Q[:, lo] * (1 - frac) + Q[:, hi] * frac
    inside = (idx >= 0) & (idx <= n - 1)
    Ms = M[:, lo] & M[:, hi] & inside
    return np.where(Ms, Qs, 0.0).astype(Q.dtype, copy=False), Ms


def _search(Q: np.ndarray, M: np.ndarray | None, library: np.ndarray, max_shift: float,
            grid_step: float | None = None, batch: int = 64,
            lib_sq: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(similarity, shift)`` arrays ``(n_queries, n_library)``: the best masked cosine similarity of each query
    with each library spectrum over shifts of ``-max_shift..max_shift`` cm^-1 (step :data:`SHIFT_STEP`), and the
    shift (cm^-1) that gave it; ties go to the smallest shift. ``M``: the queries' coverage masks (None: full).
    Float32 matrix products: every shift of a batch of queries in one product with the library, and the library
    norms on each mask in a second (one per shift when the masks are the same)."""
    Q = np.asarray(Q, dtype=np.float32)
    library = np.asarray(library, dtype=np.float32)
    L2 = lib_sq if lib_sq is not None else library * library
    M = np.ones(Q.shape, bool) if M is None else np.asarray(M, bool)
    n, n_lib = Q.shape[1], len(library)
    step = grid_step if grid_step is not None else 1050.0 / 1023  # the default grid's step (cm^-1 per point)
    shifts = np.arange(-max_shift, max_shift + 1e-9, SHIFT_STEP) if max_shift > 0 else np.zeros(1)
    shifts = shifts[np.argsort(np.abs(shifts), kind="stable")]  # argmax takes the first: the smallest shift
    ns = len(shifts)
    best = np.empty((len(Q), n_lib))
    best_shift = np.empty((len(Q), n_lib))
    for start in range(0, len(Q), batch):
        q, m = Q[start:start + batch], M[start:start + batch]
        b = len(q)
        pairs = [_shift_rows(q, m, s / step) for s in shifts]
        qs = np.stack([p[0] for p in pairs], axis=1).reshape(b * ns, n)  # query-major: row i*ns + k
        ms = np.stack([p[1] for p in pairs], axis=1)  # (b, ns, n)
        num = (qs @ library.T).reshape(b, ns, n_lib)
        if np.all(m == m[:1]):  # one mask for the batch (full-range spectra): one set of library norms per shift
            lib_norm = np.sqrt(np.maximum(ms[0].astype(np.float32) @ L2.T, 0.0))[None]  # (1, ns, L)
        else:
            lib_norm = np.sqrt(np.maximum(ms.reshape(b * ns, n).astype(np.float32) @ L2.T, 0.0)).reshape(b, ns, n_lib)
        q_norm = np.linalg.norm(qs, axis=1).reshape(b, ns, 1)
        den = lib_norm * q_norm
        sim = np.where(den > 0, num / np.where(den > 0, den, 1.0), -1.0)
        k = sim.argmax(axis=1)  # (b, L)
        best[start:start + b] = np.take_along_axis(sim, k[:, None, :], axis=1)[:, 0, :]
        best_shift[start:start + b] = shifts[k]
    return best, best_shift


def _arpls(values: np.ndarray, lam: float, max_iter: int = 50, tol: float = 1e-3) -> np.ndarray:
    """The arPLS baseline (Baek et al., Analyst 2015) of evenly spaced ``values``: the same iteration as
    pybaselines' ``Baseline.arpls`` (second differences, weights ``expit(-2/s (r - (2 s - m)))`` from the mean ``m``
    and sd ``s`` of the negative residuals, stop when the weights change by less than ``tol``), solved as a banded
    system (LAPACK ``dpbsv``, as :func:`scipy.linalg.solveh_banded` calls it): a few milliseconds instead of ~20 ms,
    and no pybaselines import (seconds) on the path of a single ``predict``. A test checks it against
    :func:`ramancmp.data.preprocess.correct_baseline`."""
    from scipy.linalg.lapack import dpbsv

    y = np.asarray(values, dtype=np.float64)
    n = y.size
    if n < 5:
        return np.full(n, y.mean())
    d0 = np.full(n, 6.0)
    d0[[0, -1]], d0[[1, -2]] = 1.0, 5.0
    d1 = np.full(n - 1, -4.0)
    d1[[0, -1]] = -2.0
    ab = np.zeros((3, n))
    ab[0, 2:] = lam * 1.0
    ab[1, 1:] = lam * d1
    penalty = lam * d0
    w = np.ones(n)
    base = y
    for _ in range(max_iter + 1):
        ab[2] = penalty + w
        _c, base, info = dpbsv(ab, w * y)
        if info != 0:
            raise ValueError(f"the baseline's banded system is singular (LAPACK dpbsv info {info})")
        r = y - base
        neg = r[r < 0]
        if neg.size < 2:
            break
        s = neg.std(ddof=1) or np.finfo(float).eps
        new_w = 0.5 * (1.0 + np.tanh(-(r - (2 * s - neg.mean())) / s))  # expit(-(2/s) x) = (1 + tanh(-x/s)) / 2
        change = np.linalg.norm(new_w - w) / max(np.linalg.norm(w), np.finfo(float).eps)
        if change < tol:
            break
        w = new_w
    return base


def _reason(exc: Exception, spectrum: Spectrum) -> str:
    return str(exc).removeprefix(f"{spectrum.source}: ")


def _looks_raw(grid: np.ndarray, values: np.ndarray) -> tuple[bool, float]:
    """(looks uncorrected, baseline span / signal range) of a spectrum on (part of) the uniform grid.

    The baseline is the arPLS one of the spectrum averaged over blocks of :data:`RAW_CHECK_BLOCK` grid points (the
    stiffness scaled to keep the same per cm^-1): a quarter of the points, a sixteenth of the cost. On a 1-in-25
    sample of the 2019 archive's Processed spectra covering the grid (169) the decision is the same as on the full
    grid for every spectrum (largest change of the span 0.055)."""
    f = RAW_CHECK_BLOCK if len(values) >= 64 * RAW_CHECK_BLOCK else 1
    m = len(values) // f * f
    coarse = np.asarray(values[:m], dtype=np.float64).reshape(-1, f).mean(axis=1)
    base = _arpls(coarse, 1e7 * (len(coarse) / 1024) ** 4)  # lam 1e7 per 1,024 points of the full grid
    span = float(np.ptp(base) / np.ptp(values)) if np.ptp(values) > 0 else 0.0
    return span >= RAW_BASELINE_SPAN, span


def _prepare(reading: Reading, config: PreprocessConfig, baseline: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
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
        raw, span = _looks_raw(g, values)
        if baseline == "on" or raw:
            base = _arpls(values, CORRECTION_LAM * (len(g) / 1024) ** 4)
            corrected = values - base
            corrected = corrected - np.quantile(corrected, 0.01)  # noise around the baseline: mostly >= 0
            why = "requested" if baseline == "on" else f"it looks uncorrected: its baseline spans {span:.0%} of the " \
                                                       f"signal range (threshold {RAW_BASELINE_SPAN:.0%})"
            notes.append(f"baseline corrected (arPLS) before the search: {why}")
            spectrum = Spectrum(wavenumber=g, intensity=corrected, mineral=spectrum.mineral, rruff_id=spectrum.rruff_id,
                                sample_id=spectrum.sample_id, laser_nm=spectrum.laser_nm, orientation=None,
                                processing="corrected", locality=None, source=spectrum.source)
    row = preprocess_spectrum(spectrum, cfg)
    wing_end = _low_wing(grid[mask], row[mask])
    if wing_end is not None:
        lo = float(grid[mask][0])
        mask = mask & (grid >= wing_end)
        if mask.mean() < MIN_COVERAGE:
            raise ValueError(f"a steep rise toward the low end ({lo:.0f}-{wing_end:.0f} cm^-1, a laser/Rayleigh wing "
                             f"or an edge filter) leaves {mask.mean():.0%} of the grid to compare; at least "
                             f"{MIN_COVERAGE:.0%} is needed")
        row = np.where(mask, row, 0.0)
        notes.append(f"{LOW_WING}: {lo:.0f}-{wing_end:.0f} cm^-1 falls steadily from the low end (a laser/Rayleigh "
                     "wing, an edge filter or a boson peak, not a band); left out of the comparison")
    width = _strongest_band_fwhm(grid[mask], row[mask])
    if width > BROAD_BAND_FWHM:
        notes.append(f"{BROAD_BANDS}: the strongest band is {width:.0f} cm^-1 wide (FWHM), wider than any library "
                     f"spectrum's ({BROAD_BAND_FWHM:g} cm^-1 allowed): a glass or amorphous material, or a band "
                     "made by the baseline correction -- not identified")
    return row, mask, notes


def _low_wing(g: np.ndarray, v: np.ndarray) -> float | None:
    """Where a steady fall from the low end of the covered range ends (the first point below 5 % of the edge
    value), or None: the edge is the highest point of its first 40 cm^-1, at least half the spectrum's maximum, and
    it takes at least :data:`WING_MIN_HALF` cm^-1 to fall to half (a band's tail falls within a few)."""
    if len(v) < 8:
        return None
    v = v - np.quantile(v, 0.05)
    top = v.max()
    k40 = max(int(np.searchsorted(g, g[0] + 40.0)), 2)
    if top <= 0 or np.argmax(v[:k40]) > 1 or v[0] < 0.5 * top:
        return None
    below = np.flatnonzero(v < v[0] / 2)
    if not below.size or g[below[0]] - g[0] < WING_MIN_HALF:
        return None
    end = np.flatnonzero(v < 0.05 * v[0])
    return float(g[end[0]]) if end.size else float(g[-1])


def _strongest_band_fwhm(g: np.ndarray, v: np.ndarray) -> float:
    """The full width at half maximum (cm^-1) of the strongest band above the spectrum's 5 % quantile."""
    if len(v) < 3:
        return 0.0
    v = v - np.quantile(v, 0.05)
    i = int(np.argmax(v))
    half = v[i] / 2
    left = np.flatnonzero(v[:i] <= half)
    right = np.flatnonzero(v[i:] <= half)
    lo = g[left[-1]] if left.size else g[0]
    hi = g[i + right[0]] if right.size else g[-1]
    return float(hi - lo)


def _warnings(spectrum: Any) -> list[str]:
    """Why a classified spectrum's prediction deserves less trust than the book's test accuracy suggests."""
    out = []
    if str(getattr(spectrum, "processing", "") or "").upper() == "RAW":
        out.append("RAW spectrum (not baseline-corrected, by its metadata): the library holds RRUFF's processed "
                   "spectra; expect lower accuracy -- the Processed file is better")
    return out


def predict_paths(model: str | Path | Predictor | Identifier | None, paths: list[str | Path] | str | Path, top: int = 3,
                  task: str = DEFAULT_TASK, open_set: bool = True, *, baseline: str = "auto",
                  max_shift: float = DEFAULT_MAX_SHIFT, library: str | Path | None = None,
                  x_column: str | int | None = None, y_column: str | int | None = None,
                  plot_dir: str | Path | None = None, hold_out: list[str] | None = None) -> dict[str, Any]:
    """Identify every spectrum in ``paths``; returns ``{"model", "predictions", "errors"}``.

    ``model``: ``None`` (:func:`default_model`), ``"library"``, a network name / checkpoint path, or a
    :class:`Predictor` / :class:`Identifier`. ``baseline``: ``"auto"`` (correct spectra that look uncorrected),
    ``"on"`` or ``"off"``.
    ``max_shift``: the calibration tolerance of the library search in cm^-1 (0: none). ``library``: a folder (or
    file, or zip) of the lab's own reference spectra added to the library search. ``x_column``/``y_column``: which
    columns of a many-column table to use. ``plot_dir``: write one HTML figure per spectrum there (plotly, offline).
    ``hold_out``: RRUFF sample IDs whose spectra are left out of the library search (:meth:`Identifier.without`).

    ``model``: what was used (:meth:`Predictor.info`: name, task, profile, checkpoint, open-set rule).
    ``predictions``: one ``{"source", "reader", "label_in_file", "identified", "score", "top": [{"class",
    "probability"}, ...], "warnings"}`` per spectrum: ``identified`` is the class, or ``"not in library"`` when the
    open-set score is not above the threshold (``score`` is that score; None for a closed-set model); ``top`` the
    closest classes with calibrated probabilities; ``label_in_file`` the name given by the file, if any; ``reader``
    which reader read the file; ``covered`` the share of the grid the spectrum covers; ``baseline_corrected``. For the
    library search also ``matches`` (the top library species: mineral, RRUFF ID, class, laser, similarity, shift in
    cm^-1, source) and ``nearest`` (the best of them); ``warnings`` why a prediction deserves less trust.
    For a network also ``distribution_check`` (its input's library similarity against the library's threshold):
    an answer that fails it is "not in library" with a ``distribution shift`` warning.
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
    if isinstance(model, (Predictor, Identifier)):
        predictor = model
    else:
        predictor = load_predictor(default_model(task) if model is None else model, task, open_set)
    is_library = isinstance(predictor, Identifier)
    if library is not None and not is_library:
        raise ValueError("--library adds reference spectra to the library search; use it with --model library")
    if hold_out:
        if not is_library:
            raise ValueError("--hold-out leaves samples out of the library search; use it with --model library")
        predictor = predictor.without(hold_out)
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
        try:  # a network sees the grid as it was trained on; partial ranges as zeros
            row, mask, note = _prepare(reading, predictor.preprocess, baseline)
        except ValueError as exc:
            errors.append({"source": reading.spectrum.source, "reason": _reason(exc, reading.spectrum)})
            continue
        rows.append(row)
        masks.append(mask)
        kept.append(reading)
        notes.append(note)
    predictions = []
    model_info = predictor.info(max_shift if is_library else 0.0)
    if rows:
        X, M = np.stack(rows).astype(np.float32), np.stack(masks)
        if is_library:
            predictions = predictor.answer(X, M, kept, notes, top=top, max_shift=max_shift)
        else:
            predictions = _network_answers(predictor, X, M, kept, notes, top)
            model_info["distribution_check"] = _check_distribution(predictor, predictions, kept, baseline,
                                                                   max_shift)
    if plot_dir is not None and is_library:
        for n, pred in enumerate(predictions):
            pred["plot"] = _plot(predictor, X[n], M[n], pred, Path(plot_dir), n)
    return {"model": model_info, "predictions": predictions, "errors": errors}


def _network_answers(predictor: Predictor, X: np.ndarray, M: np.ndarray, readings: list[Reading],
                     notes: list[list[str]], top: int) -> list[dict[str, Any]]:
    clf = predictor.classifier
    proba = clf.predict_proba(X)
    if predictor.open_set:
        scores = clf.score_samples(X)
        accepted = scores > clf.threshold_
    else:
        scores, accepted = [None] * len(X), np.ones(len(X), bool)
    return [_prediction(r, predictor.class_names, proba[n], top, scores[n],
                        bool(accepted[n]) and not (predictor.open_set and _broad(notes[n])), M[n], notes[n])
            for n, r in enumerate(readings)]


def _broad(notes: list[str]) -> bool:
    return any(w.startswith(BROAD_BANDS) for w in notes)


DISTRIBUTION_SHIFT = "distribution shift"
"""The named warning of a network answer that the library check does not trust (see :func:`_check_distribution`)."""


def _check_distribution(predictor: Predictor, predictions: list[dict[str, Any]], readings: list[Reading],
                        baseline: str, max_shift: float) -> dict[str, Any]:
    """A network's answers checked for distribution shift before they are trusted: the input's library score (the
    cosine similarity of its nearest RRUFF spectrum, over the same shifts, on the part it covers) must be above the
    library search's own "not in library" threshold -- the network was trained on the library's spectra, and a
    spectrum unlike all of them (a strong fluorescence background, heavy noise, no band at all) is outside what its
    probabilities were calibrated on. Where it is not, the answer becomes "not in library" (open set) or keeps its
    class with the warning (``--closed-set``). Returns what was checked (in the report's ``model``)."""
    if predictor.task not in UNKNOWNS_TASK:
        note = (f"no distribution check: the network's task {predictor.task!r} has no RRUFF library to compare "
                "its inputs with")
        predictor.notes.append(note)
        return {"checked": False, "reason": note}
    try:
        ident = Identifier.for_task(predictor.task)
    except (FileNotFoundError, ValueError) as exc:
        note = f"no distribution check: the library search is not available ({exc})"
        predictor.notes.append(note)
        return {"checked": False, "reason": note}
    threshold = ident.shift_rule(max_shift)["threshold"]
    for pred, reading in zip(predictions, readings):
        try:
            row, mask, _ = _prepare(reading, ident.preprocess, baseline)
        except ValueError as exc:  # not comparable on the library's grid: not trusted either
            score, why = float("nan"), f"it cannot be compared with the library ({_reason(exc, reading.spectrum)})"
        else:
            score = float(ident.library_scores(row[None, :], mask[None, :], max_shift)[0])
            why = (f"its library similarity {score:.4f} is not above the library's 'not in library' threshold "
                   f"{threshold:.4f}")
        passed = bool(np.isfinite(score) and score > threshold)
        pred["distribution_check"] = {"library_similarity": score if np.isfinite(score) else None,
                                      "threshold": threshold, "passed": passed}
        if not passed:
            said = pred["identified"]
            if predictor.open_set:
                pred["identified"] = NOT_IN_LIBRARY
            pred["warnings"].append(
                f"{DISTRIBUTION_SHIFT}: the spectrum is unlike every library spectrum the network was trained on -- "
                f"{why}; the network's answer {said!r} (probability {pred['top'][0]['probability']:.3f}) is not "
                "trusted" + ("" if predictor.open_set else " (--closed-set keeps it)"))
    return {"checked": True, "threshold": threshold, "max_shift_cm1": max_shift,
            "rule": "a network's answer counts only if the input's library score is above the library search's "
                    "'not in library' threshold"}


def _top_matches(predictor: Identifier, sims: np.ndarray, shifts: np.ndarray, top: int) -> list[dict[str, Any]]:
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


def _plot(predictor: Identifier, row: np.ndarray, mask: np.ndarray, pred: dict[str, Any], folder: Path,
          n: int) -> str:
    """An HTML figure (plotly, offline: plotly.min.js written once beside it) of the spectrum over its best
    matches, each drawn at the shift that matched best; returns its path."""
    import re

    import plotly.graph_objects as go

    folder.mkdir(parents=True, exist_ok=True)
    grid = predictor.preprocess.grid
    row, mask = np.asarray(row, dtype=np.float64), np.asarray(mask, bool)
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
