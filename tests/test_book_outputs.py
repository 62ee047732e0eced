"""What a reader sees in an executed chapter: no empty figure, no table cell or row cut by pandas ("..."), no table
wider than :data:`ramancmp.experiments.tables.MAX_COLUMNS` columns, and a summary that concludes in a generated
verdict sentence (:data:`ramancmp.experiments.findings.VERDICT_SENTENCE`).

The checks run on the committed notebooks (fast tier) and on the quick book (book tier). Committed notebooks executed
before these rules existed (``OUTPUT_RULES_SINCE``) hold the stale outputs of older code and are left to the next full
run (``book run --profile full --update-book``), which brings each of them under the checks.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat
import pytest

from ramancmp.book import runner as book
from ramancmp.config import PROJECT_ROOT
from ramancmp.experiments.findings import VERDICT_SENTENCE, verdict_sentence
from ramancmp.experiments.tables import MAX_COLUMNS, Row, stat

BOOK = PROJECT_ROOT / "book"
#: Notebooks executed (papermill end time, ISO) before this date predate the output rules below.
OUTPUT_RULES_SINCE = "2026-12-03"
PLOTLY = "application/vnd.plotly.v1+json"
# pandas' truncation: a cell shortened to max_colwidth ends in "...", a row or column cut shows "..." alone
_CUT_CELL = re.compile(r"<t[dh][^>]*>[^<]*\.\.\.\s*</t[dh]>")


def _outputs(nb):
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            yield i, out


def empty_figures(nb) -> list[int]:
    """Cells whose plotly figure has no trace, or only traces without a point."""
    bad = []
    for i, out in _outputs(nb):
        fig = out.get("data", {}).get(PLOTLY)
        if fig is None:
            continue
        traces = fig.get("data") or []
        if not traces or not any(len(t.get(k) or []) for t in traces for k in ("x", "y", "z", "values", "cells")):
            bad.append(i)
    return bad


def truncated_cells(nb) -> list[int]:
    """Cells whose table output pandas cut (a cell ending in "..." or a row/column of "...")."""
    bad = []
    for i, out in _outputs(nb):
        html = "".join(out.get("data", {}).get("text/html", ""))
        if "<table" in html and _CUT_CELL.search(html):
            bad.append(i)
    return bad


def wide_tables(nb, limit: int = MAX_COLUMNS) -> list[tuple[int, int]]:
    """``(cell, columns)`` of every table output with more than ``limit`` data columns (the index not counted)."""
    bad = []
    for i, out in _outputs(nb):
        html = "".join(out.get("data", {}).get("text/html", ""))
        for table in re.findall(r"<table.*?</table>", html, flags=re.S):
            row = re.search(r"<tbody>\s*<tr>(.*?)</tr>", table, flags=re.S)
            n = len(re.findall(r"<td", row.group(1))) if row else 0
            if n > limit:
                bad.append((i, n))
    return bad


def summary_without_verdict(nb) -> bool:
    """True when the cells of the "## Summary" section (up to "## Exercises") render no verdict sentence."""
    inside, texts = False, []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            if "## Exercises" in cell.source:
                texts.append(cell.source.split("## Exercises")[0])
                break
            if "## Summary" in cell.source:
                inside = True
            if inside:
                texts.append(cell.source)
        elif inside:
            texts += ["".join(out.get("data", {}).get("text/markdown", "")) for out in cell.get("outputs", [])]
    return not any(VERDICT_SENTENCE.search(t) for t in texts)


def _problems(nb) -> list[str]:
    out = [f"empty figure in cell {i}" for i in empty_figures(nb)]
    out += [f"pandas cut a table cell or row in cell {i}" for i in truncated_cells(nb)]
    out += [f"table of {n} columns in cell {i} (at most {MAX_COLUMNS})" for i, n in wide_tables(nb)]
    if summary_without_verdict(nb):
        out.append("the summary concludes in no verdict sentence (rc.findings.verdict_sentence / claim_sentence)")
    return out


def _notebook(cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    return nb


def _md_output(text: str) -> dict:
    return nbformat.v4.new_output("display_data", data={"text/markdown": text})


def test_the_checks_find_each_problem():
    fig_empty = {"data": [{"type": "scatter", "x": [], "y": []}], "layout": {}}
    fig_ok = {"data": [{"type": "scatter", "x": [1], "y": [2]}], "layout": {}}
    wide = "<table><thead></thead><tbody><tr>" + "<td>1</td>" * 10 + "</tr></tbody></table>"
    cut = "<table><tbody><tr><td>fold k=4 (interleaved), batc...</td></tr></tbody></table>"
    summary = nbformat.v4.new_markdown_cell("## Summary\n\n* something")
    verdict = nbformat.v4.new_code_cell("rc.md(...)", outputs=[_md_output(
        "* The CNN does **not** beat the library search: -1.50 [-3.25, +0.25] points, within noise.")])
    exercises = nbformat.v4.new_markdown_cell("## Exercises\n\n1. ...")
    bad = _notebook([
        nbformat.v4.new_code_cell("fig", outputs=[nbformat.v4.new_output("display_data", data={PLOTLY: fig_empty})]),
        nbformat.v4.new_code_cell("t", outputs=[nbformat.v4.new_output("display_data", data={"text/html": wide})]),
        nbformat.v4.new_code_cell("t", outputs=[nbformat.v4.new_output("display_data", data={"text/html": cut})]),
        summary, exercises])
    assert empty_figures(bad) == [0] and wide_tables(bad) == [(1, 10)] and truncated_cells(bad) == [2]
    assert summary_without_verdict(bad)
    good = _notebook([
        nbformat.v4.new_code_cell("fig", outputs=[nbformat.v4.new_output("display_data", data={PLOTLY: fig_ok})]),
        summary, verdict, exercises])
    assert _problems(good) == []


def test_verdict_sentences_say_what_the_interval_says():
    def row(name, values):
        return Row(model=name, accuracy=stat(values), seeds=list(range(len(values))), test_train_ratio=0.25)

    lib = row("knn_cosine", [0.95, 0.96, 0.94, 0.95])
    tie, worse, better = (row("cnn", [0.95, 0.95, 0.95, 0.94]), row("cnn", [0.90, 0.91, 0.89, 0.90]),
                          row("cnn", [0.99, 0.995, 0.985, 0.99]))
    assert "does **not** beat the library search" in verdict_sentence(tie, lib)
    assert "**worse than**" in verdict_sentence(worse, lib) and "**beats**" in verdict_sentence(better, lib)
    for sentence in (verdict_sentence(r, lib) for r in (tie, worse, better)):
        assert VERDICT_SENTENCE.search(sentence), sentence


def test_a_figure_of_spectra_takes_its_classes_as_a_list():
    """Chapter 13's augmentation figure was empty: ``y`` given as a list never equalled a class index."""
    import numpy as np

    from ramancmp import plots

    fig = plots.spectra_figure(np.arange(8.0), np.ones((3, 8)), [0, 1, 2], ["a", "b", "c"], per_class=1, decimate=1)
    assert len(fig.data) == 3
    with pytest.raises(ValueError, match="one class index per spectrum"):
        plots.spectra_figure(np.arange(8.0), np.ones((3, 8)), [0, 1], ["a", "b"])


def test_every_summary_concludes_in_a_generated_verdict():
    """Each chapter's summary holds a generated prose cell (hidden template) built from rc.findings' verdict
    sentences."""
    missing = []
    for chapter in book.list_chapters():
        cells = jupytext.read(BOOK / f"{chapter}.py").cells
        start = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Summary" in c.source)
        section = []
        for c in cells[start + 1:]:
            if c.cell_type == "markdown" and "## Exercises" in c.source:
                break
            section.append(c)
        if not any(c.cell_type == "code" and "remove-input" in c.metadata.get("tags", [])
                   and "rc.findings." in c.source + "".join(s.source for s in section) for c in section):
            missing.append(chapter)
    assert missing == [], f"summaries without a generated verdict sentence: {missing}"


def _executed_since_rules(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    return str(nb.metadata.get("papermill", {}).get("end_time") or "") >= OUTPUT_RULES_SINCE


def test_committed_notebooks_show_no_empty_figure_or_cut_table():
    problems = {}
    for chapter in book.list_chapters():
        path = BOOK / f"{chapter}.ipynb"
        nb = nbformat.read(path, as_version=4)
        found = [f"empty figure in cell {i}" for i in empty_figures(nb)]
        if _executed_since_rules(path):
            found = _problems(nb)
        if found:
            problems[chapter] = found
    assert problems == {}


@pytest.mark.book
def test_quick_book_outputs_are_readable(quick_book):
    assert quick_book.code == 0
    problems = {}
    for chapter in book.list_chapters():
        path = quick_book.notebooks / f"{chapter}.ipynb"
        found = _problems(nbformat.read(path, as_version=4))
        if found:
            problems[chapter] = found
    assert problems == {}
