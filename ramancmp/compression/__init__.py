"""Model compression methods: knowledge distillation, channel conversion, DRSN features + LDA, int8 quantisation,
structured pruning and ONNX export.

Each method is a module of its own and works on any trained network or estimator; none of them knows about the
book's profiles, tasks or results files. The experiments that measure them beside their baselines are in
:mod:`ramancmp.experiments.compression_study` and :mod:`ramancmp.experiments.deployment`.
"""

from ramancmp.compression.channel_conversion import (
                                                     BOOK_VARIANT,
                                                     CONVERSION_VARIANTS,
                                                     ConversionVariant,
                                                     conversion_variants,
)
from ramancmp.compression.distillation import (
                                                     DistillationConfig,
                                                     DistillationLoss,
                                                     DistilledClassifier,
                                                     distillation_loss,
                                                     soft_targets,
)
from ramancmp.compression.feature_extraction import (
                                                     SHRINKAGE_LDA,
                                                     DRSNFeatureExtractor,
                                                     DRSNPrefix,
                                                     PrefixLDA,
                                                     feature_pipeline,
                                                     pipeline_complexity,
)
from ramancmp.compression.onnx_export import OnnxClassifier, export_onnx, quantize_onnx
from ramancmp.compression.pruning import classifier_head, conv_channels, prune_channels
from ramancmp.compression.quantization import QuantizationReport, QuantizedClassifier, is_quantized, quantize_int8

__all__ = ["BOOK_VARIANT", "CONVERSION_VARIANTS", "SHRINKAGE_LDA", "ConversionVariant", "DRSNFeatureExtractor",
           "DRSNPrefix", "PrefixLDA",
           "DistillationConfig", "DistillationLoss", "DistilledClassifier", "OnnxClassifier", "QuantizationReport",
           "QuantizedClassifier", "classifier_head", "conv_channels", "conversion_variants", "distillation_loss",
           "export_onnx", "feature_pipeline", "is_quantized", "pipeline_complexity", "prune_channels",
           "quantize_int8", "quantize_onnx", "soft_targets"]
