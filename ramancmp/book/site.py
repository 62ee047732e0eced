"""The book as a static HTML site: ``python -m ramancmp book site`` (``make site``) -> ``build/site/index.html``.

Built offline from the executed notebooks (``book/*.ipynb``, never re-executed) with Sphinx + MyST-NB and the
sphinx-book-theme: navigation in chapter order, a contents page, full-text search, math (MathJax shipped by
``sphinx-mathjax-offline``) and interactive figures. Everything the pages load is inside the site: plotly.js is
copied from the installed ``plotly`` package, nothing comes from a CDN.

The notebooks are staged into ``build/site-src`` first, where

- each figure (plotly's ``application/vnd.plotly.v1+json`` output, which MyST-NB cannot draw) gets an HTML form
  beside it that draws it with the local plotly.js (the committed notebooks stay small: the HTML form exists only
  in the staged copy);
- the chapters' "Contents" link (to the README's chapter table) points to the site's contents page, and the links
  between chapters (``02_baselines.ipynb``) become links between pages (MyST resolves them);
- ``index.md`` (the contents page) is written from the chapters' titles and blurbs, in chapter order.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import plotly
import plotly.io as pio

from ramancmp.config import PROJECT_ROOT
from ramancmp.navigation import BOOK_DIR, chapter_blurbs, chapter_titles, list_chapters, short_title

__all__ = ["build_site", "figure_count", "stage"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
SITE_DIR = PROJECT_ROOT / "build" / "site"
_FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><polyline fill="none" stroke="#1f77b4" '
            'stroke-width="1.5" points="0,14 4,12 6,3 8,12 11,9 13,13 16,14"/></svg>')
_CONTENTS_LINK = re.compile(r"\]\((?:\.\./)?README\.md(?:#[^)]*)?\)")
_CHAPTER_LINK = re.compile(r"\[([^\]]*)\]\((\d\d_\w+)\.ipynb(?:#[^)]*)?\)")


#: Pages of ``book/`` beside the chapters that the site includes (after the chapters in the navigation).
EXTRA_PAGES = ("glossary.md", "references.md")
# The site's footer ("By ..." and the copyright line of sphinx-book-theme): who made the book and whose paper it
# re-creates (authors as in book/references.md, [RamanCMP2023]).
PAPER_AUTHORS = "Z. Gong, C. Chen, C. Chen, C. Li, X. Tian, Z. Gong, X. Lv"
AUTHOR = (f"the ramancmp contributors, re-creating {PAPER_AUTHORS}, RamanCMP, Analytica Chimica Acta 1278 (2023) "
          "341758")
COPYRIGHT = "the ramancmp contributors; RRUFF spectra: the RRUFF project (Lafuente et al. 2015)"


def figure_count(notebook: Path) -> int:
    """How many plotly figures a notebook's outputs hold."""
    nb = nbformat.read(notebook, as_version=4)
    return sum(PLOTLY_MIME in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def _figure_html(figure: dict, div_id: str) -> str:
    return pio.to_html(figure, include_plotlyjs=False, full_html=False, div_id=div_id, validate=False,
                       config={"responsive": True, "displaylogo": False})


def _stage_notebook(source: Path, destination: Path, chapters: list[str]) -> None:
    nb = nbformat.read(source, as_version=4)

    def unlink_missing(match: re.Match) -> str:  # a site of some chapters only: no link to a page that is not there
        return match.group(0) if match.group(2) in chapters else match.group(1)

    def page_link(match: re.Match) -> str:  # [text](NN_name.ipynb#anchor) -> [text](NN_name.html#anchor)
        if match.group(2) not in chapters:
            return match.group(1)
        return match.group(0).replace(f"]({match.group(2)}.ipynb", f"]({match.group(2)}.html", 1)

    for c, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = _CHAPTER_LINK.sub(unlink_missing, _CONTENTS_LINK.sub("](index.md)", cell.source))
        for o, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            if "text/markdown" in data:  # prose rendered by the run (rc.md): MyST-NB parses it without resolving
                text = data["text/markdown"]  # links between documents, so point them at the pages themselves
                text = "".join(text) if isinstance(text, list) else text
                data["text/markdown"] = _CHAPTER_LINK.sub(page_link, _CONTENTS_LINK.sub("](index.html)", text))
            if PLOTLY_MIME in data:
                figure = data[PLOTLY_MIME]
                figure = json.loads(figure) if isinstance(figure, str) else figure
                output["data"] = {"text/html": _figure_html(figure, f"figure-{c}-{o}")}
    nbformat.write(nb, destination)


def _index(chapters: list[str], book_dir: Path) -> str:
    titles, blurbs = chapter_titles(book_dir), chapter_blurbs(book_dir)
    rows = "\n".join(f"| [{short_title(titles[c])}]({c}.ipynb) | {blurbs.get(c, '')} |" for c in chapters)
    toc = "\n".join(chapters + [page.removesuffix(".md") for page in EXTRA_PAGES if (book_dir / page).exists()])
    return f"""# RamanCMP: fast, compressed deep learning for Raman spectra of minerals

An executable book that re-creates, tests and extends the paper *RamanCMP: A Raman spectral classification
acceleration method based on lightweight model and model compression techniques* (Analytica Chimica Acta 1278
(2023) 341758) on the public RRUFF Raman database. Every number and figure on these pages was computed by the run
that shows it; the figures are interactive (hover, zoom, click a legend entry to hide a trace).

## Contents

| chapter | what it does |
|---|---|
{rows}

For teachers and readers: the [glossary](glossary.md) defines every term and abbreviation the chapters use, and the
[references](references.md) list the works they cite, with DOIs.

```{{toctree}}
:hidden:
:maxdepth: 1

{toc}
```
"""


def _conf(title: str) -> str:
    return f'''# Written by ramancmp.book.site (do not edit: rebuilt by `make site`).
project = {title!r}
author = {AUTHOR!r}
copyright = {COPYRIGHT!r}
extensions = ["myst_nb", "sphinx-mathjax-offline"]
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
nb_output_stderr = "remove"
html_theme = "sphinx_book_theme"
html_title = {title!r}
html_static_path = ["_static"]
html_js_files = ["plotly.min.js"]
html_favicon = "_static/favicon.svg"
html_context = {{"default_mode": "light"}}
html_theme_options = {{"show_toc_level": 2, "use_download_button": False, "use_fullscreen_button": False}}
html_last_updated_fmt = None
html_copy_source = False
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]
'''


def stage(notebooks: Path = BOOK_DIR, source: Path | None = None, book_dir: Path = BOOK_DIR) -> Path:
    """Write the Sphinx source folder (``build/site-src`` by default) from the executed notebooks."""
    source = Path(source or SITE_DIR.parent / "site-src")
    chapters = [c for c in list_chapters(book_dir) if (Path(notebooks) / f"{c}.ipynb").exists()]
    if not chapters:
        raise FileNotFoundError(f"no executed chapter notebooks in {notebooks}")
    shutil.rmtree(source, ignore_errors=True)
    (source / "_static").mkdir(parents=True)
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    shutil.copyfile(plotly_js, source / "_static" / "plotly.min.js")
    (source / "_static" / "favicon.svg").write_text(_FAVICON, encoding="utf-8")
    for chapter in chapters:
        _stage_notebook(Path(notebooks) / f"{chapter}.ipynb", source / f"{chapter}.ipynb", chapters)
    for page in EXTRA_PAGES:  # the glossary and the references, which the chapters link to
        if (Path(book_dir) / page).exists():
            shutil.copyfile(Path(book_dir) / page, source / page)
    if (Path(book_dir) / "figures").is_dir():  # the architecture diagrams the chapters show (figures/*.svg)
        shutil.copytree(Path(book_dir) / "figures", source / "figures")
    (source / "index.md").write_text(_index(chapters, book_dir), encoding="utf-8")
    (source / "conf.py").write_text(_conf("RamanCMP"), encoding="utf-8")
    return source


def build_site(notebooks: Path = BOOK_DIR, output: Path = SITE_DIR, *, book_dir: Path = BOOK_DIR,
               quiet: bool = True) -> Path:
    """Stage the notebooks and build the site with Sphinx; returns ``output/index.html``. Raises RuntimeError with
    Sphinx's messages when the build fails (warnings, e.g. a broken link between chapters, count as failures)."""
    from sphinx.cmd.build import build_main

    output = Path(output)
    source = stage(notebooks, output.parent / f"{output.name}-src", book_dir)
    args = ["-b", "html", "-W", "--keep-going", "-d", str(output.parent / f"{output.name}-doctrees"),
            str(source), str(output)]
    if quiet:
        args.insert(0, "-q")
    if build_main(args) != 0:
        raise RuntimeError(f"the site build failed (Sphinx's messages above); sources in {source}")
    return output / "index.html"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ramancmp.book.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=Path, default=BOOK_DIR, help="folder of executed notebooks (book/)")
    parser.add_argument("--output", type=Path, default=SITE_DIR, help="where the site goes (build/site)")
    args = parser.parse_args(argv)
    try:
        index = build_site(args.notebooks, args.output)
    except (RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}")
        return 1
    print(f"site: {index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
