"""The book's open-set and all-species protocols (chapter 11): "not in library" and identifying any RRUFF mineral.

Open set (task ``rruff-groups-10``; unknowns: task ``rruff-outside-groups``, minerals in none of the ten groups):

* for each repeated by-sample split, the unknown *species* are halved (:func:`ramancmp.data.species_halves`, seed of
  the split): an :class:`~ramancmp.models.OpenSetClassifier` fits its model on the training part, its temperature
  on the validation part and its threshold (95 % of validation unknowns rejected) on the first half; it is tested
  on the test part (knowns) and on the other half (unknown species it has never been tuned on);
* **leave one group out**: the same with one of the ten groups removed from the library, validation and test parts;
  that group's spectra are the test unknowns (a group of minerals the model has never seen, the hard case: its
  spectra resemble the other silicates more than most outside minerals do). The threshold still comes from the
  outside-species validation half, never from the held-out group.

All-species (task ``rruff-all-species``, by-sample splits): the library search's top-1 and top-5 accuracy, also on
the test spectra whose species has a spectrum in the training part (a species with few samples can land entirely
in the test part, and then no library search can name it), the trained CNN's own top-k, and the library search in the
CNN's embedding (:func:`embedding_top_k`: its penultimate layer as the search space).

Every split (and every held-out group) is one unit of work run by the executor
(:mod:`ramancmp.experiments.executor`); units return small dicts, one row each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator

from ramancmp.config import Profile
from ramancmp.data.splits import Split, species_halves
from ramancmp.experiments.executor import Executor, get_executor
from ramancmp.experiments.store import make_job, train_all
from ramancmp.experiments.tables import Row, stat
from ramancmp.metrics import as_torch_module
from ramancmp.metrics.statistics import Stat
from ramancmp.models import LibrarySearch, OpenSetClassifier

__all__ = ["OpenSetItem", "TopKItem", "all_species_top_k", "embed", "embedding_top_k", "leave_one_group_out",
           "leave_one_group_out_items", "library_open_set", "network_open_set", "network_top_k", "open_set_items",
           "run_units", "stored_networks", "summarize", "top_k_items", "top_k_rows"]

UNKNOWN_REJECTION = 0.95


@dataclass
class OpenSetItem:
    """One unit: fit an open-set classifier on one split and test it on known and unknown spectra."""

    model: str
    estimator: Any
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_unknown_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_unknown_test: np.ndarray
    split_seed: int
    held_out: str | None = None

    def __repr__(self) -> str:  # short, for error messages
        return f"OpenSetItem({self.model}, seed={self.split_seed}, held_out={self.held_out})"


def _open_set_unit(item: OpenSetItem) -> dict[str, Any]:
    model = OpenSetClassifier(clone(item.estimator), unknown_rejection=UNKNOWN_REJECTION).fit(
        item.X_train, item.y_train, X_val=item.X_val, y_val=item.y_val, X_unknown=item.X_unknown_val)
    out = model.evaluate(item.X_test, item.y_test, item.X_unknown_test)
    return {"model": item.model, "split_seed": item.split_seed, "held_out": item.held_out, "score": model.score_,
            "temperature": model.temperature_, "threshold": model.threshold_,
            "val_auroc": model.val_auroc_[model.score_], **out}


def open_set_items(dataset: Any, unknown: Any, splits: list[Split], estimator: Any = None, model: str = "library search"
                   ) -> list[OpenSetItem]:
    """One :class:`OpenSetItem` per split: known parts from ``dataset``, unknowns from ``unknown`` halved by species.

    ``estimator``: an unfitted estimator (fitted on each split's training part; default :class:`LibrarySearch`), or
    a list with one already trained classifier per split (e.g. the book's stored networks), used frozen.
    """
    if isinstance(estimator, (list, tuple)):
        if len(estimator) != len(splits):
            raise ValueError(f"{len(estimator)} trained estimators for {len(splits)} splits")
        estimators = [FrozenEstimator(e) for e in estimator]
    else:
        estimators = [LibrarySearch() if estimator is None else estimator] * len(splits)
    species = unknown.meta["mineral"].to_numpy()
    items = []
    for split, estimator in zip(splits, estimators):
        uv, ut = species_halves(species, seed=split.seed)
        items.append(OpenSetItem(model, estimator, dataset.X[split.train], dataset.y[split.train],
                                 dataset.X[split.validation], dataset.y[split.validation], unknown.X[uv],
                                 dataset.X[split.test], dataset.y[split.test], unknown.X[ut], split.seed))
    return items


def leave_one_group_out_items(dataset: Any, unknown: Any, split: Split, estimator: Any = None,
                              model: str = "library search") -> list[OpenSetItem]:
    """One item per class of ``dataset``: that class removed from every part and used as the test unknowns."""
    estimator = LibrarySearch() if estimator is None else estimator
    uv, _ = species_halves(unknown.meta["mineral"].to_numpy(), seed=split.seed)
    items = []
    for c, name in enumerate(dataset.class_names):
        keep = lambda idx, c=c: idx[dataset.y[idx] != c]  # noqa: E731
        tr, va, te = keep(split.train), keep(split.validation), keep(split.test)
        items.append(OpenSetItem(model, estimator, dataset.X[tr], dataset.y[tr], dataset.X[va], dataset.y[va],
                                 unknown.X[uv], dataset.X[te], dataset.y[te], dataset.X[dataset.y == c], split.seed,
                                 held_out=str(name)))
    return items


@dataclass
class TopKItem:
    """One unit: library search on one split of a many-class task, top-k accuracy."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    split_seed: int
    ks: tuple[int, ...] = (1, 5)

    def __repr__(self) -> str:
        return f"TopKItem(seed={self.split_seed})"


def _top_k_unit(item: TopKItem) -> dict[str, Any]:
    lib = LibrarySearch().fit(item.X_train, item.y_train)
    scores = lib.decision_function(item.X_test)
    order = lib.classes_[np.argsort(-scores, axis=1, kind="stable")]
    seen = np.isin(item.y_test, lib.classes_)
    out: dict[str, Any] = {"model": "library search", "split_seed": item.split_seed, "n_test": int(len(item.y_test)),
                           "seen_fraction": float(seen.mean())}
    for k in item.ks:
        hit = (order[:, :k] == item.y_test[:, None]).any(axis=1)
        out[f"top{k}"] = float(hit.mean())
        out[f"top{k}_seen"] = float(hit[seen].mean()) if seen.any() else float("nan")
    return out


def top_k_items(dataset: Any, splits: list[Split], ks: tuple[int, ...] = (1, 5)) -> list[TopKItem]:
    return [TopKItem(dataset.X[s.train], dataset.y[s.train], dataset.X[s.test], dataset.y[s.test], s.seed, ks)
            for s in splits]


def network_top_k(nets: list[Any], dataset: Any, splits: list[Split], model: str, ks: tuple[int, ...] = (1, 5)
                  ) -> list[dict[str, Any]]:
    """Top-k accuracy of trained classifiers (one per split; ``predict_proba`` over their ``classes_``) on each
    split's test part, in the format of the library search's rows. Runs here: prediction is cheap."""
    rows = []
    for net, split in zip(nets, splits):
        X, y = dataset.X[split.test], dataset.y[split.test]
        order = np.asarray(net.classes_)[np.argsort(-net.predict_proba(X), axis=1, kind="stable")]
        seen = np.isin(y, net.classes_)
        row: dict[str, Any] = {"model": model, "split_seed": split.seed, "n_test": int(len(y)),
                               "seen_fraction": float(seen.mean())}
        for k in ks:
            hit = (order[:, :k] == y[:, None]).any(axis=1)
            row[f"top{k}"], row[f"top{k}_seen"] = float(hit.mean()), float(hit[seen].mean())
        rows.append(row)
    return rows


def embed(net: Any, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The penultimate-layer features ``(n, num_features)`` of a trained network (a :class:`TorchClassifier` or its
    module): everything but the classifier, in eval mode -- the network's learnt embedding of each spectrum."""
    module = as_torch_module(net)
    if module is None or not hasattr(module, "forward_features"):
        raise ValueError(f"{type(net).__name__} has no network with forward_features to embed spectra with")
    module.eval()
    device = next(module.parameters()).device
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    with torch.no_grad():
        out = [module.forward_features(X[i:i + batch_size].to(device)).float().cpu()
               for i in range(0, len(X), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, getattr(module, "num_features", 0)), np.float32)


def embedding_top_k(nets: list[Any], dataset: Any, splits: list[Split], model: str, ks: tuple[int, ...] = (1, 5)
                    ) -> list[dict[str, Any]]:
    """Library search in a trained network's embedding (its penultimate layer, :func:`embed`): the training part's
    spectra embedded by the network trained on that split are the library, each test spectrum embedded the same way
    is matched by cosine similarity; top-k accuracy per split, in the format of :func:`network_top_k`'s rows."""
    if len(nets) != len(splits):
        raise ValueError(f"{len(nets)} trained networks for {len(splits)} splits")
    rows = []
    for net, s in zip(nets, splits):
        item = TopKItem(embed(net, dataset.X[s.train]), dataset.y[s.train], embed(net, dataset.X[s.test]),
                        dataset.y[s.test], s.seed, ks)
        rows.append({**_top_k_unit(item), "model": model})
    return rows


def top_k_rows(rows: list[dict], splits: list[Split], key: str = "top1") -> dict[str, Row]:
    """One :class:`~ramancmp.experiments.tables.Row` per model of ``rows`` (from :func:`run_units`,
    :func:`network_top_k`, :func:`embedding_top_k`) with ``key`` (``"top1"``, ``"top5"``) as its per-split accuracy and
    the splits' seeds and test/train ratio, so :func:`~ramancmp.experiments.tables.accuracy_text` gives its corrected
    95 % interval and :func:`~ramancmp.experiments.tables.difference_text` a paired difference between models."""
    ratio = float(np.mean([len(s.test) / len(s.train) for s in splits])) if splits else None
    out: dict[str, Row] = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = sorted((r for r in rows if r["model"] == model), key=lambda r: r["split_seed"])
        out[model] = Row(model=model, accuracy=stat([r[key] for r in mine]), seeds=[int(r["split_seed"]) for r in mine],
                         test_train_ratio=ratio)
    return out


def run_units(items: list[Any], executor: Executor | str | None = None, progress: bool = False) -> list[dict]:
    """Run :class:`OpenSetItem` / :class:`TopKItem` units through the executor; one result dict per item."""
    if not items:
        return []
    fn = _top_k_unit if isinstance(items[0], TopKItem) else _open_set_unit
    if isinstance(executor, Executor):
        return executor.map(fn, items, desc="open set", progress=progress)
    with get_executor(executor) as ex:
        return ex.map(fn, items, desc="open set", progress=progress)


def stored_networks(model: str, dataset: Any, splits: list[Split], profile: Profile, *,
                    model_kwargs: dict | None = None, executor: Executor | str | None = None) -> tuple[list[Any], int]:
    """``(networks, trained now)``: the model store's ``model`` for every split (one parallel batch for those not
    stored yet, :func:`~ramancmp.experiments.store.train_all`) and how many had to be trained."""
    jobs = [make_job(model, dataset, split, profile, model_kwargs=model_kwargs) for split in splits]
    pending = sum(not job.is_stored() for job in jobs)
    return train_all(jobs, executor), pending


def library_open_set(dataset: Any, unknown: Any, splits: list[Split], executor: Executor | str | None = None
                     ) -> list[dict]:
    """The library search with "not in library": the open-set protocol on every split (one unit each)."""
    return run_units(open_set_items(dataset, unknown, splits), executor)


def network_open_set(model: str, dataset: Any, unknown: Any, splits: list[Split], profile: Profile, *,
                     model_kwargs: dict | None = None, executor: Executor | str | None = None
                     ) -> tuple[list[dict], int]:
    """``(rows, trained now)``: the stored network ``model`` of every split, frozen inside the same open-set rule."""
    nets, trained = stored_networks(model, dataset, splits, profile, model_kwargs=model_kwargs)
    return run_units(open_set_items(dataset, unknown, splits, estimator=nets, model=model), executor), trained


def leave_one_group_out(dataset: Any, unknown: Any, split: Split, executor: Executor | str | None = None
                        ) -> list[dict]:
    """The library search with one group held out at a time (one unit per group) on ``split``."""
    return run_units(leave_one_group_out_items(dataset, unknown, split), executor)


def all_species_top_k(dataset: Any, splits: list[Split], model: str, profile: Profile, *,
                      model_kwargs: dict | None = None, embedding_model: str | None = None,
                      executor: Executor | str | None = None) -> tuple[list[dict], int]:
    """``(rows, trained now)`` of the all-species task: the library search's top-k per split, the stored network
    ``model``'s own top-k and the library search in its embedding (named ``embedding_model``)."""
    rows = run_units(top_k_items(dataset, splits), executor)
    nets, trained = stored_networks(model, dataset, splits, profile, model_kwargs=model_kwargs)
    rows += network_top_k(nets, dataset, splits, model=model)
    rows += embedding_top_k(nets, dataset, splits, model=embedding_model or f"library search in the {model} embedding")
    return rows, trained


def summarize(rows: list[dict], keys: tuple[str, ...], by: tuple[str, ...] = ("model",)) -> list[dict]:
    """For each combination of ``by``: ``n`` and, for each of ``keys``, a :class:`~ramancmp.metrics.statistics.Stat`
    (mean and sd ignoring NaN splits; sd 0.0 for one split; the per-split values, NaN kept)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[b] for b in by), []).append(row)
    out = []
    for group, members in groups.items():
        entry = dict(zip(by, group), n=len(members))
        for key in keys:
            values = np.array([m[key] for m in members], dtype=float)
            entry[key] = Stat(float(np.nanmean(values)), float(np.nanstd(values, ddof=1)) if len(values) > 1
                              else 0.0, tuple(values.tolist()))
        out.append(entry)
    return out
