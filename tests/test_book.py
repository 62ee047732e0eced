"""The book: chapter discovery, the runner's failure reporting and resume, every chapter in the quick profile, and
nbval on the committed notebooks' deterministic outputs (dataset counts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ramancmp.book import runner as book
from ramancmp.config import PROJECT_ROOT

BOOK = PROJECT_ROOT / "book"


def test_every_chapter_is_a_jupytext_pair_with_parameters():
    chapters = book.list_chapters()
    assert chapters and chapters[0] == "00_introduction"
    for chapter in chapters:
        text = (BOOK / f"{chapter}.py").read_text(encoding="utf-8")
        assert '# %% tags=["parameters"]' in text, f"{chapter}.py has no parameters cell"
        assert (BOOK / f"{chapter}.ipynb").exists(), f"{chapter}.py has no paired .ipynb"
        assert "## Summary" in text and "## Exercises" in text, f"{chapter} lacks a summary or exercises"


def test_committed_notebooks_hold_the_cells_of_their_text_forms():
    """The .ipynb (outputs of a full run) must have been executed from the current text form, cell for cell."""
    import jupytext
    import nbformat

    for chapter in book.list_chapters():
        text_cells = [c.source.strip() for c in jupytext.read(BOOK / f"{chapter}.py").cells]
        nb = nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4)
        nb_cells = [c.source.strip() for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
        assert nb_cells == text_cells, f"book/{chapter}.ipynb is out of date: rerun the chapter (book run --update-book)"
        injected = [c.source for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert all("profile = \"full\"" in src for src in injected), f"{chapter}.ipynb was not run in the full profile"


def test_select_chapters_by_number_and_name():
    assert book.select_chapters(["0"]) == ["00_introduction"]
    assert book.select_chapters(["00_introduction"]) == ["00_introduction"]
    with pytest.raises(ValueError, match="unknown chapter '99'"):
        book.select_chapters(["99"])


def _write_chapter(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(
        "# %% [markdown]\n# # A test chapter\n\n# %% tags=[\"parameters\"]\nprofile = 'quick'\nseed = 0\n"
        f"data_dir = None\n\n# %%\n{body}\n", encoding="utf-8")


def test_runner_names_failing_chapter_and_cell_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAMANCMP_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setattr(book, "profile_dirs",
                        lambda profile, seed=0: {"results": tmp_path / "results" / ("" if seed == 0 else f"seed{seed}"),
                                                 "checkpoints": tmp_path / "ckpt"})
    chapters = tmp_path / "book"
    ok_body = ("from ramancmp import book as rc\nch = rc.Chapter('00_ok', profile=profile, seed=seed)\n"
               "ch.save({'answer': 42})")
    _write_chapter(chapters, "00_ok", ok_body)
    _write_chapter(chapters, "01_broken", "x = 1\n\n# %%\nraise ValueError('deliberately broken')")
    code = book.run_book("quick", output=tmp_path / "build", book_dir=chapters)
    err = capsys.readouterr().err
    assert code == 1
    assert "chapter 01_broken failed in cell" in err and "deliberately broken" in err
    assert json.loads((tmp_path / "results" / "00_ok.json").read_text())["metrics"] == {"answer": 42}
    # Resume: the finished chapter is skipped, the broken one is attempted again.
    (chapters / "01_broken.py").unlink()
    assert book.run_book("quick", output=tmp_path / "build", book_dir=chapters) == 0
    assert "00_ok: already finished" in capsys.readouterr().out
    assert book.run_book("quick", output=tmp_path / "build", book_dir=chapters, force=True) == 0
    assert "00_ok: done" in capsys.readouterr().out
    timings = json.loads((tmp_path / "results" / "book_timings.json").read_text())["chapters"]
    assert set(timings) == {"00_ok"}  # recorded as each chapter finishes
    # A forced rerun that fails must not leave the earlier run's results behind (the chapter would look finished).
    (chapters / "00_ok.py").write_text((chapters / "00_ok.py").read_text() + "\n# %%\nraise RuntimeError('now broken')\n")
    assert book.run_book("quick", output=tmp_path / "build", book_dir=chapters, force=True) == 1
    assert "removed" in capsys.readouterr().err and not (tmp_path / "results" / "00_ok.json").exists()
    assert not book.chapter_finished("00_ok", "quick", 0)
    # Another seed never overwrites the book's seed: its results go beside them, in seed<k>/.
    (chapters / "00_ok.py").write_text((chapters / "00_ok.py").read_text().replace("raise RuntimeError('now broken')", ""))
    (chapters / "01_broken.py").unlink(missing_ok=True)
    assert book.run_book("quick", output=tmp_path / "build", book_dir=chapters) == 0
    assert book.run_book("quick", output=tmp_path / "build", book_dir=chapters, seed=1) == 0
    assert json.loads((tmp_path / "results" / "seed1" / "00_ok.json").read_text())["provenance"]["seed"] == 1
    assert json.loads((tmp_path / "results" / "00_ok.json").read_text())["provenance"]["seed"] == 0
    with pytest.raises(ValueError, match="non-negative"):
        book.run_book("quick", book_dir=chapters, seed=-1)


def test_a_second_run_on_the_same_results_is_refused(tmp_path, monkeypatch, capsys):
    import fcntl

    monkeypatch.setattr(book, "profile_dirs", lambda profile, seed=0: {"results": tmp_path / "results",
                                                                       "checkpoints": tmp_path / "ckpt"})
    chapters = tmp_path / "book"
    _write_chapter(chapters, "00_ok", "x = 1")
    (tmp_path / "results").mkdir()
    with open(tmp_path / "results" / ".book-run.lock", "a+") as held:  # as a running `book run` holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("pid 12345")
        held.flush()
        assert book.run_book("quick", output=tmp_path / "build", book_dir=chapters) == 1
        assert "another book run is using" in capsys.readouterr().err
    assert book.run_book("quick", output=tmp_path / "build", book_dir=chapters) == 0  # released: runs


def test_cli_reports_an_interrupt_without_a_traceback(monkeypatch, capsys):
    from ramancmp import cli

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(book, "run_book", interrupted)
    assert cli.main(["book", "run", "--chapters", "00"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"
    with pytest.raises(SystemExit):  # --chapters needs at least one chapter (it no longer means "all")
        cli.main(["book", "run", "--chapters"])


@pytest.mark.slow
def test_whole_book_runs_in_quick_profile(tmp_path):
    """CI's end-to-end check: every chapter executes in the quick profile through the book runner."""
    code = book.run_book("quick", output=tmp_path / "build", force=True)
    assert code == 0
    results = book.profile_dirs("quick")["results"]
    for chapter in book.list_chapters():
        payload = json.loads((results / f"{chapter}.json").read_text(encoding="utf-8"))
        assert payload["provenance"]["profile"] == "quick"


@pytest.mark.slow
def test_committed_notebooks_reproduce_their_checked_outputs(tmp_path):
    """nbval (lax mode) reruns the committed notebooks and compares the cells marked ``# NBVAL_CHECK_OUTPUT``."""
    notebooks = [str(BOOK / f"{c}.ipynb") for c in ("00_introduction", "01_data") if (BOOK / f"{c}.ipynb").exists()]
    env = {**os.environ, "RAMANCMP_RESULTS_DIR": str(tmp_path / "results"),
           "RAMANCMP_CHECKPOINT_DIR": str(tmp_path / "checkpoints")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                           *notebooks], cwd=BOOK, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
