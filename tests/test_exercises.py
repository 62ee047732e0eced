"""Exercises a course can use: every exercise of every chapter is marked by kind -- ★ explain why, ★★ change
something and measure, ★★★ a project -- and the projects (only they) stand in a *Projects* list at the section's end,
numbered on from the exercises, so a solution's "Exercise N" stays the chapter's item N."""
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.py"))
ITEM = re.compile(r"^# (\d+)\. (\S+) ", flags=re.M)
MARKS = {"★", "★★", "★★★"}


def exercise_items(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(number, mark) of the exercises before the Projects heading, and of those under it."""
    section = text.split("# ## Exercises\n", 1)[1].split("<!-- nav:start", 1)[0]
    exercises, _, projects = section.partition("# ### Projects\n")
    return ([(int(n), m) for n, m in ITEM.findall(exercises)], [(int(n), m) for n, m in ITEM.findall(projects)])


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_exercise_is_marked_and_projects_come_last(chapter):
    exercises, projects = exercise_items(chapter.read_text(encoding="utf-8"))
    items = exercises + projects
    assert items, f"{chapter.name} has no exercises"
    assert [n for n, _ in items] == list(range(1, len(items) + 1)), f"{chapter.name}: numbering {items}"
    unmarked = [n for n, m in items if m not in MARKS]
    assert not unmarked, f"{chapter.name}: exercises {unmarked} carry no mark (★ why, ★★ measure, ★★★ project)"
    assert all(m != "★★★" for _, m in exercises), f"{chapter.name}: move the ★★★ exercises under '### Projects'"
    assert all(m == "★★★" for _, m in projects), f"{chapter.name}: only ★★★ projects belong under '### Projects'"


def test_the_checker_sees_a_missing_mark_and_a_misplaced_project():
    text = "# ## Exercises\n#\n# 1. ★ Why?\n# 2. Measure it.\n#\n# ### Projects\n#\n# 3. ★★★ Rerun all.\n"
    assert exercise_items(text) == ([(1, "★"), (2, "Measure")], [(3, "★★★")])
