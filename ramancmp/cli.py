"""``python -m ramancmp`` -- the command line: data, book, bench and predict.

Each sub-command imports its module lazily, so ``data`` works without loading torch.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from ramancmp.config import DEFAULT_SEED, PREDICT_MODEL, PROFILES, RunContext, results_dir

SCHEDULER_HELP = ("where networks train: 'serial', 'local' (worker processes on all cores, the default), 'local:N', "
                  "or a Dask scheduler address tcp://HOST:8786 (default: $RAMANCMP_SCHEDULER)")


def _cmd_data_fetch(args: argparse.Namespace) -> int:
    import logging

    from ramancmp.data.fetch import describe_archive, fetch

    logging.basicConfig(level=logging.INFO, format="%(message)s")

    path = fetch(args.source, dest_dir=args.dest, force=args.force)
    print(describe_archive(path)["note"], file=sys.stderr)  # which archive this is: stdout stays the path
    print(path)
    return 0


def _cmd_data_summary(args: argparse.Namespace) -> int:
    from ramancmp.data.summary import format_summary, summarize

    summary = summarize(args.task, source=args.source)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    if not summary.get("n_spectra"):
        print(f"error: no usable spectrum for task {args.task!r} in this source (see the funnel above)",
              file=sys.stderr)
        return 1
    return 0


def _cmd_data_curation(args: argparse.Namespace) -> int:
    from ramancmp.data.curation import CURATION_CSV, check_curation, curation_table, write_curation

    path = args.path or CURATION_CSV
    if args.check:
        problems = check_curation(path, source=args.source)
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{path}: {'agrees' if not problems else f'{len(problems)} difference(s)'} with the archive's headers")
        return 1 if problems else 0
    table = curation_table(args.source)
    write_curation(table, path)
    counts = ", ".join(f"{flag} {n}" for flag, n in table["flag"].value_counts().sort_index().items())
    print(f"{path}: {len(table)} rows ({counts}) from {table['rruff_id'].nunique()} samples")
    return 0


def _cmd_book_run(args: argparse.Namespace) -> int:
    from ramancmp.book.runner import run_book

    scheduler = None
    if args.scheduler:  # checked here, before any chapter runs
        from ramancmp.experiments.executor import resolve_scheduler

        scheduler = resolve_scheduler(args.scheduler)
    return run_book(profile=args.profile, chapters=args.chapters, output=args.output, seed=args.seed,
                    force=args.force, update_book=args.update_book, scheduler=scheduler)


def _cmd_book_nav(args: argparse.Namespace) -> int:
    from ramancmp.navigation import check_navigation, update_navigation

    if not args.check:
        for path in update_navigation():
            print(f"updated {path}")
    problems = check_navigation()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} navigation problem(s)", file=sys.stderr)
        return 1
    print("navigation up to date, no broken links")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from ramancmp.experiments import bench
    from ramancmp.fileio import jsonable

    ctx = RunContext.from_env(args.profile, args.seed, scheduler=args.scheduler)
    table = bench.run(args.what, task=args.task, profile=ctx.profile, seed=ctx.seed, executor=ctx.scheduler)
    print(json.dumps(jsonable(table), indent=2) if args.json else bench.format_table(table))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import os

    if "numpy" not in sys.modules:  # numpy's OpenBLAS reads this when it loads; an explicit setting is kept
        # the library search's products are small (a few spectra against ~1,000 library spectra): one BLAS thread
        # is as fast as two on an idle machine and many times faster on a busy one (torch has its own threads)
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from ramancmp.fileio import jsonable
    from ramancmp.predict import format_predictions, predict_paths, write_csv

    model = args.model
    if (args.library is not None or args.hold_out) and model is None:
        model = "library"  # your references join (held-out samples leave) the library search
    report = predict_paths(model, args.paths, top=args.top, open_set=not args.closed_set, baseline=args.baseline,
                           max_shift=args.max_shift, library=args.library, x_column=args.x_column,
                           y_column=args.y_column, plot_dir=args.plot,
                           hold_out=args.hold_out.split(",") if args.hold_out else None)
    if args.csv is not None:
        print(f"wrote {write_csv(report, args.csv)}", file=sys.stderr)
    print(json.dumps(jsonable(report), indent=2, allow_nan=False) if args.json else format_predictions(report))
    return 0 if report["predictions"] else 1


def _cmd_report_readme(args: argparse.Namespace) -> int:
    from ramancmp.experiments.report import update_readme

    print(f"updated {update_readme()}")
    return 0


def _cmd_report_compare(args: argparse.Namespace) -> int:
    from ramancmp.experiments.report import compare_runs_markdown

    text, changed = compare_runs_markdown(Path(args.before), Path(args.after or results_dir("full")),
                                          as_stored=args.as_stored)
    print(text)
    return 1 if changed else 0


def _cmd_report_timing_agreement(args: argparse.Namespace) -> int:
    from ramancmp.experiments.report import timing_agreement_text

    text, fraction = timing_agreement_text(Path(args.first), Path(args.second))
    print(text)
    return 0 if fraction is not None and fraction >= args.min else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ramancmp", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="fetch the RRUFF archive, summarise a task").add_subparsers(
        dest="data_command", required=True)
    p = data.add_parser("fetch", help="download (or copy) the RRUFF excellent_unoriented archive into the data cache")
    p.add_argument("--from", dest="source", default=None, help="local zip or URL (default: rruff.info)")
    p.add_argument("--dest", type=Path, default=None,
                   help="data cache folder (default: $RAMANCMP_DATA_DIR or data/raw)")
    p.add_argument("--force", action="store_true", help="fetch again even if a verified copy is present")
    p.set_defaults(func=_cmd_data_fetch)
    p = data.add_parser("summary", help="spectra, classes, samples, lasers and skipped files of a task")
    p.add_argument("--task", default="rruff-groups-10")
    p.add_argument("--source", default=None, help="any RRUFF zip or folder (default: the data cache)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_data_summary)

    p = data.add_parser("curation", help="write (or --check) data/curation.csv: samples whose label the archive's "
                                         "STATUS / DESCRIPTION headers put in doubt")
    p.add_argument("--check", action="store_true", help="compare the committed table with the archive; exit 1 if "
                                                        "they differ")
    p.add_argument("--source", default=None, help="any RRUFF zip or folder (default: the data cache)")
    p.add_argument("--path", type=Path, default=None, help="the table (default: data/curation.csv)")
    p.set_defaults(func=_cmd_data_curation)

    book = sub.add_parser("book", help="run the book's chapters").add_subparsers(dest="book_command", required=True)
    p = book.add_parser("run", help="execute chapters in order with papermill")
    p.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    p.add_argument("--chapters", nargs="+", default=None, help="chapter numbers or names (default: all)")
    p.add_argument("--output", type=Path, default=Path("build"))
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--force", action="store_true", help="rerun chapters that already finished in this profile")
    p.add_argument("--update-book", action="store_true",
                   help="copy the executed notebooks over book/*.ipynb (how the committed outputs are made)")
    p.add_argument("--scheduler", default=None, help=SCHEDULER_HELP)
    p.set_defaults(func=_cmd_book_run)
    p = book.add_parser("nav", help="regenerate the chapters' prev/next links and README's chapter table from the "
                                    "chapter list; report broken links")
    p.add_argument("--check", action="store_true",
                   help="write nothing: print stale navigation and broken relative links, exit 1 if there are any")
    p.set_defaults(func=_cmd_book_nav)

    p = sub.add_parser("bench", help="benchmarks: models, compression methods, or everything side by side")
    p.add_argument("what", choices=["models", "compression", "all"])
    p.add_argument("--task", default="rruff-groups-10")
    p.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--json", action="store_true")
    p.add_argument("--scheduler", default=None, help=SCHEDULER_HELP)
    p.set_defaults(func=_cmd_bench)

    report = sub.add_parser("report", help="generated documents").add_subparsers(dest="report_command",
                                                                                 required=True)
    p = report.add_parser("readme", help="rewrite README.md's results section from results/ (full profile)")
    p.set_defaults(func=_cmd_report_readme)
    p = report.add_parser("compare", help="the paper's claims judged by two runs side by side (exit 1 when a verdict "
                                          "changed): copy results/ aside, rerun the book, compare")
    p.add_argument("before", help="results folder of the first run (e.g. a copy of results/)")
    p.add_argument("after", nargs="?", default=None, help="results folder of the second run (default: results/)")
    p.add_argument("--as-stored", action="store_true", help="compare the verdicts each run wrote (default: judge both "
                                                            "runs' numbers again with this code's rule)")
    p.set_defaults(func=_cmd_report_compare)
    p = report.add_parser("timing-agreement", help="the timing cells two results files share: the fraction whose "
                                                   "95 %% intervals overlap (exit 1 below --min)")
    p.add_argument("first", help="a results file, e.g. results/07_channel_conversion.json")
    p.add_argument("second", help="another, e.g. results/10_comparison.json")
    p.add_argument("--min", type=float, default=0.95, help="the fraction below which the exit status is 1 "
                                                           "(default 0.95)")
    p.set_defaults(func=_cmd_report_timing_agreement)

    default_model = PREDICT_MODEL
    p = sub.add_parser(
        "predict", help="identify spectra: a class or 'not in library', and the top classes per file",
        description="Identify Raman spectra against the RRUFF library (or a trained network). Reads RRUFF .txt, "
                    "delimited text/CSV (header lines, ',' ';' tab or space separators, decimal commas), B&W Tek "
                    "BWSpec and Horiba LabSpec exports, JCAMP-DX (.jdx/.dx), Galactic SPC (.spc), Renishaw WiRE "
                    "(.wdf), and folders and zips of them. Spectra are compared on the 150-1200 cm^-1 grid; one "
                    "covering only part of it is compared on that part (at least 60 % of it). 'not in library' "
                    "means the best similarity is not above a threshold chosen to reject 95 % of validation "
                    "spectra of minerals outside the library's classes; the report states its value.")
    p.add_argument("--model", default=None,
                   help=f"'library' (1-NN cosine library search, no training), a model name (trained on the task) or "
                        f"a checkpoint path (default: {default_model} if its checkpoint exists, else 'library')")
    p.add_argument("--closed-set", action="store_true",
                   help="no 'not in library' rule: force every spectrum into a class (networks only)")
    p.add_argument("paths", nargs="+", help="spectrum files, folders or zips")
    p.add_argument("--top", type=int, default=3, help="how many classes and library matches to list (default 3)")
    p.add_argument("--json", action="store_true", help="the report as JSON (strict: no NaN)")
    p.add_argument("--baseline", choices=["auto", "on", "off"], default="auto",
                   help="baseline correction (arPLS) before the search: 'auto' (default) corrects spectra that look "
                        "uncorrected (a broad background), 'on' always, 'off' never")
    p.add_argument("--max-shift", type=float, default=5.0,
                   help="calibration tolerance of the library search in cm^-1: the best match over shifts of "
                        "+-this much is used and the shift reported (default 5; 0 turns it off)")
    p.add_argument("--library", type=Path, default=None,
                   help="a folder (or file, or zip) of your own reference spectra, added to the library search; each "
                        "is a class of its own, named by its header (NAMES/Title/Sample) or file name")
    p.add_argument("--x-column", default=None, help="x column of a table with more than two columns (name or number)")
    p.add_argument("--y-column", default=None, help="y column of a table with more than two columns (name or number)")
    p.add_argument("--plot", type=Path, default=None, metavar="DIR",
                   help="write an HTML figure per spectrum (plotly, works offline) of it over its best matches")
    p.add_argument("--csv", type=Path, default=None, metavar="FILE", help="also write one CSV row per file")
    p.add_argument("--hold-out", default=None, metavar="IDS",
                   help="RRUFF sample IDs (comma-separated, e.g. R040068) left out of the library search: identify a "
                        "sample's spectrum against the other samples only")
    p.set_defaults(func=_cmd_predict)
    return parser


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (a scheduler, `kill`, a closed terminal) unwinds like Ctrl-C: temporary files and locks are removed."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:  # bad input, a missing or unwritable path: the message names it
        from ramancmp.fileio import printable

        print(f"error: {printable(exc)}", file=sys.stderr)  # names in messages may come from untrusted files
        return 2
    except KeyboardInterrupt:  # Ctrl-C: a line, not a traceback; finished chapters and their timings are kept
        print("interrupted", file=sys.stderr)
        return 130
