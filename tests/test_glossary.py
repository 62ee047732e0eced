"""The book's glossary and bibliography: every abbreviation a chapter's prose uses is defined in
book/glossary.md, and every `[Key2020]` citation in the chapters and the glossary is in book/references.md."""
import re
from pathlib import Path

import jupytext
import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.py"))
# Upper-case words in prose that are not abbreviations of a concept (file names, journal names).
NOT_TERMS = {"README", "ID", "IEEE"}  # IEEE: part of a journal name
ABBREVIATION = re.compile(r"\b([A-Z][A-Z0-9]*[A-Z][A-Z0-9]*)(?:s)?\b")
CITATION = re.compile(r"\[([A-Z][A-Za-z]+(?:19|20)\d\d)\]")


def _prose(path: Path) -> str:
    """The markdown cells of a chapter, without inline code, code blocks and link targets."""
    cells = [c.source for c in jupytext.read(path).cells if c.cell_type == "markdown"]
    text = "\n".join(cells)
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def _defined_terms() -> set[str]:
    heads = re.findall(r"^\*\*(.+?)\*\*", (BOOK / "glossary.md").read_text(encoding="utf-8"), flags=re.M)
    return {m.group(1) for head in heads for m in ABBREVIATION.finditer(head)}


def _reference_keys() -> set[str]:
    return set(re.findall(r"\*\*\[([A-Za-z]+\d{4})\]\*\*", (BOOK / "references.md").read_text(encoding="utf-8")))


def _used_abbreviations(text: str) -> set[str]:
    found = set()
    for m in ABBREVIATION.finditer(text):
        word = m.group(1)
        if word in NOT_TERMS or re.fullmatch(r"R\d{6}", word) or re.search(r"\d", word) and not word.startswith("B"):
            continue  # sample IDs (R040063) and formulae (H2O, CO3)
        found.add(word)
    return found


def test_glossary_and_references_parse():
    terms, keys = _defined_terms(), _reference_keys()
    assert {"DRSN", "LDA", "ONNX", "GEMM", "KL", "FX", "IMA"} <= terms
    assert {"RamanCMP2023", "Zhao2020", "Liu2017", "Lafuente2015", "Hinton2015"} <= keys
    assert "10.1016/j.aca.2023.341758" in (BOOK / "references.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_abbreviation_in_a_chapter_is_in_the_glossary(chapter):
    missing = sorted(_used_abbreviations(_prose(chapter)) - _defined_terms())
    assert not missing, f"{chapter.name} uses {missing}: define them in book/glossary.md (or add to NOT_TERMS)"


@pytest.mark.parametrize("path", [*CHAPTERS, BOOK / "glossary.md"], ids=lambda p: p.stem)
def test_every_citation_is_in_the_references(path):
    text = _prose(path) if path.suffix == ".py" else path.read_text(encoding="utf-8")
    cited = set()
    for group in re.findall(r"\[([^\]]+)\]", text):
        cited.update(k.strip() for k in group.split(",") if re.fullmatch(r"\s*[A-Z][A-Za-z]+(19|20)\d\d\s*", k))
    missing = sorted(cited - _reference_keys())
    assert not missing, f"{path.name} cites {missing}, which book/references.md does not list"


def test_the_checker_finds_an_undefined_abbreviation():
    assert _used_abbreviations("the XYZQ block and R040063 in H2O") == {"XYZQ"}
