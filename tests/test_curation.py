"""The curation table: its rules on synthetic headers, the committed data/curation.csv against the real archive, and
results with and without the flagged spectra (paired on the same splits)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ramancmp.config import PROFILES
from ramancmp.data.curation import (
    COLUMNS,
    CURATION_CSV,
    FLAGS,
    HAND_CHECKED,
    check_curation,
    curation_table,
    flag_header,
    flagged_samples,
    read_curation,
    write_curation,
)

from conftest import make_rruff_name, make_rruff_text, write_rruff_zip

MINERALS = {"calcite", "quartz", "orthoclase", "stellerite"}


def flags_of(status="The identification of this mineral has been confirmed by X-ray diffraction.",
             description="Colorless crystals", species="Calcite"):
    return [f[0] for f in flag_header({"STATUS": status, "DESCRIPTION": description}, species, MINERALS)]


def test_rules_flag_what_the_headers_say():
    assert flags_of() == []
    assert flags_of(status="The identification of this mineral is not yet confirmed.") == ["unconfirmed"]
    assert flags_of(status="unconfirmed") == ["unconfirmed"]
    assert flags_of(description="Mixture of orange chabazite and stellerite") == ["mixture"]
    assert flags_of(description="Green aggregate, intimately mixed with mimetite") == ["mixture"]
    assert flags_of(description="Brown lamellar crystals forming intergrowth with triphylite") == ["mixture"]
    assert flags_of(description="Brown platy crystals on orthoclase") == ["mixture"]  # another mineral: substrate


def test_rules_leave_lookalikes_alone():
    assert flags_of(description="Colorless vitreous crystals and intergrown clusters") == []  # with itself
    assert flags_of(description="Pink rhombs on matrix") == []  # "matrix" is not a mineral
    assert flags_of(description="Calcite crystals on calcite", species="Calcite") == []  # on itself
    assert flags_of(status="The identification of this mineral has been confirmed only by X-ray diffraction") == []


def test_curation_table_from_a_synthetic_archive(tmp_path):
    files = {
        make_rruff_name("Calcite", "R000001", index=1): make_rruff_text(
            "Calcite", "R000001", extra_header={"DESCRIPTION": "White rhombs on quartz"}),
        make_rruff_name("Calcite", "R000001", laser_nm=780, index=2): make_rruff_text(
            "Calcite", "R000001", extra_header={"DESCRIPTION": "White rhombs on quartz"}),
        make_rruff_name("Quartz", "R000002"): make_rruff_text(
            "Quartz", "R000002", extra_header={"STATUS": "The identification of this mineral is not yet confirmed."}),
        make_rruff_name("Albite", "R000003"): make_rruff_text("Albite", "R000003"),
    }
    table = curation_table(write_rruff_zip(tmp_path / "a.zip", files))
    assert list(table.columns) == COLUMNS
    assert table[["rruff_id", "flag"]].values.tolist() == [["R000001", "mixture"], ["R000002", "unconfirmed"]]
    assert table["n_spectra"].tolist() == [2, 1]
    assert table["source_text"].tolist() == ["White rhombs on quartz",
                                             "The identification of this mineral is not yet confirmed."]
    assert "quartz" in table["reason"].iloc[0]
    # the table round-trips through the CSV, and the check finds an edited row
    path = write_curation(table, tmp_path / "curation.csv")
    assert check_curation(path, source=tmp_path / "a.zip") == []
    edited = read_curation(path)
    edited.loc[0, "flag"] = "unconfirmed"
    write_curation(edited, path)
    problems = check_curation(path, source=tmp_path / "a.zip")
    assert any("R000001 Calcite unconfirmed" in p for p in problems)
    assert any("R000001 Calcite mixture" in p for p in problems)


def test_a_sample_filed_under_two_names_is_flagged_per_name(tmp_path):
    """RRUFF files some samples under two names with different statuses (R070722: Calderite not yet confirmed,
    Andradite confirmed): the flag belongs to the spectra of the unconfirmed name only."""
    from ramancmp.experiments.curated_evaluation import flagged_mask

    unconfirmed = {"STATUS": "The identification of this mineral is not yet confirmed."}
    files = {make_rruff_name("Calderite", "R000009", index=1): make_rruff_text("Calderite", "R000009",
                                                                               extra_header=unconfirmed),
             make_rruff_name("Andradite", "R000009", index=2): make_rruff_text("Andradite", "R000009")}
    table = curation_table(write_rruff_zip(tmp_path / "b.zip", files))
    assert table[["rruff_id", "species", "flag"]].values.tolist() == [["R000009", "Calderite", "unconfirmed"]]
    ds = type("DS", (), {"groups": np.array(["R000009", "R000009", "R000010"]),
                         "meta": pd.DataFrame({"mineral": ["Andradite", "Calderite", "Calderite"]})})()
    assert flagged_mask(ds, table).tolist() == [False, True, False]


def test_read_curation_names_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no curation table"):
        read_curation(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"rruff_id": ["R1"], "flag": ["mixture"]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="missing columns"):
        read_curation(bad)
    table = read_curation().head(1).copy()
    table["flag"] = "suspicious"
    write_curation(table, bad)
    with pytest.raises(ValueError, match="unknown flag"):
        read_curation(bad)
    with pytest.raises(ValueError, match="unknown flag"):
        flagged_samples(read_curation(), flags=("nope",))


def test_committed_table_is_well_formed():
    table = read_curation(CURATION_CSV)
    assert set(table["flag"]) <= set(FLAGS)
    assert not table.duplicated(["rruff_id", "species", "flag"]).any()
    assert (table["reason"].str.len() > 0).all() and (table["source_text"].str.len() > 0).all()
    hand = table[table["flag"] == "likely_mislabelled"]
    assert sorted(hand["rruff_id"]) == sorted(HAND_CHECKED)
    assert all(r.startswith("hand-checked:") for r in hand["reason"])


@pytest.mark.slow
def test_committed_table_agrees_with_the_archive(rruff_zip):
    """data/curation.csv is exactly what the 2019 archive's STATUS / DESCRIPTION headers give."""
    from ramancmp.config import RRUFF_SNAPSHOT_CONTENT_SHA256
    from ramancmp.data.fetch import content_fingerprint

    if content_fingerprint(rruff_zip) != RRUFF_SNAPSHOT_CONTENT_SHA256:
        pytest.skip("not the 2019 snapshot the committed table was built from")
    assert check_curation(CURATION_CSV, source=rruff_zip) == []
    table = read_curation(CURATION_CSV)
    rows = table.set_index(["rruff_id", "species", "flag"])
    # the two samples the issue names, with the header text they were flagged for
    assert "mixture of stellerite" in rows.loc[("R080085", "Kamphaugite-(Y)", "mixture"), "source_text"]
    assert ("R080085", "Kamphaugite-(Y)", "unconfirmed") in rows.index
    assert rows.loc[("R110174", "Sabinaite", "mixture"), "source_text"].endswith("on orthoclase")
    assert {("R080085", "Kamphaugite-(Y)", "likely_mislabelled"),
            ("R110174", "Sabinaite", "likely_mislabelled")} <= set(rows.index)


def test_evaluate_curated_pairs_with_the_full_evaluation():
    from ramancmp.experiments.curated_evaluation import curated_difference, curated_text, evaluate_curated, flagged_mask

    rng = np.random.default_rng(0)
    n_classes, per = 3, 12
    y = np.repeat(np.arange(n_classes), per * 2)
    groups = np.array([f"R{i // 2:06d}" for i in range(len(y))])  # two spectra per sample
    X = rng.normal(size=(len(y), 32)).astype(np.float32) + y[:, None]
    ds = type("DS", (), {})()
    ds.X, ds.y, ds.groups, ds.class_names, ds.task = X, y, groups, ["a", "b", "c"], "synthetic"
    flagged = sorted(set(groups))[::5]
    table = pd.DataFrame({"rruff_id": flagged, "species": "any", "flag": "mixture"})
    mask = flagged_mask(ds, table)
    assert mask.sum() == 2 * len(flagged)
    quick = PROFILES["quick"]
    row = evaluate_curated("knn_cosine", ds, table=table, repeats=3, profile=quick, measure_speed=False,
                           progress=False)
    assert len(row.accuracy_curated.values) == len(row.accuracy.values) == 3
    assert sum(row.extra["flagged_test_spectra"]) > 0
    d = curated_difference(row)
    assert d is not None and d.mean == pytest.approx(
        np.mean(row.accuracy_curated.values) - np.mean(row.accuracy.values))
    assert "without the flagged ones" in curated_text([row])
    # dropping nothing gives the full accuracy back, split by split
    none = evaluate_curated("knn_cosine", ds, table=table.iloc[:0], repeats=3, profile=quick, measure_speed=False,
                            progress=False)
    assert none.accuracy_curated.values == none.accuracy.values
    with pytest.raises(ValueError, match="one value per spectrum"):
        from ramancmp.experiments.evaluation import evaluate

        evaluate("knn_cosine", ds, repeats=1, drop_from_test=mask[:-1], profile=quick, measure_speed=False,
                 progress=False)


def test_hand_checked_reasons_hold_on_the_archive(rruff_zip):
    """The two hand-checked samples: the nearest spectrum of another sample of rruff-groups-10 (cosine, the library
    search's metric) is of the group the reason names (zeolite for R080085's 532 nm spectrum, feldspar for R110174's),
    not of the carbonate label they carry."""
    from ramancmp.data.tasks import load_task

    ds = load_task("rruff-groups-10", source=rruff_zip)
    X = ds.X / np.linalg.norm(ds.X, axis=1, keepdims=True)
    groups, labels = np.asarray(ds.groups), np.asarray(ds.class_names)[ds.y]
    lasers = ds.meta["laser_nm"].to_numpy()
    for sample, laser, expected in (("R080085", 532.0, "zeolite"), ("R110174", None, "feldspar")):
        rows = np.flatnonzero((groups == sample) & ((lasers == laser) if laser else True))
        assert len(rows) >= 1 and set(labels[rows]) == {"carbonate"}
        sims = X[rows] @ X.T
        sims[:, groups == sample] = -np.inf
        assert set(labels[sims.argmax(axis=1)]) == {expected}, sample
