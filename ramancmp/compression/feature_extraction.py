"""A trained DRSN as a feature extractor for linear discriminant analysis.

RamanCMP replaces the DRSN's classifier by LDA on the network's features and reports 94.48 % accuracy at 93 % less
inference time. LDA is a *linear* classifier like the DRSN's own head, so at full depth it cannot make inference
faster -- the whole trunk still runs. What can be fast is a **prefix**: features pooled after the stem or after the
first stages (:meth:`ramancmp.models.DRSN.stage_features`), where most of the network is skipped. The book reads
the paper's claim as "a shallow cut of the DRSN + LDA", sweeps the depth, and reports accuracy and batch-1 latency
at every depth, so the reader sees the trade-off rather than a single point.

:class:`DRSNFeatureExtractor` is a scikit-learn transformer, so the method is one pipeline::

    Pipeline([("features", DRSNFeatureExtractor(drsn, depth=1)), ("lda", LinearDiscriminantAnalysis())])

The DRSN must have been trained on the pipeline's training data only (``fit`` checks the
``train_fingerprint_`` that :func:`ramancmp.experiments.store.get_or_train` attaches): otherwise LDA would be fitted on
features that have already memorised the test part's neighbours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from ramancmp.fileio import fingerprint
from ramancmp.metrics import count_flops, sklearn_complexity
from ramancmp.models.drsn import DRSN
from ramancmp.training import load_checkpoint

__all__ = ["DRSNPrefix", "DRSNFeatureExtractor", "LinearHead", "PrefixLDA", "SHRINKAGE_LDA", "feature_pipeline",
           "pipeline_complexity"]


class DRSNPrefix(nn.Module):
    """The first ``depth`` stages of a DRSN, pooled into ``bins`` positions along the wavenumber axis and flattened.

    ``bins=1`` is global average pooling (where a band sits is lost); ``bins=b`` keeps ``b`` position bins
    (``C * b`` features). At full depth the network's own ``head_bins`` pooling is used (the head's input).
    A module of its own so that FLOPs, parameters and latency are measured on exactly what the extractor runs
    (the unused stages and the head are not part of it).
    """

    def __init__(self, drsn: DRSN, depth: int, bins: int = 1):
        super().__init__()
        if not 0 <= depth <= drsn.num_stages:
            raise ValueError(f"depth must be in [0, {drsn.num_stages}] for this DRSN, got {depth}")
        if int(bins) < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        self.drsn, self.depth = drsn, int(depth)
        self.bins = drsn.config.head_bins if depth == drsn.num_stages else int(bins)
        self.pool = nn.AdaptiveAvgPool1d(self.bins)
        if depth == drsn.num_stages:  # the full network: its own (possibly binned) pooled features
            self.num_features = drsn.num_features
        else:
            self.num_features = (drsn.config.widths[depth - 1] if depth else drsn.stem.out_channels) * self.bins

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.depth == self.drsn.num_stages:
            return self.drsn.stage_features(x, self.depth)
        x = self.drsn.stem(self.drsn._as_input(x))
        for stage in self.drsn.stages[:self.depth]:
            x = stage(x)
        return self.pool(x).flatten(1)

    def prefix_parameters(self) -> int:
        """Parameters of the layers this prefix runs (stem, the first ``depth`` stages, the final BN at full depth)."""
        used = ["stem."] + [f"stages.{i}." for i in range(self.depth)]
        if self.depth == self.drsn.num_stages:
            used.append("final.")
        return int(sum(p.numel() for name, p in self.drsn.named_parameters()
                       if any(name.startswith(u) for u in used)))


class LinearHead(nn.Module):
    """A fitted linear classifier's decision function (``X @ coef_.T + intercept_``) as a torch layer."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray):
        super().__init__()
        coef, intercept = np.atleast_2d(coef), np.atleast_1d(intercept)
        self.linear = nn.Linear(coef.shape[1], coef.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(torch.as_tensor(coef, dtype=torch.float32))
            self.linear.bias.copy_(torch.as_tensor(intercept, dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)


class PrefixLDA(nn.Module):
    """A fitted feature pipeline (DRSN prefix + LDA) as ONE torch graph: ``LinearHead(prefix(x))``.

    Its outputs are LDA's decision values (the argmax is LDA's prediction, index into ``classes``), so it runs --
    and exports to ONNX -- like any network, without scikit-learn's per-call overhead.
    """

    def __init__(self, pipeline: Any):
        super().__init__()
        extractor, lda = pipeline.named_steps["features"], pipeline.named_steps["lda"]
        check_is_fitted(lda)
        coef, intercept = lda.coef_, lda.intercept_
        if coef.shape[0] == 1:  # two classes: sklearn keeps one row; make it two logits
            coef, intercept = np.vstack([-coef, coef]) / 2, np.concatenate([-intercept, intercept]) / 2
        self.prefix, self.head = extractor.model_, LinearHead(coef, intercept)
        self.classes = np.asarray(lda.classes_)
        self.in_channels, self.in_length = 1, int(extractor.model_.drsn.in_length
                                                  * extractor.model_.drsn.in_channels)
        self.num_classes = int(coef.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.prefix(x))


def _resolve_drsn(model_or_checkpoint: Any) -> DRSN:
    if isinstance(model_or_checkpoint, (str, Path)):
        model, _ = load_checkpoint(model_or_checkpoint, device="cpu")
    elif isinstance(model_or_checkpoint, nn.Module):
        model = model_or_checkpoint
    else:
        model = getattr(model_or_checkpoint, "model_", None)
    if not isinstance(model, DRSN):
        raise ValueError("DRSNFeatureExtractor needs a DRSN: a ramancmp DRSN module, a fitted TorchClassifier "
                         f"holding one, or a checkpoint path; got {type(model_or_checkpoint).__name__}")
    return model


class DRSNFeatureExtractor(TransformerMixin, BaseEstimator):
    """Pooled features of a *trained* DRSN after ``depth`` stages (``None`` = all: the head's input).

    ``fit`` trains nothing: it validates the input, resolves the network (``model_``, a :class:`DRSNPrefix`) and,
    if the DRSN came from :func:`ramancmp.experiments.store.get_or_train`, checks it was trained on this very data.
    ``transform`` runs in eval mode under ``torch.inference_mode`` in batches and returns float64 (what LDA's
    covariance estimates want). ``model_or_checkpoint``: a DRSN module, a fitted classifier holding one, or a
    checkpoint path.
    """

    def __init__(self, model_or_checkpoint: Any = None, depth: int | None = None, batch_size: int = 256,
                 bins: int = 1):
        self.model_or_checkpoint = model_or_checkpoint
        self.depth = depth
        self.batch_size = batch_size
        self.bins = bins

    def fit(self, X: Any, y: Any = None) -> DRSNFeatureExtractor:
        X = validate_data(self, X, dtype=np.float32)
        drsn = _resolve_drsn(self.model_or_checkpoint)
        if X.shape[1] != drsn.in_length * drsn.in_channels:
            raise ValueError(f"the DRSN takes spectra of {drsn.in_length * drsn.in_channels} points, got "
                             f"{X.shape[1]}")
        expected = getattr(self.model_or_checkpoint, "train_fingerprint_", None)
        if expected is not None and y is not None and expected != fingerprint(X, np.asarray(y)):
            raise ValueError("the DRSN was trained on other data than this pipeline's training data: the feature "
                             "extractor must be trained on the training part only")
        depth = drsn.num_stages if self.depth is None else int(self.depth)
        self.model_ = DRSNPrefix(drsn.cpu().eval(), depth, self.bins)
        self.depth_ = depth
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        x = torch.from_numpy(np.ascontiguousarray(X))
        self.model_.eval()
        with torch.inference_mode():
            out = [self.model_(x[i:i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return torch.cat(out).double().numpy() if out else np.zeros((0, self.model_.num_features))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray([f"drsn{self.depth_}_{i}" for i in range(self.model_.num_features)], dtype=object)


#: The LDA of the feature readings: shrinkage LDA (Ledoit-Wolf shrinkage of the pooled covariance, chosen
#: analytically), which stays well-conditioned when features outnumber the training spectra of a class; ``{}`` is
#: scikit-learn's default, unregularised LDA (the book's first reading).
SHRINKAGE_LDA = {"solver": "lsqr", "shrinkage": "auto"}


def feature_pipeline(model_or_checkpoint: Any, depth: int | None = None, bins: int = 1, **lda_kwargs: Any):
    """``Pipeline([("features", DRSNFeatureExtractor(..., bins=bins)), ("lda",
    LinearDiscriminantAnalysis(**lda_kwargs))])``."""
    return Pipeline([("features", DRSNFeatureExtractor(model_or_checkpoint, depth, bins=bins)),
                     ("lda", LinearDiscriminantAnalysis(**lda_kwargs))])


def pipeline_complexity(pipeline: Any, in_length: int) -> dict[str, Any]:
    """Parameters and FLOPs per spectrum of a fitted feature pipeline: the DRSN prefix + LDA's decision function."""
    extractor, lda = pipeline.named_steps["features"], pipeline.named_steps["lda"]
    flops = count_flops(extractor.model_, (1, 1, in_length))
    lda_stats = sklearn_complexity(lda, n_features=extractor.model_.num_features)
    return {"params": int(extractor.model_.prefix_parameters() + lda_stats["params"]),
            "macs": int(flops["macs"] + lda_stats["macs"]), "flops": int(flops["flops"] + lda_stats["flops"]),
            "breakdown": {"drsn_prefix": flops["macs"], "lda": lda_stats["macs"]}}
