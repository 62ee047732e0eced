"""The book: chapter discovery, the runner's failure reporting and resume, every chapter in the quick profile, and
nbval on the committed notebooks' deterministic outputs (dataset counts)."""

from __future__ import annotations

import json
import os
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
    """The .ipynb (outputs of a full run) must have been executed from the current text form, cell for cell, with no
    injected parameters cell (JupyterLab's "Run All" must run what the .py says: the quick profile)."""
    import jupytext
    import nbformat

    for chapter in book.list_chapters():
        text_cells = [c.source.strip() for c in jupytext.read(BOOK / f"{chapter}.py").cells]
        nb = nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4)
        assert not [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])], (
            f"book/{chapter}.ipynb holds papermill's injected parameters cell: rerun it (book run --update-book)")
        nb_cells = [c.source.strip() for c in nb.cells]
        assert nb_cells == text_cells, (f"book/{chapter}.ipynb is out of date: "
                                        "rerun the chapter (book run --update-book)")
        assert nb.metadata.get("ramancmp", {}).get("profile") == "full", (f"{chapter}.ipynb was not run "
                                                                          "in the full profile")


def test_parameters_cell_runs_the_quick_profile_unless_the_runner_says_otherwise(monkeypatch):
    """The parameters cell, run as JupyterLab's "Run All" or papermill without -p would, builds the quick profile and
    seed 0; with the runner's environment: its profile and seed; a value set in the cell (papermill -p) wins."""
    import jupytext

    from ramancmp.config import RunContext

    for chapter in book.list_chapters():
        cells = jupytext.read(BOOK / f"{chapter}.py").cells
        cell = next(c for c in cells if "parameters" in c.metadata.get("tags", []))
        for env, expected in (({}, ("quick", 0)), ({"RAMANCMP_PROFILE": "full", "RAMANCMP_SEED": "3"}, ("full", 3))):
            monkeypatch.delenv("RAMANCMP_PROFILE", raising=False)
            monkeypatch.delenv("RAMANCMP_SEED", raising=False)
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            scope: dict = {}
            exec(cell.source, scope)  # noqa: S102 - the chapter's own parameters cell
            assert "os.environ" not in cell.source, f"{chapter}: the parameters cell reads the environment itself"
            ctx = RunContext.from_env(scope["profile"], scope["seed"], data_dir=scope["data_dir"])
            assert (ctx.profile.name, ctx.seed) == expected, chapter
            explicit = RunContext.from_env("quick", 1)
            assert (explicit.profile.name, explicit.seed) == ("quick", 1), chapter


def test_no_profile_leak_between_chapters_in_one_kernel(tmp_path, monkeypatch):
    """A quick run after a full one in the same process (kernel) must write into the quick profile's folders."""
    from ramancmp.book import chapter as chapter_module
    from ramancmp.config import results_dir

    for key in ("RAMANCMP_RESULTS_DIR", "RAMANCMP_CHECKPOINT_DIR", "RAMANCMP_PROFILE", "RAMANCMP_SEED"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(chapter_module, "configure_outputs", lambda **kw: None)
    before = dict(os.environ)
    full = chapter_module.Chapter("00_x", profile="full")
    assert full.results_dir == results_dir("full") == PROJECT_ROOT / "results"
    quick = chapter_module.Chapter("00_x", profile="quick")
    assert quick.results_dir == PROJECT_ROOT / "build" / "quick" / "results"
    assert "quick" in str(quick.checkpoints_dir)
    assert chapter_module.Chapter("00_x").profile.name == "quick"  # "Run All" without the runner
    assert chapter_module.Chapter("00_x", seed=2).results_dir.name == "seed2"
    # A folder chosen from outside (the runner, a user, a test) is honoured whatever the profile.
    monkeypatch.setenv("RAMANCMP_RESULTS_DIR", str(tmp_path))
    assert chapter_module.Chapter("00_x", profile="full").results_dir == tmp_path
    saved = chapter_module.Chapter("00_x", profile="quick").save({"a": 1})
    assert saved == tmp_path / "00_x.json" and str(tmp_path) not in repr(saved)
    assert dict(os.environ) == {**before, "RAMANCMP_RESULTS_DIR": str(tmp_path)}  # a Chapter changes nothing there


def test_runner_drops_progress_bars_from_outputs(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    bar = ["\rcnn:   0%|          | 0/5 [00:00<?, ?split/s]", "\r                    ", "\r"]
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[
        *[nbformat.v4.new_output("stream", name="stderr", text=t) for t in bar],
        nbformat.v4.new_output("stream", name="stderr", text="a real warning\n"),
        nbformat.v4.new_output("stream", name="stdout", text="\r50%|█| 1/2 [00:00<00:00]")])]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert book.clean_outputs(path) == 3
    kept = nbformat.read(path, as_version=4).cells[0].outputs
    assert [o.text for o in kept] == ["a real warning\n", "\r50%|█| 1/2 [00:00<00:00]"]


def test_runner_shows_paths_in_warnings_relative_to_the_project(tmp_path):
    import nbformat

    from ramancmp.config import PROJECT_ROOT

    text = f"{PROJECT_ROOT}/ramancmp/metrics/timing.py:397: RuntimeWarning: busy\n"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("stream", name="stderr", text=text)])]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    book.clean_outputs(path)
    shown = nbformat.read(path, as_version=4).cells[0].outputs[0].text
    assert shown == "ramancmp/metrics/timing.py:397: RuntimeWarning: busy\n" and str(PROJECT_ROOT) not in shown


def test_select_chapters_by_number_and_name():
    assert book.select_chapters(["0"]) == ["00_introduction"]
    assert book.select_chapters(["00_introduction"]) == ["00_introduction"]
    with pytest.raises(ValueError, match="unknown chapter '99'"):
        book.select_chapters(["99"])


def _write_chapter(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(
        "# %% [markdown]\n# # A test chapter\n\n# %% tags=[\"parameters\"]\n"
        "profile = None\nseed = None\n"
        f"data_dir = None\n\n# %%\n{body}\n", encoding="utf-8")


@pytest.mark.slow  # starts a notebook kernel about ten times
def test_runner_names_failing_chapter_and_cell_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAMANCMP_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
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
    (chapters / "00_ok.py").write_text((chapters / "00_ok.py").read_text()
                                       + "\n# %%\nraise RuntimeError('now broken')\n")
    assert book.run_book("quick", output=tmp_path / "build", book_dir=chapters, force=True) == 1
    assert "removed" in capsys.readouterr().err and not (tmp_path / "results" / "00_ok.json").exists()
    assert not book.chapter_finished("00_ok", "quick", 0)
    # Another seed never overwrites the book's seed: its results go beside them, in seed<k>/.
    (chapters / "00_ok.py").write_text((chapters / "00_ok.py").read_text()
                                       .replace("raise RuntimeError('now broken')", ""))
    (chapters / "01_broken.py").unlink(missing_ok=True)
    assert book.run_book("quick", output=tmp_path / "build", book_dir=chapters) == 0
    assert book.run_book("quick", output=tmp_path / "build", book_dir=chapters, seed=1) == 0
    assert json.loads((tmp_path / "results" / "seed1" / "00_ok.json").read_text())["provenance"]["seed"] == 1
    assert json.loads((tmp_path / "results" / "00_ok.json").read_text())["provenance"]["seed"] == 0
    with pytest.raises(ValueError, match="non-negative"):
        book.run_book("quick", book_dir=chapters, seed=-1)


def test_a_second_run_on_the_same_results_is_refused(tmp_path, monkeypatch, capsys):
    import fcntl

    monkeypatch.setenv("RAMANCMP_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
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


@pytest.mark.book
def test_whole_book_runs_in_quick_profile(quick_book):
    """CI's end-to-end check: every chapter executes in the quick profile through the book runner."""
    assert quick_book.code == 0
    for chapter in book.list_chapters():
        payload = json.loads((quick_book.ctx.results_dir / f"{chapter}.json").read_text(encoding="utf-8"))
        assert payload["provenance"]["profile"] == "quick"
        assert (quick_book.notebooks / f"{chapter}.ipynb").exists()


def _checked_outputs(path: Path) -> list[tuple[str, list[str]]]:
    """The cells marked ``# NBVAL_CHECK_OUTPUT`` of a notebook: (source, their stream and text/plain outputs)."""
    import nbformat

    out = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and cell.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT"):
            texts = [o.get("text") or o.get("data", {}).get("text/plain", "") for o in cell.outputs
                     if o.output_type in ("stream", "execute_result", "display_data")
                     and not (o.output_type == "stream" and o.get("name") == "stderr")]
            out.append((cell.source, texts))
    return out


@pytest.mark.book
def test_committed_notebooks_reproduce_their_checked_outputs(quick_book):
    """The cells marked ``# NBVAL_CHECK_OUTPUT`` (dataset counts: the same in every profile) print in the quick book
    exactly what the committed notebooks show -- nbval's check, without executing the chapters a second time (the
    quick book executed the same cells: test_committed_notebooks_hold_the_cells_of_their_text_forms)."""
    assert quick_book.code == 0
    checked = 0
    for chapter in book.list_chapters():
        committed = _checked_outputs(BOOK / f"{chapter}.ipynb")
        if committed:
            assert _checked_outputs(quick_book.notebooks / f"{chapter}.ipynb") == committed, (
                f"{chapter}: a cell marked NBVAL_CHECK_OUTPUT prints something else than the committed notebook")
            checked += len(committed)
    assert checked, "no cell is marked # NBVAL_CHECK_OUTPUT"


def _jupytext_manager(root: Path):
    from jupytext import TextFileContentsManager

    return TextFileContentsManager(root_dir=str(root))


def test_jupyterlab_opens_a_py_chapter_as_the_paired_notebook_with_outputs(tmp_path):
    """What JupyterLab started at the repository root does (jupytext's contents manager, jupytext.toml found)."""
    import shutil

    (tmp_path / "book").mkdir()
    shutil.copyfile(PROJECT_ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    for suffix in (".py", ".ipynb"):
        shutil.copyfile(BOOK / f"01_data{suffix}", tmp_path / "book" / f"01_data{suffix}")
    model = _jupytext_manager(tmp_path).get("book/01_data.py")
    assert model["type"] == "notebook"
    outputs = [o for c in model["content"].cells if c.cell_type == "code" for o in c.outputs]
    assert outputs, "the .py chapter opened without the outputs of its paired .ipynb (pairing off?)"


def test_opening_and_saving_an_executed_chapter_changes_nothing(tmp_path, monkeypatch):
    """A chapter executed by the runner, opened and saved unchanged through jupytext's contents manager: both files
    of the pair stay byte for byte the same (no YAML header in the .py, no metadata churn in the .ipynb)."""
    import shutil

    monkeypatch.setenv("RAMANCMP_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    chapters = tmp_path / "book"
    _write_chapter(chapters, "00_ok", "import pandas as pd\npd.DataFrame({'a': [93.6, 1.25]})\n\n# %%\nprint('hello')")
    assert book.run_book("quick", output=tmp_path / "build", book_dir=chapters) == 0
    shutil.copyfile(tmp_path / "build" / "quick" / "00_ok.ipynb", chapters / "00_ok.ipynb")
    shutil.copyfile(PROJECT_ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    before = {p.name: p.read_bytes() for p in chapters.glob("00_ok.*")}
    manager = _jupytext_manager(tmp_path)
    model = manager.get("book/00_ok.py")
    assert any(c.outputs for c in model["content"].cells if c.cell_type == "code")
    manager.save(model, "book/00_ok.py")
    after = {p.name: p.read_bytes() for p in chapters.glob("00_ok.*")}
    assert after == before
    nb = json.loads(before["00_ok.ipynb"])
    assert nb["metadata"]["ramancmp"] == {"profile": "quick", "seed": 0}
    assert "93.6" in json.dumps(nb) and "93.600000" not in json.dumps(nb)


def test_executed_notebooks_name_the_kernel_jupyterlab_runs():
    """JupyterLab writes the running kernel's spec into an opened notebook: a different display name would modify
    (and mark unsaved) every unchanged chapter at once."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.skip("no python3 kernel registered (make install registers it)")
    if spec.display_name == "Python 3 (ipykernel)":
        pytest.skip("the python3 kernel here is ipykernel's built-in one, not the one `make install` registers")
    assert book.KERNELSPEC["display_name"] == spec.display_name


def test_generated_prose_is_shown_once_as_prose(tmp_path):
    """A cell that only writes prose (``rc.md(...)``) hides its input: MyST-NB drops it by the ``remove-input`` tag
    and JupyterLab collapses it (``jupyter.source_hidden``, which the runner and the committed notebooks carry)."""
    import ast

    import jupytext
    import nbformat

    def prose_only(source: str) -> bool:
        body = ast.parse(source).body
        value = body[0].value if len(body) == 1 and isinstance(body[0], (ast.Expr, ast.Assign)) else None
        return (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "md"
                and isinstance(value.func.value, ast.Name) and value.func.value.id == "rc")

    for chapter in book.list_chapters():
        cells = jupytext.read(BOOK / f"{chapter}.py").cells
        committed = nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4).cells
        for cell, stored in zip(cells, committed, strict=True):
            if cell.cell_type == "code" and prose_only(cell.source):
                assert "remove-input" in cell.metadata.get("tags", []), f"{chapter}: {cell.source[:60]!r}"
                assert stored.metadata.get("jupyter", {}).get("source_hidden"), f"{chapter}: {cell.source[:60]!r}"
    _write_chapter(tmp_path, "00_x", 'x = 1\n\n# %% tags=["remove-input"]\nprint(x)')
    nb = nbformat.read(book._to_notebook("00_x", tmp_path / "x.ipynb", tmp_path), as_version=4)
    assert nb.cells[-1].metadata["jupyter"]["source_hidden"] and not nb.cells[-2].metadata.get("jupyter")
