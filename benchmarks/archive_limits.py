"""Memory and time of the worst archive inputs, read by the project's own code with its limits (issue 13).

Each case builds its input once (in a scratch folder), then reads it in a fresh subprocess through
:func:`ramancmp.data.rruff.load_archive` (what ``data summary``, ``load_task`` and ``predict`` call) and reports that
process's peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), the wall time of the read alone, and
what the reader made of the input (spectra loaded, files skipped with the first reason, or the error). The
``baseline`` case (one good spectrum) shows what the interpreter and its imports cost, so a case's own cost is its
difference to the baseline.

    .venv/bin/python benchmarks/archive_limits.py                 # all cases, a table
    .venv/bin/python benchmarks/archive_limits.py --json out.json # also the numbers as JSON
    .venv/bin/python benchmarks/archive_limits.py --cases zip-bomb many-members

Not a test: timings depend on the machine and its load, so nothing here asserts a time. Inputs take about 0.5 GB
of scratch space at most (``--scratch``, default a temporary folder, removed afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the test suite's RRUFF file builders: one definition of a RRUFF file

from ramancmp.data.rruff import MAX_FILE_BYTES  # noqa: E402

from conftest import make_rruff_name, make_rruff_text  # noqa: E402

GOOD = make_rruff_text()
NAME = make_rruff_name()

# the child: read the input with the project's reader and report peak memory, wall time and the outcome
CHILD = r"""
import json, resource, sys, time
from ramancmp.data.rruff import ArchiveError, load_archive
t0 = time.perf_counter()
try:
    c = load_archive(sys.argv[1])
    out = {"outcome": "ok" if not c.skipped else "skip", "spectra": len(c.spectra), "skipped": len(c.skipped),
           "reason": c.skipped[0].reason[:90] if c.skipped else ""}
except (ArchiveError, ValueError, OSError) as exc:
    out = {"outcome": "error", "spectra": 0, "skipped": 0, "reason": str(exc).split(": ", 1)[-1][:90]}
out["read_s"] = round(time.perf_counter() - t0, 3)
out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print(json.dumps(out))
"""


def _stream_member(zf: zipfile.ZipFile, name: str, chunks) -> None:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as out:
        for chunk in chunks:
            out.write(chunk)


def _rows(n: int, start: int = 0):
    """``n`` increasing ``wavenumber, intensity`` rows, in 1 MiB-ish chunks (never all in memory)."""
    step = 50_000
    for lo in range(start, start + n, step):
        yield "".join(f"{k}, 1\n" for k in range(lo, min(lo + step, start + n))).encode()


def case_baseline(d: Path) -> Path:
    p = d / "baseline.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(NAME, GOOD)
    return p


def case_zip_bomb(d: Path) -> Path:
    """A zip of under 1 MB whose one member inflates to 360 MB (the issue's case)."""
    p = d / "zip-bomb.zip"
    line = b"1000.0, 1.0\n" * (1 << 16)
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(NAME, GOOD)
        _stream_member(zf, make_rruff_name(index=2), (line for _ in range(360 * 2**20 // len(line))))
    return p


def case_member_at_limit(d: Path) -> Path:
    """One member just under the size limit, all of it data rows: the most a single accepted member can cost."""
    p = d / "member-at-limit.zip"
    header = GOOD.split("150.0000")[0].encode()
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(make_rruff_name(index=3))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as out:
            out.write(header)
            size = len(header)
            for chunk in _rows(3_000_000, start=100_000):
                if size + len(chunk) > MAX_FILE_BYTES - 64:
                    break
                out.write(chunk)
                size += len(chunk)
            out.write(b"##END=\n")
    return p


def case_rows_at_limit(d: Path) -> Path:
    """One spectrum of MAX_ROWS rows (30 times RRUFF's longest): the most rows the reader accepts."""
    from ramancmp.data.rruff import MAX_ROWS

    p = d / "rows-at-limit.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(NAME, GOOD.split("150.0000")[0] + b"".join(_rows(MAX_ROWS - 1, start=100)).decode() + "##END=\n")
    return p


def case_ten_million_rows(d: Path) -> Path:
    """A folder holding one spectrum file of 10 million rows (about 120 MB)."""
    folder = d / "ten-million-rows"
    folder.mkdir()
    with open(folder / NAME, "wb") as fh:
        fh.write(GOOD.split("150.0000")[0].encode())
        for chunk in _rows(10_000_000, start=100_000):
            fh.write(chunk)
    return folder


def case_many_members(d: Path) -> Path:
    """20,000 members (about 4 times the RRUFF archive's 5,471): half good spectra, half one-line junk."""
    p = d / "many-members.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        for k in range(20_000):
            zf.writestr(f"m{k:06d}.txt", GOOD if k % 2 else "not a spectrum\n")
    return p


def case_too_many_members(d: Path) -> Path:
    """MAX_MEMBERS + 1 empty members: refused whole after reading only the zip's directory."""
    from ramancmp.data.rruff import MAX_MEMBERS

    p = d / "too-many-members.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as zf:
        for k in range(MAX_MEMBERS + 1):
            zf.writestr(f"m{k:06d}.txt", b"")
    return p


def case_too_many_bytes(d: Path) -> Path:
    """200 members of 11 MiB each (each under the per-file limit, 2.1 GiB together): refused whole, nothing inflated."""
    p = d / "too-many-bytes.zip"
    chunk = b"1000.0, 1.0\n" * (2**20 // 12)
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for k in range(200):
            _stream_member(zf, f"m{k:03d}.txt", (chunk for _ in range(11)))
    return p


def case_deep_nesting(d: Path) -> Path:
    """1,000 members each 200 folders deep inside the zip (names about 1 kB long)."""
    p = d / "deep-nesting.zip"
    deep = "/".join(["d"] * 200)
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        for k in range(1000):
            zf.writestr(f"{deep}/{k}/{NAME}", GOOD)
    return p


def case_huge_header_line(d: Path) -> Path:
    """One member whose header is a single 15 MiB line (no line break), then the data rows."""
    p = d / "huge-header-line.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(NAME, "##DESCRIPTION=" + "x" * (15 * 2**20) + "\n" + GOOD)
    return p


def case_huge_data_line(d: Path) -> Path:
    """One member whose data is a single 15 MiB line of numbers (no line break)."""
    p = d / "huge-data-line.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(NAME, "##NAMES=X\n" + "1.0, " * (3 * 2**20) + "\n##END=\n")
    return p


def case_rruff_2019(d: Path) -> Path | None:
    """The real archive (5,471 spectra), for scale; skipped when it is not here."""
    from ramancmp.data.fetch import archive_path

    for p in (archive_path(), ROOT.parent / "shared" / "data" / "rruff" / "excellent_unoriented.zip"):
        if p.is_file():
            return p
    return None


CASES = {"baseline": case_baseline, "zip-bomb": case_zip_bomb, "member-at-limit": case_member_at_limit,
         "rows-at-limit": case_rows_at_limit, "ten-million-rows": case_ten_million_rows,
         "many-members": case_many_members, "too-many-members": case_too_many_members,
         "too-many-bytes": case_too_many_bytes,
         "deep-nesting": case_deep_nesting, "huge-header-line": case_huge_header_line,
         "huge-data-line": case_huge_data_line, "rruff-2019": case_rruff_2019}


def _size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size


def run(names: list[str], scratch: Path) -> list[dict]:
    rows = []
    for name in names:
        path = CASES[name](scratch)
        if path is None:
            print(f"{name}: input not available, skipped", file=sys.stderr)
            continue
        proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=600,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if proc.returncode != 0:
            raise SystemExit(f"{name}: the reader crashed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        row = {"case": name, "input_mb": round(_size(path) / 2**20, 2), **json.loads(proc.stdout)}
        rows.append(row)
        print(f"{row['case']:<17} {row['input_mb']:>9.2f} {row['peak_rss_mb']:>9.1f} {row['read_s']:>8.2f}  "
              f"{row['outcome']:<5} {row['spectra']:>7} {row['skipped']:>7}  {row['reason']}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument("--scratch", type=Path, default=None, help="where inputs are built (default: a temp folder)")
    args = parser.parse_args(argv)
    print(f"limits: MAX_FILE_BYTES = {MAX_FILE_BYTES:,} bytes per spectrum file / zip member")
    print(f"{'case':<17} {'input MB':>9} {'peak MB':>9} {'read s':>8}  {'outcome':<5} {'spectra':>7} {'skipped':>7}  "
          "first reason")
    with tempfile.TemporaryDirectory(dir=args.scratch) as tmp:
        rows = run(args.cases, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
