"""Splits: by-sample splits never share a sample between parts; random splits are stratified; both are seeded."""

import numpy as np
import pytest

from ramancmp.data.splits import Split, make_split, repeated_splits


def synthetic(n_classes=10, samples_per_class=8, spectra_per_sample=3, seed=0):
    """Labels and sample IDs; spectra per sample vary (1..spectra_per_sample) like RRUFF's."""
    rng = np.random.default_rng(seed)
    y, groups = [], []
    for c in range(n_classes):
        for s in range(samples_per_class):
            k = int(rng.integers(1, spectra_per_sample + 1))
            y += [c] * k
            groups += [f"R{c:02d}{s:04d}"] * k
    return np.array(y), np.array(groups)


def assert_partition(split: Split, n: int):
    parts = np.concatenate([split.train, split.val, split.select, split.test])
    assert len(parts) == n and len(np.unique(parts)) == n  # disjoint and complete
    for part in (split.train, split.val, split.select, split.test):
        assert np.all(np.diff(part) > 0)


@pytest.mark.parametrize("seed", range(25))
def test_sample_split_never_shares_a_sample(seed):
    y, groups = synthetic(seed=seed)
    split = make_split(y, groups, kind="sample", seed=seed)
    assert_partition(split, len(y))
    train, val, select, test = (set(groups[p]) for p in (split.train, split.val, split.select, split.test))
    assert not (train & val) and not (train & test) and not (val & test)
    assert select and not select & (train | val | test)  # the selection half: whole samples too
    assert set(y[split.train]) == set(range(10))
    assert set(y[split.test]) == set(range(10))  # stratified: every class is tested
    assert split.kind == "sample" and split.seed == seed


def test_sample_split_fractions_are_whole_folds():
    y, groups = synthetic(samples_per_class=20, spectra_per_sample=1)
    s = make_split(y, groups, test_size=0.2, val_size=0.15)
    assert s.sizes() == {"train": 128, "val": 16, "select": 16, "test": 40}  # 1/5 of 200, 1/5 of 160, halved
    s = make_split(y, groups, val_size=0.0)
    assert len(s.val) == len(s.select) == 0 and len(s.test) == 40


@pytest.mark.parametrize("kind", ["sample", "random"])
def test_seeded_reproducible_and_seed_sensitive(kind):
    y, groups = synthetic()
    a, b, c = (make_split(y, groups, kind=kind, seed=s) for s in (3, 3, 4))
    for part in ("train", "val", "select", "test"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert not np.array_equal(a.test, c.test)


def test_random_split_is_stratified():
    y = np.repeat(np.arange(4), [40, 80, 120, 160])
    s = make_split(y, None, kind="random", test_size=0.25, val_size=0.15, seed=0)
    assert_partition(s, len(y))
    np.testing.assert_allclose(np.bincount(y[s.test]), [10, 20, 30, 40], atol=1)
    np.testing.assert_allclose(np.bincount(y[np.concatenate([s.val, s.select])]), 0.15 * np.bincount(y), atol=1)
    np.testing.assert_allclose(np.bincount(y[s.select]), 0.075 * np.bincount(y), atol=1)


def test_repeated_splits_use_consecutive_seeds():
    y, groups = synthetic()
    reps = repeated_splits(y, groups, kind="sample", repeats=3, seed=7)
    assert [r.seed for r in reps] == [7, 8, 9]
    np.testing.assert_array_equal(reps[1].test, make_split(y, groups, seed=8).test)
    with pytest.raises(ValueError, match="repeats"):
        repeated_splits(y, groups, repeats=0)


def test_invalid_inputs_raise_clear_errors():
    y, groups = synthetic()
    with pytest.raises(ValueError, match="unknown split kind"):
        make_split(y, groups, kind="stratified")
    with pytest.raises(ValueError, match="same length"):
        make_split(y, groups[:-1])
    with pytest.raises(ValueError, match="needs groups"):
        make_split(y, None, kind="sample")
    with pytest.raises(ValueError, match="test_size"):
        make_split(y, groups, test_size=1.2)
    with pytest.raises(ValueError, match="val_size"):
        make_split(y, groups, test_size=0.5, val_size=0.5)
    with pytest.raises(ValueError, match="samples"):
        make_split(y[:3], groups[:3])
    with pytest.raises(ValueError, match="stratified random split"):
        make_split(np.array([0, 0, 0, 0, 1]), None, kind="random")


def synthetic_species(n_classes=5, species_per_class=6, samples_per_species=2, seed=0):
    """Labels (groups of species), species names and sample IDs: several species per class, several samples each."""
    rng = np.random.default_rng(seed)
    y, species, samples = [], [], []
    for c in range(n_classes):
        for s in range(species_per_class):
            for k in range(samples_per_species):
                n = int(rng.integers(1, 4))
                y += [c] * n
                species += [f"species-{c}-{s}"] * n
                samples += [f"R{c}{s:02d}{k:03d}"] * n
    return np.array(y), np.array(species), np.array(samples)


@pytest.mark.parametrize("seed", range(10))
def test_species_split_holds_out_whole_species(seed):
    y, species, _ = synthetic_species(seed=seed)
    split = make_split(y, species, kind="species", seed=seed)
    assert_partition(split, len(y))
    train, val, select, test = (set(species[p]) for p in (split.train, split.val, split.select, split.test))
    assert not (train & test) and not (train & val) and not (val & test)  # every test species is new
    assert not select & (train | val | test)
    assert set(y[split.test]) == set(y[split.train]) == set(range(5))  # stratified over the groups
    assert split.kind == "species"
    # a by-sample split of the same data does share species between training and test
    by_sample = make_split(y, _, kind="sample", seed=seed)
    assert set(species[by_sample.train]) & set(species[by_sample.test])


def test_species_split_refuses_classes_that_are_species():
    y, species, _ = synthetic_species()
    with pytest.raises(ValueError, match="several species"):
        make_split(species, species, kind="species")
    with pytest.raises(ValueError, match="needs groups"):
        make_split(y, None, kind="species")
    with pytest.raises(ValueError, match="species"):  # too few species for 5 folds
        make_split(y[:6], species[:6], kind="species")


def test_split_groups_picks_species_or_samples():
    import pandas as pd

    from ramancmp.data.splits import split_groups

    y, species, samples = synthetic_species()
    ds = type("DS", (), {"y": y, "groups": samples, "meta": pd.DataFrame({"mineral": species})})()
    np.testing.assert_array_equal(split_groups(ds, "species"), species)
    np.testing.assert_array_equal(split_groups(ds, "sample"), samples)
    bare = type("DS", (), {"y": y, "groups": samples, "meta": None})()
    with pytest.raises(ValueError, match="species of every spectrum"):
        split_groups(bare, "species")
