"""The static site (`make site`): built from the committed notebooks and opened in a real headless browser.

``$RAMANCMP_SITE_NOTEBOOKS`` builds it from another folder of executed notebooks (e.g. ``build/quick``).
Chromium is the system's (``/usr/bin/chromium``, installed by ``.ci/run``; ``$BROWSER_PATH`` overrides), driven by
Playwright; ``playwright install`` (a browser download) is never needed. Without any browser the test is skipped and
says why.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from ramancmp.book import site
from ramancmp.navigation import BOOK_DIR, list_chapters
from ramancmp.plots import find_browser

NOTEBOOKS = Path(os.environ.get("RAMANCMP_SITE_NOTEBOOKS") or BOOK_DIR)
LAUNCH_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]


def _browser_or_skip() -> str:
    browser = find_browser()
    if browser is None:
        pytest.skip("no Chrome/Chromium on this machine (apt-get install chromium, or set $BROWSER_PATH): "
                    "the site cannot be opened in a browser")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])")
    return browser


def _has_math(notebook: Path) -> bool:
    import re

    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    return any(re.search(r"(?<![\w$])\$[^$\s][^$\n]*\$", c.source) for c in cells if c.cell_type == "markdown")


@pytest.fixture(scope="module")
def built_site(tmp_path_factory) -> Path:
    pytest.importorskip("sphinx", reason="the site's packages are not installed (pip install -e .[test])")
    out = tmp_path_factory.mktemp("site") / "site"
    index = site.build_site(NOTEBOOKS, out)
    assert index.exists()
    return out


@pytest.fixture(scope="module")
def served(built_site):
    """The site over HTTP on localhost (as a user's static host would serve it)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.mark.book
def test_site_has_a_page_per_chapter_with_plotly_local_and_no_cdn(built_site):
    for chapter in [c for c in list_chapters() if (NOTEBOOKS / f"{c}.ipynb").exists()]:
        page = built_site / f"{chapter}.html"
        assert page.exists(), f"no page for {chapter}"
    assert (built_site / "_static" / "plotly.min.js").exists() and (built_site / "search.html").exists()
    for page in built_site.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        for cdn in ("cdn.plot.ly", "cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com"):
            assert cdn not in html, f"{page.name} loads something from {cdn}"


@pytest.mark.book
def test_site_in_a_headless_browser(built_site, served):
    browser_path = _browser_or_skip()
    from playwright.sync_api import sync_playwright

    chapters = [c for c in list_chapters() if (NOTEBOOKS / f"{c}.ipynb").exists()]
    expected = {c: site.figure_count(NOTEBOOKS / f"{c}.ipynb") for c in chapters}
    problems: list[str] = []
    links: set[str] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, headless=True, args=LAUNCH_FLAGS)
        page = browser.new_page()
        page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: console error: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"{page.url}: script error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"{page.url}: failed to load {r.url}"))

        page.goto(served + "index.html", wait_until="load")
        contents = page.eval_on_selector_all("article a[href]", "els => els.map(e => e.getAttribute('href'))")
        for chapter in chapters:
            assert f"{chapter}.html" in contents, f"the contents page does not link to {chapter}"
        nav = page.eval_on_selector_all("nav a[href$='.html']", "els => els.map(e => e.getAttribute('href'))")
        order = [h.split("#")[0].removesuffix(".html") for h in nav]
        order = [c for c in order if c in chapters]
        assert list(dict.fromkeys(order)) == chapters, "the navigation is not in chapter order"

        math_seen = False
        for chapter in chapters:
            page.goto(served + f"{chapter}.html", wait_until="load")
            if expected[chapter]:
                page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot svg.main-svg').length > 0 && "
                                       f"document.querySelectorAll('.js-plotly-plot').length >= {expected[chapter]}",
                                       timeout=20_000)
            drawn = page.eval_on_selector_all(".js-plotly-plot", "els => els.filter(e => "
                                              "e.querySelector('svg.main-svg') !== null).length")
            if drawn != expected[chapter]:
                problems.append(f"{chapter}: {drawn} figures drawn, the notebook has {expected[chapter]}")
            if page.locator("article .math").count():
                page.wait_for_selector("mjx-container", timeout=10_000)
                math_seen = True
            for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
                links.add(href)
        assert math_seen or not any(_has_math(NOTEBOOKS / f"{c}.ipynb") for c in chapters), "no math rendered"

        page.goto(served + "search.html?q=RRUFF", wait_until="load")
        page.wait_for_selector("#search-results li", timeout=20_000)
        browser.close()

    for href in sorted(links):
        url = urlparse(href)
        if not href.startswith(served):
            continue
        target = built_site / unquote(url.path.removeprefix(urlparse(served).path)) if url.path != "/" else None
        if target is not None and target.is_dir():
            target = target / "index.html"
        if target is not None and not target.exists():
            problems.append(f"broken internal link {href}")
    assert not problems, "\n".join(problems)


def test_contents_links_point_to_the_site_and_chapter_links_to_pages(tmp_path):
    source = site.stage(BOOK_DIR, tmp_path / "src")
    text = (source / "01_data.ipynb").read_text(encoding="utf-8")
    assert "../README.md#the-book" not in text and "](index.md)" in text
    assert "application/vnd.plotly.v1+json" not in text  # staged copies draw figures as HTML with the local plotly.js
    assert "toctree" in (source / "index.md").read_text(encoding="utf-8")


def test_chapter_links_in_rendered_prose_point_at_pages(tmp_path):
    """MyST-NB parses a markdown *output* (prose rendered by rc.md) without resolving links between documents: the
    staged notebook must already point such links at the page, and drop links to chapters the site does not have."""
    import nbformat

    book = tmp_path / "book"
    book.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("rc.md(...)", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/markdown": "see [chapter 12](12_pre.ipynb#the-table), [chapter 9](09_x.ipynb) "
                                               "and the [contents](../README.md#the-book)"})])])
    nbformat.write(nb, book / "01_a.ipynb")
    site._stage_notebook(book / "01_a.ipynb", tmp_path / "staged.ipynb", ["01_a", "12_pre"])
    text = nbformat.read(tmp_path / "staged.ipynb", as_version=4).cells[0].outputs[0]["data"]["text/markdown"]
    assert text == "see [chapter 12](12_pre.html#the-table), chapter 9 and the [contents](index.html)"


def _figure_bundle(monkeypatch, browser: str | None) -> tuple[dict, str]:
    """A figure's output as a chapter shows it, from a fresh exporter (with or without a browser)."""
    import contextlib
    import io

    from ramancmp import plots

    monkeypatch.setattr(plots, "static_image", plots._StaticImages())
    monkeypatch.setattr(plots, "find_browser", lambda: browser)
    monkeypatch.delenv(plots.STATIC_ENV, raising=False)
    plots.configure_renderer()
    fig = plots.pareto_figure([{"name": f"m{i}", "accuracy": 90 + i % 3, "latency_ms": 1 + i, "params": 10 * i}
                               for i in range(8)])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        bundle = plots.FigureRenderer().to_mimebundle(fig.to_dict())
        again = plots.FigureRenderer().to_mimebundle(fig.to_dict())
    assert set(again) == set(bundle)
    return bundle, err.getvalue()


def test_figures_without_a_browser_stay_interactive_with_a_one_time_note(monkeypatch):
    bundle, note = _figure_bundle(monkeypatch, None)
    assert set(bundle) == {"application/vnd.plotly.v1+json"}
    assert note.count("note:") == 1 and "Chromium" in note


@pytest.mark.slow
def test_figures_carry_a_static_image_that_nbconvert_shows(monkeypatch, tmp_path):
    """With a browser, a figure output holds plotly's JSON (interactive in JupyterLab) and an image; nbconvert's
    HTML (no JavaScript, as GitHub's viewer) then shows the figure."""
    browser = _browser_or_skip()
    pytest.importorskip("kaleido", reason="kaleido is not installed (pip install -e .[book])")
    import nbformat
    from nbconvert import HTMLExporter

    bundle, note = _figure_bundle(monkeypatch, browser)
    assert not note
    images = set(bundle) & {"image/png", "image/svg+xml"}
    assert "application/vnd.plotly.v1+json" in bundle and len(images) == 1
    figure = bundle["application/vnd.plotly.v1+json"]
    labels = [a["text"] for a in figure["layout"]["annotations"]]
    assert labels == ["m0", "m1", "m2"] and not any(t.get("text") for t in figure["data"])  # the front only
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("fig", outputs=[
        nbformat.v4.new_output("display_data", data=bundle)])])
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert "<svg" in html or "data:image/png;base64" in html


def test_committed_notebooks_show_every_figure_without_javascript():
    """Every figure output of the committed notebooks carries a static image beside the plotly JSON (GitHub,
    nbconvert). Fails until the notebooks are regenerated with a browser available (book run --update-book)."""
    import nbformat

    missing = []
    for chapter in list_chapters():
        nb = nbformat.read(BOOK_DIR / f"{chapter}.ipynb", as_version=4)
        for c, cell in enumerate(nb.cells):
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "application/vnd.plotly.v1+json" in data and not {"image/png", "image/svg+xml"} & set(data):
                    missing.append(f"{chapter} cell {c}")
    assert not missing, "figures without a static image: " + ", ".join(missing)
