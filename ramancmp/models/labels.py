"""Class labels to output indices: the one encoder every estimator of the package uses.

A network's output ``j`` stands for ``classes_[j]`` (sorted, as scikit-learn's ``np.unique`` gives them). Encoding
other labels -- validation labels, fine-tuning labels -- must fail loudly when a label is not among ``classes_``
rather than be mapped silently to a neighbouring class, which ``np.searchsorted`` alone would do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["encode_labels"]


def encode_labels(classes: Any, y: Any, what: str = "labels") -> np.ndarray:
    """Indices (``int64``) of ``y``'s labels in the sorted array ``classes``.

    ``classes=None`` means the labels already are indices (they are returned as ``int64``). Raises ``ValueError``
    naming ``what`` and (up to five of) the labels that are not in ``classes``.
    """
    y = np.asarray(y)
    if classes is None:
        return y.astype(np.int64)
    classes = np.asarray(classes)
    if len(classes) == 0:
        raise ValueError(f"{what}: no classes to encode into")
    idx = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)
    unknown = classes[idx] != y
    if unknown.any():
        raise ValueError(f"{what} has labels the model was not trained on: {sorted(set(y[unknown].tolist()))[:5]}")
    return idx.astype(np.int64)
