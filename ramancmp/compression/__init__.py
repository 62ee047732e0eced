"""Model compression: knowledge distillation, channel conversion, DRSN features + LDA (and pruning, quantisation,
ONNX export).

Each method is a module of its own; the names below are the public API. ``python -m ramancmp bench compression``
measures them side by side with their baselines.
"""

from ramancmp.compression.channel_conversion import (BOOK_VARIANT, FOLD_MODES, ConversionVariant, FoldedDRSN,
                                                     FoldSpectrum, channel_converted_drsn, conversion_variants, fold,
                                                     unfold)
from ramancmp.compression.distillation import (DistillationConfig, DistillationLoss, DistilledClassifier,
                                               distillation_grid, distillation_loss, soft_targets)
from ramancmp.compression.feature_extraction import (DRSNFeatureExtractor, DRSNPrefix, feature_pipeline,
                                                     pipeline_complexity)
from ramancmp.compression.deployment import bench_deployment, deployment_variants
from ramancmp.compression.onnx_export import OnnxClassifier, export_onnx, quantize_onnx
from ramancmp.compression.pruning import classifier_head, conv_channels, prune_channels
from ramancmp.compression.quantization import QuantizationReport, QuantizedClassifier, is_quantized, quantize_int8
