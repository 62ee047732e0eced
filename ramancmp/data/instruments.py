"""Reading what Raman instruments write: one dispatcher, :func:`read_spectrum`, that says which reader it used.

Formats (chosen by content first, then by extension):

* **RRUFF** ``.txt`` (both layouts), read by :func:`ramancmp.data.rruff.parse_spectrum`; a plain two-column file
  (``wavenumber, intensity`` rows, no header) is read by it too.
* **Delimited text** (``.csv``, ``.txt``, ``.tsv``, ``.dat``, ``.asc``...): header lines of any kind (a column-name line
  such as ``wavenumber,intensity`` or ``#Wave  #Intensity``, ``key;value`` / ``#key=value`` / ``key: value`` lines),
  then a table separated by ``,``, ``;``, tab or spaces, with decimal points or decimal commas (``150,5;1234,5``).
  With more than two columns the x column is the one named like a Raman shift and the y column the one named like an
  intensity (``x_column`` / ``y_column`` choose by name or 1-based number). Vendor exports recognised by their header:
  **B&W Tek BWSpec** (``key;value`` lines, then a ``;`` table whose ``Raman Shift`` and ``Dark Subtracted #1`` columns
  are used) and **Horiba LabSpec** (``#key=value`` lines, then a tab table). **ROD** (Raman Open Database CIF text) too.
* **JCAMP-DX** (``.jdx``, ``.dx``), with the ``jcamp`` package; **Galactic SPC** (``.spc``, new little-endian format),
  with ``spc-io``; **Renishaw WiRE WDF** (``.wdf``, single spectra), with ``renishawWiRE``. A missing package is an
  error naming what to install.
* Folders and zip archives of any of these (:func:`read_inputs`): every file is read or reported as skipped with
  the reason; files of other types are reported, not silently left out.

After reading, every spectrum is checked the same way: finite values, at least
:data:`ramancmp.data.rruff.MIN_POINTS` points, sorted by wavenumber (a decreasing axis is reversed; an unsorted one is
sorted, with a warning), **repeated wavenumbers averaged** (a stitched spectrum; reported), and the axis must be a
Raman shift: a detector-pixel axis (integers 0..N, step 1) is refused, a wavelength axis in nm is converted when the
laser wavelength is known and refused otherwise, and an infrared spectrum (by name, header or y units) is refused.
Binary files in no supported format get an error with a guess of the format and how to convert it.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ramancmp.data import rruff
from ramancmp.data.rruff import MAX_FILE_BYTES, MAX_MEMBERS, MAX_ROWS, MIN_POINTS, Spectrum, SpectrumParseError

__all__ = ["SUPPORTED_SUFFIXES", "Reading", "read_bytes", "read_inputs", "read_spectrum"]

TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".dat", ".asc", ".prn", ".xy", ".rod")
BINARY_SUFFIXES = (".spc", ".wdf")
JCAMP_SUFFIXES = (".jdx", ".dx", ".jcamp", ".jcm")
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + BINARY_SUFFIXES + JCAMP_SUFFIXES
MAX_HEADER_KEYS = 500  # header lines kept (values cut to MAX_VALUE_CHARS): what predict needs, bounded
MAX_VALUE_CHARS = 200
MAX_LINES = MAX_ROWS + 20_000
MAX_LINE_CHARS = 4096  # a data row longer than this is not one (BWSpec's widest rows are a few hundred characters)

_NUM = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
_DIALECTS = ((";", ","), ("\t", ","), ("\t", "."), (";", "."), (",", "."), (None, "."), (None, ","))
_X_NAMES = ("raman shift", "ramanshift", "raman_shift", "shift", "wavenumber", "wave", "cm-1", "cm^-1", "1/cm", "x")
_Y_NAMES = ("dark subtracted", "intensity", "counts", "count", "signal", "raw data", "raman", "y")
_NAME_KEYS = ("NAMES", "NAME", "SAMPLE NAME", "SAMPLE", "SAMPLENAME", "TITLE", "_CHEMICAL_NAME_MINERAL")
_CONVERTERS = ("export the spectrum from the instrument software as two-column text (Raman shift in cm^-1, "
               "intensity) or CSV")


class InstrumentFileError(SpectrumParseError):
    """A file no reader can use; ``str()`` names the file, what it looked like and what to do."""


@dataclass
class Reading:
    """One spectrum as read: the :class:`~ramancmp.data.rruff.Spectrum`, which reader read it, and warnings."""

    spectrum: Spectrum
    reader: str
    warnings: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        return self.spectrum.source


# ------------------------------------------------------------------------------------------------------ helpers
def _need(package: str, module: str, source: str, what: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise InstrumentFileError(source, f"a {what} file: reading it needs the '{package}' package "
                                          f"(pip install {package}), which is not installed") from None


def _number(text: Any) -> float | None:
    m = re.search(r"[-+]?\d+(?:[.,]\d*)?", str(text or ""))
    return float(m.group(0).replace(",", ".")) if m else None


def _laser_from(header: dict[str, str]) -> float | None:
    for key, value in header.items():
        k = key.upper()
        if ("LASER" in k or "EXCITATION" in k or k in ("RAMAN WAVELENGTH", "WAVELENGTH")) and "POWER" not in k:
            v = _number(value)
            if v is not None and 200 <= v <= 1100:
                return v
    return None


def _name_from(header: dict[str, str], source: str) -> str:
    for key in _NAME_KEYS:
        value = header.get(key, "").strip().strip("'\"")
        if value:
            return value
    return ""


def _clean_header(pairs: list[tuple[str, str]]) -> dict[str, str]:
    header: dict[str, str] = {}
    for key, value in pairs:
        key = key.strip().strip("#").strip().upper()[:MAX_VALUE_CHARS]
        if key and key not in header and len(header) < MAX_HEADER_KEYS:
            header[key] = value.strip()[:MAX_VALUE_CHARS]
    return header


def _make(source: str, x: np.ndarray, y: np.ndarray, header: dict[str, str], reader: str,
          warnings: list[str], *, x_unit: str = "", y_unit: str = "", laser: float | None = None) -> Reading:
    """Validate and tidy the arrays (see the module docstring) and wrap them as a :class:`Reading`."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise InstrumentFileError(source, f"{reader}: {x.size} wavenumbers but {y.size} intensities")
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.all() or x.size == 0:
        raise InstrumentFileError(source, f"{reader}: no finite data points")
    if bad.any():
        warnings.append(f"{int(bad.sum())} point(s) with a missing or non-finite value dropped")
        x, y = x[~bad], y[~bad]
    laser = laser if laser is not None else _laser_from(header)
    _refuse_infrared(source, header, x_unit, y_unit)
    unit = x_unit.lower()
    if "nm" in unit.split() or "nanomet" in unit or unit in ("nm", "wavelength", "wavelength (nm)"):
        if laser is None:
            raise InstrumentFileError(source, f"{reader}: the x axis is a wavelength in nm ({x_unit!r}), not a Raman "
                                              "shift, and the file names no laser wavelength; export the Raman shift "
                                              "(cm^-1), or convert: shift = 1e7/laser_nm - 1e7/wavelength_nm")
        x = 1e7 / laser - 1e7 / x
        warnings.append(f"x axis in nm converted to Raman shift with the laser at {laser:g} nm")
    if x.size < MIN_POINTS:
        raise InstrumentFileError(source, f"{reader}: {x.size} data point(s); at least {MIN_POINTS} needed")
    d = np.diff(x)
    if np.all(d < 0):
        x, y = x[::-1], y[::-1]
    elif np.any(d < 0):
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        warnings.append("wavenumbers not in order (overlapping windows of a stitched spectrum?): sorted")
    if np.any(np.diff(x) == 0):
        ux, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
        y = np.bincount(inverse, weights=y) / counts
        repeated = ux[counts > 1]
        warnings.append(f"{repeated.size} repeated wavenumber(s) (a stitched spectrum?) averaged, e.g. "
                        f"{repeated[0]:g} cm^-1 x{int(counts.max())}")
        x = ux
        if x.size < MIN_POINTS:
            raise InstrumentFileError(source, f"{reader}: {x.size} distinct wavenumbers; at least {MIN_POINTS} needed")
    if (np.all(x == np.round(x)) and x[0] in (0.0, 1.0) and np.all(np.diff(x) == 1.0) and x.size >= 64):
        raise InstrumentFileError(source, f"{reader}: the x axis is detector pixels ({x[0]:g}..{x[-1]:g}, integers, "
                                          "step 1), not a Raman shift in cm^-1; export the calibrated Raman-shift "
                                          "axis from the instrument software")
    name = _name_from(header, source)
    processing = rruff._processing(header.get("FILETYPE")) if header.get("FILETYPE") else None
    spectrum = Spectrum(wavenumber=x, intensity=y, mineral=name, rruff_id="", sample_id="", laser_nm=laser,
                        orientation=None, processing=processing, locality=None, source=source, header=header)
    return Reading(spectrum, reader, warnings)


_IR_WORDS = ("infrared", "ftir", "ft-ir", "transmittance", "absorbance", "reflectance")


def _refuse_infrared(source: str, header: dict[str, str], x_unit: str, y_unit: str) -> None:
    name = rruff._member_name(source).lower()
    texts = [header.get(k, "") for k in ("DATA TYPE", "DATATYPE", "FILETYPE", "TITLE", "TECHNIQUE", "TYPE")]
    texts.append(y_unit)
    hit = next((w for w in _IR_WORDS if any(w in t.lower() for t in texts)), None)
    if "infrared" in name or "__ir__" in name or hit:
        why = f"the file name says so ({rruff._member_name(source)})" if not hit else f"its header says {hit!r}"
        raise InstrumentFileError(source, f"an infrared spectrum, not Raman ({why}); predict identifies Raman "
                                          "spectra against a Raman library: give the Raman file")


# --------------------------------------------------------------------------------------------- delimited text
def _split(line: str, sep: str | None) -> list[str]:
    if sep is None:
        return line.split()
    return [f.strip() for f in line.strip().split(sep)]


def _row(line: str, sep: str | None, decimal: str) -> list[float] | None:
    """The numbers of a data row under this dialect (empty fields -> NaN), or None if it is not a data row."""
    if len(line) > MAX_LINE_CHARS:  # no instrument writes such rows; splitting one would cost millions of fields
        return None
    fields = _split(line, sep)
    while fields and fields[-1] == "":
        fields.pop()
    if len(fields) < 2:
        return None
    out = []
    for f in fields:
        f = f.strip().strip('"')
        if f == "":
            out.append(np.nan)
            continue
        if decimal == ",":
            if "." in f:
                return None
            f = f.replace(",", ".")
        if not _NUM.match(f):
            return None
        out.append(float(f))
    return out if sum(np.isfinite(v) for v in out) >= 2 else None


def _dialect(lines: list[str]) -> tuple[str | None, str]:
    starts = [ln for ln in lines if ln[:1].isdigit() or ln[:1] in "+-." or ln[:2].strip()[:1].isdigit()]
    sample = starts[:: max(1, len(starts) // 300)][:300] or lines[:300]
    best, best_n = (None, "."), 0
    for sep, decimal in _DIALECTS:
        n = sum(_row(ln, sep, decimal) is not None for ln in sample)
        if n > best_n:
            best, best_n = (sep, decimal), n
    return best


def _header_pair(line: str) -> tuple[str, str] | None:
    s = line.strip().lstrip("#").strip()
    if not s:
        return None
    for sep in ("=", ";", "\t", ":"):
        if sep in s:
            k, v = s.split(sep, 1)
            return k, v.strip().strip(";").strip()
    parts = s.split(None, 1)  # ROD / CIF: "_key value"
    if len(parts) == 2 and parts[0].startswith("_"):
        return parts[0], parts[1]
    return None


def _pick(names: list[str], wanted: tuple[str, ...], exclude: int | None = None) -> int | None:
    low = [n.lower().strip().strip("#").strip() for n in names]
    for w in wanted:
        for i, n in enumerate(low):
            if i != exclude and (n == w or (len(w) > 2 and w in n)):
                return i
    return None


def _column(choice: str | int | None, names: list[str], ncols: int, what: str, source: str) -> int | None:
    if choice is None:
        return None
    if isinstance(choice, int) or str(choice).isdigit():
        k = int(choice) - 1
        if not 0 <= k < ncols:
            raise InstrumentFileError(source, f"{what} column {choice} does not exist: the table has {ncols} columns")
        return k
    low = [n.lower() for n in names]
    for i, n in enumerate(low):
        if str(choice).lower() in n:
            return i
    raise InstrumentFileError(source, f"no {what} column named like {choice!r}; columns: "
                                      f"{', '.join(names) if names else f'{ncols} without names'}")


def _read_table(text: str, source: str, x_column: str | int | None = None,
                y_column: str | int | None = None) -> Reading:
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise InstrumentFileError(source, f"{len(lines):,} lines, more than the limit of {MAX_LINES:,}")
    stripped = [ln.strip() for ln in lines]
    sep, decimal = _dialect([s for s in stripped if s])
    rows = [_row(s, sep, decimal) if s else None for s in stripped]
    # the data table: the longest run of data rows with the same number of fields (blank lines inside allowed)
    best = (0, 0, 0, 0)  # (n_rows, start, stop, ncols)
    i = 0
    while i < len(rows):
        if rows[i] is None:
            i += 1
            continue
        ncols, start, n, j = len(rows[i]), i, 0, i
        while j < len(rows) and (rows[j] is not None and len(rows[j]) == ncols or not stripped[j]):
            n += rows[j] is not None
            j += 1
        if n > best[0]:
            best = (n, start, j, ncols)
        i = max(j, i + 1)
    n, start, stop, ncols = best
    if n < MIN_POINTS:
        what = "no table of numbers" if n == 0 else f"a table of only {n} rows"
        first = next((s for s in stripped if s), "")[:60]
        raise InstrumentFileError(source, f"a text file with {what} (first line {first!r}); expected rows of two or "
                                          "more numbers (Raman shift, intensity) separated by ',', ';', tab or "
                                          "spaces, after any header lines")
    if n > MAX_ROWS:
        raise InstrumentFileError(source, f"{n:,} data rows, more than the limit of {MAX_ROWS:,}")
    data = np.array([r for r in rows[start:stop] if r is not None], dtype=np.float64)
    head = [s for s in stripped[:start] if s]
    tail = [s for s in stripped[stop:] if s and not s.upper().startswith("##END")]
    warnings: list[str] = []
    if tail:
        warnings.append(f"{len(tail)} line(s) after the data table ignored (first: {tail[0][:40]!r})")
    names: list[str] = []
    if head:
        cand = [c.strip().strip('"').strip("#").strip() for c in re.split(r"\s{2,}|\t", head[-1].strip())] \
            if sep is None else [c.strip().strip('"') for c in _split(head[-1], sep)]
        cand = [c for c in cand if c] if sep is None else cand
        if len(cand) >= ncols and _row(head[-1], sep, decimal) is None and not re.match(r"^#*\s*\w[\w ]*=", head[-1]):
            names = cand[:ncols] if sep is not None else cand
            head = head[:-1]
        elif sep is None and ncols == 2 and len(head[-1].split()) == 2:  # "#Wave  #Intensity" with single spaces
            names = [c.strip("#") for c in head[-1].split()]
            head = head[:-1]
    header = _clean_header([p for p in map(_header_pair, head) if p])
    text_low = " ".join(head).lower()
    if "bwspec" in text_low or "bw tek" in text_low or "bwtek" in text_low or "b&w tek" in text_low:
        reader = "B&W Tek BWSpec export"
    elif "labspec" in text_low or any(h.startswith("#") and "=" in h for h in head) and sep == "\t":
        reader = "Horiba LabSpec export"
    elif "_raman_spectrum.raman_shift" in text.lower():
        reader = "ROD (Raman Open Database)"
    else:
        reader = "delimited text"
    reader += f" (separator {repr(sep) if sep else 'spaces'}, decimal {decimal!r})"
    xi = _column(x_column, names, ncols, "x", source)
    yi = _column(y_column, names, ncols, "y", source)
    if ncols == 2:
        xi = 0 if xi is None else xi
        yi = (1 - xi) if yi is None else yi
    else:
        if xi is None:
            xi = _pick(names, _X_NAMES) if names else None
            if xi is None:
                xi = 0
                warnings.append(f"{ncols} columns and none named like a Raman shift: column 1 used as x "
                                "(choose with --x-column)")
        if yi is None:
            yi = _pick(names, _Y_NAMES, exclude=xi) if names else None
            if yi is None:
                yi = 1 if xi != 1 else 2
                warnings.append(f"{ncols} columns and none named like an intensity: column {yi + 1} used as y "
                                "(choose with --y-column)")
        label = lambda k: repr(names[k]) if k < len(names) else f"column {k + 1}"
        warnings.append(f"{ncols} columns: x = {label(xi)}, y = {label(yi)}")
    x_unit = names[xi] if xi < len(names) else header.get("XUNITS", "")
    y_unit = names[yi] if yi < len(names) else header.get("YUNITS", "")
    if re.search(r"wavelength|\(nm\)|\bnm\b", x_unit.lower()) and not re.search(r"shift|cm", x_unit.lower()):
        x_unit = "wavelength (nm)"
    else:
        x_unit = ""
    return _make(source, data[:, xi], data[:, yi], header, reader, warnings, x_unit=x_unit, y_unit=y_unit)


# --------------------------------------------------------------------------------------------- binary readers
def _read_jcamp(text: str, source: str) -> Reading:
    jcamp = _need("jcamp", "jcamp", source, "JCAMP-DX")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # keep --json output clean of a reader's prints
            d = jcamp.read(io.StringIO(text))
    except Exception as exc:  # a third-party parser: any failure is this file's problem, named
        raise InstrumentFileError(source, f"JCAMP-DX file the jcamp reader cannot parse ({type(exc).__name__}: "
                                          f"{exc}); check the file or export it as two-column text") from None
    if "x" not in d or "y" not in d or len(np.atleast_1d(d["x"])) == 0:
        raise InstrumentFileError(source, "JCAMP-DX file without XYDATA/XYPOINTS that jcamp can read (a compound or "
                                          "peak-table file?); export the spectrum as XYDATA or two-column text")
    header = _clean_header([(str(k), str(v)) for k, v in d.items() if k not in ("x", "y") and np.ndim(v) == 0])
    xunit = str(d.get("xunits", "")).upper()
    x_unit = "nm" if "NANOMETER" in xunit or xunit == "NM" else ""
    return _make(source, d["x"], d["y"], header, "JCAMP-DX (jcamp)", [], x_unit=x_unit,
                 y_unit=str(d.get("yunits", "")))


def _read_spc(data: bytes, source: str) -> Reading:
    if len(data) < 512 or data[1] != 0x4B:
        kind = {0x4C: "big-endian new-format", 0x4D: "old-format (pre-1996)"}.get(data[1] if len(data) > 1 else -1)
        raise InstrumentFileError(source, f"a Galactic SPC file{f' ({kind})' if kind else ''} that spc-io cannot read "
                                          "(it reads the new little-endian format, 0x4B); convert it with GRAMS or "
                                          "SpectraGryph to two-column text or new-format SPC")
    spc_io = _need("spc-io", "spc_io", source, "Galactic SPC")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            spc = spc_io.SPC.from_bytes_io(io.BytesIO(data))
        subs = list(spc)
        if len(subs) != 1:
            raise InstrumentFileError(source, f"an SPC file with {len(subs)} spectra (subfiles); predict reads single "
                                              "spectra: export the one to identify")
        x, y = np.asarray(subs[0].xarray, dtype=np.float64), np.asarray(subs[0].yarray, dtype=np.float64)
        xtype, ytype = str(getattr(spc, "xtype", "")), str(getattr(spc, "ytype", ""))
        text = getattr(getattr(spc, "log_book", None), "text", None)
        pairs = [(str(k), str(v)) for k, v in text.items()] if isinstance(text, dict) else []
    except InstrumentFileError:
        raise
    except Exception as exc:  # a third-party binary parser on untrusted bytes
        raise InstrumentFileError(source, f"a Galactic SPC file spc-io cannot parse ({type(exc).__name__}: {exc}); "
                                          "check the file or convert it to two-column text") from None
    x_unit = "nm" if "NANOM" in xtype.upper() or xtype.upper() in ("XNMETR",) else ""
    header = _clean_header(pairs)
    return _make(source, x, y, header, "Galactic SPC (spc-io)", [], x_unit=x_unit, y_unit=ytype)


def _check_wdf_blocks(data: bytes, source: str) -> None:
    """The block chain of a WDF file walked before renishawWiRE reads it (a zero-size block would loop forever)."""
    pos, names = 0, []
    while pos + 16 <= len(data):
        name = data[pos:pos + 4]
        size = int.from_bytes(data[pos + 8:pos + 16], "little")
        if size < 16 or pos + size > len(data) or len(names) > 10_000:
            raise InstrumentFileError(source, f"a damaged Renishaw WDF file (block {name!r} at byte {pos} has size "
                                              f"{size}); export the spectrum again from WiRE")
        names.append(name)
        pos += size
    if b"DATA" not in names or b"XLST" not in names:
        raise InstrumentFileError(source, "a Renishaw WDF file without DATA or XLST block (an empty or unfinished "
                                          "measurement?); export the spectrum again from WiRE")
    pps, count = int.from_bytes(data[0x3C:0x40], "little"), int.from_bytes(data[0x48:0x50], "little")
    if count != 1:
        raise InstrumentFileError(source, f"a Renishaw WDF file with {count} spectra (a map or series); predict reads "
                                          "single spectra: export the one to identify from WiRE as .txt or .wdf")
    if pps < 1 or 4 * pps > len(data):
        raise InstrumentFileError(source, f"a damaged Renishaw WDF file ({pps} points per spectrum in {len(data)} "
                                          "bytes)")


def _read_wdf(data: bytes, source: str) -> Reading:
    _check_wdf_blocks(data, source)
    wire = _need("renishawWiRE", "renishawWiRE", source, "Renishaw WiRE WDF")
    with tempfile.NamedTemporaryFile(suffix=".wdf") as tmp:  # the reader opens a path
        tmp.write(data)
        tmp.flush()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                reader = wire.WDFReader(tmp.name)
            try:
                x, y = np.asarray(reader.xdata, dtype=np.float64), np.asarray(reader.spectra, dtype=np.float64)
                unit = str(getattr(reader, "xlist_unit", ""))
                laser = float(reader.laser_length) if np.isfinite(reader.laser_length or np.nan) else None
                title = str(reader.title or "")
            finally:
                reader.close()
        except Exception as exc:  # a third-party binary parser on untrusted bytes
            raise InstrumentFileError(source, f"a Renishaw WDF file renishawWiRE cannot parse ({type(exc).__name__}: "
                                              f"{exc}); export the spectrum from WiRE as .txt") from None
    laser = laser if laser and 200 <= laser <= 1100 else None
    header = _clean_header([("TITLE", title)] if title else [])
    return _make(source, x, y.ravel()[: x.size], header, "Renishaw WiRE WDF (renishawWiRE)", [],
                 x_unit="nm" if unit == "nm" else "", laser=laser)


_MAGIC = ((b"\x89HDF", "an HDF5 file (NeXus, WITec or Ramanchada export?)"),
          (b"\xd0\xcf\x11\xe0", "an OLE2 container (old Excel .xls, or a vendor project file such as Horiba .ngs)"),
          (b"PK\x03\x04", "a zip container (an .xlsx workbook, or an archive named oddly)"),
          (b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
          (b"\n\n\xfe\xfe", "a Bruker OPUS file"), (b"WIT_", "a WITec Project file"))
_BY_SUFFIX = {".ngs": "a Horiba LabSpec project (.ngs)", ".l6s": "a Horiba LabSpec 6 spectrum (.l6s)",
              ".l6m": "a Horiba LabSpec 6 map (.l6m)", ".wip": "a WITec Project file (.wip)",
              ".0": "a Bruker OPUS file", ".xlsx": "an Excel workbook", ".xls": "an Excel workbook",
              ".sif": "an Andor Solis file (.sif)", ".spe": "a Princeton Instruments SPE file"}


def _unknown_binary(data: bytes, source: str) -> InstrumentFileError:
    suffix = PurePosixPath(rruff._member_name(source)).suffix.lower()
    guess = next((what for magic, what in _MAGIC if data.startswith(magic)), None) or _BY_SUFFIX.get(suffix)
    how = _CONVERTERS
    if guess and "Excel" in guess:
        how = "save the sheet as CSV (two columns: Raman shift, intensity)"
    elif guess and "OPUS" in guess:
        how = "export it from OPUS as CSV or JCAMP-DX (or read it with the brukeropus package and save two columns)"
    elif guess and "LabSpec" in guess:
        how = "export it from LabSpec as .txt (File > Export), which predict reads"
    elif guess and "WITec" in guess:
        how = "export the spectrum from WITec Project/Suite as .txt"
    head = data[:8].hex(" ")
    return InstrumentFileError(source, f"a binary file in no format predict reads ({guess or 'unknown format'}; "
                                       f"first bytes {head}); {how}")


# ----------------------------------------------------------------------------------------------- dispatcher
def _decode(data: bytes) -> str | None:
    """The text of a text file (UTF-8, UTF-16 with a BOM, latin-1), or None for a binary file."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16").removeprefix("\ufeff")
        except UnicodeDecodeError:
            return None
    if b"\x00" in data[:65536]:
        return None
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_bytes(data: bytes, source: str, *, x_column: str | int | None = None,
               y_column: str | int | None = None) -> Reading:
    """Read one spectrum from its bytes; ``source`` (a path or ``archive.zip::member``) names it and its type."""
    source = str(source)
    if len(data) > MAX_FILE_BYTES:
        raise InstrumentFileError(source, f"too large for a spectrum file: {len(data):,} bytes (limit "
                                          f"{MAX_FILE_BYTES:,})")
    if not data.strip():
        raise InstrumentFileError(source, "empty file")
    suffix = PurePosixPath(rruff._member_name(source)).suffix.lower()
    if data.startswith(b"WDF1") or suffix == ".wdf":
        if not data.startswith(b"WDF1"):
            raise InstrumentFileError(source, "named .wdf but not a Renishaw WDF file (no WDF1 header); export it "
                                              "again from WiRE")
        return _read_wdf(data, source)
    if suffix == ".spc" or (len(data) >= 512 and data[1] == 0x4B and _decode(data) is None):
        return _read_spc(data, source)
    text = _decode(data)
    if text is None:
        raise _unknown_binary(data, source)
    head = text.lstrip()[:4096].upper()
    if suffix in JCAMP_SUFFIXES or head.startswith("##TITLE") or "##JCAMP-DX" in head or "##JCAMPDX" in head:
        return _read_jcamp(text, source)
    refusal = None
    if not (x_column or y_column):
        try:
            spectrum = rruff.parse_spectrum(text, source)
        except SpectrumParseError as exc:
            refusal = exc.reason
        else:
            _refuse_infrared(source, spectrum.header, "", "")
            return _rruff_reading(spectrum, "RRUFF text" if head.startswith("##") else "two-column text")
    try:
        return _read_table(text, source, x_column, y_column)
    except InstrumentFileError as exc:
        if refusal and head.startswith("##"):  # a RRUFF-looking file: its own reader's reason is the useful one
            raise InstrumentFileError(source, f"{refusal} (and not a table of numbers either: {exc.reason})") from None
        raise


def _rruff_reading(spectrum: Spectrum, reader: str) -> Reading:
    """A RRUFF-parsed spectrum, checked for a pixel axis like the others (its metadata kept as parsed)."""
    warnings: list[str] = []
    checked = _make(spectrum.source, spectrum.wavenumber, spectrum.intensity, {}, reader, warnings,
                    laser=spectrum.laser_nm)
    spectrum.header = {k: v[:MAX_VALUE_CHARS] for k, v in list(spectrum.header.items())[:MAX_HEADER_KEYS]}
    return Reading(spectrum, reader, checked.warnings)


def read_spectrum(path: str | Path, *, x_column: str | int | None = None,
                  y_column: str | int | None = None) -> Reading:
    """Read one spectrum file of any supported format (see the module docstring); ``archive.zip::member`` works."""
    text = str(path)
    if "::" in text and not Path(text).exists():
        archive, member = text.rsplit("::", 1)
        try:
            with zipfile.ZipFile(archive) as zf:
                info = zf.getinfo(member)
                if info.file_size > MAX_FILE_BYTES:
                    raise InstrumentFileError(text, f"too large for a spectrum file: {info.file_size:,} bytes")
                return read_bytes(zf.read(member), text, x_column=x_column, y_column=y_column)
        except (KeyError, zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            raise InstrumentFileError(text, f"cannot read the zip member ({exc})") from exc
    path = Path(path).expanduser()
    if not path.is_file():
        if path.is_dir():
            raise InstrumentFileError(str(path), "is a folder, not a spectrum file (read_inputs reads folders)")
        if path.exists():
            raise InstrumentFileError(str(path), "not a regular file (a device, FIFO or socket); not read")
        raise FileNotFoundError(f"{path}: no such spectrum file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InstrumentFileError(str(path), f"too large for a spectrum file: {size:,} bytes (limit "
                                             f"{MAX_FILE_BYTES:,})")
    return read_bytes(path.read_bytes(), str(path), x_column=x_column, y_column=y_column)


# ------------------------------------------------------------------------------------------ folders and zips
def _wanted(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return not name.endswith("/") and "__MACOSX" not in p.parts and not p.name.startswith(".")


def _unsafe(name: str) -> bool:
    n = name.replace("\\", "/")
    return n.startswith("/") or bool(re.match(r"^[A-Za-z]:", n)) or ".." in n.split("/")


def _read_zip(path: Path, kw: dict, readings: list[Reading], errors: list[dict[str, str]]) -> None:
    if not zipfile.is_zipfile(path):
        raise InstrumentFileError(str(path), "not a zip archive; check or recreate this zip (named .zip, but not "
                                             "one, or cut short)")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir() and _wanted(i.filename)]
            unsafe = [i.filename for i in infos if _unsafe(i.filename)]
            if unsafe:
                raise InstrumentFileError(str(path), f"refusing a zip with member names outside its folder: "
                                                     f"{unsafe[0]!r}")
            if len(infos) > MAX_MEMBERS:
                raise InstrumentFileError(str(path), f"{len(infos):,} files, more than the limit of {MAX_MEMBERS:,}")
            if not infos:
                errors.append({"source": str(path), "reason": "no .txt spectrum files in it (nor any other format "
                                                              "predict reads): an empty zip"})
            for info in infos:
                source = f"{path}::{info.filename}"
                if PurePosixPath(info.filename).suffix.lower() not in SUPPORTED_SUFFIXES:
                    errors.append({"source": source, "reason": _unsupported(info.filename)})
                    continue
                if info.file_size > MAX_FILE_BYTES:
                    errors.append({"source": source, "reason": f"too large for a spectrum file: "
                                                               f"{info.file_size:,} bytes"})
                    continue
                try:
                    readings.append(read_bytes(zf.read(info), source, **kw))
                except (NotImplementedError, RuntimeError) as exc:
                    errors.append({"source": source, "reason": f"unreadable zip member: {exc}"})
                except SpectrumParseError as exc:
                    errors.append({"source": source, "reason": exc.reason})
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InstrumentFileError(str(path), f"corrupt zip archive ({exc}); check or recreate it") from exc


def _unsupported(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower() or "(no extension)"
    return (f"file type {suffix} not read (predict reads {', '.join(SUPPORTED_SUFFIXES)} and .zip); "
            "skipped")


def _walk(folder: Path, errors: list[dict[str, str]]) -> list[Path]:
    """Every file below ``folder`` (not following links to folders); a subfolder that cannot be listed is reported
    in ``errors`` (a reported skip, never a silent one)."""
    import os

    def unreadable(exc: OSError) -> None:
        errors.append({"source": str(exc.filename or folder), "reason": f"folder not read: {exc.strerror or exc}; "
                                                                        "its files were skipped (check permissions)"})

    out = []
    for root, _dirs, names in os.walk(folder, onerror=unreadable):
        out += [Path(root) / n for n in names]
        if len(out) > MAX_MEMBERS:
            break
    return out


def read_inputs(paths: list[str | Path] | str | Path, *, x_column: str | int | None = None,
                y_column: str | int | None = None) -> tuple[list[Reading], list[dict[str, str]]]:
    """Every spectrum in files, folders (recursively) and zips, and ``{"source", "reason"}`` per file not read."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    kw = {"x_column": x_column, "y_column": y_column}
    readings: list[Reading] = []
    errors: list[dict[str, str]] = []
    for item in paths:
        path = Path(item).expanduser()
        try:
            if path.is_dir():
                files = sorted(p for p in _walk(path, errors) if _wanted(p.relative_to(path).as_posix()))
                if len(files) > MAX_MEMBERS:
                    raise InstrumentFileError(str(path), f"{len(files):,} files, more than the limit of "
                                                         f"{MAX_MEMBERS:,}; split the folder")
                if not files:
                    errors.append({"source": str(path), "reason": "an empty folder: no .txt spectrum files in it "
                                                                  "(nor any other format predict reads)"})
                for p in files:
                    if p.suffix.lower() == ".zip":
                        try:
                            _read_zip(p, kw, readings, errors)
                        except SpectrumParseError as exc:
                            errors.append({"source": str(p), "reason": exc.reason})
                        continue
                    if p.suffix.lower() not in SUPPORTED_SUFFIXES:
                        errors.append({"source": str(p), "reason": _unsupported(p.name)})
                        continue
                    try:
                        readings.append(read_spectrum(p, **kw))
                    except SpectrumParseError as exc:
                        errors.append({"source": str(p), "reason": exc.reason})
                    except OSError as exc:
                        errors.append({"source": str(p), "reason": f"cannot read the file: {exc.strerror or exc}"})
            elif path.is_file() and path.suffix.lower() == ".zip":
                _read_zip(path, kw, readings, errors)
            else:
                readings.append(read_spectrum(path, **kw))
        except SpectrumParseError as exc:
            errors.append({"source": exc.source, "reason": exc.reason})
        except (ValueError, OSError) as exc:
            errors.append({"source": str(path), "reason": getattr(exc, "strerror", None) or str(exc)})
    return readings, errors
