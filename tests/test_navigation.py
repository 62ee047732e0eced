"""The book's navigation is generated from the chapter list: prev/next blocks in every chapter and README's chapter
table. Synthetic three-chapter books check generation, idempotence and staleness; the last tests check the real
book and README (they fail on any stale navigation or broken relative link)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ramancmp import navigation as nav
from ramancmp.config import PROJECT_ROOT

README_TEXT = """# A book

Intro with a [link to the book](book/00_intro.py) and a [web link](https://example.org/missing.md).

## The chapters

<!-- chapters:start -->
old, hand-typed table
<!-- chapters:end -->

Text after the table [with an anchor](#the-chapters).
"""


def _chapter(number: int, title: str, blurb: str | None = "what it does", body: str = "Some text.",
             tail_code: bool = False) -> str:
    head = f"# %% [markdown]\n# # {number}. {title}\n#\n"
    head += f"# > {blurb}\n#\n" if blurb else ""
    text = (f"{head}# {body}\n\n# %% tags=[\"parameters\"]\nprofile = 'quick'\n\n# %%\nx = {{'a': print}}\n"
            f"x['a'](1)  # [not a link](nowhere.md) in a code cell\n\n"
            f"# %% [markdown]\n# ## Exercises\n#\n# 1. Think about [the intro](00_intro.ipynb).\n")
    return text + ("\n# %%\nprint('the end')\n" if tail_code else "")


def _write(book: Path, name: str, text: str) -> None:
    (book / f"{name}.py").write_text(text, encoding="utf-8")
    (book / f"{name}.ipynb").write_text("{}", encoding="utf-8")  # the pair's notebook: the nav links point to it


@pytest.fixture
def project(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    _write(book, "00_intro", _chapter(0, "Introduction: why", "the question"))
    _write(book, "01_middle", _chapter(1, "Middle part", "the work | with a pipe"))
    _write(book, "02_end", _chapter(2, "The end: results", "the answer"))
    readme = tmp_path / "README.md"
    readme.write_text(README_TEXT, encoding="utf-8")
    nav.update_navigation(book, readme)
    return book, readme


def _nav_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [lines[start + 2][2:] for start, _ in nav._nav_blocks(lines)]


def test_chapters_titles_and_blurbs(project):
    book, _ = project
    assert nav.list_chapters(book) == ["00_intro", "01_middle", "02_end"]
    assert nav.chapter_titles(book) == {"00_intro": "0. Introduction: why", "01_middle": "1. Middle part",
                                        "02_end": "2. The end: results"}
    assert nav.chapter_blurbs(book)["01_middle"] == "the work | with a pipe"
    assert nav.short_title("7. Channel conversion: a faster DRSN") == "7. Channel conversion"


def test_generation_is_idempotent_and_complete(project):
    book, readme = project
    before = {p: p.read_text(encoding="utf-8") for p in [*book.glob("*.py"), readme]}
    assert nav.update_navigation(book, readme) == []
    assert {p: p.read_text(encoding="utf-8") for p in before} == before
    assert nav.check_navigation(book, readme) == []

    readme_text = readme.read_text(encoding="utf-8")
    assert "old, hand-typed table" not in readme_text
    assert "| [1. Middle part](book/01_middle.py) | the work \\| with a pipe |" in readme_text
    assert readme_text.endswith("Text after the table [with an anchor](#the-chapters).\n")


def test_first_has_no_previous_last_has_no_next(project):
    book, _ = project
    first, middle, last = (_nav_lines(book / f"{c}.py") for c in nav.list_chapters(book))
    assert first == ["[Contents](../README.md#the-chapters) | [Next: 1. Middle part →](01_middle.ipynb)"] * 2
    assert middle == ["[← 0. Introduction](00_intro.ipynb) | [Contents](../README.md#the-chapters) | "
                      "[Next: 2. The end →](02_end.ipynb)"] * 2
    assert last == ["[← 1. Middle part](01_middle.ipynb) | [Contents](../README.md#the-chapters)"] * 2


def test_blocks_sit_under_the_title_and_at_the_end_and_nothing_else_changes(tmp_path, project):
    book, readme = project
    text = (book / "01_middle.py").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[:6] == ["# %% [markdown]", "# # 1. Middle part", "#", "# > the work | with a pipe", "#",
                         f"# {nav.NAV_START}"]
    assert lines[-1] == f"# {nav.NAV_END}" and lines[-7] == "# 1. Think about [the intro](00_intro.ipynb)."
    # without its blocks (and the blank line before each) the chapter is exactly as written
    for start, end in reversed(nav._nav_blocks(lines)):
        del lines[start - 1:end + 1]
    assert "\n".join(lines) + "\n" == _chapter(1, "Middle part", "the work | with a pipe")


def test_jupytext_keeps_the_blocks_in_markdown_cells(project):
    jupytext = pytest.importorskip("jupytext")
    book, _ = project
    cells = jupytext.read(book / "01_middle.py").cells
    assert cells[0].cell_type == "markdown" and cells[-1].cell_type == "markdown"
    block = f"{nav.NAV_START}\n\n[← 0. Introduction](00_intro.ipynb) | [Contents](../README.md#the-chapters) | " \
            f"[Next: 2. The end →](02_end.ipynb)\n\n{nav.NAV_END}"
    assert cells[0].source.startswith(f"# 1. Middle part\n\n> the work | with a pipe\n\n{block}\n\nSome text.")
    assert cells[-1].source.endswith(f"[the intro](00_intro.ipynb).\n\n{block}")
    assert not any(nav.NAV_START in c.source for c in cells[1:-1])


def test_a_chapter_ending_in_code_gets_a_markdown_cell_of_its_own(project):
    book, readme = project
    _write(book, "02_end", _chapter(2, "The end: results", "the answer", tail_code=True))
    nav.update_navigation(book, readme)
    text = (book / "02_end.py").read_text(encoding="utf-8")
    assert text.endswith("print('the end')\n\n# %% [markdown]\n" + "\n".join(nav.nav_block(
        "[← 1. Middle part](01_middle.ipynb) | [Contents](../README.md#the-chapters)")) + "\n")
    assert nav.update_navigation(book, readme) == []


def test_renamed_chapter_makes_the_navigation_stale(project):
    book, readme = project
    for suffix in (".py", ".ipynb"):
        (book / f"01_middle{suffix}").rename(book / f"01_centre{suffix}")
    problems = nav.check_navigation(book, readme)
    text = "\n".join(problems)
    assert "book/00_intro.py: stale navigation block" in text and "01_centre.ipynb" in text
    assert "book/02_end.py: stale navigation block" in text
    assert "README.md: the chapter table is stale" in text
    assert "book/00_intro.py:8: broken link '01_middle.ipynb'" in text  # the old link, in the top block
    assert not any(p.startswith("book/01_centre.py: stale") for p in problems)  # its own links are still right
    assert {p.name for p in nav.update_navigation(book, readme)} == {"00_intro.py", "02_end.py", "README.md"}
    assert nav.check_navigation(book, readme) == []


def test_retitled_chapter_makes_its_neighbours_stale(project):
    book, readme = project
    path = book / "01_middle.py"
    path.write_text(path.read_text(encoding="utf-8").replace("# # 1. Middle part", "# # 1. The core"), "utf-8")
    problems = nav.check_navigation(book, readme)
    assert [p.split(":")[0] for p in problems] == ["book/00_intro.py", "book/02_end.py", "README.md"]
    assert "expected '[Contents](../README.md#the-chapters) | [Next: 1. The core →](01_middle.ipynb)'" in problems[0]


def test_added_chapter_is_reported_then_generated(project):
    book, readme = project
    _write(book, "03_appendix", _chapter(3, "Appendix", blurb=None))
    problems = nav.check_navigation(book, readme)
    assert "book/03_appendix.py: no blurb ('# > one line' right under the title)" in problems
    assert any(p.startswith("book/03_appendix.py: 0 navigation block(s), expected 2") for p in problems)
    assert any(p.startswith("book/02_end.py: stale navigation block") for p in problems)
    assert "README.md: the chapter table is stale; run `python -m ramancmp book nav`" in problems

    changed = nav.update_navigation(book, readme)
    assert {p.name for p in changed} == {"02_end.py", "03_appendix.py", "README.md"}
    assert _nav_lines(book / "02_end.py")[0].endswith("[Next: 3. Appendix →](03_appendix.ipynb)")
    last = "[← 2. The end](02_end.ipynb) | [Contents](../README.md#the-chapters)"
    assert _nav_lines(book / "03_appendix.py") == [last, last]
    lines = (book / "03_appendix.py").read_text(encoding="utf-8").splitlines()
    assert lines[1:5] == ["# # 3. Appendix", "#", f"# {nav.NAV_START}", "#"]
    assert nav.check_navigation(book, readme) == [
        "book/03_appendix.py: no blurb ('# > one line' right under the title)"]


def test_title_number_must_match_the_file(project):
    book, readme = project
    _write(book, "03_appendix", _chapter(4, "Appendix"))
    assert "book/03_appendix.py: the title's number 4 is not the file's 03" in nav.check_navigation(book, readme)


def test_broken_relative_links_are_reported(project):
    book, readme = project
    path = book / "01_middle.py"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "# Some text.",
        "# See [chapter 9](09_summary.ipynb), [the data](../data/README.md), [web](http://x.org/a.md),\n"
        "# [here](#anchor), `[code](not_a_link.md)` and [the contents](../README.md#no-such-heading)."),
        encoding="utf-8")
    readme.write_text(readme.read_text(encoding="utf-8") + "\n[Chapter 5](book/05_gone.py)\n\n"
                      "```\n[in a fence](nowhere.md)\n```\n", encoding="utf-8")
    problems = nav.check_navigation(book, readme)
    assert problems == [
        "book/01_middle.py:12: broken link '09_summary.ipynb' (book/09_summary.ipynb does not exist)",
        "book/01_middle.py:12: broken link '../data/README.md' (data/README.md does not exist)",
        "book/01_middle.py:13: broken link '../README.md#no-such-heading' (no heading '#no-such-heading' in README.md)",
        "README.md:20: broken link 'book/05_gone.py' (book/05_gone.py does not exist)",
    ]
    # regenerating the navigation cannot fix a broken link in the text
    nav.update_navigation(book, readme)
    assert len(nav.check_navigation(book, readme)) == 4


def test_missing_title_markers_and_unbalanced_blocks(project):
    book, readme = project
    readme.write_text("# A book\n\nNo table markers.\n", encoding="utf-8")
    assert any("README needs one '<!-- chapters:start -->'" in p for p in nav.check_navigation(book, readme))
    with pytest.raises(ValueError, match="chapters:start"):
        nav.update_navigation(book, readme)
    readme.write_text(README_TEXT, encoding="utf-8")

    path = book / "02_end.py"
    path.write_text(path.read_text(encoding="utf-8") + f"# {nav.NAV_START}\n", encoding="utf-8")
    assert any("is never closed" in p for p in nav.check_navigation(book, readme))
    path.write_text(_chapter(2, "The end").replace("# # 2. The end", "# no title"), encoding="utf-8")
    assert "book/02_end.py: no title heading ('# # N. Title') in a markdown cell" in nav.check_navigation(book, readme)
    with pytest.raises(ValueError, match="02_end.py has no title heading"):
        nav.update_navigation(book, readme)


def test_module_imports_no_torch():
    code = "import sys, ramancmp.navigation; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)


def test_real_book_navigation_and_links_are_up_to_date():
    """Fails on a stale navigation block or README chapter table, or a broken relative link in a chapter or the
    README: run `python -m ramancmp book nav` (and fix the links it still reports)."""
    assert nav.check_navigation(PROJECT_ROOT / "book", PROJECT_ROOT / "README.md") == []


def test_cli_book_nav_check(capsys):
    from ramancmp.cli import main

    assert main(["book", "nav", "--check"]) == 0
    assert "navigation up to date" in capsys.readouterr().out
