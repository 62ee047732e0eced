"""Structured channel pruning that physically removes channels (with ``torch_pruning``).

Unstructured pruning (zeroing single weights) makes a network sparse but not faster on a CPU: dense kernels still
multiply the zeros. *Structured* pruning removes whole output channels of a convolution, and with them the matching
input channels of every layer that consumes them -- the next convolution, its batch norm, a depthwise conv (whose
``groups`` shrink too), a squeeze-and-excitation gate, a residual add, the DRSN's threshold network (whose per-channel
thresholds must stay aligned with the channels they threshold). Tracking these couplings by hand is error-prone;
``torch_pruning`` builds a *dependency graph* by tracing one forward pass and removes each group of coupled channels
together, so the result is an ordinary, smaller ``nn.Module`` with fewer parameters and FLOPs.

Channels are ranked by the L2 norm of their weights (``MagnitudeImportance``, summed over the coupled group), and the
same ``ratio`` of channels is removed from every prunable layer. The classifier head keeps its outputs (one per
class). Pruning costs accuracy; a short fine-tune with the book's training loop
(:func:`ramancmp.training.train_model`) recovers most of it -- see
:func:`ramancmp.experiments.deployment.deployment_variants`.

Checked for the book's networks: the plain CNN, EfficientNet-1D (depthwise convs, SE) and the DRSN (CW and CS
thresholds, conv shortcuts). A pruned network no longer matches its builder's configuration, so it has no
``default_cfg`` and cannot be stored with :func:`ramancmp.training.save_checkpoint`; keep the recipe (model, ratio,
seed) instead and re-prune, or ``torch.save`` the whole module in a trusted setting.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ramancmp.metrics import as_torch_module

__all__ = ["classifier_head", "conv_channels", "prune_channels"]


def classifier_head(model: nn.Module) -> nn.Linear:
    """The output layer: the last ``nn.Linear`` with ``model.num_classes`` outputs (never pruned)."""
    num_classes = getattr(model, "num_classes", None)
    heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_classes]
    if not heads:
        raise ValueError(f"cannot find the classifier head of {type(model).__name__}: no nn.Linear with "
                         f"num_classes={num_classes} outputs; pass ignored= explicitly")
    return heads[-1]


def conv_channels(model: nn.Module) -> list[int]:
    """Output channels of every ``Conv1d``, in module order (to check that pruning removed channels)."""
    return [m.out_channels for m in model.modules() if isinstance(m, nn.Conv1d)]


def _example(model: nn.Module, example_input: Any) -> torch.Tensor:
    if isinstance(example_input, torch.Tensor):
        x = example_input
    elif isinstance(example_input, tuple) and all(isinstance(d, int) for d in example_input):
        x = torch.randn(*example_input, generator=torch.Generator().manual_seed(0))
    else:
        raise ValueError(f"example_input must be a tensor or a shape tuple, got {type(example_input).__name__}")
    if x.ndim not in (2, 3) or x.shape[0] < 1:
        raise ValueError(f"example_input must be (N, L) or (N, C, L) spectra, got shape {tuple(x.shape)}")
    return x.float()


def prune_channels(model: nn.Module, example_input: Any = (1, 1, 1024), ratio: float = 0.5, *,
                   ignored: Iterable[nn.Module] | None = None, importance: Any = None,
                   round_to: int | None = None) -> nn.Module:
    """A copy of ``model`` with ``ratio`` of the channels of every prunable layer physically removed.

    Args:
        model: a network of :mod:`ramancmp.models` (or a :class:`~ramancmp.models.TorchClassifier`); not modified.
        example_input: one input tensor, or its shape (default one spectrum ``(1, 1, 1024)``), traced to find which
            channels are coupled.
        ratio: fraction of channels to remove from each layer, in ``[0, 1)``; ``0`` returns an identical network.
        ignored: layers of ``model`` whose *output* channels are kept (default: the classifier head). Their
            counterparts in the copy are ignored.
        importance: a ``torch_pruning`` importance (default ``MagnitudeImportance(p=2)``: L2 norm of the weights).
        round_to: keep channel counts multiples of this (e.g. 8 for SIMD-friendly widths).

    Returns:
        the pruned network, in eval mode, with ``pruning_`` = ``{"ratio", "channels_before", "channels_after"}``.
    """
    import torch_pruning as tp

    net = as_torch_module(model)
    if net is None:
        raise ValueError(f"prune_channels needs a torch network, got {type(model).__name__}")
    if not 0.0 <= float(ratio) < 1.0:
        raise ValueError(f"ratio must be in [0, 1), got {ratio}")
    x = _example(net, example_input)
    ignored_in_model = [classifier_head(net)] if ignored is None else list(ignored)
    index = {id(m): name for name, m in net.named_modules()}
    missing = [m for m in ignored_in_model if id(m) not in index]
    if missing:
        raise ValueError(f"ignored layers must be modules of the model; {len(missing)} are not")

    pruned = copy.deepcopy(net).cpu().eval()
    modules = dict(pruned.named_modules())
    ignored_layers = [modules[index[id(m)]] for m in ignored_in_model]
    before = conv_channels(pruned)
    with warnings.catch_warnings():  # torch_pruning warns about unwrapped parameters it does not need here
        warnings.simplefilter("ignore", UserWarning)
        pruner = tp.pruner.BasePruner(pruned, x, importance=importance or tp.importance.MagnitudeImportance(p=2),
                                      pruning_ratio=float(ratio), ignored_layers=ignored_layers, round_to=round_to)
        pruner.step()
    pruned.eval()
    with torch.no_grad():
        out = pruned(x)
    expected = (x.shape[0], getattr(net, "num_classes", out.shape[-1]))
    if tuple(out.shape) != expected:
        raise RuntimeError(f"pruning broke {type(net).__name__}: output shape {tuple(out.shape)} != {expected}")
    head = classifier_head(pruned) if hasattr(pruned, "num_classes") else None
    if head is not None and hasattr(pruned, "num_features"):
        pruned.num_features = head.in_features
    if hasattr(pruned, "default_cfg"):
        del pruned.default_cfg  # the builder's config no longer describes this network
    pruned.pruning_ = {"ratio": float(ratio), "channels_before": before, "channels_after": conv_channels(pruned),
                       "source": getattr(net, "default_cfg", {}).get("name", type(net).__name__)}
    return pruned
