"""Metrics: how well (classification), how big (parameters, FLOPs) and how fast (latency, throughput, GEMM peak)."""

from ramancmp.metrics.classification import (
    SCALAR_METRICS,
    aggregate,
    classification_metrics,
    format_mean_sd,
    specificity_floor,
)
from ramancmp.metrics.complexity import (
    as_torch_module,
    count_flops,
    count_params,
    flop_counter_flops,
    layer_table,
    sklearn_complexity,
)
from ramancmp.metrics.statistics import (
    WITHIN_NOISE,
    corrected_interval,
    format_interval,
    paired_bootstrap,
    paired_difference,
    sign_test,
    unpaired_difference,
    within_noise,
)
from ramancmp.metrics.timing import (
    gemm_peak_gflops,
    measure_fit_time,
    num_threads,
    threads,
)

__all__ = ["SCALAR_METRICS", "WITHIN_NOISE", "aggregate", "as_torch_module", "classification_metrics",
    "corrected_interval", "count_flops", "count_params", "flop_counter_flops", "format_interval", "format_mean_sd",
    "paired_bootstrap", "paired_difference", "sign_test", "unpaired_difference", "within_noise", "specificity_floor",
    "gemm_peak_gflops", "layer_table", "measure_fit_time", "num_threads", "sklearn_complexity", "threads"]
