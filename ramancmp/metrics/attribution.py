"""What a network looks at: occlusion attribution along the wavenumber axis (Zeiler and Fergus 2014 [Zeiler2014]).

Cover a window of the spectrum (set it to ``fill``), and see how much the network's probability of a class drops.
Slid along the axis, this gives one number per wavenumber: large where the evidence for the class lies. It needs no
gradients and works for any model with ``predict_proba`` -- the same question for the library search and a network.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["occlusion", "class_occlusion"]


def occlusion(predict_proba: Any, X: np.ndarray, target: np.ndarray | int, *, window: int = 24, stride: int = 8,
              fill: float = 0.0, batch: int = 256) -> np.ndarray:
    """Occlusion attribution ``(n, L)`` of spectra ``X`` ``(n, L)`` for class ``target`` (one per spectrum or one for
    all): at each point, the mean drop of ``predict_proba(...)[:, target]`` over the windows (``window`` points,
    moved by ``stride``) that cover it. ``predict_proba`` maps ``(m, L)`` float32 arrays to ``(m, n_classes)``.
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty (n, L) array, got shape {X.shape}")
    n, length = X.shape
    if int(window) != window or int(stride) != stride or not 1 <= stride <= window <= length:
        raise ValueError(f"need integers 1 <= stride <= window <= L={length}, got window={window}, stride={stride}")
    target = np.broadcast_to(np.asarray(target, dtype=np.int64), (n,))
    rows = np.arange(n)
    base = np.asarray(predict_proba(X))[rows, target]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    total = np.zeros((n, length))
    count = np.zeros(length)
    for s in starts:
        Xo = X.copy()
        Xo[:, s:s + window] = fill
        probs = np.concatenate([np.asarray(predict_proba(Xo[i:i + batch])) for i in range(0, n, batch)])
        total[:, s:s + window] += (base - probs[rows, target])[:, None]
        count[s:s + window] += 1
    return total / count


def class_occlusion(predict_proba: Any, X: np.ndarray, y: np.ndarray, n_classes: int, **kwargs: Any) -> np.ndarray:
    """Per-class mean occlusion ``(n_classes, L)``: for each class, :func:`occlusion` of its spectra for their own
    class, averaged (rows of classes without spectra are NaN)."""
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y differ in length: {len(X)} and {len(y)}")
    A = occlusion(predict_proba, X, y, **kwargs) if len(X) else np.zeros((0, X.shape[-1]))
    out = np.full((n_classes, X.shape[-1]), np.nan)
    for c in range(n_classes):
        if np.any(y == c):
            out[c] = A[y == c].mean(axis=0)
    return out
