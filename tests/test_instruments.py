"""Readers for what instruments write: every format from small files the tests generate (no spectrum committed)."""

from __future__ import annotations

import struct
import zipfile

import numpy as np
import pytest

from ramancmp.data.instruments import read_bytes, read_inputs, read_spectrum
from ramancmp.data.rruff import SpectrumParseError

WN = np.arange(100.0, 1300.0, 1.0)
Y = 1000 * np.exp(-0.5 * ((WN - 700.0) / 8.0) ** 2) + 50 + 0.01 * WN


def check(reading, reader_word: str, x=WN, y=Y):
    assert reader_word in reading.reader
    s = reading.spectrum
    np.testing.assert_allclose(s.wavenumber, x, atol=1e-3)
    np.testing.assert_allclose(s.intensity, y, rtol=1e-4, atol=1e-2)
    return s


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("header", ["wavenumber,intensity", "Raman Shift (cm-1),Counts", '"x","y"'])
def test_csv_with_a_column_header(tmp_path, header):
    path = write(tmp_path, "s.csv", header + "\n" + "\n".join(f"{a:.2f},{b:.4f}" for a, b in zip(WN, Y)) + "\n")
    check(read_spectrum(path), "separator ','")


def test_hash_column_names_with_spaces(tmp_path):
    path = write(tmp_path, "s.txt", "#Wave  #Intensity\n" + "\n".join(f"{a:.2f}  {b:.4f}" for a, b in zip(WN, Y)))
    check(read_spectrum(path), "separator spaces")


def test_decimal_commas_with_semicolons(tmp_path):
    rows = "\n".join(f"{a:.2f};{b:.4f}".replace(".", ",") for a, b in zip(WN, Y))
    reading = read_spectrum(write(tmp_path, "s.csv", "Raman-Verschiebung;Intensität\n" + rows))
    check(reading, "decimal ','")


def test_bwspec_export(tmp_path):
    """B&W Tek BWSpec: key;value lines, then a ';' table; the Raman Shift and Dark Subtracted columns are used."""
    head = ["File Version;BWSpec4.10_3", "Date;2026-11-02", "laser_wavelength;785.1", "laser_powerlevel;100",
            "intigration times(ms);1000", *[f"coefs_{i};0.{i}" for i in range(80)]]
    cols = "Pixel;Wavelength;Wavenumber;Raman Shift;Dark;Reference;Raw data #1;Dark Subtracted #1;"
    rows = [f"{i};{800 + i * 0.1:.2f};{12500 - a:.2f};{a:.2f};100;0;{b + 100:.4f};{b:.4f};" for i, (a, b)
            in enumerate(zip(WN, Y))]
    rows = ["0;780.00;12820.5;;100;0;5000;4900;"] + rows  # a pixel below the laser line: no Raman shift
    reading = read_spectrum(write(tmp_path, "bw.txt", "\n".join(head + [cols] + rows) + "\n"))
    s = check(reading, "BWSpec")
    assert s.laser_nm == pytest.approx(785.1)
    assert any("'Raman Shift'" in w and "'Dark Subtracted #1'" in w for w in reading.warnings)


def test_labspec_export(tmp_path):
    head = "#Acq. time (s)=10\n#Accumulations=2\n#Laser (nm)=532.17\n#Title=calcite_spot3\n#Instrument=LabRAM HR\n"
    rows = "\n".join(f"{a:.3f}\t{b:.3f}" for a, b in zip(WN, Y))
    reading = read_spectrum(write(tmp_path, "calcite_spot3.txt", head + rows))
    s = check(reading, "separator '\\t'")
    assert s.laser_nm == pytest.approx(532.17) and s.mineral == "calcite_spot3"


def test_more_than_two_columns_choose_by_name_or_number(tmp_path):
    rows = "\n".join(f"{a:.2f}\t{b:.4f}\t{2 * b:.4f}" for a, b in zip(WN, Y))
    path = write(tmp_path, "three.tsv", "shift\tbackground\tintensity\n" + rows)
    check(read_spectrum(path), "delimited", y=2 * Y)  # named 'intensity'
    check(read_spectrum(path, y_column=2), "delimited", y=Y)
    check(read_spectrum(path, y_column="backgr"), "delimited", y=Y)
    with pytest.raises(SpectrumParseError, match="no y column named like 'nothing'"):
        read_spectrum(path, y_column="nothing")


def test_jcamp_dx(tmp_path, capsys):
    jcamp = pytest.importorskip("jcamp")
    text = jcamp.write({"x": WN, "y": Y, "title": "Quartz test", "data type": "RAMAN SPECTRUM", "xunits": "1/CM",
                        "yunits": "ARBITRARY UNITS"})
    capsys.readouterr()  # the writer prints debugging lines
    reading = read_spectrum(write(tmp_path, "q.jdx", text))
    assert check(reading, "JCAMP-DX").mineral == "Quartz test"
    assert capsys.readouterr().out == ""


def test_jcamp_infrared_is_refused(tmp_path, capsys):
    jcamp = pytest.importorskip("jcamp")
    text = jcamp.write({"x": WN + 300, "y": Y, "title": "x", "data type": "INFRARED SPECTRUM", "xunits": "1/CM",
                        "yunits": "TRANSMITTANCE"})
    with pytest.raises(SpectrumParseError, match="infrared spectrum, not Raman"):
        read_spectrum(write(tmp_path, "ir.jdx", text))


def test_galactic_spc(tmp_path):
    spc_io = pytest.importorskip("spc_io")
    spc = spc_io.SPC(xarray=WN)
    spc.add_subfile(yarray=Y)
    path = tmp_path / "s.spc"
    path.write_bytes(spc.to_spc_raw().to_bytes())
    check(read_spectrum(path), "SPC")
    even = spc_io.SPC(xarray=spc_io.high_level.EvenAxis(100.0, 1299.0, WN.size))
    even.add_subfile(yarray=Y)
    path.write_bytes(even.to_spc_raw().to_bytes())
    check(read_spectrum(path), "SPC")
    path.write_bytes(b"\x00\x4d" + bytes(600))  # old format
    with pytest.raises(SpectrumParseError, match="old-format"):
        read_spectrum(path)
    path.write_bytes(path.read_bytes()[:1] + b"\x4b" + b"\xff" * 300)  # truncated new format
    with pytest.raises(SpectrumParseError, match="SPC"):
        read_spectrum(path)


def wdf_bytes(x: np.ndarray, y: np.ndarray, count: int = 1, laser_nm: float = 532.0) -> bytes:
    """A minimal Renishaw WDF file built per the block layout renishawWiRE reads (WDF1, DATA, XLST)."""
    hdr = bytearray(0x200)
    hdr[0:16] = b"WDF1" + struct.pack("<IQ", 1, 0x200)
    hdr[0x3C:0x60] = struct.pack("<iqqiiii", x.size, count, count, 1, 0, x.size, 0)
    hdr[0x60:0x78] = b"WiRE".ljust(24, b"\x00")
    hdr[0x78:0x88] = struct.pack("<4hii", 5, 0, 0, 0, 1, 1)
    hdr[0x98:0xA0] = struct.pack("<if", 0, 1e7 / laser_nm)
    hdr[0xF0:0xF0 + 12] = b"calcite wdf".ljust(12, b"\x00")
    data = np.tile(y, count).astype("<f4").tobytes()
    block = lambda name, body: name + struct.pack("<IQ", 0, 16 + len(body)) + body
    xl = struct.pack("<ii", 1, 1) + x.astype("<f4").tobytes()
    assert len(hdr) == 0x200
    return bytes(hdr) + block(b"DATA", data) + block(b"XLST", xl)


def test_renishaw_wdf(tmp_path):
    pytest.importorskip("renishawWiRE")
    path = tmp_path / "s.wdf"
    path.write_bytes(wdf_bytes(WN[::-1], Y[::-1]))  # WiRE writes high to low
    s = check(read_spectrum(path), "WDF")
    assert s.laser_nm == pytest.approx(532.0, abs=0.01) and s.mineral == "calcite wdf"
    path.write_bytes(wdf_bytes(WN, Y, count=3))
    with pytest.raises(SpectrumParseError, match="3 spectra"):
        read_spectrum(path)
    broken = bytearray(wdf_bytes(WN, Y))
    broken[0x200 + 8:0x200 + 16] = struct.pack("<Q", 0)  # a zero-size block would loop forever in the reader
    path.write_bytes(bytes(broken))
    with pytest.raises(SpectrumParseError, match="damaged Renishaw WDF"):
        read_spectrum(path)


def test_stitched_spectrum_duplicates_are_averaged_and_reported(tmp_path):
    x = np.concatenate([WN[:600], WN[599:]])  # one repeated wavenumber where two windows meet
    y = np.concatenate([Y[:600], Y[599:] + 2.0])
    reading = read_spectrum(write(tmp_path, "stitched.txt", "\n".join(f"{a:.2f}, {b:.4f}" for a, b in zip(x, y))))
    s = reading.spectrum
    assert s.wavenumber.size == WN.size and s.intensity[599] == pytest.approx(Y[599] + 1.0)
    assert any("1 repeated wavenumber" in w and "averaged" in w for w in reading.warnings)


def test_rruff_files_still_read_by_the_rruff_reader(tmp_path):
    rows = "\n".join(f"{a:.2f}, {b:.4f}" for a, b in zip(WN, Y))
    path = write(tmp_path, "Calcite__R040070__Raman__532__0__unoriented__Raman_Data_Processed__1.txt",
                 f"##NAMES=Calcite\n##RRUFFID=R040070\n{rows}\n##END=\n")
    s = check(read_spectrum(path), "RRUFF")
    assert s.mineral == "Calcite" and s.laser_nm == 532 and s.processing == "Processed"


def test_pixel_axis_nm_axis_and_infrared_name_are_flagged(tmp_path):
    pixels = np.arange(0, 2048)
    path = write(tmp_path, "pix.csv", "\n".join(f"{p},{v:.2f}" for p, v in zip(pixels, np.sin(pixels) + 5)))
    with pytest.raises(SpectrumParseError, match="detector pixels"):
        read_spectrum(path)
    nm = 1e7 / (1e7 / 532.0 - WN)  # the same spectrum on a wavelength axis
    rows = "\n".join(f"{a:.5f};{b:.4f}" for a, b in zip(nm, Y))
    with pytest.raises(SpectrumParseError, match="wavelength in nm"):
        read_spectrum(write(tmp_path, "nm.csv", "Wavelength (nm);Intensity\n" + rows))
    reading = read_spectrum(write(tmp_path, "nm2.csv", "laser_wavelength;532\nWavelength (nm);Intensity\n" + rows))
    check(reading, "delimited")
    assert any("converted to Raman shift" in w for w in reading.warnings)
    rows = "\n".join(f"{a:.2f}, {b:.4f}" for a, b in zip(WN + 300, Y))
    with pytest.raises(SpectrumParseError, match="infrared"):
        read_spectrum(write(tmp_path, "Calcite__R040070__Infrared__0__unoriented__Infrared_Data_Processed__1.txt",
                            f"##NAMES=Calcite\n{rows}\n##END=\n"))


@pytest.mark.parametrize("data, guess", [(b"\x89HDF\r\n\x1a\n" + bytes(100), "HDF5"),
                                         (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "OLE2"),
                                         (b"\n\n\xfe\xfe" + bytes(100), "OPUS"),
                                         (b"\x01\x02\x00\x07junk" + bytes(100), "unknown format")])
def test_unknown_binary_files_name_a_guess_and_a_converter(data, guess):
    with pytest.raises(SpectrumParseError, match=guess) as err:
        read_bytes(data, "mystery.bin")
    assert "export" in str(err.value) or "save" in str(err.value)


def test_utf16_text_and_garbage_text(tmp_path):
    text = "wavenumber\tintensity\n" + "\n".join(f"{a:.2f}\t{b:.4f}" for a, b in zip(WN, Y))
    path = tmp_path / "u16.txt"
    path.write_bytes(text.encode("utf-16"))
    check(read_spectrum(path), "delimited")
    with pytest.raises(SpectrumParseError, match="no table of numbers"):
        read_spectrum(write(tmp_path, "prose.txt", "this is a note\nabout nothing\n"))


def test_a_folder_and_a_zip_of_mixed_formats(tmp_path):
    folder = tmp_path / "lab"
    folder.mkdir()
    write(folder, "a.csv", "wavenumber,intensity\n" + "\n".join(f"{a},{b}" for a, b in zip(WN, Y)))
    write(folder, "b.txt", "\n".join(f"{a}\t{b}" for a, b in zip(WN, Y)))
    write(folder, "notes.docx", "not a spectrum")
    write(folder, "bad.csv", "x,y\n1,2\n")
    (folder / "c.wdf").write_bytes(wdf_bytes(WN, Y))
    readings, errors = read_inputs([folder])
    assert sorted(r.source.rsplit("/", 1)[-1] for r in readings) == ["a.csv", "b.txt", "c.wdf"]
    reasons = {e["source"].rsplit("/", 1)[-1]: e["reason"] for e in errors}
    assert set(reasons) == {"notes.docx", "bad.csv"} and "file type .docx not read" in reasons["notes.docx"]
    archive = tmp_path / "lab.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"lab/{f.name}")
    readings, errors = read_inputs(archive)
    assert len(readings) == 3 and len(errors) == 2 and all("::lab/" in r.source for r in readings)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert read_inputs(empty)[1][0]["reason"].startswith("an empty folder")
    zipfile.ZipFile(tmp_path / "empty.zip", "w").close()
    assert "no .txt spectrum files in it" in read_inputs(tmp_path / "empty.zip")[1][0]["reason"]
    (tmp_path / "not.zip").write_text("<html>404</html>")
    assert "not a zip archive" in read_inputs(tmp_path / "not.zip")[1][0]["reason"]


def test_a_missing_reader_package_is_named(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "spc_io", None)  # import spc_io now raises ImportError
    path = tmp_path / "s.spc"
    path.write_bytes(b"\x00\x4b" + bytes(600))
    with pytest.raises(SpectrumParseError, match=r"needs the 'spc-io' package \(pip install spc-io\)"):
        read_spectrum(path)


def test_rod_cif_text(tmp_path):
    head = ("data_1000001\n_chemical_name_mineral 'Calcite'\n_raman_measurement_device.excitation_laser_wavelength "
            "785\nloop_\n_raman_spectrum.raman_shift\n_raman_spectrum.intensity\n")
    s = check(read_spectrum(write(tmp_path, "1000001.rod", head + "\n".join(f"{a:.2f} {b:.4f}" for a, b in
                                                                           zip(WN, Y)))), "ROD")
    assert s.mineral == "Calcite" and s.laser_nm == 785


def test_a_rruff_file_with_a_repeated_wavenumber_is_read_with_the_duplicates_averaged(tmp_path):
    x = np.concatenate([WN[:600], WN[599:]])
    y = np.concatenate([Y[:600], Y[599:]])
    rows = "\n".join(f"{a:.2f}, {b:.4f}" for a, b in zip(x, y))
    reading = read_spectrum(write(tmp_path, "Calcite__R040070__Raman__532__0__unoriented__Raman_Data_Processed__1.txt",
                                  f"##NAMES=Calcite\n##RRUFFID=R040070\n{rows}\n##END=\n"))
    assert reading.spectrum.wavenumber.size == WN.size and reading.spectrum.mineral == "Calcite"
    assert any("repeated wavenumber" in w for w in reading.warnings)


def test_one_huge_line_is_not_split_into_millions_of_fields(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("1," * 3_000_000 + "\n")
    with pytest.raises(SpectrumParseError, match="no table of numbers"):
        read_spectrum(path)


def test_an_unreadable_subfolder_is_a_reported_skip(tmp_path, monkeypatch):
    import os

    from ramancmp.data.instruments import read_inputs

    if os.geteuid() == 0:  # root lists every folder: refuse to list this one as a permission error would
        real = os.scandir

        def scandir(path="."):
            if str(path).endswith("locked"):
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(os, "scandir", scandir)
    good = tmp_path / "batch"
    (good / "locked").mkdir(parents=True)
    wn = np.arange(100.0, 1300.0, 1.0)
    (good / "a.csv").write_text("wavenumber,intensity\n" + "\n".join(f"{w},{np.exp(-((w - 500) / 5) ** 2) + 1}"
                                                                       for w in wn))
    (good / "locked" / "b.csv").write_text((good / "a.csv").read_text())
    os.chmod(good / "locked", 0)
    try:
        readings, errors = read_inputs([good])
    finally:
        os.chmod(good / "locked", 0o755)
    assert len(readings) == 1
    assert any(e["source"].endswith("locked") and "folder not read" in e["reason"] for e in errors)
