"""Tasks: the mineral-group table against the real archive, the main task's counts, caching, and the task rules
on a small synthetic RRUFF folder."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ramancmp.data.preprocess import PreprocessConfig
from ramancmp.data.splits import make_split
from ramancmp.data.summary import format_summary, summarize
from ramancmp.data.tasks import GROUPS_CSV, list_tasks, load_catalog, load_task, mineral_groups

from conftest import SHARED_RRUFF_ZIP

PINNED_SHA256 = "dacbe9ba38d5dbfe5ef497fef899a479184a6758ac27d7bb6247d43975d4a37e"
GROUPS = ["amphibole", "apatite", "carbonate", "feldspar", "garnet", "mica", "olivine", "pyroxene", "tourmaline",
          "zeolite"]
# measured on the sha256-pinned 2019 archive (deterministic): spectra, samples per group
PINNED_COUNTS = {"amphibole": (79, 48), "apatite": (62, 36), "carbonate": (248, 127), "feldspar": (65, 29),
                 "garnet": (122, 59), "mica": (51, 28), "olivine": (47, 26), "pyroxene": (73, 45),
                 "tourmaline": (48, 31), "zeolite": (136, 64)}
# names that announce a group: every archive species matching one must be in that group or a documented exclusion
KEYWORDS = {
    "garnet": r"garnet|^(almandine|andradite|grossular|pyrope|spessartine|uvarovite|calderite|schorlomite|kimzeyite|"
              r"hibschite|katoite|majorite|goldmanite|knorringite|morimotoite|henritermierite)$",
    "amphibole": r"actinolite|tremolite|hornblende|pargasite|edenite|richterite|arfvedsonite|riebeckite|glaucophane|"
                 r"anthophyllite|gedrite|grunerite|cummingtonite|holmquistite|winchite|eckermannite|kaersutite|"
                 r"hastingsite|tschermakite|suenoite",
    "pyroxene": r"pyroxene|^augite$|diopside|hedenbergite|enstatite|ferrosilite|aegirine|jadeite|omphacite|spodumene|"
                r"johannsenite|pigeonite|kosmochlor|esseneite|kanoite|namansilite|kushiroite|petedunnite",
    "mica": r"phlogopite|^annite$|muscovite|paragonite|lepidolite|biotite|polylithionite|trilithionite|siderophyllite|"
            r"^margarite$|clintonite|celadonite|zinnwaldite|masutomilite|eastonite|ephesite|norrishite",
    "feldspar": r"^(albite|anorthite|anorthoclase|oligoclase|andesine|labradorite|bytownite|orthoclase|microcline|"
                r"sanidine|celsian|hyalophane|rubicline|buddingtonite|reedmergnerite|plagioclase)$",
    "olivine": r"^(forsterite|fayalite|tephroite|liebenbergite|monticellite|kirschsteinite|glaucochroite|olivine)$",
    "tourmaline": r"tourmaline|^schorl$|dravite|elbaite|(^|-)uvite$|liddicoatite|foitite|buergerite|rossmanite|"
                  r"^olenite$|feruvite|povondraite",
    "apatite": r"apatite$|pyromorphite|mimetite|vanadinite|hedyphane|ellestadite|belovite|britholite|^svabite$|"
               r"turneaureite|johnbaumite|alforsite|mattheddleite",
    "zeolite": r"^(analcime|natrolite|mesolite|scolecite|stilbite|stellerite|heulandite|clinoptilolite|chabazite|"
               r"gmelinite|levyne|erionite|offretite|faujasite|ferrierite|dachiardite|mordenite|phillipsite|harmotome|"
               r"gismondine|garronite|laumontite|thomsonite|gonnardite|edingtonite|brewsterite|paulingite|"
               r"yugawaralite|wairakite|pollucite|epistilbite|merlinoite|bikitaite|amicite|barrerite)(-\w+)?$",
    "carbonate": r"^(calcite|aragonite|vaterite|dolomite|ankerite|kutnohorite|magnesite|siderite|rhodochrosite|"
                 r"smithsonite|cerussite|witherite|strontianite|malachite|azurite|trona|nahcolite|hydromagnesite|"
                 r"hydrocerussite|artinite|huntite|nesquehonite|rosasite|aurichalcite|gaylussite|"
                 r"(hydroxyl)?bastnasite-\(\w+\)|parisite-\(\w+\)|synchysite-\(\w+\))$",
}


# ------------------------------------------------------------------------------------------------ real archive
def real_archive() -> Path:
    from ramancmp.data.fetch import archive_path

    for path in (archive_path(), SHARED_RRUFF_ZIP):
        if path.is_file():
            return path
    pytest.skip("no RRUFF archive: run `python -m ramancmp data fetch`")


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(real_archive())


@pytest.fixture(scope="module")
def groups_task():
    return load_task("rruff-groups-10", source=real_archive())


@pytest.fixture(scope="module")
def table():
    return pd.read_csv(GROUPS_CSV, dtype=str, keep_default_na=False)


def test_group_table_is_well_formed(table):
    assert list(table.columns) == ["species", "group", "basis", "note"]
    assert not table["species"].duplicated().any()  # so no species can be in two groups
    grouped = table[table["group"] != ""]
    assert sorted(grouped["group"].unique()) == GROUPS
    assert (table["basis"].str.strip() != "").all()
    assert (table.loc[table["group"] == "", "note"].str.strip() != "").all()  # every exclusion says why
    assert mineral_groups() == dict(zip(grouped["species"], grouped["group"]))


def test_group_table_matches_the_archive(catalog, table):
    present = set(catalog.meta["mineral"])
    listed = set(table["species"])
    absent = sorted(s for s in listed if s not in present and "absent" not in table.set_index("species").at[s, "note"])
    assert not absent, f"species in data/mineral_groups.csv but not in the archive (mark them absent): {absent}"
    groups = mineral_groups()
    wrong = {}
    for group, pattern in KEYWORDS.items():
        for name in present:
            if re.search(pattern, name.lower()) and groups.get(name) != group and name in groups:
                wrong[name] = (groups[name], group)
            elif re.search(pattern, name.lower()) and name not in listed:
                wrong[name] = (None, group)
    assert not wrong, f"archive species whose name announces a group, mapped otherwise or not at all: {wrong}"


def test_main_task_counts(groups_task):
    ds = groups_task
    assert ds.class_names == GROUPS and ds.n_classes == 10
    assert 900 <= len(ds) <= 1100
    assert ds.X.dtype == np.float32 and ds.X.shape == (len(ds), 1024) and np.all(np.isfinite(ds.X))
    np.testing.assert_allclose(ds.X.min(axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(ds.X.max(axis=1), 1.0, atol=1e-6)
    assert ds.y.dtype == np.int64 and set(ds.y) == set(range(10))
    assert len(ds.meta) == len(ds.groups) == len(ds) and (ds.meta["processing"] == "Processed").all()
    assert list(ds.meta["sample_id"]) == list(ds.groups)
    assert [ds.class_names[i] for i in ds.y] == list(ds.meta["label"])
    s = ds.summary
    assert s["n_spectra"] == len(ds) and s["funnel"]["used"] == len(ds)
    assert s["funnel"]["files"] == (s["funnel"]["unreadable_files"] + s["funnel"]["other_processing"]
                                    + s["funnel"]["unknown_mineral"] + s["funnel"]["not_in_task"]
                                    + s["funnel"]["not_covering_grid"] + s["funnel"]["flat"] + len(ds))
    if ds.source_sha256 == PINNED_SHA256:
        assert len(ds) == 931 and s["n_samples"] == 493
        assert {c: (v["spectra"], v["samples"]) for c, v in s["classes"].items()} == PINNED_COUNTS
        assert s["funnel"]["other_processing"] == 10 and s["funnel"]["unknown_mineral"] == 16
        assert s["funnel"]["not_covering_grid"] == 321 and s["funnel"]["files"] == 5471


def test_by_sample_split_on_the_main_task_tests_every_group(groups_task):
    for seed in range(3):
        split = make_split(groups_task.y, groups_task.groups, kind="sample", seed=seed)
        assert set(groups_task.y[split.test]) == set(range(10))
        assert not set(groups_task.groups[split.train]) & set(groups_task.groups[split.test])


def test_species_tasks_on_the_archive(catalog):
    ds = load_task("rruff-species-10", source=real_archive())
    counts = ds.meta["mineral"].value_counts()
    usable = catalog.meta[catalog.usable & (catalog.meta["processing"] == "Processed")]
    all_counts = usable["mineral"].value_counts()
    assert ds.n_classes == 10 and ds.class_names == sorted(counts.index)
    assert counts.min() >= all_counts.drop(ds.class_names).max()  # really the 10 largest
    allsp = load_task("rruff-all-species", source=real_archive())
    assert (allsp.meta.groupby("mineral")["sample_id"].nunique() >= 2).all()
    assert set(ds.class_names) <= set(allsp.class_names)


def test_outside_groups_task_is_disjoint_from_the_groups(groups_task):
    out = load_task("rruff-outside-groups", source=real_archive())
    in_groups = set(groups_task.meta["mineral"])
    assert len(out) > len(groups_task) and not set(out.class_names) & in_groups
    assert not set(out.meta["mineral"]) & set(mineral_groups())
    excluded = set(pd.read_csv(GROUPS_CSV, keep_default_na=False).query("group == ''")["species"])
    assert excluded & set(out.class_names)  # documented exclusions (e.g. feldspathoids) are unknowns too


# --------------------------------------------------------------------------------------------- synthetic folder
def write_spectrum(folder: Path, mineral: str, rruff_id: str, n: int, *, laser: int = 532, lo: float = 100.0,
                   hi: float = 1300.0, processing: str = "Processed", scale: float = 1.0) -> None:
    wn = np.linspace(lo, hi, 1200)
    centre = 200.0 + 90.0 * (sum(map(ord, mineral)) % 10)
    inten = scale * (np.exp(-0.5 * ((wn - centre) / 5.0) ** 2) + 0.01 * n)
    name = f"{mineral.replace('-', '').replace('(', '').replace(')', '')}__{rruff_id}__Raman__{laser}__0__" \
           f"unoriented__Raman_Data_{processing}__{n}.txt"
    body = [f"##NAMES={mineral}", f"##RRUFFID={rruff_id}", "##LOCALITY=Nowhere"]
    body += [f"{w:.4f}, {v:.6f}" for w, v in zip(wn, inten)] + ["##END=", ""]
    (folder / name).write_text("\r\n".join(body), encoding="utf-8")


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    """A small RRUFF-style folder and an empty data cache."""
    monkeypatch.setenv("RAMANCMP_DATA_DIR", str(tmp_path / "cache-root"))
    src = tmp_path / "rruff"
    src.mkdir()
    n = 0
    # 12 species; species i has (12 - i) // 2 + 1 spectra spread over 2 samples (ties in pairs)
    species = ["Calcite", "Almandine", "Forsterite", "Albite", "Muscovite", "Elbaite", "Diopside", "Tremolite",
               "Fluorapatite", "Natrolite", "Quartz", "Rutile"]
    for i, sp in enumerate(species):
        for k in range((12 - i) // 2 + 1):
            n += 1
            write_spectrum(src, sp, f"R{i:02d}{k % 2:04d}" + ("_a" if k > 1 else ""), n, laser=(532, 785)[k % 2])
    write_spectrum(src, "Beryl", "R900001", 901)  # one sample only: not in rruff-all-species
    write_spectrum(src, "Calcite", "R990001", 990, lo=400.0)  # does not cover the grid
    write_spectrum(src, "Calcite", "R990002", 991, processing="RAW")
    write_spectrum(src, "unknown", "R990003", 992)
    (src / "Broken__R990004__Raman__532__0__unoriented__Raman_Data_Processed__993.txt").write_text("##NAMES=x\n1, a\n")
    return src


def test_synthetic_groups_task_and_its_summary(folder):
    ds = load_task("rruff-groups-10", source=folder)
    assert ds.class_names == ["amphibole", "apatite", "carbonate", "feldspar", "garnet", "mica", "olivine",
                              "pyroxene", "tourmaline", "zeolite"]
    assert ds.summary["classes"]["carbonate"] == {"spectra": 7, "samples": 2}
    f = ds.summary["funnel"]
    assert f == {"files": 53, "unreadable_files": 1, "other_processing": 1, "unknown_mineral": 1,
                 "not_in_task": 4, "not_covering_grid": 1, "flat": 0, "mostly_negative": 0, "used": 45}
    assert ds.summary["skipped_files"][0]["source"].endswith("993.txt")
    assert ds.summary["dropped"][0]["reason"].startswith("not covering grid")
    assert ds.summary["lasers"] == {"532": 25, "785": 20}
    assert set(ds.groups) == {f"R{i:02d}{k:04d}" for i in range(10) for k in range(2)}  # _a suffix stripped
    text = format_summary(summarize("rruff-groups-10", source=folder))
    assert "carbonate" in text and "not covering grid" in text and "993.txt" in text
    json.dumps(ds.summary)


def test_synthetic_species_tasks(folder):
    top = load_task("rruff-species-10", source=folder)
    # counts 7,6,6,5,5,4,4,3,3,2,2,1: the tie at 2 spectra (Natrolite, Quartz) is broken by name
    assert top.class_names == sorted(["Calcite", "Almandine", "Forsterite", "Albite", "Muscovite", "Elbaite",
                                      "Diopside", "Tremolite", "Fluorapatite", "Natrolite"])
    allsp = load_task("rruff-all-species", source=folder)
    assert "Beryl" not in allsp.class_names and "unknown" not in allsp.class_names
    assert "Rutile" not in allsp.class_names  # one spectrum, one sample
    assert len(allsp.class_names) == 11


def test_cache_round_trip_and_invalidation(folder, tmp_path):
    config = PreprocessConfig(normalisation="vector", smoothing=7)
    built = load_task("rruff-groups-10", source=folder, preprocess=config, cache=False)
    cache_dir = tmp_path / "cache-root" / "cache"
    assert not cache_dir.exists() or not list(cache_dir.glob("rruff-groups-10-*"))
    first = load_task("rruff-groups-10", source=folder, preprocess=config)
    files = sorted(cache_dir.glob("rruff-groups-10-*"))
    assert [p.suffix for p in files] == [".json", ".npz"]
    again = load_task("rruff-groups-10", source=folder, preprocess=config)
    for ds in (first, again):
        np.testing.assert_array_equal(ds.X, built.X)
        np.testing.assert_array_equal(ds.y, built.y)
        np.testing.assert_array_equal(ds.groups, built.groups)
        np.testing.assert_array_equal(ds.grid, built.grid)
        pd.testing.assert_frame_equal(ds.meta, built.meta)
        assert ds.class_names == built.class_names and ds.summary == built.summary
        assert ds.preprocess == config and ds.source_sha256 == built.source_sha256

    # a torn cache pair is ignored, not trusted
    files[0].write_text(files[0].read_text().replace('"token":"', '"token":"x'))
    np.testing.assert_array_equal(load_task("rruff-groups-10", source=folder, preprocess=config).X, built.X)

    # changed data -> new key -> rebuilt, never the stale arrays
    write_spectrum(folder, "Pyrope", "R770001", 777)
    changed = load_task("rruff-groups-10", source=folder, preprocess=config)
    assert len(changed) == len(built) + 1 and changed.source_sha256 != built.source_sha256


def test_missing_archive_and_bad_arguments(tmp_path, monkeypatch, folder):
    monkeypatch.setenv("RAMANCMP_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="python -m ramancmp data fetch"):
        load_task("rruff-groups-10")
    with pytest.raises(ValueError, match="unknown task"):
        load_task("rruff-groups-11", source=folder)
    with pytest.raises(ValueError, match="processing"):
        load_task("rruff-groups-10", source=folder, processing="baseline")
    assert list_tasks() == ["rruff-groups-10", "rruff-species-10", "rruff-all-species", "rruff-outside-groups"]


def test_zip_source_fingerprint_is_remembered_and_invalidated(folder, tmp_path):
    import os
    import zipfile

    from ramancmp.data.fetch import file_sha256

    zpath = tmp_path / "rruff.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, p.name)
    ds = load_task("rruff-groups-10", source=zpath)
    assert ds.source_sha256 == file_sha256(zpath) and len(ds) == 45
    index = json.loads((tmp_path / "cache-root" / "cache" / "fingerprints.json").read_text())
    assert index[str(zpath.resolve())]["sha256"] == ds.source_sha256
    # replace the archive (one spectrum fewer): a new size/mtime means re-hashing, a new key and a rebuilt task
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(folder.iterdir())[1:]:
            zf.write(p, p.name)
    os.utime(zpath, ns=(1, 1))
    smaller = load_task("rruff-groups-10", source=zpath)
    assert smaller.source_sha256 == file_sha256(zpath) != ds.source_sha256 and len(smaller) == len(ds) - 1


def test_a_replaced_archive_with_the_same_size_and_mtime_is_hashed_again(folder, tmp_path):
    """A stale fingerprint would return the old archive's labels for new contents (a silent wrong answer)."""
    import os
    import shutil
    import zipfile

    from ramancmp.data.fetch import file_sha256
    from ramancmp.data.tasks import source_fingerprint

    members = sorted(folder.iterdir())
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    for path, names in ((first, members), (second, members[::-1])):  # same bytes in another order: same size
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
            for p in names:
                zf.write(p, p.name)
    assert first.stat().st_size == second.stat().st_size and file_sha256(first) != file_sha256(second)
    target = tmp_path / "rruff.zip"
    shutil.copyfile(first, target)
    os.utime(target, ns=(1, 1))
    assert source_fingerprint(target) == file_sha256(first)
    shutil.copyfile(second, target)  # replaced in place: same size ...
    os.utime(target, ns=(1, 1))  # ... and the same mtime
    assert source_fingerprint(target) == file_sha256(second)


def test_a_source_that_is_a_fifo_or_device_is_refused_not_read(tmp_path):
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for source in (fifo, Path("/dev/zero")):
        with pytest.raises(ValueError, match="not a regular file or folder"):
            load_task("rruff-groups-10", source=source)
