"""The book runner: ``python -m ramancmp book run`` executes the chapters in order with papermill.

Chapters run one after the other, never side by side: each chapter trains its networks in parallel (through the
executor of :mod:`ramancmp.experiments.executor`) and then times them with nothing else running.

Each chapter is a jupytext pair in ``book/`` (``NN_name.py`` text form + ``NN_name.ipynb``). The runner converts the
text form (the source of truth) to a notebook, runs it and writes the executed notebook to
``build/<profile>/NN_name.ipynb``. It injects no parameters cell (the committed notebooks hold exactly the cells of the
text form): the runner resolves the run's :class:`~ramancmp.config.RunContext` once and hands it to the chapter's
kernel as its environment (:meth:`~ramancmp.config.RunContext.to_env`), where the chapter's parameters cell builds the
same context again (:class:`ramancmp.book.Chapter`); the same cell run by hand ("Run All" in JupyterLab,
``papermill`` without ``-p``) runs the quick profile. Progress bars are off in the kernel and their leftovers are
dropped from the outputs.

Results and checkpoints are kept per profile, so a quick (CI) run never overwrites the full-profile results that
the book and README show: the full profile uses ``results/`` and ``checkpoints/``; the quick profile uses
``build/quick/results`` and ``build/quick/checkpoints`` (ignored by git, like ``checkpoints/``).

Resume: a chapter counts as finished when its ``results/<chapter>.json`` exists with the same profile and seed and
no ``results/.<chapter>.running`` marker is beside it; such chapters are skipped unless ``force=True``, so an
interrupted run continues from the first unfinished chapter. The marker is written before a chapter starts and
removed as the very last step of its run, so a chapter stopped half-way (Ctrl-C, SIGTERM, even SIGKILL or a power
cut after its first ``save``) never counts as finished; results it wrote before it was stopped are removed.
With ``update_book=True`` the executed notebooks replace ``book/*.ipynb`` (how the committed outputs are made).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import resource
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import jupytext
import nbformat
import papermill as pm

from ramancmp.book.chapter import profile_dirs
from ramancmp.config import DEFAULT_SEED, PROJECT_ROOT, RunContext
from ramancmp.fileio import write_json_atomic
from ramancmp.navigation import BOOK_DIR, list_chapters

__all__ = ["BookRunLocked", "chapter_finished", "profile_dirs", "run_book", "run_chapter", "select_chapters"]


def select_chapters(requested: list[str] | None, book_dir: Path = BOOK_DIR) -> list[str]:
    """Resolve ``["1", "02", "03_cnn"]`` style requests to chapter names; unknown ones are a ValueError."""
    chapters = list_chapters(book_dir)
    if not requested:
        return chapters
    chosen = []
    for item in requested:
        matches = [c for c in chapters if c == item or c.split("_", 1)[0] == item.zfill(2)]
        if not matches:
            raise ValueError(f"unknown chapter {item!r}; chapters are: {', '.join(chapters)}")
        chosen.extend(m for m in matches if m not in chosen)
    return sorted(chosen)


class BookRunLocked(RuntimeError):
    """Another book run holds the results folder."""


@contextmanager
def _exclusive(folder: Path):
    """Hold ``folder/.book-run.lock`` for the run: a second run on the same results would interleave chapters and
    time them side by side. Raises :class:`BookRunLocked` when another run holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / ".book-run.lock"
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raise BookRunLocked(f"another book run is using {folder} ({fh.read().strip() or 'pid unknown'}); wait for "
                               f"it to end (or remove {lock} if no such run exists)") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def _kernel_environment(ctx: RunContext):
    """The environment of the chapters' kernels (which inherit this process's): the run's context
    (:meth:`RunContext.to_env`), set for the run and restored afterwards -- the one place the runner touches it."""
    wanted = {**ctx.to_env(), "TQDM_DISABLE": "1"}  # progress bars (not switched off by an argument) are noise
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _running_marker(results: Path, chapter: str) -> Path:
    """``results/.<chapter>.running``: present from the start of a chapter's run until its very end."""
    return results / f".{chapter}.running"


def chapter_finished(chapter: str, profile: str, seed: int, results_dir: Path | None = None) -> bool:
    """True when ``results/<chapter>.json`` exists (in ``results_dir``, default the profile's), was produced with
    this profile and seed, and no run of the chapter was interrupted since (no ``.<chapter>.running`` marker)."""
    folder = Path(results_dir) if results_dir is not None else profile_dirs(profile, seed)["results"]
    path = folder / f"{chapter}.json"
    if _running_marker(folder, chapter).exists():
        return False
    try:
        prov = json.loads(path.read_text(encoding="utf-8"))["provenance"]
    except (OSError, ValueError, KeyError):
        return False
    return prov.get("profile") == profile and prov.get("seed") == seed


# The kernel `make install` registers in the virtual environment. JupyterLab writes the running kernel's spec into a
# notebook it opens: with any other display name, an unchanged notebook would be modified (and marked unsaved) at once.
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ramancmp)", "language": "python"}


def _to_notebook(chapter: str, destination: Path, book_dir: Path) -> Path:
    nb = jupytext.read(book_dir / f"{chapter}.py")
    nb.metadata["kernelspec"] = KERNELSPEC
    for cell in nb.cells:  # generated prose: MyST-NB drops its input by the tag, JupyterLab collapses it by this
        if "remove-input" in cell.metadata.get("tags", []):
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
    jupytext.write(nb, destination, fmt="ipynb")
    return destination


def run_chapter(chapter: str, *, ctx: RunContext, output: Path, book_dir: Path = BOOK_DIR) -> Path:
    """Execute one chapter with papermill in the run's context ``ctx``; raise ``RuntimeError`` naming the chapter
    and cell on failure."""
    output.mkdir(parents=True, exist_ok=True)
    source = _to_notebook(chapter, output / f".{chapter}.input.ipynb", book_dir)
    executed = output / f"{chapter}.ipynb"
    # No parameters are injected: the kernel inherits the context as its environment (_kernel_environment), so no
    # absolute path of this machine and no extra cell end up in the executed notebooks, which are committed and
    # rerun elsewhere (nbval in CI).
    try:
        with _kernel_environment(ctx):
            pm.execute_notebook(str(source), str(executed), kernel_name="python3", cwd=str(book_dir),
                                progress_bar=False, log_output=False)
    except pm.PapermillExecutionError as exc:
        raise RuntimeError(f"chapter {chapter} failed in cell {exc.cell_index} (execution count {exc.exec_count}): "
                           f"{exc.ename}: {exc.evalue}\n  executed notebook with the traceback: {executed}") from exc
    finally:
        source.unlink(missing_ok=True)
    clean_outputs(executed, profile=ctx.profile.name, seed=ctx.seed)
    return executed


# One tqdm refresh: "\rdesc:  60%|██████    | 3/5 [00:00<00:00, 21.07split/s]", or the blanks that erase it.
_PROGRESS = re.compile(r"^([^\n|]*\d+%\|[^\n]*\|[^\n]*\]|\s*)$")


_ROOT_PREFIX = f"{PROJECT_ROOT}/"


def _is_progress(text: str) -> bool:
    return "\r" in text and all(_PROGRESS.match(part) for part in text.split("\r"))


def clean_outputs(path: Path, **run) -> int:
    """Drop the stderr outputs that only hold progress-bar refreshes from an executed notebook (returns how many),
    record how it ran (``run``, e.g. profile and seed) in its metadata, and keep no path of this machine in it."""
    nb = nbformat.read(path, as_version=4)
    changed = bool(run)
    if run:
        nb.metadata["ramancmp"] = run
    pm_meta = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if pm_meta.get(key):
            pm_meta[key] = Path(pm_meta[key]).name
            changed = True
    dropped = 0
    for cell in nb.cells:
        if cell.metadata.get("tags") == []:  # papermill's; JupyterLab drops it on save (a diff for nothing)
            del cell.metadata["tags"]
            changed = True
        outputs = cell.get("outputs", [])
        for o in outputs:  # a warning names its source file by absolute path: show it relative to the project
            if o.get("output_type") == "stream" and _ROOT_PREFIX in o.get("text", ""):
                o["text"] = o["text"].replace(_ROOT_PREFIX, "")
                changed = True
        kept = [o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr"
                                           and _is_progress(o.get("text", "")))]
        if len(kept) < len(outputs):
            dropped += len(outputs) - len(kept)
            cell["outputs"] = kept
    if dropped or changed:
        nbformat.write(nb, path)
    return dropped


def run_book(profile: str = "quick", chapters: list[str] | None = None, output: Path | str = "build",
             seed: int = DEFAULT_SEED, force: bool = False, update_book: bool = False,
             book_dir: Path = BOOK_DIR, scheduler: str | None = None) -> int:
    """Run chapters in order; returns a process exit code (0 when every chapter ran or was already finished).

    The run's :class:`RunContext` is resolved here, once (the arguments, then the environment), and every chapter
    runs in it."""
    ctx = RunContext.from_env(profile, seed, scheduler=scheduler)
    selected = select_chapters(chapters, book_dir)
    out = Path(output) / ctx.profile.name
    try:
        with _exclusive(ctx.results_dir):
            return _run_chapters(selected, ctx, force, update_book, book_dir, out)
    except BookRunLocked as exc:
        print(f"[book] {exc}", file=sys.stderr)
        return 1


def _run_chapters(selected: list[str], ctx: RunContext, force: bool, update_book: bool, book_dir: Path,
                  out: Path) -> int:
    profile, seed, results = ctx.profile.name, ctx.seed, ctx.results_dir
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for chapter in selected:
        if not force and chapter_finished(chapter, profile, seed, results):
            print(f"[book] {chapter}: already finished in profile {profile!r} (seed {seed}); skipped "
                  f"(use --force to rerun)")
            continue
        print(f"[book] {chapter}: running (profile {profile}, seed {seed}) ...", flush=True)
        start, cpu_start = time.perf_counter(), _children_cpu_s()
        marker = _running_marker(results, chapter)
        write_json_atomic(marker, {"pid": os.getpid(), "started": time.time()})
        began = time.time()
        try:
            executed = run_chapter(chapter, ctx=ctx, output=out, book_dir=book_dir)
        except (KeyboardInterrupt, SystemExit):
            half = results / f"{chapter}.json"
            if half.exists() and half.stat().st_mtime >= began - 1:  # written by this run before it was stopped
                half.unlink()
            print(f"[book] {chapter}: interrupted; it does not count as finished (rerun to resume from it)",
                  file=sys.stderr, flush=True)
            raise
        except RuntimeError as exc:
            print(f"[book] FAILED: {exc}", file=sys.stderr)
            stale = results / f"{chapter}.json"
            if stale.exists():  # an earlier run's results must not make the failed chapter look finished
                stale.unlink()
                print(f"[book] removed {stale}: it came from an earlier run of this chapter (a committed copy "
                      "comes back with `git checkout -- results/`)", file=sys.stderr)
            return 1
        timings[chapter] = round(time.perf_counter() - start, 1)
        cpu[chapter] = round(_children_cpu_s() - cpu_start, 1)
        _record_timings(results, profile, {chapter: timings[chapter]}, {chapter: cpu[chapter]})  # kept if one stops
        print(f"[book] {chapter}: done in {timings[chapter]:.1f} s (CPU {cpu[chapter]:.1f} s) -> {executed}",
              flush=True)
        if update_book:
            shutil.copyfile(executed, book_dir / f"{chapter}.ipynb")
        marker.unlink(missing_ok=True)  # the very last step: only now does the chapter count as finished
    print(f"[book] {len(selected)} chapter(s) ready in profile {profile!r}; results in {results}")
    return 0


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's finished children: a chapter's kernel and the worker processes
    it started, once the kernel has shut down. Unlike the wall time, it hardly changes when the machine is shared."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _record_timings(results: Path, profile: str, timings: dict[str, float], cpu: dict[str, float]) -> None:
    """Keep each chapter's latest wall time (``chapters``) and CPU time (``cpu_s``) in ``book_timings.json``."""
    path = results / "book_timings.json"
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    previous.setdefault("chapters", {}).update(timings)
    previous.setdefault("cpu_s", {}).update(cpu)
    previous["profile"] = profile
    previous["cpu_count"] = os.cpu_count()
    write_json_atomic(path, previous)
