"""Classification metrics as the paper reports them: accuracy, sensitivity and specificity, mean +- sd over repeats.

For a multi-class problem, *sensitivity* of class k is its recall, TP / (TP + FN), and *specificity* of class k is
TN / (TN + FP), i.e. how rarely spectra of the other classes are mistaken for k (one-vs-rest). The macro values are
the unweighted means over classes, so a rare mineral group counts as much as a common one. Macro sensitivity is
the same number scikit-learn calls balanced accuracy (reported under that name too), and macro-F1 is the unweighted
mean of the per-class F1 scores.

Why one-vs-rest specificity says little here: with ten classes, each class's "negatives" are the other nine, about
90 % of the test spectra, and one mistake costs at most one false positive among them; even a model that is wrong on
one spectrum in ten has a macro specificity of about 99 %. Accuracy, balanced accuracy and macro-F1 move ten times
more for the same mistakes (:func:`specificity_floor` gives the number for a given accuracy).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    multilabel_confusion_matrix,
)
from sklearn.utils.multiclass import unique_labels

from ramancmp.metrics.statistics import Stat

__all__ = ["SCALAR_METRICS", "aggregate", "classification_metrics", "format_mean_sd", "specificity_floor"]

# The scalar metrics that ``aggregate`` summarises by default (per-class tables and matrices are not averaged).
SCALAR_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "sensitivity", "specificity")


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den per class, NaN where the denominator is zero (undefined, e.g. a class absent from the test set)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def classification_metrics(y_true: Sequence | np.ndarray, y_pred: Sequence | np.ndarray,
                           labels: Sequence | None = None,
                           class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Accuracy, macro sensitivity and macro specificity, their per-class values and the confusion matrix.

    Args:
        y_true, y_pred: true and predicted labels (same length, at least one).
        labels: the classes to report, in order (default: every label seen in ``y_true`` or ``y_pred``). Pass all
            class indices (``range(n_classes)``) so that the confusion matrix has the same shape in every repeat.
        class_names: a display name per entry of ``labels`` (default: ``str(label)``).

    Returns:
        ``{"accuracy", "sensitivity", "specificity", "n", "labels", "class_names", "per_class", "confusion_matrix"}``.
        ``per_class`` maps a class name to ``{"sensitivity", "specificity", "support"}``; ``confusion_matrix[i][j]``
        counts spectra of class ``labels[i]`` predicted as ``labels[j]``. A class absent from ``y_true`` has an
        undefined sensitivity (NaN, stored as null in JSON) and is left out of the macro mean, like scikit-learn's
        ``recall_score(..., zero_division=np.nan)``.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D label arrays, got shapes {y_true.shape} and {y_pred.shape}")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} != {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("cannot compute metrics of an empty prediction set")
    labels = np.asarray(unique_labels(y_true, y_pred) if labels is None else labels)
    if class_names is None:
        class_names = [str(label) for label in labels.tolist()]
    class_names = [str(name) for name in class_names]
    if len(class_names) != len(labels):
        raise ValueError(f"{len(class_names)} class names given for {len(labels)} labels")
    unknown = np.setdiff1d(np.union1d(y_true, y_pred), labels)
    if unknown.size:
        raise ValueError(f"labels {unknown.tolist()} occur in y_true/y_pred but not in labels={labels.tolist()}")

    # One-vs-rest 2x2 matrices per class: [[TN, FP], [FN, TP]].
    mcm = multilabel_confusion_matrix(y_true, y_pred, labels=labels)
    tn, fp, fn, tp = mcm[:, 0, 0], mcm[:, 0, 1], mcm[:, 1, 0], mcm[:, 1, 1]
    sensitivity = _safe_ratio(tp, tp + fn)
    specificity = _safe_ratio(tn, tn + fp)
    support = tp + fn

    def _mean(values: np.ndarray) -> float:
        return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        **_balanced_and_f1(y_true, y_pred),
        "sensitivity": _mean(sensitivity),
        "specificity": _mean(specificity),
        "n": len(y_true),
        "labels": labels.tolist(),
        "class_names": class_names,
        "per_class": {
            name: {"sensitivity": float(se), "specificity": float(sp), "support": int(n)}
            for name, se, sp, n in zip(class_names, sensitivity, specificity, support)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def _balanced_and_f1(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """scikit-learn's balanced accuracy and macro-F1 over the classes present in ``y_true`` (a test part can lack a
    rare class; predicting it is then a plain error, not a reason for a warning)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*y_pred contains classes not in y_true.*")
        return {"balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
                "macro_f1": float(f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro",
                                           zero_division=0))}


def specificity_floor(accuracy: float, n_classes: int) -> float:
    """The macro one-vs-rest specificity of a classifier with ``accuracy`` whose errors are spread evenly over
    ``n_classes`` balanced classes: each class's negatives are the other ``n_classes - 1`` classes' spectra, and every
    error is one false positive among them, so specificity = 1 - (1 - accuracy) / (n_classes - 1)."""
    if not 0.0 <= accuracy <= 1.0 or n_classes < 2:
        raise ValueError(f"need 0 <= accuracy <= 1 and n_classes >= 2, got {accuracy!r}, {n_classes!r}")
    return 1.0 - (1.0 - accuracy) / (n_classes - 1)


def aggregate(results: Iterable[Mapping[str, Any]],
              metrics: Sequence[str] | None = None) -> dict[str, Stat]:
    """Mean and standard deviation of scalar metrics over repeats.

    Args:
        results: one metrics dict per repeat (e.g. from :func:`classification_metrics`).
        metrics: the keys to summarise (default: every key whose value is a real number in all results).

    Returns:
        ``{metric: Stat}`` (``mean``, ``sd``, per-split ``values``; JSON ``{"mean", "sd", "values"}``). ``sd`` is the
        *sample* standard deviation (``ddof=1``), the spread one would expect between repeats; it is NaN for a single
        repeat, where it is undefined.
    """
    results = list(results)
    if not results:
        raise ValueError("aggregate() needs at least one result")
    if metrics is None:
        def _is_number(v: Any) -> bool:
            return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        metrics = [k for k, v in results[0].items() if _is_number(v) and all(_is_number(r.get(k)) for r in results)]
    out: dict[str, Stat] = {}
    for key in metrics:
        missing = [i for i, r in enumerate(results) if key not in r]
        if missing:
            raise ValueError(f"metric {key!r} is missing from results {missing}")
        values = np.array([float(r[key]) for r in results])
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
        out[key] = Stat(float(np.mean(values)), sd, tuple(values.tolist()))
    return out


def format_mean_sd(mean: float | Stat | Mapping[str, Any], sd: float | None = None, *, digits: int = 3,
                   scale: float = 1.0) -> str:
    """``"0.912 ± 0.013"``; pass a ``{"mean", "sd"}`` dict or two numbers; ``scale=100`` prints percentages.

    The sd is left out when it is undefined (one repeat) and the whole value is ``"n/a"`` when the mean is.
    """
    if isinstance(mean, Stat):
        mean, sd = mean.mean, mean.sd
    elif isinstance(mean, Mapping):
        mean, sd = mean.get("mean"), mean.get("sd")
    if mean is None or not math.isfinite(float(mean)):
        return "n/a"
    text = f"{float(mean) * scale:.{digits}f}"
    if sd is not None and math.isfinite(float(sd)):
        text += f" ± {float(sd) * scale:.{digits}f}"
    return text
