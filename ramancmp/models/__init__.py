"""Every classifier of the book, created by name.

>>> from ramancmp.models import create_model, list_models
>>> net = create_model("efficientnet_b0", num_classes=10)       # torch.nn.Module, input (N, 1024) or (N, 1, 1024)
>>> lda = create_model("lda", num_classes=10)                   # an unfitted scikit-learn estimator

Networks share the timm-style interface ``forward_features(x) -> (N, F)`` and ``forward_head(f) -> logits``;
:class:`TorchClassifier` wraps any of them as a scikit-learn classifier.
"""

from ramancmp.models import classical, cnn, drsn, efficientnet  # noqa: F401  (register the builders)
from ramancmp.models.base import SpectrumClassifier, fold_spectrum, resolve_device
from ramancmp.models.cnn import CNN1D, CNNConfig
from ramancmp.models.drsn import DRSN, RSBU, DRSNConfig, Shrinkage, SoftThreshold
from ramancmp.models.efficientnet import EfficientNet1D, MBConvConfig, StochasticDepth
from ramancmp.models.estimator import TorchClassifier
from ramancmp.models.registry import create_model, is_torch_model, list_models, model_kind, register_model

__all__ = ["CNN1D", "CNNConfig", "DRSN", "DRSNConfig", "EfficientNet1D", "MBConvConfig", "RSBU", "Shrinkage",
           "SoftThreshold", "SpectrumClassifier", "StochasticDepth", "TorchClassifier", "create_model",
           "fold_spectrum", "is_torch_model", "list_models", "model_kind", "register_model", "resolve_device"]
