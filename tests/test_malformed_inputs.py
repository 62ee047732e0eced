"""The malformed-input suite (issue 13): one table of bad and odd inputs, each with its exact expected outcome.

Every case builds its input in a temporary folder and feeds it to the entry point a user would reach it through
(``read_spectrum``, ``load_archive``, ``predict``, or the command line), then asserts one of three outcomes:

* ``error``: a clear message that names the file (or the argument) and the reason; the command line prints it as
  ``error: ...`` and exits with 2. No traceback.
* ``skip``: the input is reported (file + reason) and left out, while the rest is still used (``load_archive``'s
  ``skipped``, ``predict``'s ``errors``; a command with nothing usable left exits with 1).
* ``ok``: read, and the case checks the answer is the right one (no silent wrong answer).

A case that raises anything else (a traceback) fails, as does one that runs longer than :data:`TIMEOUT_S` (a hang:
FIFOs and devices are among the inputs), and the module checks at the end that no tracked file of the repository
changed. List the cases by outcome with ``pytest tests/test_malformed_inputs.py -v`` (ids read
``archive-zip-bomb-member->skip``) or count them with ``pytest tests/test_malformed_inputs.py --collect-only -q``.

Cases that other test modules already cover in depth (e.g. the member names escaping the archive, encrypted and
deflate64 members, damaged checkpoints in ``test_predict.py``, the runner's lock and resume in ``test_book.py``) are
not repeated here.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ramancmp.cli import main
from ramancmp.data.fetch import archive_path, record_path
from ramancmp.data.preprocess import PreprocessConfig
from ramancmp.data.rruff import MAX_FILE_BYTES, MAX_KEPT_VALUE_CHARS, MAX_ROWS, load_archive, read_spectrum

from conftest import make_rruff_name, make_rruff_text, make_spectrum_arrays, write_rruff_zip

TIMEOUT_S = 30  # generous for a busy 2-core machine; every case takes well under a second when it works
REPO = Path(__file__).resolve().parents[1]
NAME = make_rruff_name()  # AgarditeY__R050016__Raman__532__0__unoriented__Raman_Data_Processed__1.txt
GOOD_ROWS = [f"{150 + 2 * k:.1f}, {10.0 + k:.1f}" for k in range(20)]
PP = PreprocessConfig(n_points=128)  # the grid of the test checkpoint: 150-1200 cm^-1
CLASSES = ["Calcite", "Quartz", "Gypsum"]


@dataclass
class Seen:
    """What a user would see: the outcome, the text shown, and the path that text must name (errors and skips)."""

    outcome: str  # "error" | "skip" | "ok"
    text: str = ""
    names: str | None = None


@dataclass
class Ctx:
    tmp: Path
    checkpoint: Path
    monkeypatch: pytest.MonkeyPatch


CASES: list = []


def case(case_id: str, outcome: str, pattern: str = ""):
    """Register a case: ``pattern`` is a regex the shown text must contain."""
    assert outcome in ("error", "skip", "ok")

    def register(fn: Callable[[Ctx], Seen]) -> Callable[[Ctx], Seen]:
        CASES.append(pytest.param(fn, outcome, pattern, id=f"{case_id}->{outcome}"))
        return fn

    return register


# ------------------------------------------------------------------------------------------------------- runners
def api(fn: Callable[..., Any], *args: Any, names: Any = None, **kwargs: Any) -> tuple[Any, Seen | None]:
    """Call ``fn``; the project's errors (ValueError / OSError subclasses) become an ``error``; anything else raises."""
    try:
        return fn(*args, **kwargs), None
    except (ValueError, OSError) as exc:
        return None, Seen("error", str(exc), None if names is None else str(names))


def spectrum(path: Path, check: Callable[[Any], None] | None = None) -> Seen:
    """``read_spectrum(path)``: ok (after ``check``) or an error naming ``path``."""
    value, seen = api(read_spectrum, path, names=path)
    if seen:
        return seen
    if check:
        check(value)
    return Seen("ok")


def archive(path: Path, n_spectra: int, n_skipped: int = 0, names: Any = None) -> Seen:
    """``load_archive(path)``: an error naming it, or its spectra and skipped files (counts checked)."""
    contents, seen = api(load_archive, path, names=path)
    if seen:
        return seen
    assert (len(contents.spectra), len(contents.skipped)) == (n_spectra, n_skipped), contents.summary()
    if contents.skipped:
        return Seen("skip", "\n".join(f"{s.source}: {s.reason}" for s in contents.skipped),
                    str(names or contents.skipped[0].source))
    return Seen("ok")


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's usage errors (exit 2, a usage line, no traceback)
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def command(*args: str, names: Any = None) -> Seen:
    """A command line: exit 2 with ``error: ...`` is an error, exit 1 a report of nothing usable, exit 0 ok."""
    code, out, err = cli(*args)
    names = None if names is None else str(names)
    if code == 2:
        assert err.startswith(("error: ", "usage: ")), err
        return Seen("error", err, names)
    if code == 1:
        return Seen("skip", out + err, names)
    assert code == 0, (code, out, err)
    return Seen("ok", out + err)


def predict(ctx: Ctx, *paths: Path, n_classified: int) -> Seen:
    """``predict`` through its Python API: unusable files are reported by name and reason, the rest classified."""
    from ramancmp.predict import predict_paths

    report = predict_paths(ctx.checkpoint, list(paths))
    assert len(report["predictions"]) == n_classified, report
    for pred in report["predictions"]:
        probs = [t["probability"] for t in pred["top"]]
        assert np.isfinite(probs).all() and sum(probs) == pytest.approx(1.0, abs=1e-5)
    if report["errors"]:
        return Seen("skip", "\n".join(f"{e['source']}: {e['reason']}" for e in report["errors"]),
                    report["errors"][0]["source"])
    return Seen("ok", json.dumps(report))


def write(ctx: Ctx, data: str | bytes, name: str = NAME) -> Path:
    path = ctx.tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def rows_text(x: np.ndarray, y: np.ndarray) -> str:
    return "\n".join(f"{a:.4f}, {b:.8g}" for a, b in zip(x, y)) + "\n"


def wrapped(text: str, newline: str = "\n") -> str:
    """Today's rruff.info layout with header values wrapped onto lines without '##' (as the site writes them)."""
    return text.replace(f"##ORIENTATION=0-000{newline}", f"##ORIENTATION=The c axis{newline} Fiducial mark on the "
                        f"upper left{newline}##DIFFRACTION SAMPLE DESCRIPTION=Powder,{newline}ground in acetone"
                        f"{newline}", 1)


# ================================================================================================ spectrum files
@case("spectrum-empty-file", "error", "empty file")
def _(ctx):
    return spectrum(write(ctx, b""))


@case("spectrum-blank-lines-only", "error", "empty file")
def _(ctx):
    return spectrum(write(ctx, "\n \r\n\t\n"))


@case("spectrum-header-only", "error", r"no data rows \(header only\)")
def _(ctx):
    return spectrum(write(ctx, "##NAMES=Calcite\n##RRUFFID=R040070\n##END=\n"))


@case("spectrum-non-numeric-row", "error", r"line 12 is not numeric: 'abc, 1'")
def _(ctx):  # 9 header lines, rows from line 10
    return spectrum(write(ctx, make_rruff_text(rows=GOOD_ROWS[:2] + ["abc, 1"] + GOOD_ROWS[2:])))


@case("spectrum-nan-value", "error", r"line 13 holds a non-finite value")
def _(ctx):
    return spectrum(write(ctx, make_rruff_text(rows=GOOD_ROWS[:3] + ["157.0, nan"] + GOOD_ROWS[4:])))


@case("spectrum-infinite-value", "error", r"non-finite value \(NaN or infinity\): 157, inf")
def _(ctx):
    return spectrum(write(ctx, make_rruff_text(rows=GOOD_ROWS[:3] + ["157.0, inf"] + GOOD_ROWS[4:])))


@case("spectrum-number-beyond-float64", "error", r"non-finite value .*157, inf")
def _(ctx):  # 1e309 overflows to infinity when parsed: refused, not used as inf
    return spectrum(write(ctx, make_rruff_text(rows=GOOD_ROWS[:3] + ["157.0, 1e309"] + GOOD_ROWS[4:])))


@case("spectrum-too-few-points", "error", r"too few points: 5 data rows, need at least 10")
def _(ctx):
    return spectrum(write(ctx, make_rruff_text(rows=GOOD_ROWS[:5])))


@case("spectrum-wavenumbers-out-of-order", "error", r"wavenumbers are not in order: 154 at line 13 follows 156")
def _(ctx):
    rows = GOOD_ROWS[:2] + [GOOD_ROWS[3], GOOD_ROWS[2]] + GOOD_ROWS[4:]
    return spectrum(write(ctx, make_rruff_text(rows=rows)))


@case("spectrum-duplicate-wavenumber", "error", r"duplicate wavenumber 154 at lines 12 and 13")
def _(ctx):
    return spectrum(write(ctx, make_rruff_text(rows=GOOD_ROWS[:3] + [GOOD_ROWS[2]] + GOOD_ROWS[3:])))


@case("spectrum-three-columns", "error", r"line 10 has 3 columns, expected 2")
def _(ctx):
    return spectrum(write(ctx, make_rruff_text(rows=[r + ", 0.5" for r in GOOD_ROWS])))


@case("spectrum-one-column", "error", r"line 10 has 1 column, expected 2")
def _(ctx):
    return spectrum(write(ctx, make_rruff_text(rows=[r.split(",")[0] for r in GOOD_ROWS])))


@case("spectrum-semicolon-separated", "error", r"line 10 has 1 column, expected 2 .*'150.0;10.0'")
def _(ctx):
    return spectrum(write(ctx, make_rruff_text(rows=[r.replace(", ", ";") for r in GOOD_ROWS])))


@case("spectrum-header-inside-data", "error", r"line 15: header line '##LOCALITY=x' after the data rows began")
def _(ctx):
    return spectrum(write(ctx, make_rruff_text(rows=GOOD_ROWS[:5] + ["##LOCALITY=x"] + GOOD_ROWS[5:])))


@case("spectrum-binary-with-nul-bytes", "error", "contains NUL bytes: a binary")
def _(ctx):
    return spectrum(write(ctx, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20))


@case("spectrum-utf16-encoded", "error", r"contains NUL bytes: a binary \(or UTF-16\) file")
def _(ctx):
    return spectrum(write(ctx, make_rruff_text().encode("utf-16")))


@case("spectrum-file-over-size-limit", "error", r"too large for a spectrum file: 16,777,217 bytes")
def _(ctx):
    path = write(ctx, make_rruff_text())
    with open(path, "r+b") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: instant, and the reader must not read it to find out
    return spectrum(path)


@case("spectrum-too-many-rows", "error", r"too many data rows: 100,001 lines \(limit 100,000")
def _(ctx):
    return spectrum(write(ctx, make_rruff_text(rows=[f"{k}, 1" for k in range(MAX_ROWS + 1)])))


@case("spectrum-one-huge-data-line", "error", r"line 10 is 600,000 characters long, not a data row")
def _(ctx):
    return spectrum(write(ctx, make_rruff_text(rows=["1.0, " * 120_000] + GOOD_ROWS)))


@case("spectrum-fifo", "error", r"not a regular file \(a device, FIFO or socket\)")
def _(ctx):
    os.mkfifo(ctx.tmp / "pipe.txt")  # opening it for reading would block forever
    return spectrum(ctx.tmp / "pipe.txt")


@case("spectrum-dev-zero", "error", r"not a regular file")
def _(ctx):
    return spectrum(Path("/dev/zero"))


@case("spectrum-missing-file", "error", "no such spectrum file")
def _(ctx):
    return spectrum(ctx.tmp / "missing.txt")


@case("spectrum-path-is-a-folder", "error", r"is a folder, not a spectrum file")
def _(ctx):
    (ctx.tmp / "folder.txt").mkdir()
    return spectrum(ctx.tmp / "folder.txt")


@case("spectrum-zip-member-missing", "error", r"cannot read the zip member")
def _(ctx):
    zpath = write_rruff_zip(ctx.tmp / "a.zip", {NAME: make_rruff_text()})
    value, seen = api(read_spectrum, f"{zpath}::other.txt", names=f"{zpath}::other.txt")
    return seen


@case("spectrum-wrapped-header-without-data", "error", r"line 7 is not numeric: 'free text' \(no data rows follow\)")
def _(ctx):
    return spectrum(write(ctx, "##NAMES=X\n##RRUFFID=R1\n##LOCALITY=Here\n##OWNER=Me\n##SOURCE=Y\n"
                               "##DESCRIPTION=Z\nfree text\n##END=\n"))


def _same_spectrum(x, y):
    def check(s):
        np.testing.assert_allclose(s.wavenumber, np.round(x, 4))
        np.testing.assert_allclose(s.intensity, y, atol=1e-3)  # written with 6 significant digits
    return check


@case("spectrum-todays-wrapped-header-lf", "ok")
def _(ctx):
    x, y = make_spectrum_arrays()
    text = wrapped(make_rruff_text("Actinolite", "R040063", layout="modern", laser_nm=514))

    def check(s):
        _same_spectrum(x, y)(s)
        assert s.header["ORIENTATION"] == "The c axis Fiducial mark on the upper left"
        assert s.header["DIFFRACTION SAMPLE DESCRIPTION"] == "Powder, ground in acetone" and s.laser_nm == 514
    return spectrum(write(ctx, text, make_rruff_name("Actinolite", "R040063-4", layout="modern")), check)


@case("spectrum-todays-wrapped-header-cr-only", "ok")
def _(ctx):
    x, y = make_spectrum_arrays()
    text = wrapped(make_rruff_text(layout="modern", newline="\r"), "\r")
    assert "\n" not in text
    return spectrum(write(ctx, text), _same_spectrum(x, y))


@case("spectrum-high-to-low-is-reversed", "ok")
def _(ctx):
    x, y = make_spectrum_arrays()
    return spectrum(write(ctx, make_rruff_text(wavenumber=x[::-1], intensity=y[::-1])), _same_spectrum(x, y))


@case("spectrum-latin1-locality", "ok")
def _(ctx):
    def check(s):
        assert s.locality == "Cerro Gordo, México" and len(s) == 200
    return spectrum(write(ctx, make_rruff_text(locality="Cerro Gordo, México").encode("latin-1")), check)


@case("spectrum-utf8-bom-and-crlf", "ok")
def _(ctx):
    x, y = make_spectrum_arrays()
    return spectrum(write(ctx, "\ufeff" + make_rruff_text(newline="\r\n")), _same_spectrum(x, y))


@case("spectrum-without-end-marker", "ok")
def _(ctx):
    x, y = make_spectrum_arrays()
    return spectrum(write(ctx, make_rruff_text(end=False)), _same_spectrum(x, y))


@case("spectrum-rows-after-end-ignored", "ok")
def _(ctx):
    def check(s):
        assert len(s) == 20 and s.wavenumber[-1] == 188.0
    return spectrum(write(ctx, make_rruff_text(rows=GOOD_ROWS, trailer="\n9999.0, 1.0\n")), check)


@case("spectrum-huge-header-value", "ok")
def _(ctx):
    def check(s):
        # read, but only the first MAX_KEPT_VALUE_CHARS characters are kept (issue 23: headers not retained whole)
        assert s.header["DESCRIPTION"] == "x" * MAX_KEPT_VALUE_CHARS and len(s) == 200
    return spectrum(write(ctx, make_rruff_text(extra_header={"DESCRIPTION": "x" * 2_000_000})), check)


@case("spectrum-scientific-notation-and-tabs", "ok")
def _(ctx):
    def check(s):
        np.testing.assert_allclose(s.wavenumber, [150.0 + 2 * k for k in range(20)])
        np.testing.assert_allclose(s.intensity, [1e-3 * (k + 1) for k in range(20)])
    rows = [f"{150 + 2 * k:.6e}\t{1e-3 * (k + 1):.3E}" for k in range(20)]
    return spectrum(write(ctx, make_rruff_text(rows=rows)), check)


# ============================================================================= degenerate spectra through predict
WN = np.arange(100.0, 1300.0, 0.5)


def _band(centre: float = 700.0) -> np.ndarray:
    return 100 * np.exp(-0.5 * ((WN - centre) / 25.0) ** 2) + 5.0


def _predict_one(ctx: Ctx, x: np.ndarray, y: np.ndarray, name: str = "mine.txt", n_classified: int = 0) -> Seen:
    return predict(ctx, write(ctx, rows_text(x, y), name), n_classified=n_classified)


@case("predict-gap-300-1100", "skip", r"mine.txt: not covering grid: no measured point between 299.5 and 1100.5")
def _(ctx):
    keep = (WN < 300) | (WN > 1100)
    return _predict_one(ctx, WN[keep], _band()[keep])


@case("predict-ten-points-over-the-grid", "skip", r"more than max_gap 20 cm\^-1; 10 points on the grid")
def _(ctx):
    return _predict_one(ctx, np.linspace(150.0, 1200.0, 10), np.linspace(1.0, 2.0, 10))


@case("predict-all-negative", "skip", r"mostly negative: 100% of the points on the grid are below zero")
def _(ctx):
    return _predict_one(ctx, WN, -_band())


@case("predict-short-range", "skip", r"not covering grid: spectrum spans 100.0-549.\d cm\^-1, 3\d% of the grid")
def _(ctx):
    keep = WN < 550  # 150-550 of the 150-1200 cm^-1 grid: too little to compare (a partial range from 60 % on is)
    return _predict_one(ctx, WN[keep], _band()[keep])


@case("predict-constant", "skip", r"flat: constant after resampling, cannot minmax-normalise")
def _(ctx):
    return _predict_one(ctx, WN, np.full(WN.size, 42.0))


def _same_answer_as_counts(ctx: Ctx, factor: float, dip: bool = False) -> Seen:
    """A spectrum scaled by ``factor`` is classified exactly as the same shape in counts."""
    from ramancmp.predict import predict_paths

    y = _band(400.0)
    y[1500] = -y.max() if dip else y[1500]  # one point as far below zero as the peak is above
    plain = write(ctx, rows_text(WN, y), "counts.txt")
    scaled = write(ctx, rows_text(WN, y * factor), "scaled.txt")
    report = predict_paths(ctx.checkpoint, [plain, scaled], top=3)
    assert report["errors"] == [], report["errors"]
    a, b = ([t["probability"] for t in p["top"]] for p in report["predictions"])
    np.testing.assert_allclose(a, b, rtol=1e-5)
    return Seen("ok")


@case("predict-range-plus-minus-1e308", "ok")
def _(ctx):  # max - min overflows to inf: this used to be reported as "constant"
    return _same_answer_as_counts(ctx, 1.7e308 / 105.0, dip=True)  # values from -1.7e308 to +1.7e308


@case("predict-range-near-1e-310", "ok")
def _(ctx):  # subnormal values: the norm underflowed to 0, "constant" again
    return _same_answer_as_counts(ctx, 1e-312)


@case("preprocess-1e300-with-normalisation-none", "skip", r"out of range: intensities up to 1.0\de\+302 do not fit "
                                                      r"float32")
def _(ctx):
    from ramancmp.data.preprocess import preprocess_many

    path = write(ctx, rows_text(WN, _band() * 1e300), "huge.txt")
    s = read_spectrum(path)
    X, kept, reasons = preprocess_many([s, (WN, _band())], PreprocessConfig(n_points=128, normalisation="none"))
    assert kept.tolist() == [False, True] and np.isfinite(X).all()
    return Seen("skip", f"{s.source}: {reasons[0]}", s.source)


@case("predict-one-zip-with-an-encrypted-member", "skip", r"::second.txt: unreadable zip member: .*encrypted")
def _(ctx):
    path = ctx.tmp / "batch.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for k, name in enumerate(["second.txt", "first.txt", "third.txt"]):
            zf.writestr(name, rows_text(WN, _band(400.0 + 300 * k)))
    data = bytearray(path.read_bytes())  # flag bit 0 (encrypted) on the first member, in both headers
    data[data.index(b"PK\x03\x04") + 6] |= 1
    data[data.index(b"PK\x01\x02") + 8] |= 1
    path.write_bytes(bytes(data))
    return predict(ctx, path, n_classified=2)  # the other members are still classified


@case("predict-missing-file-among-good-ones", "skip", r"missing.txt: .*no such spectrum file")
def _(ctx):
    return predict(ctx, write(ctx, rows_text(WN, _band()), "good.txt"), ctx.tmp / "missing.txt", n_classified=1)


@case("predict-empty-zip", "skip", r"empty.zip: no .txt spectrum files in it")
def _(ctx):
    path = ctx.tmp / "empty.zip"
    zipfile.ZipFile(path, "w").close()
    return predict(ctx, path, n_classified=0)


@case("predict-users-file-that-is-not-a-zip", "skip", r"not-really.zip: not a zip archive; check or recreate this zip")
def _(ctx):
    seen = predict(ctx, write(ctx, "<html>error 404</html>", "not-really.zip"), n_classified=0)
    assert "fetch a fresh copy" not in seen.text and "--force" not in seen.text  # a download cannot fix a user's file
    return seen


@case("predict-folder-with-a-fifo", "skip", r"pipe.txt: not a regular file .*not read")
def _(ctx):
    folder = ctx.tmp / "mine"
    write(ctx, rows_text(WN, _band()), "mine/good.txt")
    os.mkfifo(folder / "pipe.txt")
    return predict(ctx, folder, n_classified=1)


# ====================================================================================================== archives
@case("archive-missing", "error", r"no such file or folder")
def _(ctx):
    return archive(ctx.tmp / "nothing.zip", 0)


@case("archive-users-zip-truncated", "error", r"a truncated or corrupt zip archive; check or recreate this zip")
def _(ctx):
    full = write_rruff_zip(ctx.tmp / "full.zip", {make_rruff_name(index=k): make_rruff_text(seed=k) for k in range(3)})
    cut = write(ctx, full.read_bytes()[: full.stat().st_size // 2], "mine.zip")
    seen = archive(cut, 0)
    assert "fetch a fresh copy" not in seen.text
    return seen


@case("archive-member-larger-than-declared", "error", r"corrupt zip archive \(Bad CRC-32")
def _(ctx):  # a member whose header declares fewer bytes than it inflates to: zipfile stops at the declared size
    path = write_rruff_zip(ctx.tmp / "liar.zip", {NAME: make_rruff_text()})
    data = bytearray(path.read_bytes())
    for offset in (data.index(b"PK\x03\x04") + 22, data.index(b"PK\x01\x02") + 24):  # uncompressed size fields
        data[offset:offset + 4] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return archive(path, 0)


@case("archive-zip-bomb-member", "skip", r"too large for a spectrum file: 20,971,5\d\d bytes \(limit 16,777,216")
def _(ctx):  # 20 MiB inflated from about 20 kB; skipped by its declared size before anything is inflated
    path = ctx.tmp / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(NAME, make_rruff_text())
        zf.writestr(make_rruff_name(index=2), b"1000.0, 1.0\n" * (20 * 2**20 // 12) + b"1000.0, 1.\n")
    assert path.stat().st_size < 100_000
    return archive(path, 1, 1)


@case("archive-member-with-too-many-rows", "skip", r"too many data rows")
def _(ctx):
    path = write_rruff_zip(ctx.tmp / "rows.zip", {NAME: make_rruff_text(), make_rruff_name(index=2):
                                                  make_rruff_text(rows=[f"{k}, 1" for k in range(MAX_ROWS + 5)])})
    return archive(path, 1, 1)


@case("archive-member-with-a-huge-line", "skip", r"characters long, not a data row")
def _(ctx):
    path = write_rruff_zip(ctx.tmp / "line.zip", {NAME: make_rruff_text(), make_rruff_name(index=2):
                                                  make_rruff_text(rows=GOOD_ROWS + ["1.0, " * 500_000])})
    return archive(path, 1, 1)


@case("archive-more-members-than-the-limit", "error", r"61 .txt files, more than the limit of 60 .*split it")
def _(ctx):  # the limit (100,000) lowered so that the case stays small; refused before any member is read
    import ramancmp.data.rruff as rruff

    ctx.monkeypatch.setattr(rruff, "MAX_MEMBERS", 60)
    return archive(write_rruff_zip(ctx.tmp / "many.zip", {f"m{k:02d}.txt": "" for k in range(61)}), 0)


@case("folder-more-bytes-than-the-limit", "error", r"its .txt files hold 15,\d\d\d bytes, more than the limit of "
                                                   r"10,000")
def _(ctx):  # the limit (2 GiB) lowered, as above
    import ramancmp.data.rruff as rruff

    ctx.monkeypatch.setattr(rruff, "MAX_TOTAL_BYTES", 10_000)
    for k in range(4):
        write(ctx, make_rruff_text(seed=k), f"big/{make_rruff_name(index=k)}")
    return archive(ctx.tmp / "big", 0)


@case("archive-empty-zip", "ok")
def _(ctx):
    path = ctx.tmp / "empty.zip"
    zipfile.ZipFile(path, "w").close()
    return archive(path, 0)


@case("archive-only-other-files", "ok")
def _(ctx):  # .csv, .png, folders: not spectra, not counted
    return archive(write_rruff_zip(ctx.tmp / "other.zip", {"a.csv": "1,2\n", "b.png": b"\x89PNG", "c/": b""}), 0)


@case("archive-macos-forks-ignored", "ok")
def _(ctx):
    files = {NAME: make_rruff_text(), f"__MACOSX/._{NAME}": b"\x00\x05\x16\x07", f"._{NAME}": b"\x00\x05\x16\x07"}
    return archive(write_rruff_zip(ctx.tmp / "mac.zip", files), 1)


@case("archive-nested-zip-not-opened", "ok")
def _(ctx):
    inner = write_rruff_zip(ctx.tmp / "inner.zip", {make_rruff_name(index=k): make_rruff_text() for k in range(3)})
    return archive(write_rruff_zip(ctx.tmp / "outer.zip", {NAME: make_rruff_text(), "inner.zip":
                                                           inner.read_bytes()}), 1)


@case("archive-many-broken-members", "skip", r"m00000.txt: line 1 has 3 columns, expected 2")
def _(ctx):
    files = {f"m{k:05d}.txt": "not a spectrum\n" for k in range(3000)}
    files[NAME] = make_rruff_text()
    seen = archive(write_rruff_zip(ctx.tmp / "junk.zip", files), 1, 3000)
    assert seen.text.count("\n") == 2999  # every one reported, each with its reason
    return seen


@case("archive-deeply-nested-member", "ok")
def _(ctx):
    deep = "/".join(["level"] * 200)
    return archive(write_rruff_zip(ctx.tmp / "deep.zip", {f"{deep}/{NAME}": make_rruff_text()}), 1)


@case("archive-member-with-backslash-path", "error", r"refusing an archive with member names outside its folder")
def _(ctx):
    files = {NAME: make_rruff_text(), "sub\\..\\..\\evil.txt": make_rruff_text()}
    return archive(write_rruff_zip(ctx.tmp / "evil.zip", files), 0)


@case("folder-with-a-symlink-loop", "ok")
def _(ctx):
    folder = ctx.tmp / "loop"
    write(ctx, make_rruff_text(), f"loop/{NAME}")
    os.symlink(folder, folder / "again")  # rglob would walk forever if it followed folder links
    os.symlink(folder / "again", folder / "again.txt")  # a link to a folder named like a spectrum: not a file
    return archive(folder, 1)


@case("folder-with-a-broken-link", "skip", r"dangling.txt: a broken link")
def _(ctx):
    folder = ctx.tmp / "links"
    write(ctx, make_rruff_text(), f"links/{NAME}")
    os.symlink(ctx.tmp / "gone.txt", folder / "dangling.txt")
    return archive(folder, 1, 1)


@case("folder-of-todays-files-mixed-with-junk", "skip", r"notes.txt: .*not numeric")
def _(ctx):
    folder = ctx.tmp / "today"
    for k in range(4):
        write(ctx, wrapped(make_rruff_text(f"Mineral-{k}", f"R0{k}0063", layout="modern", seed=k), "\n"),
              f"today/{make_rruff_name(f'Mineral{k}', f'R0{k}0063-4', layout='modern', index=f'h{k}')}")
    write(ctx, "shopping list\nmilk\n", "today/notes.txt")
    return archive(folder, 4, 1)


# ==================================================================================================== command line
@case("cli-fetch-from-a-folder", "error", r"cannot copy .*: it is a folder; give the zip file itself")
def _(ctx):
    (ctx.tmp / "downloads").mkdir()
    seen = command("data", "fetch", "--from", ctx.tmp / "downloads", "--dest", ctx.tmp / "cache",
                   names=ctx.tmp / "downloads")
    assert "no such file" not in seen.text
    return seen


@case("cli-fetch-from-a-fifo", "error", r"not a regular file \(a device, FIFO or socket\)")
def _(ctx):
    os.mkfifo(ctx.tmp / "pipe.zip")
    return command("data", "fetch", "--from", ctx.tmp / "pipe.zip", "--dest", ctx.tmp / "cache",
                   names=ctx.tmp / "pipe.zip")


@case("cli-fetch-from-a-missing-file", "error", r"cannot copy .*: no such file")
def _(ctx):
    return command("data", "fetch", "--from", ctx.tmp / "nope.zip", "--dest", ctx.tmp / "cache",
                   names=ctx.tmp / "nope.zip")


def _verified_cache(ctx: Ctx) -> Path:
    src = write_rruff_zip(ctx.tmp / "good.zip", {make_rruff_name(index=k): make_rruff_text(seed=k) for k in range(3)})
    assert cli("data", "fetch", "--from", src, "--dest", ctx.tmp / "cache")[0] == 0
    return archive_path(ctx.tmp / "cache")


@case("cli-fetch-force-from-a-bad-zip-keeps-the-verified-copy", "error", r"is not a valid zip archive")
def _(ctx):
    dest = _verified_cache(ctx)
    before = (dest.read_bytes(), record_path(dest).read_text())
    seen = command("data", "fetch", "--force", "--from", write(ctx, "not a zip", "bad.zip"), "--dest",
                   ctx.tmp / "cache", names=ctx.tmp / "bad.zip")
    assert (dest.read_bytes(), record_path(dest).read_text()) == before
    assert sorted(p.name for p in dest.parent.iterdir()) == sorted([dest.name, record_path(dest).name])  # no .part
    return seen


@case("cli-fetch-from-the-cached-file-itself", "ok")
def _(ctx):
    dest = _verified_cache(ctx)
    data = dest.read_bytes()
    record_path(dest).unlink()
    seen = command("data", "fetch", "--from", dest, "--dest", ctx.tmp / "cache")
    assert dest.read_bytes() == data and json.loads(record_path(dest).read_text())["sha256"] == \
        hashlib.sha256(data).hexdigest()
    return seen


@case("cli-summary-source-fifo", "error", r"not a regular file or folder")
def _(ctx):
    os.mkfifo(ctx.tmp / "pipe")
    return command("data", "summary", "--source", ctx.tmp / "pipe", names=ctx.tmp / "pipe")


@case("cli-summary-source-missing", "error", r"no RRUFF archive at .*gone.zip: no such file or folder")
def _(ctx):
    seen = command("data", "summary", "--source", ctx.tmp / "gone.zip", names=ctx.tmp / "gone.zip")
    assert "data fetch" not in seen.text  # fetching fills the data cache, not the user's path
    return seen


@case("cli-summary-empty-data-cache", "error", r"no RRUFF archive at .*data-cache.*download it with `python -m "
                                               r"ramancmp data fetch`")
def _(ctx):
    return command("data", "summary", names=ctx.tmp / "data-cache")


@case("cli-summary-users-zip-not-a-zip", "error", r"not a zip archive; check or recreate this zip")
def _(ctx):
    path = write(ctx, "<html>maintenance</html>", "mine.zip")
    seen = command("data", "summary", "--source", path, names=path)
    assert "fetch a fresh copy" not in seen.text
    return seen


@case("cli-summary-zip-without-spectra", "skip", r"no usable spectrum for task 'rruff-groups-10'")
def _(ctx):
    path = write_rruff_zip(ctx.tmp / "notes.zip", {"a.txt": "hello\n", "b.txt": "world\n"})
    seen = command("data", "summary", "--source", path, names=path)
    assert "unreadable (skipped)          2" in seen.text
    return seen


@case("cli-curation-table-missing", "error", r"gone.csv: no curation table")
def _(ctx):
    folder = ctx.tmp / "src"
    write(ctx, make_rruff_text(), f"src/{NAME}")
    return command("data", "curation", "--check", "--source", folder, "--path", ctx.tmp / "gone.csv",
                   names=ctx.tmp / "gone.csv")


@case("cli-curation-table-unknown-flag", "error", r"bad.csv: unknown flag\(s\) \['suspicious'\]")
def _(ctx):
    folder = ctx.tmp / "src"
    write(ctx, make_rruff_text(), f"src/{NAME}")
    path = write(ctx, "rruff_id,species,group,flag,reason,field,source_text,n_spectra\n"
                      "R050016,Agardite-(Y),,suspicious,why,STATUS,text,1\n", "bad.csv")
    return command("data", "curation", "--check", "--source", folder, "--path", path, names=path)


@case("cli-curation-table-disagrees", "skip",
      r"R050016 Agardite-\(Y\) mixture: in bad.csv but not produced by the archive")
def _(ctx):
    folder = ctx.tmp / "src"
    write(ctx, make_rruff_text(), f"src/{NAME}")  # its headers flag nothing
    path = write(ctx, "rruff_id,species,group,flag,reason,field,source_text,n_spectra\n"
                      "R050016,Agardite-(Y),,mixture,why,DESCRIPTION,text,1\n", "bad.csv")
    return command("data", "curation", "--check", "--source", folder, "--path", path, names=path)


@case("cli-summary-unknown-task", "error", r"unknown task 'no-such-task'")
def _(ctx):
    folder = ctx.tmp / "src"
    write(ctx, make_rruff_text(), f"src/{NAME}")
    return command("data", "summary", "--task", "no-such-task", "--source", folder, names="no-such-task")


# ===================================================================================================== checkpoints
def _copy_checkpoint(ctx: Ctx, name: str = "model") -> tuple[Path, Path]:
    folder = ctx.tmp / "ckpt"
    folder.mkdir(exist_ok=True)
    pt, js = folder / f"{name}.pt", folder / f"{name}.json"
    pt.write_bytes(ctx.checkpoint.read_bytes())
    js.write_text(ctx.checkpoint.with_suffix(".json").read_text())
    return pt, js


def _edit_json(js: Path, edit: Callable[[dict], Any]) -> None:
    info = json.loads(js.read_text())
    edit(info)
    js.write_text(json.dumps(info))


def _predict_cli(ctx: Ctx, model: Any, names: Any) -> Seen:
    spectrum_file = write(ctx, rows_text(WN, _band()), "input.txt")
    return command("predict", "--model", model, spectrum_file, names=names)


@case("checkpoint-weights-file-missing", "error", r"checkpoint file .*model.pt not found")
def _(ctx):
    pt, _js = _copy_checkpoint(ctx)
    pt.unlink()
    return _predict_cli(ctx, pt.with_suffix(".json"), names=pt)


@case("checkpoint-empty-weights-file", "error", r"checkpoint weights .*model.pt cannot be loaded")
def _(ctx):
    pt, _js = _copy_checkpoint(ctx)
    pt.write_bytes(b"")
    return _predict_cli(ctx, pt, names=pt)


class _Payload:
    """An object whose unpickling would run code: ``weights_only=True`` must refuse it, not run it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@case("checkpoint-weights-with-pickled-code", "error", r"model.pt cannot be loaded: the file holds pickled objects")
def _(ctx):
    import torch

    pt, _js = _copy_checkpoint(ctx)
    marker = ctx.tmp / "code-ran"
    torch.save({"weight": _Payload(marker)}, pt)
    seen = _predict_cli(ctx, pt, names=pt)
    assert not marker.exists(), "loading a checkpoint executed pickled code"
    return seen


@case("checkpoint-weights-of-another-network", "error", r"model.pt cannot be loaded \(RuntimeError: Error\(s\) in "
                                                         r"loading state_dict for CNN1D: size mismatch for stages")
def _(ctx):
    import torch

    pt, _js = _copy_checkpoint(ctx)
    state = torch.load(pt, weights_only=True)
    torch.save({k: torch.zeros(3, 3) for k in state}, pt)
    return _predict_cli(ctx, pt, names=pt)


@case("checkpoint-side-car-empty", "error", r"checkpoint side-car .*model.json is not valid JSON")
def _(ctx):
    pt, js = _copy_checkpoint(ctx)
    js.write_text("")
    return _predict_cli(ctx, pt, names=js)


@case("checkpoint-side-car-is-a-list", "error", r"model.json is not a ramancmp checkpoint \(format None\)")
def _(ctx):
    pt, js = _copy_checkpoint(ctx)
    js.write_text("[1, 2, 3]")
    return _predict_cli(ctx, pt, names=js)


@case("checkpoint-side-car-unknown-builder", "error", r"model.json does not describe a model this version can build "
                                                       r"\(unknown model 'resnet9000'")
def _(ctx):
    pt, js = _copy_checkpoint(ctx)
    _edit_json(js, lambda info: info["model"].update(name="resnet9000"))
    return _predict_cli(ctx, pt, names=js)


@case("checkpoint-side-car-bad-builder-arguments", "error", r"model.json does not describe a model this version can "
                                                             r"build \(.*no_such_argument")
def _(ctx):
    pt, js = _copy_checkpoint(ctx)
    _edit_json(js, lambda info: info["model"].update(kwargs={"no_such_argument": 3}))
    return _predict_cli(ctx, pt, names=js)


@case("checkpoint-side-car-without-class-names", "error", r"model.pt has 0 class names for 3 outputs")
def _(ctx):
    pt, js = _copy_checkpoint(ctx)
    _edit_json(js, lambda info: info.pop("class_names"))
    return _predict_cli(ctx, pt, names=pt)


@case("checkpoint-side-car-without-preprocessing", "error", r"model.pt has no preprocessing config")
def _(ctx):
    pt, js = _copy_checkpoint(ctx)
    _edit_json(js, lambda info: info.pop("preprocess"))
    return _predict_cli(ctx, pt, names=pt)


@case("checkpoint-side-car-unknown-preprocessing", "error", r"unknown preprocessing settings \['baseline'\]")
def _(ctx):
    pt, js = _copy_checkpoint(ctx)
    _edit_json(js, lambda info: info["preprocess"].update(baseline="als"))
    return _predict_cli(ctx, pt, names="baseline")


@case("checkpoint-missing-both-files", "error", r"checkpoint .*nothing.pt not found \(expected nothing.pt and "
                                                r"nothing.json\)")
def _(ctx):
    return _predict_cli(ctx, ctx.tmp / "nothing.pt", names=ctx.tmp / "nothing.pt")


@case("model-name-lda", "error", r"'lda' is a scikit-learn model: predict uses trained networks")
def _(ctx):
    ctx.monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(ctx.tmp / "store"))
    seen = _predict_cli(ctx, "lda", names="lda")
    assert "save_checkpoint" not in seen.text  # which fails for a scikit-learn model
    return seen


@case("model-name-knn_cosine-without-the-archive", "error", r"no RRUFF archive at .*data fetch")
def _(ctx):
    # knn_cosine is the library search, which needs no training but the archive it searches
    ctx.monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(ctx.tmp / "store"))
    return _predict_cli(ctx, "knn_cosine", names="excellent_unoriented.zip")


@case("model-name-unknown", "error", r"'resnet9000' is neither a checkpoint file nor a model name")
def _(ctx):
    return _predict_cli(ctx, "resnet9000", names="resnet9000")


@case("model-name-network-not-trained-yet", "error",
      r"no trained 'cnn' checkpoint for task 'rruff-groups-10'.*book run")
def _(ctx):
    ctx.monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(ctx.tmp / "store"))
    return _predict_cli(ctx, "cnn", names="cnn")


# ================================================================================================== runner states
@case("runner-unknown-chapter", "error", r"unknown chapter '99'; chapters are: 00_introduction")
def _(ctx):
    return command("book", "run", "--chapters", "99", "--output", ctx.tmp / "build", names="99")


@case("runner-negative-seed", "error", r"seed must be a non-negative integer, got -1")
def _(ctx):
    return command("book", "run", "--seed", "-1", "--chapters", "00", "--output", ctx.tmp / "build", names="-1")


@case("runner-chapters-without-value", "error", r"--chapters: expected at least one argument")
def _(ctx):
    return command("book", "run", "--chapters", "--output", ctx.tmp / "build", names="--chapters")


@case("runner-unknown-profile", "error", r"argument --profile: invalid choice: 'huge'")
def _(ctx):
    return command("book", "run", "--profile", "huge", names="huge")


@case("runner-corrupt-results-file", "ok")
def _(ctx):
    from ramancmp.book import runner

    results = ctx.tmp / "results"
    ctx.monkeypatch.setattr(runner, "profile_dirs", lambda profile, seed=0: {"results": results,
                                                                             "checkpoints": ctx.tmp / "ckpt"})
    write(ctx, '{"metrics": {"answer": 4', "results/01_data.json")  # cut off mid-write by a crash
    assert runner.chapter_finished("01_data", "quick", 0) is False  # rerun, not trusted and not a traceback
    write(ctx, json.dumps({"metrics": {}, "provenance": {"profile": "quick", "seed": 0}}), "results/01_data.json")
    assert runner.chapter_finished("01_data", "quick", 0) is True
    return Seen("ok")


@case("runner-results-of-another-profile-or-seed", "ok")
def _(ctx):
    from ramancmp.book import runner

    results = ctx.tmp / "results"
    ctx.monkeypatch.setattr(runner, "profile_dirs", lambda profile, seed=0: {"results": results,
                                                                             "checkpoints": ctx.tmp / "ckpt"})
    write(ctx, json.dumps({"provenance": {"profile": "full", "seed": 0}}), "results/01_data.json")
    assert not runner.chapter_finished("01_data", "quick", 0)
    write(ctx, json.dumps({"provenance": {"profile": "quick", "seed": 3}}), "results/01_data.json")
    assert not runner.chapter_finished("01_data", "quick", 0)
    return Seen("ok")


# ========================================================================================================== harness
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An (untrained) CNN checkpoint on a 128-point grid with class names and preprocessing, as predict expects:
    these cases test what happens to inputs, not the network's accuracy."""
    import torch

    from ramancmp.models import create_model
    from ramancmp.training import save_checkpoint

    torch.manual_seed(0)
    model = create_model("cnn", len(CLASSES), PP.n_points)
    path = tmp_path_factory.mktemp("malformed-ckpt") / "cnn"
    return save_checkpoint(path, model, extra={"classes": list(range(len(CLASSES))), "class_names": CLASSES,
                                               "preprocess": PP.to_dict(), "task": "synthetic"})


def _tracked_files() -> dict[str, tuple[int, int]]:
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True,
                               timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.SubprocessError):
        return {}
    out = {}
    for name in filter(None, names):
        with contextlib.suppress(OSError):
            st = (REPO / name).stat()
            out[name] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module", autouse=True)
def _no_tracked_file_changes():
    """No case may overwrite a file of the repository (data, results, checkpoints, chapters)."""
    before = _tracked_files()
    yield
    after = _tracked_files()
    changed = sorted(k for k in before if after.get(k) != before[k])
    assert not changed, f"tracked files changed by the malformed-input cases: {changed[:10]}"


class Hang(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: int):
    def alarm(signum, frame):
        raise Hang(f"no answer after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("run, expected, pattern", CASES)
def test_malformed_input(run, expected, pattern, tmp_path, checkpoint, monkeypatch):
    monkeypatch.setenv("RAMANCMP_DATA_DIR", str(tmp_path / "data-cache"))  # never the project's data/raw
    monkeypatch.chdir(tmp_path)
    with _time_limit(TIMEOUT_S):
        seen = run(Ctx(tmp_path, checkpoint, monkeypatch))
    assert isinstance(seen, Seen), f"case returned {seen!r}"
    assert seen.outcome == expected, f"expected {expected}, got {seen.outcome}: {seen.text[:500]}"
    assert "Traceback" not in seen.text
    if pattern:
        assert re.search(pattern, seen.text), f"{pattern!r} not in: {seen.text[:800]}"
    if expected in ("error", "skip"):
        assert seen.names is not None, "an error or a skip must name the file (or argument) it is about"
        assert seen.names in seen.text, f"the message does not name {seen.names}: {seen.text[:500]}"


def test_the_table_has_at_least_60_cases_of_each_kind_of_input():
    ids = [p.id for p in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 60
    kinds = {i.split("-", 1)[0] for i in ids}
    assert {"spectrum", "archive", "folder", "predict", "cli", "checkpoint", "model", "runner"} <= kinds
    assert {i.rsplit("->", 1)[1] for i in ids} == {"error", "skip", "ok"}
