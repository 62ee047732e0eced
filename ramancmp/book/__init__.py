"""The chapter-facing facade: every chapter starts with ``from ramancmp import book as rc`` (as d2l's
``from d2l import torch as d2l``) and finds here what it teaches -- nothing is defined here, only gathered.

- running a chapter: :class:`Chapter` (its :class:`RunContext`: profile, seed, folders; results), :func:`md` (prose
  rendered from the run's numbers);
  the runner (:mod:`ramancmp.book.runner`) and the static site (:mod:`ramancmp.book.site`) are not imported here:
  a chapter never needs them
- data: :func:`load_task`, :func:`mineral_groups`, splits, RRUFF parsing and preprocessing
- models and training: :data:`BOOK_MODELS`, :func:`create_model`, :class:`TorchClassifier`, :func:`predict_logits`
- measuring: :func:`evaluate`, :func:`sibling_leakage`, FLOPs, parameters, the timing protocol
  (:func:`compare_speed`), thread control
- open-set identification and the all-species task: :mod:`identification` (chapter 11: one experiment function per
  section), :class:`LibrarySearch`, :class:`OpenSetClassifier`
- comparing: :mod:`tables` (the one row schema), :mod:`claims` (the paper's claims, judged), :func:`load_rows`
- the compression experiments and methods, and :mod:`plots`

The facade lists what the chapters and their solutions use, and only that (tests/test_run_context.py checks it).
"""

from ramancmp import plots
from ramancmp.book.chapter import Chapter, md
from ramancmp.compression import feature_pipeline, prune_channels, quantize_int8, soft_targets
from ramancmp.config import BOOK_MODELS, NETWORKS, RunContext
from ramancmp.data import read_spectrum
from ramancmp.data.fetch import archive_path
from ramancmp.data.preprocess import preprocess_spectrum
from ramancmp.data.splits import make_split, repeated_splits
from ramancmp.data.summary import format_summary
from ramancmp.data.tasks import GROUPS_CSV, load_task, mineral_groups
from ramancmp.experiments import claims, findings, identification, tables
from ramancmp.experiments.bench import bench_all, library_search_rows, library_search_text
from ramancmp.experiments.compression_study import (
                                              channel_conversion_experiment,
                                              compression_rows,
                                              distillation_experiment,
                                              feature_extraction_experiment,
)
from ramancmp.experiments.curated_evaluation import (
                                              curated_difference_text,
                                              curated_text,
                                              evaluate_curated,
                                              flagged_in_task,
)
from ramancmp.experiments.deployment import bench_deployment, deployment_frame, deployment_rows
from ramancmp.experiments.evaluation import evaluate, sibling_leakage, train_networks
from ramancmp.experiments.results import load_rows
from ramancmp.experiments.speed import PROTOCOL_NOTE, describe_speedup, speed_frame, speedup_of, time_rows
from ramancmp.experiments.store import get_or_train, train_config, train_part
from ramancmp.experiments.tables import Row
from ramancmp.metrics import count_flops, count_params, layer_table, num_threads
from ramancmp.metrics.timing import WithThreads, compare_speed
from ramancmp.models import LibrarySearch, OpenSetClassifier, create_model
from ramancmp.navigation import chapter_titles
from ramancmp.training import TorchClassifier, predict_logits

__all__ = ["BOOK_MODELS", "Chapter", "PROTOCOL_NOTE", "WithThreads", "compare_speed", "describe_speedup", "speed_frame",
           "speedup_of",
           "chapter_titles", "NETWORKS", "Row", "TorchClassifier", "archive_path", "bench_all", "bench_deployment",
           "channel_conversion_experiment", "claims", "compression_rows", "count_flops", "count_params", "create_model",
           "deployment_frame", "deployment_rows", "distillation_experiment", "evaluate", "findings",
           "feature_extraction_experiment",
           "feature_pipeline", "format_summary", "get_or_train", "LibrarySearch", "OpenSetClassifier", "identification",
           "RunContext", "layer_table", "load_rows", "load_task", "make_split", "md", "mineral_groups", "GROUPS_CSV",
           "num_threads", "plots", "predict_logits", "preprocess_spectrum", "prune_channels", "quantize_int8",
           "read_spectrum", "repeated_splits", "sibling_leakage", "soft_targets", "tables", "train_networks",
           "train_part", "curated_difference_text", "curated_text", "evaluate_curated", "flagged_in_task"]

# --- Showing the code and the settings a chapter teaches (issue 12, part 4): rc.show_source(obj) renders the
# package's own source as Markdown, rc.show_settings(model, profile=...) every hyper-parameter in effect; the objects
# below are what the chapters show (and what their exercises and solutions use).
from ramancmp.book.teaching import show_settings, show_source  # noqa: E402
from ramancmp.compression import DistilledClassifier, OnnxClassifier, distillation_loss, export_onnx  # noqa: E402

# --- The Raman primer and the data snapshot (issue 12, parts 1 and 6): the groups' characteristic bands
# (data/bands.csv) and which archive a run uses (the book's 2019 snapshot or another one, by content fingerprint).
from ramancmp.data.bands import load_bands  # noqa: E402
from ramancmp.data.fetch import content_fingerprint, describe_archive, file_sha256  # noqa: E402
from ramancmp.data.preprocess import PreprocessConfig  # noqa: E402
from ramancmp.data.tasks import load_catalog  # noqa: E402

# --- Chapter 13 (beyond the library search): realistic augmentation, derivative / square-root inputs, pretraining
# and fine-tuning, hybrids of a network and the library search, soft-vote ensembles.
from ramancmp.experiments import beyond  # noqa: E402
from ramancmp.experiments.store import PretrainedClassifier  # noqa: E402
from ramancmp.models import (  # noqa: E402  # noqa: E402
                                              RSBU,
                                              FoldedDRSN,
                                              HybridClassifier,
                                              Shrinkage,
                                              SoftVoteClassifier,
                                              choose_hybrid_threshold,
                                              fold_spectrum,
)
from ramancmp.models.efficientnet import B0_SETTING, MBConv  # noqa: E402
from ramancmp.training import RealisticAugment  # noqa: E402
from ramancmp.training.loop import TrainConfig, train_model  # noqa: E402

__all__ += ["HybridClassifier", "PretrainedClassifier", "RealisticAugment", "SoftVoteClassifier", "beyond",
            "choose_hybrid_threshold"]

__all__ += ["B0_SETTING", "DistilledClassifier", "FoldedDRSN", "MBConv", "OnnxClassifier", "PreprocessConfig", "RSBU",
            "Shrinkage", "TrainConfig", "distillation_loss", "export_onnx",
            "fold_spectrum", "show_settings", "show_source", "train_config", "train_model"]
__all__ += ["content_fingerprint", "describe_archive", "file_sha256", "load_bands", "load_catalog"]

# --- Preprocessing, measured, and what the models look at (issue 12, parts 2-3; chapter 12)
from ramancmp.data.preprocess import correct_baseline, coverage_mask, remove_spikes  # noqa: E402
from ramancmp.data.tasks import raw_pairs  # noqa: E402
from ramancmp.experiments import preprocessing_study  # noqa: E402
from ramancmp.metrics.attribution import occlusion  # noqa: E402

__all__ += ["library_search_rows", "library_search_text", "time_rows"]

__all__ += ["correct_baseline", "coverage_mask", "occlusion", "preprocessing_study", "raw_pairs", "remove_spikes"]
