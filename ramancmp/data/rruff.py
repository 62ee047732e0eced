"""Reading RRUFF Raman spectra: one ``.txt`` file, a zip archive (read in place) or a folder.

RRUFF files are small text files: ``##KEY=value`` header lines, then ``wavenumber, intensity`` rows, then ``##END=``.
Two layouts are in circulation and both are read:

* **2019 snapshot** (the ``excellent_unoriented`` archive this project uses), named
  ``Mineral__RRUFFID__Raman__<laser nm>__0__unoriented__Raman_Data_Processed__<n>.txt``. Headers: NAMES, RRUFFID,
  IDEAL CHEMISTRY, LOCALITY, OWNER, SOURCE, DESCRIPTION, STATUS, URL, MEASURED CHEMISTRY. The laser wavelength is
  only in the file name.
* **today's rruff.info**, named like ``Mineral__R040063-4__Raman__514__0-000____Raman_Data_Processed__<hash>.txt``
  (oriented sets: ``45-000__ccw``), with extra headers ``##PIN_ID``, ``##ORIENTATION``, ``##FILETYPE=Raman Processed``,
  ``##RAMAN WAVELENGTH=514`` and a blank line before the data rows.

Metadata come from the headers when present and from the file name otherwise; when both give a laser wavelength,
orientation or processing and they disagree, the header wins (it is written by the instrument software, the name by
whoever packed the archive). The mineral name is the header's ``NAMES`` (``Agardite-(Y)``); file names drop the
punctuation (``AgarditeY``). IDs: the 2019 headers give the bare sample ID (``##RRUFFID=R050016``) while the file
name carries the suffix that tells that sample's spectra apart (``R050016_a``); ``rruff_id`` is the file name's ID
when it extends the header's, otherwise the header's (three 2019 files are named ``...__altered__...`` or with a
foreign catalogue number), and ``sample_id`` is its letter plus six digits, the unit a leakage-free split groups on.

Validation rules (a file that breaks one raises :class:`SpectrumParseError` naming the file and the reason; in an
archive it becomes a :class:`Skipped` entry, never a silently wrong spectrum):

* Text is decoded as UTF-8, falling back to latin-1 (old RRUFF localities are latin-1 encoded). CRLF, LF and CR line
  endings may be mixed; blank lines are ignored anywhere.
* A header value may wrap (today's rruff.info files do this for long ``##ORIENTATION=`` or description texts): a
  non-blank line that follows a header line directly, has no ``##`` and does not start with a number continues that
  value (joined with a space). The first line that starts with a number begins the data rows. Header lines may
  also follow the blank line that ends today's headers. At most :data:`MAX_HEADER_LINES` header lines and
  :data:`MAX_HEADER_CHARS` characters of header are read (parsing stays linear); a :class:`Spectrum` keeps at most
  :data:`MAX_KEPT_HEADER_CHARS` of its header (:data:`USED_HEADER_KEYS` first).
* Data rows are exactly two numbers, separated by a comma and/or whitespace. A third column, a non-numeric value,
  NaN or infinity is an error naming the line.
* Everything after the first ``##END=`` line is ignored (RRUFF files end with blank lines; a trailing row there is not
  part of the spectrum). A file *without* ``##END=`` is accepted, since hand-exported and older files often lack it.
  Any other ``##`` header line after the data rows began is an error.
* At most :data:`MAX_ROWS` data lines, none longer than :data:`MAX_ROW_CHARS` characters, in a file of at most
  :data:`MAX_FILE_BYTES` (a zip member's declared size is checked before it is inflated, and zipfile never inflates
  more than that size: a member that does is a CRC error). These bound the memory and time one file can cost.
* At least :data:`MIN_POINTS` rows. Wavenumbers must be strictly increasing; a strictly decreasing spectrum (some
  instruments export high-to-low) is reversed. Duplicate wavenumbers are an error rather than averaged away: a
  repeated x value means a stitched or corrupted export, and guessing how to merge it would hide that.
* Negative intensities are kept as they are: processed RRUFF spectra are baseline-corrected, and 272 of the 5,471
  files in the 2019 archive dip slightly below zero. Clipping them is a preprocessing choice, not a parsing one.

Archives are read member by member without extracting. An archive or folder with more than :data:`MAX_MEMBERS`
``.txt`` files, or more than :data:`MAX_TOTAL_BYTES` in them, is refused whole before anything is read. In a folder,
links to folders are not followed (no loops) and a ``.txt`` entry that is not a regular file (a FIFO, a device, a
broken link) or cannot be read is listed as skipped, never opened or waited on. Only ``.txt`` members count
(folders, other files and macOS ``__MACOSX/`` / ``._*`` forks are ignored). A zip with a member name that escapes
its folder (``../x.txt``, an absolute or drive path) is refused whole with :class:`ArchiveError`, as is a missing
path, a file that is not a zip, and a
truncated or corrupt one (CRC mismatch): those mean the download is not the archive it claims to be.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from ramancmp import config
from ramancmp.data.cache import replaced_archive_warning
from ramancmp.fileio import file_sha256

__all__ = [
    "wanted_member",
    "MAX_FILE_BYTES",
    "MAX_MEMBERS",
    "MAX_ROWS",
    "MAX_ROW_CHARS",
    "MAX_HEADER_CHARS",
    "MAX_HEADER_LINES",
    "MAX_TOTAL_BYTES",
    "MIN_POINTS",
    "ArchiveContents",
    "ArchiveError",
    "Skipped",
    "Spectrum",
    "SpectrumParseError",
    "load_archive",
    "parse_spectrum",
    "read_spectrum",
]

#: Fewest data rows accepted: fewer cannot describe a Raman spectrum and usually mean a truncated export.
MIN_POINTS = 10
#: The largest spectrum file read (bytes). RRUFF's largest is about 0.1 MB; anything far beyond is not a spectrum,
#: and reading it whole could exhaust memory (a zip member's declared size is checked before it is decompressed).
MAX_FILE_BYTES = 16 * 2**20
#: The most data lines read from one file: RRUFF's longest spectrum has 3,424 rows. Parsing 1.5 million rows (a
#: 16 MiB file) would take about 170 MB of memory for nothing a Raman spectrum needs; such a file is refused first.
MAX_ROWS = 100_000
#: The longest data line (characters): a row is two numbers (at most about 50 characters). A single 15 MB line of
#: numbers would otherwise become millions of columns (gigabytes) in the fast reader before it is found wrong.
MAX_ROW_CHARS = 200
#: The most ``.txt`` files one archive or folder may hold (the 2019 archive has 5,471), and the most bytes they may
#: hold together (declared sizes; the 2019 archive's inflate to 241 MiB). Every accepted spectrum is kept in memory,
#: so these bound what loading one source can cost; a source over either is refused whole, before anything is read.
MAX_MEMBERS = 100_000
MAX_TOTAL_BYTES = 2 * 2**30
#: The most header lines (``##KEY=value`` and wrapped continuation lines) and header characters one file may have:
#: RRUFF's headers have at most 11 lines and 770 characters. Beyond either the file is refused, so a file of millions
#: of continuation lines costs milliseconds, not minutes.
MAX_HEADER_LINES = 1_000
MAX_HEADER_CHARS = 4 * 2**20
#: What a :class:`Spectrum` keeps of its header (the metadata fields are read from it in full first): each value at
#: most :data:`MAX_KEPT_VALUE_CHARS` characters, at most :data:`MAX_KEPT_HEADER_CHARS` in all (the fields the package
#: uses first), so 100,000 spectra with huge headers cannot hold gigabytes of header text.
MAX_KEPT_VALUE_CHARS = 4_096
MAX_KEPT_HEADER_CHARS = 16_384
#: Header fields the package reads (metadata, curation); kept first.
USED_HEADER_KEYS = ("NAMES", "RRUFFID", "LOCALITY", "ORIENTATION", "FILETYPE", "RAMAN WAVELENGTH", "LASER WAVELENGTH",
                    "WAVELENGTH", "STATUS", "DESCRIPTION")

_SAMPLE_ID = re.compile(r"^([A-Z]\d{6})")  # R050016_a -> R050016, R040063-4 -> R040063, X050012.3 -> X050012
_PROCESSING = re.compile(r"^raman_data_(\w+)$", re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d*)?")
_FIELD_SPLIT = re.compile(r"\s*,\s*|\s+")
_BLANK_LINE = re.compile(r"^[ \t\f\v]+$", re.MULTILINE)
_ROW_START = re.compile(r"^[-+]?(?:\d|\.\d)")  # a data row starts with a number; a wrapped header value does not
_LASER_KEYS = ("RAMAN WAVELENGTH", "LASER WAVELENGTH", "WAVELENGTH")


class SpectrumParseError(ValueError):
    """A spectrum file that cannot be read; ``str()`` names the file and the reason."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class ReplacedArchiveWarning(UserWarning):
    """The data cache's archive is not the one ``data fetch`` verified (replaced afterwards)."""


class ArchiveError(ValueError):
    """An archive or folder that cannot be read as a whole (missing, not a zip, truncated, unsafe member names)."""


@dataclass(eq=False)
class Spectrum:
    """One validated RRUFF spectrum: wavenumbers strictly increasing, all values finite."""

    wavenumber: np.ndarray = field(repr=False)  # float64, cm^-1, strictly increasing
    intensity: np.ndarray = field(repr=False)  # float64, same length
    mineral: str  # header NAMES ("Agardite-(Y)") or the file name's mineral ("AgarditeY"); "" if unknown
    rruff_id: str  # full RRUFF ID as given ("R050016_a", "R040063-4"); "" if unknown
    sample_id: str  # suffix stripped ("R050016"): spectra of one sample share it, so splits group on it
    laser_nm: float | None
    orientation: str | None  # "unoriented", "0-000", "45-000 ccw", ...
    processing: str | None  # "Processed" or "RAW"
    locality: str | None
    source: str  # "path/to/file.txt" or "archive.zip::member.txt"
    header: dict[str, str] = field(default_factory=dict, repr=False)  # every ##KEY=value line, keys upper-case

    def __len__(self) -> int:
        return len(self.wavenumber)

    def meta(self) -> dict:
        """The metadata as a flat dict (no arrays, no raw header): one row of a metadata table."""
        return {"mineral": self.mineral, "rruff_id": self.rruff_id, "sample_id": self.sample_id,
                "laser_nm": self.laser_nm, "orientation": self.orientation, "processing": self.processing,
                "locality": self.locality, "n_points": len(self), "wn_min": float(self.wavenumber[0]),
                "wn_max": float(self.wavenumber[-1]), "source": self.source}


@dataclass
class Skipped:
    """A file in an archive that was not loaded, and why."""

    source: str
    reason: str


@dataclass
class ArchiveContents:
    """Everything :func:`load_archive` found: the good spectra, the skipped files with reasons, and provenance."""

    spectra: list[Spectrum]
    skipped: list[Skipped]
    source: str
    sha256: str | None  # of the zip file; None for a folder

    def __len__(self) -> int:
        return len(self.spectra)

    def summary(self) -> dict:
        return {"source": self.source, "sha256": self.sha256, "n_files": len(self.spectra) + len(self.skipped),
                "n_spectra": len(self.spectra), "n_skipped": len(self.skipped),
                "skipped": [{"source": s.source, "reason": s.reason} for s in self.skipped]}


# --------------------------------------------------------------------------------------------------------- parsing
def _decode(data: bytes | str, source: str) -> str:
    if isinstance(data, str):
        text = data
    else:
        if b"\x00" in data:
            raise SpectrumParseError(source, "contains NUL bytes: a binary (or UTF-16) file, not a RRUFF text file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")  # never fails; RRUFF's older files are latin-1
    return text.removeprefix("\ufeff")


def _rows_slow(lines: list[str], first_line: int, source: str) -> np.ndarray:
    """Row-by-row parse, used only when the fast path fails: returns the array or names the offending line."""
    rows = []
    for k, line in enumerate(lines):
        _long_line(line, first_line + k, source)  # before splitting: one 15 MB line would be millions of fields
        s = line.strip()
        if not s:
            continue
        fields = _FIELD_SPLIT.split(s)
        where = f"line {first_line + k}"
        if len(fields) != 2:
            raise SpectrumParseError(source, f"{where} has {len(fields)} column{'s' * (len(fields) != 1)}, expected 2 "
                                             f"(wavenumber, intensity): {s[:60]!r}")
        try:
            rows.append((float(fields[0]), float(fields[1])))
        except ValueError:
            raise SpectrumParseError(source, f"{where} is not numeric: {s[:60]!r}") from None
    return np.asarray(rows, dtype=np.float64).reshape(-1, 2)


def _line_of_row(block: str, first_line: int, row: int) -> int:
    """File line number (1-based) of data row ``row`` of ``block`` (blank lines do not count as rows)."""
    nonblank = [k for k, line in enumerate(block.split("\n")) if line.strip()]
    return first_line + nonblank[row]


def _long_line(line: str, line_no: int, source: str) -> None:
    if len(line) > MAX_ROW_CHARS:
        raise SpectrumParseError(source, f"line {line_no} is {len(line):,} characters long, not a data row (two "
                                         f"numbers; limit {MAX_ROW_CHARS}): {line[:40]!r}...")


def _check_size(block: str, first_line: int, source: str) -> None:
    """Refuse a data block with more lines than :data:`MAX_ROWS`, or whose first line (from which the fast reader
    takes the number of columns) is longer than :data:`MAX_ROW_CHARS`, before it is parsed; the row parser checks the
    other lines' lengths before it splits them."""
    n_lines = block.count("\n") + 1
    if n_lines > MAX_ROWS:
        raise SpectrumParseError(source, f"too many data rows: {n_lines:,} lines (limit {MAX_ROWS:,}; RRUFF's longest "
                                         "spectrum has 3,424)")
    eol = block.find("\n")
    _long_line(block if eol < 0 else block[:eol], first_line, source)


def _parse_rows(block: str, first_line: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """The data block (text between the headers and ``##END=``) as validated, increasing (x, y) arrays."""
    block = block.rstrip()
    _check_size(block, first_line, source)
    if (" \n" in block or "\t\n" in block) and _BLANK_LINE.search(block):
        block = _BLANK_LINE.sub("", block)  # whitespace-only lines -> empty lines, which the reader skips
    delimiter = "," if "," in block.partition("\n")[0] else r"\s+"
    try:
        # pandas' C reader, about twice as fast as np.loadtxt on these files (5,471 of them in a few seconds).
        # It is lenient (ragged rows become NaN, "NA" reads as NaN), so any doubt goes to the strict row parser.
        arr = pd.read_csv(io.StringIO(block), sep=delimiter, header=None, dtype=np.float64, engine="c",
                          skip_blank_lines=True).to_numpy()
        if arr.ndim != 2 or arr.shape[1] != 2 or not np.isfinite(arr).all():
            raise ValueError
    except (ValueError, pd.errors.ParserError):
        # mixed separators parse here; a real problem is reported with its line number
        arr = _rows_slow(block.split("\n"), first_line, source)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        r = int(np.argmax(bad))
        raise SpectrumParseError(source, f"line {_line_of_row(block, first_line, r)} holds a non-finite value "
                                         f"(NaN or infinity): {arr[r, 0]:g}, {arr[r, 1]:g}")
    if len(arr) < MIN_POINTS:
        raise SpectrumParseError(source, f"too few points: {len(arr)} data row{'s' * (len(arr) != 1)}, "
                                         f"need at least {MIN_POINTS}")
    x, y = arr[:, 0], arr[:, 1]
    step = np.diff(x)
    if (step > 0).all():
        return x.copy(), y.copy()
    if (step < 0).all():  # exported high-to-low: same spectrum, reversed
        return x[::-1].copy(), y[::-1].copy()
    if (step >= 0).all() or (step <= 0).all():
        r = int(np.argmax(step == 0)) + 1
        raise SpectrumParseError(source, f"duplicate wavenumber {x[r]:g} at lines "
                                         f"{_line_of_row(block, first_line, r - 1)} and "
                                         f"{_line_of_row(block, first_line, r)}")
    direction = 1.0 if x[-1] >= x[0] else -1.0
    r = int(np.argmax(step * direction <= 0)) + 1
    raise SpectrumParseError(source, f"wavenumbers are not in order: {x[r]:g} at line "
                                     f"{_line_of_row(block, first_line, r)} follows {x[r - 1]:g} at line "
                                     f"{_line_of_row(block, first_line, r - 1)}")


def _split_text(text: str, source: str) -> tuple[dict[str, str], str, int]:
    """Header dict, the data block (up to ``##END=`` or the end) and the 1-based line number where it starts.

    Linear in the header's size: a wrapped value's parts are collected in a list and joined once, and the header is
    refused beyond :data:`MAX_HEADER_LINES` lines or :data:`MAX_HEADER_CHARS` characters (before it is joined)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # CRLF, LF and CR, mixed
    parts: dict[str, list[str]] = {}
    pos, n = 0, len(text)
    ended = False
    last_key = None  # the header line just above (a continuation line extends its value)
    wrapped = None  # (line, text) of the first continuation line, for the error when no data rows follow
    n_lines = n_chars = 0
    while pos < n:  # header lines: '##KEY=value' (and blank lines) until the first data row
        eol = text.find("\n", pos)
        eol = n if eol < 0 else eol
        s = text[pos:eol].strip()
        if s:
            n_lines += 1
            n_chars += len(s)
            if n_lines > MAX_HEADER_LINES or n_chars > MAX_HEADER_CHARS:
                line = text.count("\n", 0, pos) + 1
                raise SpectrumParseError(source, f"header too long at line {line:,}: more than {MAX_HEADER_LINES:,} "
                                                 f"header lines or {MAX_HEADER_CHARS:,} characters (RRUFF headers have "
                                                 "about 10 lines); not a RRUFF spectrum file")
        if s and not s.startswith("##"):
            if last_key is None or _ROW_START.match(s):
                break  # the first data row
            # today's rruff.info wraps long header values: the rest follows on lines without '##'
            parts[last_key].append(s)
            if wrapped is None:
                wrapped = (text.count("\n", 0, pos) + 1, s)
            pos = eol + 1
            continue
        if s:
            key, _, value = s[2:].partition("=")
            key = key.strip().upper()
            if key == "END":
                ended = True
                break
            parts[key] = [value.strip()]
            last_key = key
        # a blank line does not end the header: today's rruff.info files put more header lines (and wrapped
        # values) after the blank line that precedes the data rows
        pos = eol + 1
    header = _kept_header(parts)
    if not header and pos >= n:
        raise SpectrumParseError(source, "empty file")
    first_line = text.count("\n", 0, pos) + 1
    end = pos if ended else text.find("##", pos)  # '#' never occurs in numeric rows, so this finds ##END= fast
    if end < 0:
        end = n  # no ##END=: accepted (see the module docstring)
    elif not ended:
        end = text.rfind("\n", 0, end) + 1  # start of that line
        eol = text.find("\n", end)
        marker = text[end:n if eol < 0 else eol].strip()
        line = text.count("\n", 0, end) + 1
        if not marker.startswith("##"):
            raise SpectrumParseError(source, f"line {line} is not numeric: {marker[:60]!r}")
        if marker[2:].partition("=")[0].strip().upper() != "END":
            raise SpectrumParseError(source, f"line {line}: header line {marker[:60]!r} after the data rows began")
    block = text[pos:end]
    if not block.strip():
        if wrapped is not None:  # text that was taken for a wrapped header value, and nothing numeric after it
            raise SpectrumParseError(source, f"line {wrapped[0]} is not numeric: {wrapped[1][:60]!r} "
                                             "(no data rows follow)")
        raise SpectrumParseError(source, "no data rows (header only)")
    return header, block, first_line


def _kept_header(parts: dict[str, list[str]]) -> dict[str, str]:
    """The header as ``{KEY: value}``: wrapped parts joined once, values and total size capped (see
    :data:`MAX_KEPT_HEADER_CHARS`); the fields in :data:`USED_HEADER_KEYS` come first, then the others in file order."""
    order = [k for k in USED_HEADER_KEYS if k in parts] + [k for k in parts if k not in USED_HEADER_KEYS]
    header, budget = {}, MAX_KEPT_HEADER_CHARS
    for key in order:
        value = " ".join(p for p in parts[key] if p).strip()[:min(MAX_KEPT_VALUE_CHARS, budget)]
        if budget <= 0:
            break
        header[key[:200]] = value
        budget -= len(value) + 1
    return header


def _number(value: str | None) -> float | None:
    m = _NUMBER.search(value or "")
    return float(m.group()) if m else None


def _processing(value: str | None) -> str | None:
    if not value:
        return None
    low = value.lower()
    return "RAW" if "raw" in low else "Processed" if "processed" in low else value.strip()


def _name_fields(name: str) -> dict:
    """Metadata from a RRUFF file name (both layouts); {} for a name that is not RRUFF-style."""
    base = PurePosixPath(name.replace("\\", "/")).name
    parts = (base[:-4] if base.lower().endswith(".txt") else base).split("__")
    if len(parts) < 4 or parts[2].lower() != "raman":
        return {}
    out = {"mineral": parts[0], "rruff_id": parts[1], "laser_nm": _number(parts[3]) if parts[3] else None}
    rest = parts[4:]
    proc = next((k for k, p in enumerate(rest) if _PROCESSING.match(p)), None)
    if proc is not None:
        out["processing"] = _processing(_PROCESSING.match(rest[proc]).group(1))
        rest = rest[:proc]
    rest = [p for p in rest if p]
    if "unoriented" in (p.lower() for p in rest):  # 2019 layout: "0__unoriented"
        out["orientation"] = "unoriented"
    elif rest:
        out["orientation"] = " ".join(rest)  # "0-000", "45-000 ccw"
    return out


def _member_name(source: str) -> str:
    return source.rsplit("::", 1)[-1]


def parse_spectrum(data: bytes | str, source: str) -> Spectrum:
    """Parse the bytes (or text) of one RRUFF ``.txt`` file; ``source`` names it in metadata and in errors.

    Metadata are read from the headers and, where a header is missing, from the file name in ``source``.
    Raises :class:`SpectrumParseError` for anything that is not a valid spectrum (see the module docstring).
    """
    source = str(source)
    if not data.strip():
        raise SpectrumParseError(source, "empty file")
    header, block, first_line = _split_text(_decode(data, source), source)
    wavenumber, intensity = _parse_rows(block, first_line, source)

    from_name = _name_fields(_member_name(source))
    header_id = header.get("RRUFFID", "").strip()
    name_id = from_name.get("rruff_id", "")
    # the file name carries the suffix that tells a sample's spectra apart (R050016_a); the header the bare sample ID
    rruff_id = name_id if name_id and (not header_id or name_id.startswith(header_id)) else header_id or name_id
    m = _SAMPLE_ID.match(header_id) or _SAMPLE_ID.match(rruff_id)
    laser = next((v for v in (_number(header.get(k)) for k in _LASER_KEYS) if v is not None), None)
    return Spectrum(
        wavenumber=wavenumber,
        intensity=intensity,
        mineral=header.get("NAMES", "").strip() or from_name.get("mineral", ""),
        rruff_id=rruff_id,
        sample_id=m.group(1) if m else rruff_id,
        laser_nm=laser if laser is not None else from_name.get("laser_nm"),
        orientation=header.get("ORIENTATION") or from_name.get("orientation"),
        processing=_processing(header.get("FILETYPE")) or from_name.get("processing"),
        locality=header.get("LOCALITY") or None,
        source=source,
        header=header,
    )


def read_spectrum(path: str | Path) -> Spectrum:
    """Read one spectrum file; ``"archive.zip::member.txt"`` (the ``source`` of an archive spectrum) also works."""
    text = str(path)
    if "::" in text and not Path(text).exists():
        archive, member = text.rsplit("::", 1)
        try:
            with zipfile.ZipFile(archive) as zf:
                problem = _too_large(zf.getinfo(member).file_size)
                if problem:
                    raise SpectrumParseError(text, problem)
                return parse_spectrum(zf.read(member), text)
        except (KeyError, zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            raise SpectrumParseError(text, f"cannot read the zip member ({exc})") from exc
    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            raise SpectrumParseError(str(path), "is a folder, not a spectrum file (load_archive reads folders)")
        if path.exists():  # a FIFO or a device would block or never end
            raise SpectrumParseError(str(path), "not a regular file (a device, FIFO or socket)")
        raise FileNotFoundError(f"{path}: no such spectrum file")
    problem = _too_large(path.stat().st_size)
    if problem:
        raise SpectrumParseError(str(path), problem)
    return parse_spectrum(path.read_bytes(), str(path))


# --------------------------------------------------------------------------------------------------------- archives
def wanted_member(name: str) -> bool:
    """``.txt`` members only, no folders, no macOS resource forks (``__MACOSX/``, ``._name``)."""
    p = PurePosixPath(name.replace("\\", "/"))
    return (not name.endswith("/") and p.suffix.lower() == ".txt" and "__MACOSX" not in p.parts
            and not p.name.startswith("._"))


def _unsafe(name: str) -> bool:
    """A member name that would land outside the archive's folder if extracted (absolute, drive, or ``..``)."""
    n = name.replace("\\", "/")
    return n.startswith("/") or bool(re.match(r"^[A-Za-z]:", n)) or ".." in n.split("/")


def _progress(items, progress: bool, desc: str):
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="file")


def _too_large(size: int) -> str | None:
    if size > MAX_FILE_BYTES:
        return (f"too large for a spectrum file: {size:,} bytes (limit {MAX_FILE_BYTES:,}; RRUFF's largest is about "
                "0.1 MB)")
    return None


def _check_totals(path: Path, sizes: list[int]) -> None:
    """Refuse a source with more than :data:`MAX_MEMBERS` spectrum files or :data:`MAX_TOTAL_BYTES` in them."""
    if len(sizes) > MAX_MEMBERS:
        raise ArchiveError(f"{path}: {len(sizes):,} .txt files, more than the limit of {MAX_MEMBERS:,} (the RRUFF "
                           "archive has 5,471); split it into smaller archives")
    total = sum(size for size in sizes if size <= MAX_FILE_BYTES)  # larger files are skipped unread anyway
    if total > MAX_TOTAL_BYTES:
        raise ArchiveError(f"{path}: its .txt files hold {total:,} bytes, more than the limit of {MAX_TOTAL_BYTES:,} "
                           "(the RRUFF archive's hold about 0.25 GB); split it into smaller archives")


def _parse_all(items, read, size_of, progress: bool, desc: str) -> tuple[list[Spectrum], list[Skipped]]:
    spectra, skipped = [], []
    for source, handle in _progress(items, progress, desc):
        try:
            problem = _too_large(size_of(handle))
        except ValueError as exc:  # a folder entry that is not a regular file (a FIFO would block the read)
            skipped.append(Skipped(source, str(exc)))
            continue
        if problem:
            skipped.append(Skipped(source, problem))
            continue
        try:
            data = read(handle)
        except (NotImplementedError, RuntimeError) as exc:  # encrypted member, or a method zipfile lacks (deflate64)
            skipped.append(Skipped(source, f"unreadable zip member: {exc}"))
            continue
        except OSError as exc:  # a folder's file that cannot be read (permissions, vanished, I/O error)
            skipped.append(Skipped(source, f"cannot read the file: {exc.strerror or exc}"))
            continue
        try:
            spectra.append(parse_spectrum(data, source))
        except SpectrumParseError as exc:
            skipped.append(Skipped(source, exc.reason))
    return spectra, skipped


def _refetch_hint(path: Path) -> str:
    """Re-downloading helps only for the book's own archive in the data cache; a user's zip needs its own fix."""
    if path.resolve() == (config.data_dir() / config.RRUFF_ZIP_NAME).resolve():
        return "; fetch a fresh copy with `python -m ramancmp data fetch --force`"
    return "; check or recreate this zip (a download cut short, or not a zip at all?)"


def _load_zip(path: Path, progress: bool, select: Callable[[str], bool] | None = None) -> ArchiveContents:
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            magic = fh.read(4)
        what = "a truncated or corrupt zip archive" if magic.startswith(b"PK") else "not a zip archive"
        raise ArchiveError(f"{path}: {what}{_refetch_hint(path)}")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            unsafe = [i.filename for i in infos if _unsafe(i.filename)]
            if unsafe:
                # we never extract, but a name like ../x.txt means the archive is not what it claims to be
                raise ArchiveError(f"{path}: refusing an archive with member names outside its folder: "
                                   f"{', '.join(map(repr, unsafe[:3]))}" + (" ..." if len(unsafe) > 3 else ""))
            items = [(f"{path}::{i.filename}", i) for i in infos if not i.is_dir() and wanted_member(i.filename)]
            _check_totals(path, [i.file_size for _, i in items])
            if select is not None:
                items = [(source, i) for source, i in items if select(source)]
            spectra, skipped = _parse_all(items, zf.read, lambda info: info.file_size, progress, path.name)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # CRC mismatch, damaged deflate stream, cut short
        raise ArchiveError(f"{path}: corrupt zip archive ({exc}){_refetch_hint(path)}") from exc
    sha = file_sha256(path)
    replaced = replaced_archive_warning(path, sha)
    if replaced:
        warnings.warn(replaced, ReplacedArchiveWarning, stacklevel=3)
    return ArchiveContents(spectra, skipped, str(path), sha)


def _file_size(path: Path) -> int:
    if not path.is_file():
        if not path.exists():
            raise ValueError("a broken link (its target does not exist)")
        raise ValueError("not a regular file (a device, FIFO or socket); not read")
    return path.stat().st_size


def _load_folder(path: Path, progress: bool, select: Callable[[str], bool] | None = None) -> ArchiveContents:
    # symbolic links to folders are not followed (no loops); a FIFO named *.txt is listed as skipped, never opened
    files = sorted(p for p in path.rglob("*") if not p.is_dir() and wanted_member(p.relative_to(path).as_posix()))
    _check_totals(path, [p.stat().st_size if p.is_file() else 0 for p in files])
    items = [(str(p), p) for p in files if select is None or select(str(p))]
    spectra, skipped = _parse_all(items, Path.read_bytes, _file_size, progress, path.name)
    return ArchiveContents(spectra, skipped, str(path), None)


def load_archive(source: str | Path, *, progress: bool = False,
                 select: Callable[[str], bool] | None = None) -> ArchiveContents:
    """Load every ``.txt`` spectrum of a RRUFF zip (read in place, never extracted) or folder.

    Files that fail validation are listed in ``.skipped`` with the reason; the archive as a whole raises
    :class:`ArchiveError` if it is missing, not a zip, truncated or corrupt, or has member names outside its folder
    (``../x.txt``, absolute paths): such an archive is refused whole rather than trusted in part.
    ``select(source)`` (``source`` as in :attr:`Spectrum.source`, e.g. ``"archive.zip::member.txt"``) parses only the
    files it returns True for -- a few spectra of a 5,471-file archive in a fraction of a second.
    """
    path = Path(source).expanduser()
    if not path.exists():
        raise ArchiveError(f"{path}: no such file or folder; download the RRUFF archive with "
                           "`python -m ramancmp data fetch`")
    if not path.is_dir() and not path.is_file():  # a FIFO or a device would block or never end
        raise ArchiveError(f"{path}: not a regular file or folder (a device, FIFO or socket); give a zip or a folder")
    return _load_folder(path, progress, select) if path.is_dir() else _load_zip(path, progress, select)
