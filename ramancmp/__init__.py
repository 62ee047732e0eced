"""RamanCMP: fast, compressed deep learning for Raman spectra of minerals.

The package behind the executable book in ``book/``. Sub-packages:

- :mod:`ramancmp.data` -- RRUFF download, parsing, preprocessing, tasks and splits
- :mod:`ramancmp.models` -- LDA, kNN library search, CNN, 1D-EfficientNet, 1D-DRSN
- :mod:`ramancmp.training` -- the training loop for the torch models
- :mod:`ramancmp.metrics` -- accuracy, sensitivity, specificity, FLOPs, parameters, timing
- :mod:`ramancmp.compression` -- distillation, channel conversion, features + LDA, int8, pruning, ONNX
"""

__version__ = "0.1.0"

import warnings as _warnings

# tqdm.auto falls back to its text progress bar in notebooks without ipywidgets (the book's executed notebooks
# store text, not widget state); its warning about that fallback is noise for readers.
_warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")
