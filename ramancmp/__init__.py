"""RamanCMP: fast, compressed deep learning for Raman spectra of minerals.

The package behind the executable book in ``book/``. Dependencies point one way, down:

- :mod:`ramancmp.book` -- the chapter-facing facade (``from ramancmp import book as rc``) and the book runner
- :mod:`ramancmp.experiments` -- the book's protocol: executor, model store, evaluation, compression experiments,
  benchmarks, the one row schema, the paper's claims, results files
- :mod:`ramancmp.compression` -- distillation, channel conversion, features + LDA, int8, pruning, ONNX
- :mod:`ramancmp.training` -- the training loop, the checkpoint format, ``TorchClassifier``
- :mod:`ramancmp.metrics` -- accuracy, sensitivity, specificity, FLOPs, parameters, timing
- :mod:`ramancmp.data` -- RRUFF download, parsing, preprocessing, tasks and splits
- :mod:`ramancmp.models` -- LDA, kNN library search, CNN, 1D-EfficientNet, 1D-DRSN (every builder registered)
- :mod:`ramancmp.config`, :mod:`ramancmp.fileio` -- paths, profiles, the model list; atomic writes, fingerprints
"""

__version__ = "0.1.0"

import warnings as _warnings

# tqdm.auto falls back to its text progress bar in notebooks without ipywidgets (the book's executed notebooks
# store text, not widget state); its warning about that fallback is noise for readers.
_warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")
