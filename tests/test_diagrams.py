"""The architecture diagrams (book/figures/*.svg, drawn by ramancmp.book.diagrams) and the site's footer."""
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ramancmp.book import diagrams, site

BOOK = Path(__file__).resolve().parents[1] / "book"


@pytest.mark.parametrize("name", sorted(diagrams.diagrams()))
def test_committed_diagram_is_what_the_code_draws(name):
    committed = BOOK / "figures" / name
    assert committed.exists(), f"{committed} missing: run python -m ramancmp.book.diagrams"
    assert committed.read_text(encoding="utf-8") == diagrams.diagrams()[name], (
        f"{committed} differs from what ramancmp.book.diagrams draws: rerun python -m ramancmp.book.diagrams")
    root = ET.fromstring(committed.read_text(encoding="utf-8"))  # well-formed SVG
    assert root.tag.endswith("svg") and root.find("{http://www.w3.org/2000/svg}title") is not None


def test_the_cnn_diagram_follows_the_registered_cnn():
    from ramancmp.models.cnn import BOOK_CNN_KWARGS

    svg = diagrams.cnn_svg(num_classes=10, in_length=1024)
    for c_out, kernel in zip(BOOK_CNN_KWARGS["channels"], BOOK_CNN_KWARGS["kernel_sizes"]):
        assert f"k={kernel}," in svg and f"→ {c_out}" in svg
    assert f"AdaptiveAvgPool1d({BOOK_CNN_KWARGS['head_bins']})" in svg and "64 × 64" in svg


def test_fold_diagram_rejects_a_length_that_does_not_fold():
    with pytest.raises(ValueError, match="multiple of k"):
        diagrams.fold_svg(points=10, k=4)


def test_every_diagram_is_shown_by_a_chapter_and_every_figure_link_resolves():
    shown = set()
    for chapter in sorted(BOOK.glob("[0-9][0-9]_*.py")):
        for target in re.findall(r"\]\((figures/[^)]+)\)", chapter.read_text(encoding="utf-8")):
            assert (BOOK / target).exists(), f"{chapter.name} links {target}, which does not exist"
            shown.add(Path(target).name)
    assert set(diagrams.diagrams()) <= shown, f"diagrams no chapter shows: {set(diagrams.diagrams()) - shown}"


def test_site_footer_names_the_paper_authors_as_the_references_do(tmp_path):
    conf = site._conf("RamanCMP")
    assert "author = " in conf and "Author name not set" not in conf
    assert site.PAPER_AUTHORS in conf
    references = (BOOK / "references.md").read_text(encoding="utf-8")
    entry = references[references.index("**[RamanCMP2023]**"):].split("\n- ")[0]
    assert site.PAPER_AUTHORS in " ".join(entry.split()), "the site footer and references.md name other authors"
