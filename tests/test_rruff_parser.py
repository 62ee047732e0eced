"""RRUFF parser: both file layouts, every malformed-input rule, archives (zip and folder), and the real archive."""

from __future__ import annotations

import collections
import time
import zipfile

import numpy as np
import pytest

from ramancmp.data.rruff import (
    MIN_POINTS,
    ArchiveError,
    SpectrumParseError,
    load_archive,
    parse_spectrum,
    read_spectrum,
)

from conftest import make_rruff_name, make_rruff_text, make_spectrum_arrays, write_rruff_zip

NAME = make_rruff_name()  # AgarditeY__R050016__Raman__532__0__unoriented__Raman_Data_Processed__1.txt
GOOD_ROWS = [f"{150 + 2 * k:.1f}, {10.0 + k:.1f}" for k in range(20)]


def parse_rows(rows, **kwargs):
    return parse_spectrum(make_rruff_text(rows=rows, **kwargs), NAME)


def assert_error(match: str, data, source: str = NAME):
    with pytest.raises(SpectrumParseError, match=match) as info:
        parse_spectrum(data, source)
    assert source in str(info.value), "the message must name the file"
    assert info.value.source == source
    return info.value


# ------------------------------------------------------------------------------------------------------ good files
def test_2019_layout_metadata_and_values():
    x, y = make_spectrum_arrays()
    s = parse_spectrum(make_rruff_text(locality="Tsumeb, Namibia"), NAME)
    assert s.mineral == "Agardite-(Y)"  # header NAMES wins over the punctuation-free file name
    assert (s.rruff_id, s.sample_id) == ("R050016", "R050016")
    assert s.laser_nm == 532.0 and s.orientation == "unoriented" and s.processing == "Processed"
    assert s.locality == "Tsumeb, Namibia" and s.source == NAME
    assert s.header["URL"] == "rruff.info/R050016"
    assert s.wavenumber.dtype == np.float64 and len(s) == len(x)
    np.testing.assert_allclose(s.wavenumber, np.round(x, 4))
    np.testing.assert_allclose(s.intensity, y, rtol=1e-5)


def test_modern_layout_metadata():
    name = make_rruff_name("Actinolite", "R040063-4", layout="modern", laser_nm=514, index="a1b2c3")
    assert name == "Actinolite__R040063-4__Raman__514__0-000____Raman_Data_Processed__a1b2c3.txt"
    text = make_rruff_text("Actinolite", "R040063", layout="modern", laser_nm=514, orientation="0-000")
    assert "\n\n150.0000" in text  # blank line before the data, as rruff.info writes it
    s = parse_spectrum(text, name)
    assert (s.mineral, s.rruff_id, s.sample_id) == ("Actinolite", "R040063-4", "R040063")
    assert (s.laser_nm, s.orientation, s.processing) == (514.0, "0-000", "Processed")
    assert s.header["PIN_ID"] == "12345"


def _wrapped(text: str, newline: str = "\n") -> str:
    """Today's rruff.info layout with long header values wrapped onto lines without '##' (as the site writes them)."""
    orientation = "##ORIENTATION=0-000" + newline
    assert orientation in text
    return text.replace(orientation, "##ORIENTATION=The crystal was oriented with its c axis" + newline
                        + " Fiducial mark on the upper left of the mount" + newline
                        + "##DIFFRACTION SAMPLE DESCRIPTION=Powder of the same sample," + newline
                        + "ground in acetone; 2-theta 5-90 degrees" + newline, 1)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_wrapped_header_values_are_joined_not_read_as_data(newline):
    x, y = make_spectrum_arrays()
    text = _wrapped(make_rruff_text("Actinolite", "R040063", layout="modern", laser_nm=514, wavenumber=x,
                                    intensity=y, newline=newline), newline)
    s = parse_spectrum(text, make_rruff_name("Actinolite", "R040063-4", layout="modern", laser_nm=514))
    assert s.header["ORIENTATION"] == ("The crystal was oriented with its c axis Fiducial mark on the upper left of "
                                       "the mount")
    assert s.header["DIFFRACTION SAMPLE DESCRIPTION"] == ("Powder of the same sample, ground in acetone; 2-theta 5-90 "
                                                          "degrees")
    np.testing.assert_allclose(s.wavenumber, x, atol=1e-3)  # as written: a few decimals
    np.testing.assert_allclose(s.intensity, y, atol=1e-3)
    assert s.laser_nm == 514.0 and s.header["FILETYPE"] == "Raman Processed"


def test_a_folder_of_todays_files_with_wrapped_headers_loads_completely(tmp_path):
    for k in range(5):
        name = make_rruff_name(f"Mineral{k}", f"R0{k}0063-4", layout="modern", laser_nm=514, index=f"h{k}")
        (tmp_path / name).write_text(_wrapped(make_rruff_text(f"Mineral-{k}", f"R0{k}0063", layout="modern",
                                                              laser_nm=514, seed=k)))
    contents = load_archive(tmp_path)
    assert len(contents) == 5 and contents.skipped == []


def test_a_non_numeric_line_after_the_data_began_still_names_its_own_line():
    rows = GOOD_ROWS[:10] + ["Fiducial mark"] + GOOD_ROWS[10:]
    assert_error(r"line \d+ is not numeric: 'Fiducial mark'", make_rruff_text(rows=rows))


def test_modern_layout_header_wins_over_file_name():
    name = make_rruff_name("Quartz", "R040031", layout="modern", laser_nm=532, orientation="45-000__ccw",
                           processing="RAW")
    text = make_rruff_text("Quartz", "R040031", layout="modern", laser_nm=780, orientation="45-000 ccw",
                           processing="Processed")
    s = parse_spectrum(text, name)
    assert (s.laser_nm, s.orientation, s.processing) == (780.0, "45-000 ccw", "Processed")


def test_metadata_from_file_name_when_headers_are_missing():
    rows = "\n".join(GOOD_ROWS)
    name = make_rruff_name("Quartz", "R050016_a", layout="modern", laser_nm=785, orientation="90-000__ccw",
                           processing="RAW")
    s = parse_spectrum(rows, f"archive.zip::sub/{name}")
    assert (s.mineral, s.rruff_id, s.sample_id) == ("Quartz", "R050016_a", "R050016")
    assert (s.laser_nm, s.orientation, s.processing, s.locality) == (785.0, "90-000 ccw", "RAW", None)


def test_suffixed_ids_keep_the_suffix_and_group_on_the_sample():
    for file_id, sample in [("R050016_a", "R050016"), ("R040063-4", "R040063"), ("X050012.3", "X050012")]:
        s = parse_spectrum(make_rruff_text(rruff_id=sample), make_rruff_name(rruff_id=file_id))
        assert (s.rruff_id, s.sample_id) == (file_id, sample)


def test_plain_two_column_file_without_headers():
    s = parse_spectrum("\n".join(GOOD_ROWS) + "\n", "my_measurement.txt")
    assert (s.mineral, s.rruff_id, s.sample_id, s.laser_nm) == ("", "", "", None)
    assert len(s) == 20


def test_whitespace_separated_rows():
    s = parse_rows([r.replace(", ", " \t ") for r in GOOD_ROWS])
    assert len(s) == 20 and s.intensity[3] == 13.0


def test_mixed_comma_and_whitespace_rows():
    rows = GOOD_ROWS[:10] + [r.replace(", ", "   ") for r in GOOD_ROWS[10:]]
    assert len(parse_rows(rows)) == 20


def test_crlf_and_mixed_line_endings():
    crlf = parse_spectrum(make_rruff_text(newline="\r\n"), NAME)
    lf = parse_spectrum(make_rruff_text(), NAME)
    mixed_text = make_rruff_text().replace("\n", "\r\n", 40)  # header CRLF, data partly LF
    mixed = parse_spectrum(mixed_text, NAME)
    for s in (crlf, mixed):
        np.testing.assert_array_equal(s.wavenumber, lf.wavenumber)
        np.testing.assert_array_equal(s.intensity, lf.intensity)
        assert s.locality == lf.locality  # no stray '\r' in header values


def test_blank_lines_within_data_and_after_end():
    rows = GOOD_ROWS[:5] + ["", "   ", "\t"] + GOOD_ROWS[5:]
    s = parse_rows(rows, trailer="\n\n   \n\n")
    assert len(s) == 20


def test_rows_after_end_are_ignored():
    text = make_rruff_text(rows=GOOD_ROWS) + "9999.0, 1.0\nnot a row\n"
    s = parse_spectrum(text, NAME)
    assert len(s) == 20 and s.wavenumber[-1] == 188.0


def test_missing_end_is_accepted():
    s = parse_rows(GOOD_ROWS, end=False)
    assert len(s) == 20 and s.wavenumber[-1] == 188.0


def test_descending_spectrum_is_reversed():
    rows = list(reversed(GOOD_ROWS))
    s = parse_rows(rows)
    assert np.all(np.diff(s.wavenumber) > 0)
    assert (s.wavenumber[0], s.intensity[0]) == (150.0, 10.0)  # pairs stay together


def test_negative_intensities_are_kept():
    rows = [f"{150 + k}, {v}" for k, v in enumerate([-3.5, -0.25] + [float(k) for k in range(18)])]
    s = parse_rows(rows)
    assert s.intensity[0] == -3.5 and s.intensity[1] == -0.25


def test_latin1_bytes_are_decoded():
    text = make_rruff_text(locality="Minas Gerais, Brasil (Jos\u00e9 Pinto mine)")
    s = parse_spectrum(text.encode("latin-1"), NAME)
    assert s.locality == "Minas Gerais, Brasil (Jos\u00e9 Pinto mine)"
    s8 = parse_spectrum(text.encode("utf-8"), NAME)
    assert s8.locality == s.locality


def test_utf8_bom_is_ignored():
    s = parse_spectrum(b"\xef\xbb\xbf" + make_rruff_text().encode(), NAME)
    assert "NAMES" in s.header and s.mineral == "Agardite-(Y)"


# ------------------------------------------------------------------------------------------------------- bad files
def test_empty_file():
    assert_error("empty file", b"")
    assert_error("empty file", "  \n\r\n")


def test_header_only():
    text = make_rruff_text(rows=[])
    assert_error(r"no data rows \(header only\)", text)
    assert_error(r"no data rows", text.replace("##END=", ""))


def test_non_numeric_row_names_the_line():
    rows = GOOD_ROWS[:3] + ["155.0, abc"] + GOOD_ROWS[3:]
    err = assert_error(r"line 13 is not numeric: '155.0, abc'", make_rruff_text(rows=rows))
    assert err.reason.startswith("line 13")  # 9 header lines + 3 good rows, then the bad one


@pytest.mark.parametrize("token", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_nan_and_inf(token):
    rows = GOOD_ROWS[:4] + [f"158.0, {token}"] + GOOD_ROWS[5:]
    assert_error(r"line 14 holds a non-finite value \(NaN or infinity\)", make_rruff_text(rows=rows))
    rows = GOOD_ROWS[:6] + [f"{token}, 5.0"] + GOOD_ROWS[7:]
    assert_error(r"line 16 holds a non-finite value", make_rruff_text(rows=rows))


def test_too_few_points():
    assert_error(r"too few points: 1 data row, need at least", make_rruff_text(rows=["150.0, 3.0"]))
    assert_error(rf"too few points: {MIN_POINTS - 1} data rows", make_rruff_text(rows=GOOD_ROWS[:MIN_POINTS - 1]))
    assert len(parse_rows(GOOD_ROWS[:MIN_POINTS])) == MIN_POINTS


def test_non_monotonic_wavenumbers():
    rows = GOOD_ROWS[:5] + [GOOD_ROWS[7]] + GOOD_ROWS[5:7] + GOOD_ROWS[8:]
    assert_error(r"wavenumbers are not in order: 160 at line 16 follows 164 at line 15", make_rruff_text(rows=rows))


def test_duplicate_wavenumbers():
    rows = GOOD_ROWS[:5] + ["158.0, 99.0"] + GOOD_ROWS[5:]
    assert_error(r"duplicate wavenumber 158 at lines 14 and 15", make_rruff_text(rows=rows))


def test_three_columns():
    rows = GOOD_ROWS[:2] + ["154.0, 12.0, 7.0"] + GOOD_ROWS[3:]
    assert_error(r"line 12 has 3 columns, expected 2 \(wavenumber, intensity\)", make_rruff_text(rows=rows))
    every = [r + ", 1.0" for r in GOOD_ROWS]
    assert_error(r"line 10 has 3 columns", make_rruff_text(rows=every))


def test_one_column():
    rows = GOOD_ROWS[:2] + ["154.0"] + GOOD_ROWS[3:]
    assert_error(r"line 12 has 1 column, expected 2", make_rruff_text(rows=rows))


def test_header_line_inside_data():
    rows = GOOD_ROWS[:5] + ["##LOCALITY=elsewhere"] + GOOD_ROWS[5:]
    assert_error(r"line 15: header line '##LOCALITY=elsewhere' after the data rows began", make_rruff_text(rows=rows))


def test_binary_file():
    assert_error("NUL bytes", "x".encode("utf-16"))


# --------------------------------------------------------------------------------------------------------- archives
def _good_files(n: int = 3) -> dict[str, str]:
    return {make_rruff_name(f"Mineral{k}", f"R0500{k:02d}", index=k): make_rruff_text(f"Mineral-{k}", f"R0500{k:02d}",
                                                                                       seed=k) for k in range(n)}


def test_mixed_archive_keeps_good_and_lists_bad(tmp_path):
    files = _good_files(3)
    files["sub/Bad__R060001__Raman__532__0__unoriented__Raman_Data_Processed__9.txt"] = make_rruff_text(
        rows=GOOD_ROWS[:3] + ["x, y"] + GOOD_ROWS[3:])
    files["Empty__R060002__Raman__532__0__unoriented__Raman_Data_Processed__10.txt"] = ""
    files["README.md"] = "not a spectrum"
    files["__MACOSX/._Mineral0.txt"] = b"\x00\x05\x16\x07"
    files["folder/"] = ""
    path = write_rruff_zip(tmp_path / "mixed.zip", files)
    contents = load_archive(path)
    assert sorted(s.mineral for s in contents.spectra) == ["Mineral-0", "Mineral-1", "Mineral-2"]
    reasons = {s.source.split("::")[1]: s.reason for s in contents.skipped}
    assert set(reasons) == {"sub/Bad__R060001__Raman__532__0__unoriented__Raman_Data_Processed__9.txt",
                            "Empty__R060002__Raman__532__0__unoriented__Raman_Data_Processed__10.txt"}
    assert any("not numeric" in r for r in reasons.values()) and "empty file" in reasons.values()
    assert contents.spectra[0].source.startswith(f"{path}::")
    assert contents.sha256 is not None and len(contents.sha256) == 64
    summary = contents.summary()
    assert (summary["n_files"], summary["n_spectra"], summary["n_skipped"]) == (5, 3, 2)


def test_folder_archive(tmp_path):
    for name, text in _good_files(2).items():
        (tmp_path / name).write_text(text)
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / NAME).write_bytes(make_rruff_text(rows=["1, 2"]).encode())
    (tmp_path / "notes.csv").write_text("a,b\n")
    contents = load_archive(tmp_path)
    assert len(contents) == 2 and contents.sha256 is None
    assert [s.source for s in contents.skipped] == [str(tmp_path / "nested" / NAME)]
    assert "too few points" in contents.skipped[0].reason
    assert read_spectrum(tmp_path / next(iter(_good_files(1)))).mineral == "Mineral-0"


def test_read_spectrum_from_zip_source(tmp_path):
    path = write_rruff_zip(tmp_path / "a.zip", _good_files(2))
    src = load_archive(path).spectra[1].source
    s = read_spectrum(src)
    assert s.mineral == "Mineral-1" and s.source == src
    with pytest.raises(FileNotFoundError, match="no such spectrum file"):
        read_spectrum(tmp_path / "missing.txt")


@pytest.mark.parametrize("bad_name", ["../escape.txt", "a/../../escape.txt", "/etc/abs.txt", "C:/win.txt",
                                      "..\\win_escape.txt"])
def test_member_escaping_the_folder_refuses_the_archive(tmp_path, bad_name):
    files = _good_files(2)
    files[bad_name] = make_rruff_text()
    path = tmp_path / "unsafe.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            info = zipfile.ZipInfo("placeholder")
            info.filename = name  # bypass ZipInfo's own sanitising, as a hostile archive would
            zf.writestr(info, text)
    with pytest.raises(ArchiveError, match="member names outside its folder") as info:
        load_archive(path)
    assert str(path) in str(info.value) and repr(bad_name) in str(info.value)


def test_truncated_zip(tmp_path):
    full = write_rruff_zip(tmp_path / "full.zip", _good_files(3)).read_bytes()
    path = tmp_path / "truncated.zip"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(ArchiveError, match="truncated or corrupt zip") as info:
        load_archive(path)
    assert str(path) in str(info.value)


def test_corrupt_member_crc(tmp_path):
    path = tmp_path / "crc.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(NAME, make_rruff_text())
    data = bytearray(path.read_bytes())
    k = data.index(b"150.0000")
    data[k:k + 3] = b"999"  # same length, so the zip structure is intact but the CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="corrupt zip archive.*CRC") as info:
        load_archive(path)
    assert str(path) in str(info.value)


def test_not_a_zip_and_missing_path(tmp_path):
    path = tmp_path / "fake.zip"
    path.write_text("this is not a zip archive\n")
    with pytest.raises(ArchiveError, match="not a zip archive") as info:
        load_archive(path)
    assert str(path) in str(info.value)
    assert "data fetch" not in str(info.value)  # a user's own zip: re-downloading the book's archive would not help
    with pytest.raises(ArchiveError, match="no such file or folder") as info:
        load_archive(tmp_path / "nowhere.zip")
    assert "nowhere.zip" in str(info.value)


# ----------------------------------------------------------------------------------------------------- real archive
@pytest.mark.slow
def test_real_archive(rruff_zip):
    t0 = time.perf_counter()
    contents = load_archive(rruff_zip)
    seconds = time.perf_counter() - t0
    print(f"\nloaded {len(contents)} spectra from {rruff_zip} in {seconds:.1f} s")  # reported, not asserted
    n_files = sum(1 for n in zipfile.ZipFile(rruff_zip).namelist() if n.endswith(".txt"))
    assert n_files == 5471
    assert len(contents.spectra) + len(contents.skipped) == n_files
    assert contents.skipped == []  # every file of the 2019 snapshot is valid
    assert collections.Counter(s.processing for s in contents.spectra) == {"Processed": 5461, "RAW": 10}
    assert len({s.sample_id for s in contents.spectra}) == 2871
    assert collections.Counter(s.laser_nm for s in contents.spectra) == {532.0: 2708, 780.0: 1597, 785.0: 766,
                                                                         514.0: 400}
    minerals = {s.mineral for s in contents.spectra}
    assert {"Agardite-(Y)", "Garronite-Ca", "Roselite-beta"} <= minerals
    assert "AgarditeY" not in minerals
    assert sum(bool((s.intensity < 0).any()) for s in contents.spectra) == 272  # kept, not clipped
    assert all(np.all(np.diff(s.wavenumber) > 0) for s in contents.spectra)
    suffixed = {s.rruff_id: s.sample_id for s in contents.spectra if s.rruff_id != s.sample_id}
    assert suffixed["R050016_a"] == "R050016" and suffixed["X050012.3"] == "X050012"


def test_a_damaged_data_cache_archive_suggests_fetching_it_again(tmp_path, monkeypatch):
    monkeypatch.setenv("RAMANCMP_DATA_DIR", str(tmp_path))
    from ramancmp.data.fetch import archive_path

    archive_path().write_text("half a download")
    with pytest.raises(ArchiveError, match=r"data fetch --force"):
        load_archive(archive_path())


def test_oversized_members_and_files_are_skipped_before_they_are_read(tmp_path, monkeypatch):
    """A zip bomb or a huge file is reported (by its declared size) instead of filling the memory."""
    import ramancmp.data.rruff as rruff

    monkeypatch.setattr(rruff, "MAX_FILE_BYTES", 50_000)
    good = make_rruff_text()
    huge = good + "\n".join(f"{2000 + k}, 1.0" for k in range(5000))  # > 50 kB, compresses well
    zpath = write_rruff_zip(tmp_path / "bomb.zip", {NAME: good, make_rruff_name(index=2): huge})
    contents = load_archive(zpath)
    assert len(contents) == 1 and len(contents.skipped) == 1
    assert contents.skipped[0].reason.startswith("too large for a spectrum file")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / NAME).write_text(huge)
    assert load_archive(folder).skipped[0].reason.startswith("too large")
    with pytest.raises(SpectrumParseError, match="too large"):
        read_spectrum(folder / NAME)
    with pytest.raises(SpectrumParseError, match="too large"):
        read_spectrum(f"{zpath}::{make_rruff_name(index=2)}")


def test_a_fifo_is_refused_instead_of_blocking(tmp_path):
    import os

    fifo = tmp_path / "pipe.zip"
    os.mkfifo(fifo)
    with pytest.raises(ArchiveError, match="not a regular file"):
        load_archive(fifo)
    with pytest.raises(SpectrumParseError, match="not a regular file"):
        read_spectrum(fifo)
    with pytest.raises(ArchiveError, match="not a regular file"):
        load_archive("/dev/zero")


def _patch_first_member(path, *, flags: int | None = None, method: int | None = None) -> None:
    """Rewrite the first member's flag bits / compression method in both zip headers (what zipfile cannot write)."""
    import struct

    data = bytearray(path.read_bytes())
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    if flags is not None:
        struct.pack_into("<H", data, local + 6, flags)
        struct.pack_into("<H", data, central + 8, flags)
    if method is not None:
        struct.pack_into("<H", data, local + 8, method)
        struct.pack_into("<H", data, central + 10, method)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, reason", [({"flags": 0x1}, "encrypted"),
                                            ({"method": 9}, "compression method is not supported")])
def test_encrypted_or_deflate64_members_are_skipped_not_fatal(tmp_path, damage, reason):
    files = {make_rruff_name(index=k): make_rruff_text(seed=k) for k in range(3)}
    path = tmp_path / "odd.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    _patch_first_member(path, **damage)
    contents = load_archive(path)
    assert len(contents) == 2 and len(contents.skipped) == 1
    assert contents.skipped[0].reason.startswith("unreadable zip member") and reason in contents.skipped[0].reason
    with pytest.raises(SpectrumParseError, match="cannot read the zip member"):
        read_spectrum(contents.skipped[0].source)
