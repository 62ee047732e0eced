"""The band table data/bands.csv: well formed, every group covered, every source cited in book/references.md, and
bad tables rejected with the file and row named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ramancmp.data.bands import BANDS_CSV, load_bands
from ramancmp.data.tasks import mineral_groups

REFERENCES = Path(__file__).resolve().parents[1] / "book" / "references.md"


def test_every_group_has_bands_and_every_source_is_a_reference():
    bands = load_bands()
    assert set(bands["group"]) == set(mineral_groups().values())  # the ten groups, no typo
    keys = set(re.findall(r"\*\*\[([A-Za-z]+\d{4})\]\*\*", REFERENCES.read_text(encoding="utf-8")))
    assert set(bands["source"]) <= keys, sorted(set(bands["source"]) - keys)
    assert (bands["low_cm1"] <= bands["high_cm1"]).all() and (bands["low_cm1"] > 0).all()


def test_on_grid_marks_the_bands_a_grid_keeps():
    bands = load_bands(grid=(150.0, 1200.0))
    off = bands[~bands["on_grid"]]
    assert (off["low_cm1"] > 1200).all() and {"carbonate", "amphibole"} <= set(off["group"])
    assert bands.loc[bands["on_grid"], "high_cm1"].ge(150).all()


@pytest.mark.parametrize("body, match", [
    ("group,low_cm1,assignment,source\ngarnet,350,x,Kos2020\n", "missing columns"),
    ("group,low_cm1,high_cm1,assignment,source\ngarnet,abc,360,x,Kos2020\n", "row 2: low_cm1 'abc' is not a positive"),
    ("group,low_cm1,high_cm1,assignment,source\ngarnet,-5,360,x,Kos2020\n", "is not a positive number"),
    ("group,low_cm1,high_cm1,assignment,source\ngarnet,400,360,x,Kos2020\n", "row 2: low_cm1 400 > high_cm1 360"),
    ("group,low_cm1,high_cm1,assignment,source\ngarnet,350,360,,Kos2020\n", r"row 2: empty \['assignment'\]"),
])
def test_a_bad_band_table_is_a_clear_error(tmp_path, body, match):
    path = tmp_path / "bands.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match=match) as err:
        load_bands(path)
    assert str(path) in str(err.value)


def test_the_table_is_the_documented_file():
    assert BANDS_CSV.name == "bands.csv" and BANDS_CSV.parent.name == "data"
