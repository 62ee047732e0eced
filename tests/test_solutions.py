"""The worked solutions (book/solutions/NN_*_solutions.py): one per chapter, every exercise answered, and every file
executes in the quick profile.

The solutions reuse what the chapters stored in the quick profile (networks in the model store, results for
``rc.load_rows``): they take the session's ``quick_book`` fixture (tests/conftest.py), which runs the whole book
once, whichever test asks first.
"""

from __future__ import annotations

import re

import jupytext
import pytest

from ramancmp.book import runner as book
from ramancmp.config import PROJECT_ROOT

BOOK = PROJECT_ROOT / "book"
SOLUTIONS = BOOK / "solutions"
CHAPTERS = book.list_chapters()


def _exercises(chapter: str) -> int:
    """The number of exercises of a chapter: the numbered items of its Exercises section."""
    text = ((BOOK / f"{chapter}.py").read_text(encoding="utf-8")
            .split("## Exercises", 1)[1].split("<!-- nav:start", 1)[0])
    return len(re.findall(r"^# (\d+)\. ", text, flags=re.M))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_exercise_has_a_solution(chapter):
    path = SOLUTIONS / f"{chapter}_solutions.py"
    assert path.exists(), f"no solutions for {chapter}: write {path.relative_to(PROJECT_ROOT)}"
    text = path.read_text(encoding="utf-8")
    answered = sorted({int(n) for n in re.findall(r"^# ## Exercise (\d+)\b", text, flags=re.M)})
    assert answered == list(range(1, _exercises(chapter) + 1)), f"{path.name} answers exercises {answered}"
    imports = re.findall(r"^(?:from|import) (\S+)", text, flags=re.M)
    assert {m.split(".")[0] for m in imports} <= {"ramancmp", "numpy", "pandas", "plotly", "itertools", "tempfile",
                                                   "time", "pathlib", "zipfile"}, imports
    assert re.findall(r"^from ramancmp(\S*) import", text, flags=re.M) == [""], "solutions use `rc` only"
    assert '# %% tags=["parameters"]' in text and jupytext.reads(text, fmt="py:percent").cells


@pytest.mark.book
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solutions_run_in_the_quick_profile(chapter, tmp_path, quick_book):
    assert quick_book.code == 0, "the quick book failed: its chapters' results are what the solutions read"
    book.run_chapter(f"{chapter}_solutions", ctx=quick_book.ctx, output=tmp_path, book_dir=SOLUTIONS)
