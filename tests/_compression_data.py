"""Small synthetic spectra and networks with realistic batch-norm statistics, shared by the compression tests.

Networks are not trained by gradient descent (too slow for unit tests on a shared CPU): a few forward passes in
training mode give their batch norms running statistics of the synthetic spectra, so activations have realistic
ranges
-- what int8 calibration, channel ranking and export parity depend on.
"""

from __future__ import annotations

import numpy as np
import torch

LENGTH = 256
CLASSES = 4


def synthetic_spectra(n_per_class: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each class: two Lorentzian bands at class-specific positions, jittered, scaled and noisy; min-max normalised."""
    rng = np.random.default_rng(seed)
    grid = np.arange(LENGTH, dtype=np.float64)
    X, y = [], []
    for c in range(CLASSES):
        centres = (30 + 50 * c, 200 - 35 * c)
        for _ in range(n_per_class):
            s = sum(rng.uniform(0.5, 1.0) / (1 + ((grid - p - rng.normal(0, 2)) / 4.0) ** 2) for p in centres)
            s = s + rng.normal(0, 0.03, LENGTH)
            X.append((s - s.min()) / (s.max() - s.min()))
            y.append(c)
    return np.asarray(X, np.float32), np.asarray(y, np.int64)


def network(name: str, seed: int = 0, **kwargs) -> torch.nn.Module:
    """``name`` with seeded weights and batch-norm statistics of the synthetic spectra, in eval mode."""
    from ramancmp.models import create_model

    torch.manual_seed(seed)
    model = create_model(name, CLASSES, LENGTH, **kwargs)
    X = torch.from_numpy(synthetic_spectra(seed=seed)[0])
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(X)
    return model.eval()
