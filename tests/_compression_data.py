"""Small synthetic spectra and networks with realistic batch-norm statistics, shared by the compression tests.

Networks are not trained by gradient descent (too slow for unit tests on a shared CPU): a few forward passes in
training mode give their batch norms running statistics of the synthetic spectra, so activations have realistic
ranges
-- what int8 calibration, channel ranking and export parity depend on.
"""

from __future__ import annotations

import numpy as np
import torch

from ramancmp.models import create_model

import conftest

LENGTH = 256
CLASSES = 4


def synthetic_spectra(n_per_class: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The suite's synthetic spectra (:func:`conftest.synthetic_spectra`) at this module's size."""
    return conftest.synthetic_spectra(n_per_class, CLASSES, LENGTH, seed)


def network(name: str, seed: int = 0, **kwargs) -> torch.nn.Module:
    """``name`` with seeded weights and batch-norm statistics of the synthetic spectra, in eval mode."""
    torch.manual_seed(seed)
    model = create_model(name, CLASSES, LENGTH, **kwargs)
    X = torch.from_numpy(synthetic_spectra(seed=seed)[0])
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(X)
    return model.eval()
