"""Every classifier of the book, created by name (like ``timm.create_model``).

>>> from ramancmp.models import create_model, list_models
>>> net = create_model("efficientnet_small", num_classes=10)    # torch.nn.Module, input (N, 1024) or (N, 1, 1024)
>>> lda = create_model("lda", num_classes=10)                   # an unfitted scikit-learn-style estimator

Networks share the timm-style interface ``forward_features(x) -> (N, F)`` and ``forward_head(f) -> logits``;
shared building blocks live in :mod:`ramancmp.models.layers`. :class:`ramancmp.training.TorchClassifier` wraps any
network as a scikit-learn classifier.

- :mod:`~ramancmp.models.registry` -- :func:`create_model`, :func:`register_model`, :func:`list_models`
- :mod:`~ramancmp.models.base` -- :class:`SpectrumClassifier` (input layouts, features/head split), devices
- :mod:`~ramancmp.models.layers` -- ConvBNAct, stochastic depth, make_divisible, init, spectrum folding
- :mod:`~ramancmp.models.classical` -- LDA, PCA + LDA (:class:`AffineClassifier`: fitted by scikit-learn, predicting
  by one matrix product), the library search's registry names, and the scikit-learn cross-checks
- :mod:`~ramancmp.models.library_search` -- :class:`LibrarySearch` (1-NN cosine in numpy, graded class scores)
- :mod:`~ramancmp.models.open_set` -- :class:`OpenSetClassifier` (temperature scaling + "not in library"
  threshold), :func:`open_set_metrics`
- :mod:`~ramancmp.models.cnn`, :mod:`~ramancmp.models.efficientnet`, :mod:`~ramancmp.models.drsn`,
  :mod:`~ramancmp.models.folded` -- the networks
- :mod:`~ramancmp.models.inputs` -- :class:`MultiInput` (spectrum + derivative / square-root channels, ``multi_input``)
- :mod:`~ramancmp.models.combine` -- hybrids of a network and the library search, soft-vote ensembles
"""

from ramancmp.models import classical, cnn, drsn, efficientnet, folded, inputs  # noqa: F401  (register the builders)
from ramancmp.models.base import SpectrumClassifier, resolve_device
from ramancmp.models.classical import AffineClassifier
from ramancmp.models.cnn import CNN1D, CNNConfig
from ramancmp.models.combine import (
                                     HybridClassifier,
                                     SoftVoteClassifier,
                                     choose_hybrid_threshold,
                                     hybrid_predict,
                                     soft_vote,
)
from ramancmp.models.drsn import DRSN, RSBU, DRSNConfig, Shrinkage, SoftThreshold
from ramancmp.models.efficientnet import EfficientNet1D, MBConvConfig
from ramancmp.models.folded import FoldedDRSN, channel_converted_drsn
from ramancmp.models.inputs import MultiInput, SpectrumInputs
from ramancmp.models.labels import encode_labels
from ramancmp.models.layers import (
                                     FOLD_MODES,
                                     ConvBNAct,
                                     FoldSpectrum,
                                     StochasticDepth,
                                     fold_spectrum,
                                     make_divisible,
                                     unfold_spectrum,
)
from ramancmp.models.library_search import LibrarySearch
from ramancmp.models.open_set import OpenSetClassifier, fit_temperature, open_set_metrics
from ramancmp.models.registry import create_model, is_torch_model, list_models, model_kind, register_model

__all__ = ["AffineClassifier", "encode_labels", "HybridClassifier", "MultiInput", "SoftVoteClassifier",
           "SpectrumInputs", "choose_hybrid_threshold",
           "hybrid_predict", "soft_vote", "CNN1D", "CNNConfig", "ConvBNAct", "DRSN", "DRSNConfig", "EfficientNet1D",
           "FOLD_MODES", "FoldSpectrum",
           "FoldedDRSN", "LibrarySearch", "MBConvConfig", "OpenSetClassifier", "RSBU", "Shrinkage", "SoftThreshold",
           "SpectrumClassifier", "StochasticDepth", "channel_converted_drsn", "create_model", "fit_temperature",
           "fold_spectrum", "is_torch_model", "list_models", "make_divisible", "model_kind", "open_set_metrics",
           "register_model", "resolve_device", "unfold_spectrum"]
