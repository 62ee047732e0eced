"""Model size and arithmetic: parameters, MACs/FLOPs (thop + counting rules), a per-layer table.

Conventions (the ones the paper and most "lightweight model" papers use, made explicit):

* **MACs** are what ``thop.profile`` reports: one multiply-accumulate per weight use in convolutions and linear
  layers, plus thop's own one-unit-per-operation rules for batch norm (2 per element) and average pooling. thop
  counts nothing for modules it has no rule for, which would make SiLU-heavy EfficientNet and the DRSN's soft
  thresholding look free; the rules below add that work (one unit per elementwise operation, like thop's own
  batch-norm rule), so the total is ``conv/linear MACs + elementwise operations``.
* **FLOPs = 2 x MACs** (one MAC = one multiply + one add). This is the usual convention; it slightly over-counts
  the elementwise part, which the ``breakdown`` keeps separate so a reader can see how small it is.
* The counts are for one forward pass in eval mode on ``input_shape`` (default one spectrum ``(1, 1, 1024)``);
  batch norm is counted as in thop although it is usually folded into the convolution at deployment.

Counting rules for what thop leaves at zero (units per element of the module's *input* unless stated):

=========================  ====  ==================================================================
module                     ops   why
=========================  ====  ==================================================================
``nn.Sigmoid``             3     exp, add, divide: ``1 / (1 + exp(-x))``
``nn.SiLU``                4     sigmoid (3) + multiply: ``x * sigmoid(x)``
``nn.Hardsigmoid``         3     add, clamp, divide
``nn.Hardswish``           4     hard sigmoid (3) + multiply
soft thresholding          5     ``sign(x) * max(|x| - tau, 0)``: abs, subtract, max, sign, multiply
SE scaling (container)     1     the channel-attention multiply ``x * scale`` (its pool/convs/activations
                                 are counted by their own rules)
residual add (container)   1     per output element of a block that adds its shortcut (MBConv, RSBU)
DRSN threshold (container) 1     ``|x|`` before the pooling, plus one multiply per threshold ``alpha * s``
``StochasticDepth``,       0     identity at inference
``nn.Identity``,
``nn.Flatten``
=========================  ====  ==================================================================

The cross-check :func:`flop_counter_flops` uses PyTorch's own ``FlopCounterMode``, which counts only matrix
multiplies and convolutions (``2 x MAC``, no bias); it must equal ``2 x`` the conv/linear part of the thop count.

The classical models are counted with explicit rules too (see :func:`sklearn_complexity`), so every model in the
benchmark table has a parameter and FLOP count computed, not typed in: what the deployed predictor computes per
spectrum (the library search: ``n_library x n_features`` MACs and the query's normalisation; LDA and PCA + LDA:
``n_classes x n_features`` MACs of the folded map; scikit-learn's own estimators, the cross-checks: their steps).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ramancmp.models.drsn import RSBU, Shrinkage, SoftThreshold
from ramancmp.models.efficientnet import MBConv, SqueezeExcitation
from ramancmp.models.layers import StochasticDepth

__all__ = [
    "as_torch_module",
    "count_flops",
    "count_params",
    "flop_counter_flops",
    "layer_table",
    "sklearn_complexity",
]

Shape = tuple[int, ...]

with warnings.catch_warnings():  # thop imports distutils' LooseVersion, deprecated on Python 3.11
    warnings.simplefilter("ignore", DeprecationWarning)
    import thop

_CONV_LINEAR = (nn.modules.conv._ConvNd, nn.Linear)


def as_torch_module(model: Any) -> nn.Module | None:
    """The ``nn.Module`` inside ``model``: itself, or the fitted network of a :class:`TorchClassifier`-like wrapper."""
    if isinstance(model, nn.Module):
        return model
    for attr in ("module_", "model_", "module", "model", "net_"):
        inner = getattr(model, attr, None)
        if isinstance(inner, nn.Module):
            return inner
    return None


# --------------------------------------------------------------------------------------------- counting rules
def _per_input_element(units: int) -> Callable:
    """A thop rule: ``units`` operations per element of the module's input."""
    def rule(m: nn.Module, x: tuple, y: torch.Tensor) -> None:
        m.total_ops += torch.DoubleTensor([int(units * x[0].numel())])
    rule.__qualname__ = f"ops_{units}_per_element"
    return rule


def _zero(m: nn.Module, x: tuple, y: Any) -> None:
    m.total_ops += torch.DoubleTensor([0])


def _leaf_rules() -> dict[type, Callable]:
    """thop ``custom_ops`` for leaf modules that thop itself counts as zero."""
    rules: dict[type, Callable] = {
        nn.Sigmoid: _per_input_element(3), nn.SiLU: _per_input_element(4),
        nn.Hardsigmoid: _per_input_element(3), nn.Hardswish: _per_input_element(4),
        nn.Identity: _zero, nn.Flatten: _zero,
    }
    rules[StochasticDepth] = _zero
    rules[SoftThreshold] = _per_input_element(5)  # on x (inputs are (x, tau)): abs, subtract, max, sign, mul
    return rules


def _own_ops_rules() -> dict[type, Callable[[nn.Module, tuple, Any], int]]:
    """Work done in the ``forward`` of *container* modules, outside their children (thop cannot see it).

    Each rule returns the number of operations for one call; it is added on top of the children's counts.
    """
    rules: dict[type, Callable[[nn.Module, tuple, Any], int]] = {}
    rules[SqueezeExcitation] = lambda m, x, y: x[0].numel()  # x * scale
    rules[MBConv] = lambda m, x, y: y.numel() if m.use_res_connect else 0  # + shortcut
    # |x| before the pooling, and tau = alpha * s (one multiply per threshold)
    rules[Shrinkage] = lambda m, x, y: x[0].numel() + x[0].shape[0] * x[0].shape[1]
    rules[RSBU] = lambda m, x, y: y.numel()  # + shortcut
    return rules


# --------------------------------------------------------------------------------------------- parameters
def count_params(model: Any) -> dict[str, int]:
    """``{"total", "trainable"}`` parameter counts (for scikit-learn estimators: the fitted numbers they store)."""
    module = as_torch_module(model)
    if module is None:
        n = sklearn_complexity(model)["params"]
        return {"total": n, "trainable": n}
    return {"total": int(sum(p.numel() for p in module.parameters())),
            "trainable": int(sum(p.numel() for p in module.parameters() if p.requires_grad))}


# --------------------------------------------------------------------------------------------- FLOPs
def _example_input(module: nn.Module, input_shape: Shape) -> torch.Tensor:
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    return torch.randn(*input_shape, generator=torch.Generator().manual_seed(0)).to(device=device, dtype=dtype)


def _flatten_layer_info(info: dict, prefix: str = "") -> dict[str, float]:
    """thop's nested ``{name: (ops, params, children)}`` -> ``{qualified name: ops}`` of the counted modules."""
    out: dict[str, float] = {}
    for name, (ops, _params, children) in info.items():
        qual = f"{prefix}{name}"
        if children:
            out.update(_flatten_layer_info(children, qual + "."))
        else:
            out[qual] = float(ops)
    return out


def _profile(model: nn.Module, input_shape: Shape) -> tuple[dict[str, float], dict[str, float], nn.Module]:
    """Run thop (with the leaf rules) and the container rules on a deep copy of ``model``.

    Returns per-module thop ops, per-module container ("own") ops and the profiled copy (for type look-ups).
    """
    module = copy.deepcopy(model).eval()  # thop adds buffers and hooks: never touch the caller's model
    x = _example_input(module, input_shape)
    own_rules = _own_ops_rules()
    own: dict[str, float] = {}
    handles = []
    for name, m in module.named_modules():
        rule = own_rules.get(type(m))
        if rule is not None:
            def hook(mod: nn.Module, inp: tuple, out: Any, _name: str = name, _rule: Callable = rule) -> None:
                own[_name] = own.get(_name, 0.0) + float(_rule(mod, inp, out))
            handles.append(m.register_forward_hook(hook))
    try:
        _total, _params, info = thop.profile(module, inputs=(x,), custom_ops=_leaf_rules(), verbose=False,
                                             ret_layer_info=True)
    finally:
        for h in handles:
            h.remove()
    return _flatten_layer_info(info), own, module


def count_flops(model: Any, input_shape: Shape = (1, 1, 1024)) -> dict[str, Any]:
    """MACs and FLOPs of one forward pass (see the module docstring for the conventions).

    Returns ``{"macs", "flops", "params", "input_shape", "breakdown", "by_type"}`` where ``breakdown`` splits the
    MACs into ``conv_linear`` (true multiply-accumulates), ``thop_other`` (thop's batch-norm/pooling rules) and
    ``custom`` (the rules of this module), and ``by_type`` sums the MACs per module class. For scikit-learn
    estimators see :func:`sklearn_complexity` (``input_shape[-1]`` is the number of wavenumbers).
    """
    module = as_torch_module(model)
    if module is None:
        stats = sklearn_complexity(model, n_features=int(input_shape[-1]))
        return {"macs": stats["macs"], "flops": stats["flops"], "params": stats["params"],
                "input_shape": list(input_shape), "breakdown": {"sklearn": stats["macs"]},
                "by_type": stats["by_step"], "rule": stats["rule"]}
    thop_ops, own_ops, profiled = _profile(module, input_shape)
    modules = dict(profiled.named_modules())
    custom_types = set(_leaf_rules())
    breakdown = {"conv_linear": 0.0, "thop_other": 0.0, "custom": 0.0}
    by_type: dict[str, float] = {}
    for name, ops in thop_ops.items():
        m = modules[name]
        key = ("conv_linear" if isinstance(m, _CONV_LINEAR) else
               "custom" if type(m) in custom_types else "thop_other")
        breakdown[key] += ops
        by_type[type(m).__name__] = by_type.get(type(m).__name__, 0.0) + ops
    for name, ops in own_ops.items():
        breakdown["custom"] += ops
        by_type[type(modules[name]).__name__] = by_type.get(type(modules[name]).__name__, 0.0) + ops
    macs = round(sum(breakdown.values()))
    return {"macs": macs, "flops": 2 * macs, "params": count_params(module)["total"],
            "input_shape": list(input_shape), "breakdown": {k: round(v) for k, v in breakdown.items()},
            "by_type": {k: round(v) for k, v in sorted(by_type.items(), key=lambda kv: -kv[1])}}


def flop_counter_flops(model: Any, input_shape: Shape = (1, 1, 1024)) -> int:
    """FLOPs counted by ``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convolutions only, 2 x MAC)."""
    from torch.utils.flop_counter import FlopCounterMode

    module = as_torch_module(model)
    if module is None:
        raise ValueError(f"FlopCounterMode counts torch modules only, got {type(model).__name__}")
    module = copy.deepcopy(module).eval()
    x = _example_input(module, input_shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(x)
    return int(counter.get_total_flops())


def layer_table(model: Any, input_shape: Shape = (1, 1, 1024), depth: int = 1) -> pd.DataFrame:
    """One row per sub-module at ``depth`` (1 = the named children): output shape, parameters, MACs, MFLOPs.

    ``ModuleList``/``ModuleDict`` children are listed item by item (they have no forward of their own), so a
    network keeping its stages in a ``ModuleList`` gets one row per stage; use ``depth=2`` to split a ``features``
    ``Sequential`` (EfficientNet) into its stages.

    Columns: ``layer``, ``type``, ``output_shape``, ``params``, ``macs``, ``mflops`` (= 2 x MACs / 1e6) and
    ``flops_share`` (fraction of the model's total). Work done directly in the model's own ``forward`` (outside any
    child) is not attributed to a row, so the rows may sum to slightly less than :func:`count_flops`.
    """
    module = as_torch_module(model)
    if module is None:
        raise ValueError(f"layer_table() needs a torch model, got {type(model).__name__}")
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    thop_ops, own_ops, _ = _profile(module, input_shape)
    ops = dict(thop_ops)
    for name, v in own_ops.items():
        ops[name] = ops.get(name, 0.0) + v

    copy_ = copy.deepcopy(module).eval()
    rows_modules: dict[str, nn.Module] = {}

    def collect(parent: nn.Module, prefix: str, level: int) -> None:
        for name, child in parent.named_children():
            qual = prefix + name
            if isinstance(child, (nn.ModuleList, nn.ModuleDict)):  # no forward of their own: list their items
                collect(child, qual + ".", level)
            elif level < depth and any(True for _ in child.children()):
                collect(child, qual + ".", level + 1)
            else:
                rows_modules[qual] = child

    collect(copy_, "", 1)
    shapes: dict[str, Any] = {}

    def record(name: str) -> Callable:
        def hook(mod: nn.Module, inp: tuple, out: Any) -> None:  # returns None: never replaces the output
            shapes.setdefault(name, list(out.shape) if torch.is_tensor(out) else None)
        return hook

    handles = [m.register_forward_hook(record(name)) for name, m in rows_modules.items()]
    try:
        with torch.no_grad():
            copy_(_example_input(copy_, input_shape))
    finally:
        for h in handles:
            h.remove()
    total = sum(ops.values()) or 1.0
    rows = []
    for name, m in copy_.named_modules():
        if name not in rows_modules:
            continue
        macs = sum(v for k, v in ops.items() if k == name or k.startswith(name + "."))
        rows.append({"layer": name, "type": type(m).__name__, "output_shape": shapes.get(name),
                     "params": int(sum(p.numel() for p in m.parameters())), "macs": round(macs),
                     "mflops": 2 * macs / 1e6, "flops_share": macs / total})
    return pd.DataFrame(rows, columns=["layer", "type", "output_shape", "params", "macs", "mflops", "flops_share"])


# --------------------------------------------------------------------------------------------- scikit-learn
def _step_complexity(est: Any, n_features: int) -> tuple[int, int, int, str]:
    """(params, MACs per spectrum, output width, rule) of one fitted scikit-learn step."""
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import Normalizer, StandardScaler

    from ramancmp.models.classical import AffineClassifier
    from ramancmp.models.library_search import LibrarySearch

    if isinstance(est, LibrarySearch):
        n_library, L = est.library_.shape
        return (n_library * L, n_library * L + 2 * L, 1,
                ("library search (numpy): the stored library is the model (n_library x n_features numbers); per "
                 "query one matrix-vector product with the unit-length library (n_library x n_features MACs) and the "
                 "query's own scaling to unit length (n_features MACs for its norm, n_features divisions)"))
    if isinstance(est, AffineClassifier):
        n = est.coef_.size + est.intercept_.size
        return (n, n, est.coef_.shape[0],
                ("linear classifier as deployed: the fitted LDA (any PCA folded into its coefficients) is one "
                 "affine map W x + b, one MAC per weight plus the bias adds"))
    if isinstance(est, LinearDiscriminantAnalysis):
        coef, intercept = np.atleast_2d(est.coef_), np.ravel(est.intercept_)
        k = coef.shape[0]
        return (coef.size + intercept.size, coef.size + intercept.size, k,
                "LDA: decision function W x + b, one MAC per weight plus the bias adds")
    if isinstance(est, PCA):
        k = est.components_.shape[0]
        return (est.components_.size + est.mean_.size, est.components_.size + n_features, k,
                "PCA: centring (n_features subtractions) + projection (k x n_features MACs)")
    if isinstance(est, KNeighborsClassifier):
        n_train = est.n_samples_fit_
        return (n_train * n_features, n_train * n_features, 1,
                ("kNN (brute force): the stored library is the model (n_train x n_features numbers); one dot "
                "product with every library spectrum per query (n_train x n_features MACs). scikit-learn's "
                "cosine metric also re-normalises the library on every call, which this ideal count leaves out"))
    if isinstance(est, StandardScaler):
        n = sum(a.size for a in (est.mean_, est.scale_) if a is not None)
        return n, n_features, n_features, "StandardScaler: one multiply-add per feature"
    if isinstance(est, Normalizer):
        return 0, 2 * n_features, n_features, "Normalizer: sum of squares (MAC) + divide per feature"
    raise ValueError(f"no complexity rule for {type(est).__name__}; add one to ramancmp.metrics.complexity")


def sklearn_complexity(estimator: Any, n_features: int | None = None) -> dict[str, Any]:
    """Parameters and per-spectrum MACs/FLOPs of a *fitted* scikit-learn estimator or pipeline.

    Parameters are the fitted numbers prediction needs (LDA: coefficients and intercepts; PCA: components and mean;
    kNN: the whole training library). MACs follow the rules in :func:`_step_complexity`; FLOPs = 2 x MACs.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    if n_features is None:
        n_features = int(estimator.n_features_in_)
    steps = estimator.steps if isinstance(estimator, Pipeline) else [(type(estimator).__name__, estimator)]
    params = macs = 0
    width = n_features
    by_step, rules = {}, []
    for name, step in steps:
        if step is None or step == "passthrough":
            continue
        p, m, width, rule = _step_complexity(step, width)
        params, macs = params + p, macs + m
        by_step[name] = m
        rules.append(rule)
    return {"params": int(params), "macs": int(macs), "flops": int(2 * macs), "by_step": by_step,
            "rule": "; ".join(rules)}
