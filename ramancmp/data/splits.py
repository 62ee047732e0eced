"""Train / validation / test splits: by RRUFF sample (default), by species, or at random (as in the paper).

RRUFF holds several spectra of the same sample (other lasers, other grains of the same specimen). A random split puts
spectra of one sample on both sides, so a model can score by recognising the *sample* rather than the mineral: the
paper's split is of this kind. ``kind="sample"`` keeps every sample whole:

* **sample** -- :class:`sklearn.model_selection.StratifiedGroupKFold` (shuffled, seeded): the test part is one fold
  of ``round(1 / test_size)`` folds, so no sample is in two parts and each class is spread over the folds as evenly as
  its samples allow (a plain ``GroupShuffleSplit`` can leave small classes out of the test part entirely). The
  validation part is carved from the rest the same way, with ``round((1 - test) / val_size)`` folds. Fractions are
  therefore those of whole folds: ``test_size=0.2`` gives 1/5, ``val_size=0.15`` gives 1/5 of the remaining 80 %.
* **species** -- the same StratifiedGroupKFold, with the *species* of each spectrum as the groups: every species of
  the test (and validation) part is absent from the training part, so a classifier of mineral groups is judged only
  on minerals it has never seen (a new species, not a new sample of a known one). Since a sample holds one species,
  samples stay whole too. It needs classes that hold several species: on a task whose classes *are* species no test
  class would be in training, and :func:`make_split` refuses it.
* **random** -- :func:`sklearn.model_selection.train_test_split` stratified by class (the paper's protocol), twice.

**Validation that means the same for every model.** The validation part is divided once more, by the same unit
(sample, species, or spectrum for a random split), seeded, into two halves: ``val``, what fitting may use (a
network's early stopping and best epoch, a hybrid's threshold, a soft vote's members, an open-set threshold), and
``select``, which no fit ever sees and on which the validation accuracy of every model is measured
(:func:`ramancmp.experiments.evaluation.evaluate`'s ``val_accuracy``). The reason: a network that stopped at its
best epoch on a part, or a combination tuned on it, scores higher on that part than on new data (about 3 points for
the DRSN, 2.5 for chapter 13's combinations), a classical model does not, so a pick across kinds on that part
leans to the most tuned model. On ``select`` every model is as new to the data as on the test part, so "best on
validation" compares like with like. A validation part of fewer than two units keeps ``select`` empty.

Repeat ``r`` of :func:`repeated_splits` uses ``seed + r``; one seed gives the same split on every machine.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ramancmp.fileio import fingerprint

__all__ = ["SPLIT_KINDS", "Split", "make_split", "repeated_splits", "species_halves", "split_groups",
           "classes_hold_species"]

SPLIT_KINDS = ("sample", "species", "random")
GROUPED_KINDS = ("sample", "species")  # the kinds that keep every group (sample or species) on one side


@dataclass(frozen=True)
class Split:
    """Index arrays (sorted, disjoint) into the dataset, and how they were made: ``val`` is what fitting may use
    (early stopping, thresholds), ``select`` the validation half no fit sees, on which models are compared and
    picked (see the module docstring)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    kind: str
    seed: int
    select: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    @property
    def validation(self) -> np.ndarray:
        """The whole validation part (``val`` and ``select``, sorted): for a protocol whose only use of validation
        is a choice inside one model (chapter 11's open-set threshold), never for a pick across models."""
        return np.union1d(self.val, self.select)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "select": len(self.select), "test": len(self.test)}


def _check(y, groups, kind: str, test_size: float, val_size: float, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    if kind not in SPLIT_KINDS:
        raise ValueError(f"unknown split kind {kind!r}; choose one of {list(SPLIT_KINDS)}")
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"y must be a non-empty 1-D array of labels, got shape {y.shape}")
    if groups is None:
        if kind in GROUPED_KINDS:
            raise ValueError(f"a by-{kind} split needs groups (the {'sample ID' if kind == 'sample' else 'species'} "
                             "of each spectrum)")
    else:
        groups = np.asarray(groups)
        if groups.shape != y.shape:
            raise ValueError(f"y and groups must have the same length, got {len(y)} and {len(groups)}")
        if kind == "species" and not _holds_several(y, groups):
            raise ValueError("a by-species split needs classes that hold several species (here every class is one "
                             "species, so no test class would be in training); use kind='sample'")
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size!r}")
    if not 0.0 <= val_size < 1.0 or test_size + val_size >= 1.0:
        raise ValueError(f"val_size must be in [0, 1) with test_size + val_size < 1, got val_size={val_size!r}, "
                         f"test_size={test_size!r}")
    if int(seed) != seed:
        raise ValueError(f"seed must be an integer, got {seed!r}")
    return y, groups


def _holds_several(y: np.ndarray, species: np.ndarray) -> bool:
    """Whether some class holds more than one species (else the classes are the species)."""
    pairs = np.unique(np.stack([y.astype(str), species.astype(str)]), axis=1)
    return pairs.shape[1] > len(np.unique(y))


def classes_hold_species(dataset) -> bool:
    """Whether a by-species split makes sense for ``dataset``: it has species, and some class holds several."""
    meta = getattr(dataset, "meta", None)
    if meta is None or "mineral" not in getattr(meta, "columns", ()):
        return False
    return _holds_several(np.asarray(dataset.y), np.asarray(meta["mineral"].astype(str)))


def _group_fold(y: np.ndarray, groups: np.ndarray, fraction: float, seed: int, what: str, unit: str = "samples"
                ) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held) positions: ``held`` is the first fold of a shuffled StratifiedGroupKFold with 1/fraction folds."""
    from sklearn.model_selection import StratifiedGroupKFold  # lazy: sklearn takes seconds to import

    n_splits = max(2, int(round(1.0 / fraction)))
    n_groups = len(np.unique(groups))
    if n_groups < n_splits:
        raise ValueError(f"cannot hold out {fraction:.0%} of the {unit} for {what}: {n_groups} {unit}, "
                         f"need at least {n_splits}")
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=int(seed))
    with warnings.catch_warnings():  # "least populated class has only k members": expected for rare minerals
        warnings.filterwarnings("ignore", message=".*least populated class.*", category=UserWarning)
        rest, held = next(cv.split(np.zeros(len(y)), y, groups))
    return rest, held


def _random_part(idx: np.ndarray, y: np.ndarray, fraction: float, seed: int, what: str
                 ) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(idx, test_size=fraction, stratify=y[idx], random_state=int(seed))
    except ValueError as exc:
        raise ValueError(f"stratified random split for {what} failed: {exc} (every class needs at least 2 spectra, "
                         "and the part must have room for one spectrum per class)") from exc


_CACHE: dict[tuple, Split] = {}
_CACHE_SIZE = 256


def make_split(y, groups=None, kind: str = "sample", test_size: float = 0.2, val_size: float = 0.15,
               seed: int = 0) -> Split:
    """Split indices ``0..len(y)-1`` into train / val / test (see the module docstring for the three kinds).

    ``groups`` is the sample ID of each spectrum for ``kind="sample"`` and its species for ``kind="species"``
    (:func:`split_groups` picks the right one from a dataset); a random split ignores it.

    ``test_size`` and ``val_size`` are fractions of the whole dataset; ``val_size=0`` gives an empty validation part.
    The same arguments always give the same split; it is computed once per process (a stratified group split of a
    few thousand spectra takes a noticeable fraction of a second) and handed out as a fresh copy.
    """
    y, groups = _check(y, groups, kind, test_size, val_size, seed)
    key = (fingerprint(y.astype(str), np.zeros(0) if groups is None else groups.astype(str)), kind, float(test_size),
           float(val_size), int(seed))
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = _make_split(y, groups, kind, test_size, val_size, seed)
    s = _CACHE[key]
    return Split(s.train.copy(), s.val.copy(), s.test.copy(), s.kind, s.seed, s.select.copy())


def _make_split(y: np.ndarray, groups: np.ndarray, kind: str, test_size: float, val_size: float,
                seed: int) -> Split:
    idx = np.arange(len(y))
    if kind in GROUPED_KINDS:
        unit = "samples" if kind == "sample" else "species"
        rest, test = _group_fold(y, groups, test_size, seed, "the test part", unit)
        if val_size > 0:
            fit, val = _group_fold(y[rest], groups[rest], val_size / (1.0 - test_size), seed, "validation", unit)
            train, val = rest[fit], rest[val]
        else:
            train, val = rest, idx[:0]
    else:
        rest, test = _random_part(idx, y, test_size, seed, "the test part")
        if val_size > 0:
            train, val = _random_part(rest, y, val_size / (1.0 - test_size), seed, "validation")
        else:
            train, val = rest, idx[:0]
    val, select = _selection_half(val, y, groups if kind in GROUPED_KINDS else None, seed)
    return Split(np.sort(train), np.sort(val), np.sort(test), kind, int(seed), np.sort(select))


def _selection_half(val: np.ndarray, y: np.ndarray, groups: np.ndarray | None, seed: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(fit half, selection half) of the validation part ``val``: whole groups (stratified, seeded) when ``groups``
    is given, else stratified spectra; the selection half is empty when the part holds fewer than two units."""
    if groups is not None:
        if len(np.unique(groups[val])) < 2:
            return val, val[:0]
        fit, select = _group_fold(y[val], groups[val], 0.5, seed, "the selection half of validation")
        return val[fit], val[select]
    if len(val) < 2:
        return val, val[:0]
    from sklearn.model_selection import train_test_split

    try:
        fit, select = train_test_split(np.arange(len(val)), test_size=0.5, stratify=y[val], random_state=int(seed))
    except ValueError:  # a class with one validation spectrum cannot be stratified
        fit, select = train_test_split(np.arange(len(val)), test_size=0.5, random_state=int(seed))
    return val[fit], val[select]


def repeated_splits(y, groups=None, kind: str = "sample", repeats: int = 5, seed: int = 0, test_size: float = 0.2,
                    val_size: float = 0.15) -> list[Split]:
    """``repeats`` splits with seeds ``seed, seed + 1, ...`` (for mean +- sd over repeats)."""
    if int(repeats) != repeats or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    return [make_split(y, groups, kind, test_size, val_size, seed + r) for r in range(int(repeats))]


def split_groups(dataset, kind: str) -> np.ndarray:
    """The groups a split of ``kind`` keeps whole, for a task dataset: its species (``meta["mineral"]``) for
    ``"species"``, its sample IDs (``groups``) otherwise. A clear error when a by-species split has no species."""
    if kind != "species":
        return np.asarray(dataset.groups)
    meta = getattr(dataset, "meta", None)
    if meta is None or "mineral" not in getattr(meta, "columns", ()):
        raise ValueError("a by-species split needs the species of every spectrum (dataset.meta['mineral']); "
                         f"{type(dataset).__name__} has none")
    return np.asarray(meta["mineral"].astype(str))


def species_halves(species, seed: int = 0, val_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``(val, test)`` indices of open-set *unknowns*, split by species: no species is on both sides.

    The threshold of an open-set rule is chosen on the ``val`` unknowns and judged on ``test`` unknowns of other
    minerals (:class:`sklearn.model_selection.GroupShuffleSplit`, seeded; about ``val_fraction`` of the species).
    """
    from sklearn.model_selection import GroupShuffleSplit

    species = np.asarray(species)
    if species.ndim != 1 or len(np.unique(species)) < 2:
        raise ValueError("species_halves needs a 1-D array with at least 2 different species")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    cv = GroupShuffleSplit(n_splits=1, test_size=1.0 - val_fraction, random_state=int(seed))
    val, test = next(cv.split(np.zeros(len(species)), groups=species))
    return np.sort(val), np.sort(test)
