"""Identify spectra with a trained network: ``python -m ramancmp predict --model drsn_cw spectra/``.

Input: RRUFF ``.txt`` files, plain two-column ``wavenumber, intensity`` files (with or without ``##`` headers; the
RRUFF parser reads both), folders and zip archives of them. Each spectrum goes through
:func:`ramancmp.data.preprocess.preprocess_spectrum` with the preprocessing config stored in the checkpoint -- the
same code and settings the model was trained with -- and the network's top classes with softmax probabilities are
reported. A file that cannot be read, or that does not cover the model's wavenumber grid, is reported by name with
the reason; the other files are still classified.

The model is a checkpoint (``name.pt`` + ``name.json`` from :meth:`ramancmp.experiments.evaluation.EvaluationResult.save_checkpoint`
or :func:`ramancmp.training.save_checkpoint` with ``class_names`` and ``preprocess`` in its extra info) or a model
name, looked up as ``<task>/<name>.pt`` under :func:`ramancmp.config.checkpoints_dir` (``$RAMANCMP_CHECKPOINT_DIR``
if set), then the full profile's ``checkpoints/`` and the quick profile's ``build/quick/checkpoints``; where no
model was saved explicitly, the book's stored network of the first by-sample split is used. The default model is
``BOOK_MODELS[PREDICT_MODEL]`` (:mod:`ramancmp.config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ramancmp.config import BOOK_MODELS, DEFAULT_SEED, PREDICT_MODEL, checkpoints_dir
from ramancmp.data.preprocess import PreprocessConfig, preprocess_spectrum
from ramancmp.data.rruff import load_archive, read_spectrum
from ramancmp.models import list_models
from ramancmp.training import load_checkpoint, predict_logits

__all__ = ["format_predictions", "load_predictor", "predict_paths", "resolve_checkpoint"]

DEFAULT_TASK = "rruff-groups-10"
DEFAULT_MODEL = BOOK_MODELS[PREDICT_MODEL][0]


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
        raise ValueError(f"{model!r} is a scikit-learn model: predict uses trained networks (weights-only checkpoints); "
                         f"choose one of {', '.join(list_models('torch'))}")
    raise FileNotFoundError(
        f"no trained {model!r} checkpoint for task {task!r}; looked for {', '.join(str(c) + '.pt' for c in candidates)}. "
        "Train it with the book (python -m ramancmp book run), or in Python: "
        f"evaluate({str(model)!r}, load_task({task!r})).save_checkpoint()")


class Predictor:
    """A loaded network with its output class names and preprocessing config."""

    def __init__(self, path: Path):
        self.path = path
        self.module, self.info = load_checkpoint(path, device="cpu")
        names = self.info.get("class_names")
        num_classes = int(self.info["model"]["num_classes"])
        if not names or len(names) != num_classes:
            raise ValueError(f"checkpoint {path} has {len(names or [])} class names for {num_classes} outputs; "
                             "save it with EvaluationResult.save_checkpoint() or pass extra={'class_names': ...}")
        if "preprocess" not in self.info:
            raise ValueError(f"checkpoint {path} has no preprocessing config; it cannot be used on raw spectra")
        self.class_names = [str(n) for n in names]
        self.preprocess = PreprocessConfig.from_dict(self.info["preprocess"])
        self.name = str(self.info["model"]["name"])
        self.task = self.info.get("task")

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        logits = torch.from_numpy(predict_logits(self.module, X, device="cpu"))
        return torch.softmax(logits, dim=1).numpy()


def load_predictor(model: str | Path, task: str = DEFAULT_TASK) -> Predictor:
    return Predictor(resolve_checkpoint(model, task))


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


def predict_paths(model: str | Path, paths: list[str | Path] | str | Path, top: int = 3,
                  task: str = DEFAULT_TASK) -> dict[str, Any]:
    """Classify every spectrum in ``paths``; returns ``{"model", "predictions", "errors"}``.

    ``predictions``: one ``{"source", "label_in_file", "top": [{"class", "probability"}, ...], "warnings"}`` per
    classified spectrum (``label_in_file`` is the mineral named by the file, if any -- handy to check a prediction;
    ``warnings`` says why a prediction deserves less trust, e.g. a RAW spectrum);
    ``errors``: one ``{"source", "reason"}`` per file that could not be read or preprocessed.
    """
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    if isinstance(paths, (str, Path)):
        paths = [paths]
    predictor = load_predictor(model, task)
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
        proba = predictor.predict_proba(np.stack(rows))
        k = min(top, proba.shape[1])
        for spectrum, p in zip(kept, proba):
            order = np.argsort(-p, kind="stable")[:k]
            predictions.append({"source": spectrum.source, "label_in_file": spectrum.mineral or None,
                                "top": [{"class": predictor.class_names[j], "probability": float(p[j])}
                                        for j in order], "warnings": _warnings(spectrum)})
    return {"model": {"name": predictor.name, "checkpoint": str(predictor.path), "task": predictor.task,
                      "classes": len(predictor.class_names)},
            "predictions": predictions, "errors": errors}


def format_predictions(report: dict[str, Any]) -> str:
    """Human-readable report: per file its top classes with probabilities, then the files that failed."""
    model = report["model"]
    lines = [f"model {model['name']} ({model['classes']} classes, task {model['task']}) from {model['checkpoint']}"]
    for pred in report["predictions"]:
        note = f"  [file says: {pred['label_in_file']}]" if pred.get("label_in_file") else ""
        lines.append(f"\n{pred['source']}{note}")
        for rank, entry in enumerate(pred["top"], 1):
            lines.append(f"  {rank}. {entry['class']:<28} {entry['probability']:6.1%}")
        lines += [f"  warning: {w}" for w in pred.get("warnings", [])]
    if report["errors"]:
        lines.append(f"\ncould not classify {len(report['errors'])} file(s):")
        lines += [f"  {e['source']}: {e['reason']}" for e in report["errors"]]
    lines.append(f"\n{len(report['predictions'])} classified, {len(report['errors'])} failed")
    return "\n".join(lines)
