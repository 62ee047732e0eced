"""The book runner: ``python -m ramancmp book run`` executes the chapters in order with papermill.

Chapters run one after the other, never side by side: each chapter trains its networks in parallel (through the
executor of :mod:`ramancmp.experiments.executor`) and then times them with nothing else running.

Each chapter is a jupytext pair in ``book/`` (``NN_name.py`` text form + ``NN_name.ipynb``). The runner converts the
text form (the source of truth) to a notebook, runs it and writes the executed notebook to
``build/<profile>/NN_name.ipynb``. It injects no parameters cell (the committed notebooks hold exactly the cells of the
text form): the chapter's parameters cell reads the profile and seed from ``$RAMANCMP_PROFILE`` and ``$RAMANCMP_SEED``,
which the runner sets for the kernel, so the same cell run by hand ("Run All" in JupyterLab, ``papermill`` without
``-p``) runs the quick profile. Progress bars are off in the kernel and their leftovers are dropped from the outputs.

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
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import jupytext
import nbformat
import papermill as pm

from ramancmp.book.chapter import SEED_ENV, profile_dirs
from ramancmp.config import DEFAULT_SEED, PROFILE_ENV, PROJECT_ROOT, get_profile
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
def _profile_environment(profile: str, seed: int = DEFAULT_SEED):
    """Point the chapters' kernels (which inherit this environment) at the profile's folders."""
    dirs = profile_dirs(profile, seed)
    wanted = {"RAMANCMP_RESULTS_DIR": str(dirs["results"]), "RAMANCMP_CHECKPOINT_DIR": str(dirs["checkpoints"]),
              PROFILE_ENV: profile, SEED_ENV: str(seed),
              "TQDM_DISABLE": "1"}  # progress bars (those not switched off by an argument) are noise in a notebook
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield dirs
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _running_marker(results: Path, chapter: str) -> Path:
    """``results/.<chapter>.running``: present from the start of a chapter's run until its very end."""
    return results / f".{chapter}.running"


def chapter_finished(chapter: str, profile: str, seed: int) -> bool:
    """True when ``results/<chapter>.json`` exists, was produced with this profile and seed, and no run of the chapter
    was interrupted since (no ``.<chapter>.running`` marker)."""
    path = profile_dirs(profile, seed)["results"] / f"{chapter}.json"
    if _running_marker(path.parent, chapter).exists():
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
    jupytext.write(nb, destination, fmt="ipynb")
    return destination


def run_chapter(chapter: str, *, profile: str, seed: int, output: Path, book_dir: Path = BOOK_DIR) -> Path:
    """Execute one chapter with papermill; raise ``RuntimeError`` naming the chapter and cell on failure."""
    output.mkdir(parents=True, exist_ok=True)
    source = _to_notebook(chapter, output / f".{chapter}.input.ipynb", book_dir)
    executed = output / f"{chapter}.ipynb"
    # No parameters are injected: the kernel inherits $RAMANCMP_PROFILE and $RAMANCMP_SEED (and $RAMANCMP_DATA_DIR
    # when the user chose a data folder) from this process, so no absolute path of this machine and no extra cell
    # end up in the executed notebooks, which are committed and rerun elsewhere (nbval in CI).
    env = {PROFILE_ENV: profile, SEED_ENV: str(seed)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        pm.execute_notebook(str(source), str(executed), kernel_name="python3", cwd=str(book_dir),
                            progress_bar=False, log_output=False)
    except pm.PapermillExecutionError as exc:
        raise RuntimeError(f"chapter {chapter} failed in cell {exc.cell_index} (execution count {exc.exec_count}): "
                           f"{exc.ename}: {exc.evalue}\n  executed notebook with the traceback: {executed}") from exc
    finally:
        source.unlink(missing_ok=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    clean_outputs(executed, profile=profile, seed=seed)
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
             book_dir: Path = BOOK_DIR) -> int:
    """Run chapters in order; returns a process exit code (0 when every chapter ran or was already finished)."""
    get_profile(profile)
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    selected = select_chapters(chapters, book_dir)
    out = Path(output) / profile
    with _profile_environment(profile, seed) as dirs:
        try:
            with _exclusive(dirs["results"]):
                return _run_chapters(selected, profile, seed, force, update_book, book_dir, out, dirs)
        except BookRunLocked as exc:
            print(f"[book] {exc}", file=sys.stderr)
            return 1


def _run_chapters(selected: list[str], profile: str, seed: int, force: bool, update_book: bool, book_dir: Path,
                  out: Path, dirs: dict[str, Path]) -> int:
    timings: dict[str, float] = {}
    for chapter in selected:
        if not force and chapter_finished(chapter, profile, seed):
            print(f"[book] {chapter}: already finished in profile {profile!r} (seed {seed}); skipped "
                  f"(use --force to rerun)")
            continue
        print(f"[book] {chapter}: running (profile {profile}, seed {seed}) ...", flush=True)
        start = time.perf_counter()
        marker = _running_marker(dirs["results"], chapter)
        write_json_atomic(marker, {"pid": os.getpid(), "started": time.time()})
        began = time.time()
        try:
            executed = run_chapter(chapter, profile=profile, seed=seed, output=out, book_dir=book_dir)
        except (KeyboardInterrupt, SystemExit):
            half = dirs["results"] / f"{chapter}.json"
            if half.exists() and half.stat().st_mtime >= began - 1:  # written by this run before it was stopped
                half.unlink()
            print(f"[book] {chapter}: interrupted; it does not count as finished (rerun to resume from it)",
                  file=sys.stderr, flush=True)
            raise
        except RuntimeError as exc:
            print(f"[book] FAILED: {exc}", file=sys.stderr)
            stale = dirs["results"] / f"{chapter}.json"
            if stale.exists():  # an earlier run's results must not make the failed chapter look finished
                stale.unlink()
                print(f"[book] removed {stale}: it came from an earlier run of this chapter (a committed copy "
                      "comes back with `git checkout -- results/`)", file=sys.stderr)
            return 1
        timings[chapter] = round(time.perf_counter() - start, 1)
        _record_timings(dirs["results"], profile, {chapter: timings[chapter]})  # kept if a later one stops
        print(f"[book] {chapter}: done in {timings[chapter]:.1f} s -> {executed}", flush=True)
        if update_book:
            shutil.copyfile(executed, book_dir / f"{chapter}.ipynb")
        marker.unlink(missing_ok=True)  # the very last step: only now does the chapter count as finished
    print(f"[book] {len(selected)} chapter(s) ready in profile {profile!r}; results in {dirs['results']}")
    return 0


def _record_timings(results: Path, profile: str, timings: dict[str, float]) -> None:
    """Keep each chapter's latest wall time in ``book_timings.json`` (read by the comparison chapter)."""
    path = results / "book_timings.json"
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    previous.setdefault("chapters", {}).update(timings)
    previous["profile"] = profile
    previous["cpu_count"] = os.cpu_count()
    write_json_atomic(path, previous)
