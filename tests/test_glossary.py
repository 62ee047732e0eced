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


# --- Terms and model names (issue 20, item 8). A chapter defines a term by setting it in bold in its markdown; such a
# term must be a glossary head (or part of one: heads list their synonyms, "LDA (linear discriminant analysis),
# shrinkage LDA"). Bold text that is not a term: run-in headings (ending in "." or ":"), enumerated options "(a) ...",
# and the emphasis below. Every registry name a chapter uses (in code or prose, as a string) must be defined too.
EMPHASIS = {"one", "one run", "one graph", "a shallow cut", "the classifier alone", "training/adaptation time",
            "species", "wider wavenumber ranges", "species held out", "without flagged", "reading"}


def _norm(term: str) -> str:
    term = re.sub(r"[`*]", "", term).lower().replace("-", " ")
    return " ".join(w.removesuffix("s") if len(w) > 3 else w for w in term.split())


def _glossary_heads() -> list[str]:
    return re.findall(r"^\*\*(.+?)\*\*", (BOOK / "glossary.md").read_text(encoding="utf-8"), flags=re.M)


def _covered(term: str, heads: list[str]) -> bool:
    parts = {_norm(p) for head in heads for p in re.split(r"[,/()]| or ", head) if p.strip()}
    return _norm(term) in parts or any(_norm(term) in _norm(head) for head in heads)


def _bold_terms(path: Path) -> set[str]:
    cells = [c.source for c in jupytext.read(path).cells if c.cell_type == "markdown"]
    found = set()
    for term in re.findall(r"\*\*([^*\n]+?)\*\*", "\n".join(cells)):
        term = term.strip()
        if term.endswith((".", ":")) or re.match(r"\([a-z]\) ", term) or _norm(term) in {_norm(e) for e in EMPHASIS}:
            continue
        found.add(term)
    return found


def _registry_names_used(path: Path) -> set[str]:
    from ramancmp.models import list_models

    text = path.read_text(encoding="utf-8")
    return {n for n in list_models() if re.search(rf"[\"'`]{re.escape(n)}[\"'`]", text)}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_bold_term_and_model_name_of_a_chapter_is_in_the_glossary(chapter):
    heads = _glossary_heads()
    missing = sorted(t for t in _bold_terms(chapter) if not _covered(t, heads))
    assert not missing, f"{chapter.name} defines {missing} in bold: add them to book/glossary.md (or, if emphasis, " \
                        "use *italics*)"
    glossary = (BOOK / "glossary.md").read_text(encoding="utf-8")
    names = sorted(n for n in _registry_names_used(chapter) if f"`{n}`" not in glossary)
    assert not names, f"{chapter.name} uses the models {names}, which book/glossary.md does not name"


def test_the_term_checker_matches_synonyms_and_plurals():
    heads = ["LDA (linear discriminant analysis), shrinkage LDA", "Head, head bins", "MBConv"]
    assert _covered("linear discriminant analysis", heads) and _covered("shrinkage LDA", heads)
    assert _covered("head bin", heads) and _covered("MBConv", heads) and not _covered("MBConv blocks", heads)
    assert not _covered("stochastic depth", heads)
