"""Identify spectra: ``python -m ramancmp predict spectra/`` -- a class, or "not in library".

Input: RRUFF ``.txt`` files, plain two-column ``wavenumber, intensity`` files (with or without ``##`` headers; the
RRUFF parser reads both), folders and zip archives of them. Each spectrum goes through
:func:`ramancmp.data.preprocess.preprocess_spectrum` with the model's preprocessing config -- the same code and
settings the model was built with -- and the top classes with calibrated probabilities are reported. A file that
cannot be read, or that does not cover the model's wavenumber grid, is reported by name with the reason; the other
files are still classified.

**Which model.** Without ``--model``: the book's default network (``BOOK_MODELS[PREDICT_MODEL]``,
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

import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.frozen import FrozenEstimator

from ramancmp.config import BOOK_MODELS, DEFAULT_SEED, PREDICT_MODEL, checkpoints_dir
from ramancmp.data import list_tasks, load_task, make_split, species_halves
from ramancmp.data.preprocess import PreprocessConfig, preprocess_spectrum
from ramancmp.data.rruff import load_archive, read_spectrum
from ramancmp.fileio import printable as _p
from ramancmp.models import LibrarySearch, OpenSetClassifier, list_models
from ramancmp.training import TorchClassifier, load_checkpoint

__all__ = ["LIBRARY", "NOT_IN_LIBRARY", "default_model", "format_predictions", "load_predictor", "predict_paths", "resolve_checkpoint"]

DEFAULT_TASK = "rruff-groups-10"
DEFAULT_MODEL = BOOK_MODELS[PREDICT_MODEL][0]
LIBRARY = "library"
"""``--model library``: the 1-NN cosine library search (no training, no checkpoint)."""
LIBRARY_ALIASES = (LIBRARY, "library_search", "knn_cosine")
UNKNOWNS_TASK = {"rruff-groups-10": "rruff-outside-groups"}
"""The task whose spectra are the open-set unknowns of each task (minerals outside its classes)."""
UNKNOWN_REJECTION = 0.95
NOT_IN_LIBRARY = "not in library"


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
        f"no trained {model!r} checkpoint for task {task!r}; looked for {', '.join(str(c) + '.pt' for c in candidates)}. "
        "Train it with the book (python -m ramancmp book run), or in Python: "
        f"evaluate({str(model)!r}, load_task({task!r})).save_checkpoint()")


def _profile_of(path: Path) -> str:
    """``full`` / ``quick`` when ``path`` is in that profile's checkpoint store, else ``custom``."""
    if os.environ.get("RAMANCMP_CHECKPOINT_DIR"):
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
        self.task, self.class_names, self.path, self.profile = task, list(ds.class_names), None, "none (no training)"
        self.name = "library search (1-NN cosine)"
        self.library_meta = ds.meta
        self.classifier = self._calibrate(LibrarySearch(), ds)
        self.classifier.refit_library(ds.X, ds.y)  # search every spectrum of the task
        self.library_size = len(ds)

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

    def info(self) -> dict[str, Any]:
        out = {"name": self.name, "task": self.task, "classes": len(self.class_names), "profile": self.profile,
               "checkpoint": str(self.path) if self.path else None, "open_set": self.open_set, "notes": self.notes}
        if self.library_meta is not None:
            out["library_spectra"] = self.library_size
        if self.open_set:
            clf = self.classifier
            out["open_set_rule"] = {"score": clf.score_, "threshold": clf.threshold_, "temperature": clf.temperature_,
                                    "validation_unknowns_rejected": clf.val_unknown_rejection_,
                                    "validation_knowns_accepted": clf.val_known_acceptance_}
        return out


def load_predictor(model: str | Path = LIBRARY, task: str = DEFAULT_TASK, open_set: bool = True) -> Predictor:
    return Predictor(model, task, open_set)


def default_model(task: str = DEFAULT_TASK) -> str:
    """The book's default network if its checkpoint exists, else the library search (no training needed)."""
    try:
        resolve_checkpoint(DEFAULT_MODEL, task)
    except (FileNotFoundError, ValueError):
        return LIBRARY
    return DEFAULT_MODEL


def _read_inputs(paths: list[str | Path]) -> tuple[list[Any], list[dict[str, str]]]:
    """Spectra from files, folders and zips, and ``{"source", "reason"}`` for everything unreadable."""
    spectra, errors = [], []
    for item in paths:
        path = Path(item).expanduser()
        try:
            if path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip"):
                contents = load_archive(path)
                spectra.extend(contents.spectra)
                errors.extend({"source": s.source, "reason": s.reason} for s in contents.skipped)
                if not contents.spectra and not contents.skipped:
                    errors.append({"source": str(path), "reason": "no .txt spectrum files in it"})
            else:
                spectra.append(read_spectrum(path))
        except (ValueError, OSError) as exc:  # SpectrumParseError, ArchiveError, FileNotFoundError, ...
            reason = getattr(exc, "reason", None) or str(exc)
            errors.append({"source": str(path), "reason": reason})
    return spectra, errors


def _warnings(spectrum: Any) -> list[str]:
    """Why a classified spectrum's prediction deserves less trust than the book's test accuracy suggests."""
    out = []
    if str(getattr(spectrum, "processing", "") or "").upper() == "RAW":
        out.append("RAW spectrum (not baseline-corrected): the models learned from RRUFF's processed spectra; expect "
                   "clearly lower accuracy -- correct the baseline first (or use the Processed file)")
    return out


def predict_paths(model: str | Path | None, paths: list[str | Path] | str | Path, top: int = 3,
                  task: str = DEFAULT_TASK, open_set: bool = True) -> dict[str, Any]:
    """Identify every spectrum in ``paths``; returns ``{"model", "predictions", "errors"}``.

    ``model``: ``None`` (:func:`default_model`), ``"library"`` or a network name / checkpoint path.
    ``model``: what was used (:meth:`Predictor.info`: name, task, profile, checkpoint, open-set rule).
    ``predictions``: one ``{"source", "label_in_file", "identified", "score", "top": [{"class", "probability"}, ...],
    "warnings"}`` per spectrum: ``identified`` is the class, or ``"not in library"`` when the open-set score is not
    above the threshold (``score`` is that score; None for a closed-set model); ``top`` the closest classes with
    calibrated probabilities; ``label_in_file`` the mineral named by the file, if any; for the library search also
    ``nearest`` (mineral, RRUFF ID and cosine similarity of the most similar library spectrum); ``warnings`` why a
    prediction deserves less trust (e.g. a RAW spectrum).
    ``errors``: one ``{"source", "reason"}`` per file that could not be read or preprocessed.
    """
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    if isinstance(paths, (str, Path)):
        paths = [paths]
    predictor = load_predictor(default_model(task) if model is None else model, task, open_set)
    spectra, errors = _read_inputs(list(paths))
    rows, kept = [], []
    for spectrum in spectra:
        try:
            rows.append(preprocess_spectrum(spectrum, predictor.preprocess))
            kept.append(spectrum)
        except ValueError as exc:
            reason = str(exc)
            prefix = f"{spectrum.source}: "
            errors.append({"source": spectrum.source, "reason": reason.removeprefix(prefix)})
    predictions = []
    if rows:
        X = np.stack(rows)
        clf = predictor.classifier
        proba = clf.predict_proba(X)
        scores = clf.score_samples(X) if predictor.open_set else [None] * len(X)
        accepted = scores > clf.threshold_ if predictor.open_set else np.ones(len(X), bool)
        nearest = None
        if predictor.library_meta is not None:
            sims, idx = clf.estimator_.kneighbors(X, n_neighbors=1)
            meta = predictor.library_meta
            nearest = [{"mineral": str(meta["mineral"].iat[i]), "rruff_id": str(meta["rruff_id"].iat[i]),
                        "cosine": float(c)} for c, i in zip(sims[:, 0], idx[:, 0])]
        k = min(top, proba.shape[1])
        for n, (spectrum, p) in enumerate(zip(kept, proba)):
            order = np.argsort(-p, kind="stable")[:k]
            best = predictor.class_names[order[0]]
            pred = {"source": spectrum.source, "label_in_file": spectrum.mineral or None,
                    "identified": best if accepted[n] else NOT_IN_LIBRARY,
                    "score": None if scores[n] is None else float(scores[n]),
                    "top": [{"class": predictor.class_names[j], "probability": float(p[j])} for j in order],
                    "warnings": _warnings(spectrum)}
            if nearest is not None:
                pred["nearest"] = nearest[n]
            predictions.append(pred)
    return {"model": predictor.info(), "predictions": predictions, "errors": errors}


def format_predictions(report: dict[str, Any]) -> str:
    """Human-readable report: what was used, per file the answer and its top classes, then the files that failed."""
    model = report["model"]
    where = f"checkpoint {_p(model['checkpoint'])}" if model.get("checkpoint") else \
        f"{model.get('library_spectra', '?')} library spectra, no checkpoint"
    lines = [f"model: {_p(model['name'])} ({model['classes']} classes of task {model['task']}; profile "
             f"{model.get('profile')}; {where})"]
    rule = model.get("open_set_rule")
    if rule:
        what = {"max_score": "largest raw score" + (" = cosine similarity of the nearest library spectrum"
                                                    if model.get("library_spectra") else
                                                    " = log of the largest uncalibrated softmax probability"),
                "max_proba": "largest calibrated probability"}[rule["score"]]
        lines.append(f"open-set rule: not in library unless score > {rule['threshold']:.4f} (score: {what}; "
                     f"rejects {rule['validation_unknowns_rejected']:.0%} of the validation unknowns, accepts "
                     f"{rule['validation_knowns_accepted']:.0%} of the validation knowns; temperature "
                     f"{rule['temperature']:.4g})")
    lines += [f"note: {_p(n)}" for n in model.get("notes", [])]
    for pred in report["predictions"]:
        note = f"  [file says: {_p(pred['label_in_file'])}]" if pred.get("label_in_file") else ""
        lines.append(f"\n{_p(pred['source'])}{note}")
        if pred.get("score") is not None:
            lines.append(f"  -> {_p(pred['identified'])} (score {pred['score']:.4f})"
                         + ("; closest classes:" if pred["identified"] == NOT_IN_LIBRARY else ""))
        for rank, entry in enumerate(pred["top"], 1):
            lines.append(f"  {rank}. {_p(entry['class']):<28} {entry['probability']:6.1%}")
        if pred.get("nearest"):
            nn = pred["nearest"]
            lines.append(f"  nearest library spectrum: {_p(nn['mineral'])} {_p(nn['rruff_id'])} "
                         f"(cosine {nn['cosine']:.4f})")
        lines += [f"  warning: {_p(w)}" for w in pred.get("warnings", [])]
    if report["errors"]:
        lines.append(f"\ncould not classify {len(report['errors'])} file(s):")
        lines += [f"  {_p(e['source'])}: {_p(e['reason'])}" for e in report["errors"]]
    unknown = sum(p["identified"] == NOT_IN_LIBRARY for p in report["predictions"])
    lines.append(f"\n{len(report['predictions'])} classified, {len(report['errors'])} failed"
                 + (f"; {unknown} of them not in library" if model.get("open_set") else ""))
    return "\n".join(lines)
