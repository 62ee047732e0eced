"""How fast ``predict`` identifies one spectrum with the library search: from a cold process, and warm (issue 21).

Two numbers, both through the project's own code:

* **cold**: ``python -m ramancmp predict --model library FILE`` in a fresh process, wall and CPU time to exit
  (interpreter, imports, the cached library index read from the data cache, reading the file, the answer, the
  printed report), median of ``--repeats`` runs; the first run builds the index if it is missing and is reported
  apart. The imports of that process are listed, so one can check that neither torch nor scikit-learn is loaded.
* **warm**: :meth:`ramancmp.predict.Identifier.identify` on the same spectrum already in memory (preprocessing, the
  raw check, the shift-tolerant search over the library, the top matches), median over ``--rounds`` calls, and the
  search alone (:meth:`Identifier.answer` on the preprocessed row).

    .venv/bin/python benchmarks/predict_speed.py                  # a table
    .venv/bin/python benchmarks/predict_speed.py --json out.json

Needs the fetched archive (``python -m ramancmp data fetch``). The spectrum is an archive file of a sample in the
library (its speed does not depend on which). Not a test: timings depend on the machine and its load (the load
average is printed beside them), so nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _spectrum_file(folder: Path) -> Path:
    from ramancmp.data.cache import archive_path

    with zipfile.ZipFile(archive_path()) as zf:
        name = next(n for n in sorted(zf.namelist()) if n.startswith("Calcite__") and "Processed" in n)
        path = folder / Path(name).name
        path.write_bytes(zf.read(name))
    return path


def cold(path: Path, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "ramancmp", "predict", "--model", "library", str(path)]
    import resource

    times, cpu = [], []
    for _ in range(repeats + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"predict failed: {done.stderr[-2000:]}")
    probe = ("import sys, runpy; sys.argv = ['ramancmp', 'predict', '--model', 'library', " + repr(str(path)) + "]\n"
             "try:\n    runpy.run_module('ramancmp', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "print('MODULES', sorted(m for m in ('torch', 'sklearn', 'pybaselines', 'scipy.signal', 'pandas') "
             "if m in sys.modules), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    loaded = next((line.split(" ", 1)[1] for line in done.stderr.splitlines() if line.startswith("MODULES")), "?")
    return {"first_s": times[0], "median_s": statistics.median(times[1:]), "runs_s": times[1:],
            "median_cpu_s": statistics.median(cpu[1:]),
            "heavy_modules_loaded": loaded}


def warm(path: Path, rounds: int) -> dict:
    from ramancmp.data.instruments import read_inputs
    from ramancmp.predict import Identifier, _prepare

    ident = Identifier.for_task()
    reading = read_inputs([path])[0][0]
    ident.identify(reading)  # the shift rule read once
    row, mask, notes = _prepare(reading, ident.preprocess, "auto")

    def median_ms(fn) -> float:
        out = []
        for _ in range(rounds):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return 1e3 * statistics.median(out)

    return {"identify_ms": median_ms(lambda: ident.identify(reading)),
            "prepare_ms": median_ms(lambda: _prepare(reading, ident.preprocess, "auto")),
            "search_ms": median_ms(lambda: ident.answer(row[None], mask[None], [reading], [notes])),
            "library_spectra": ident.library_size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="cold runs after the first (default 5)")
    parser.add_argument("--rounds", type=int, default=200, help="warm calls (default 200)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as `predict` sets it (before numpy loads)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        path = _spectrum_file(Path(tmp))
        result = {"load_average_before": os.getloadavg(), "cpus": os.cpu_count(), "cold": cold(path, args.repeats),
                  "warm": warm(path, args.rounds), "load_average_after": os.getloadavg()}
    c, w = result["cold"], result["warm"]
    print(f"machine: {result['cpus']} CPUs, load average {result['load_average_before'][0]:.1f} before, "
          f"{result['load_average_after'][0]:.1f} after")
    print(f"cold  predict --model library FILE: median {c['median_s']:.2f} s wall over {args.repeats} runs "
          f"(first run {c['first_s']:.2f} s), CPU time {c['median_cpu_s']:.2f} s; heavy modules loaded: "
          f"{c['heavy_modules_loaded']}")
    print(f"warm  Identifier.identify: median {w['identify_ms']:.2f} ms (preprocessing + raw check "
          f"{w['prepare_ms']:.2f} ms, search of {w['library_spectra']} spectra over shifts {w['search_ms']:.2f} ms)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
