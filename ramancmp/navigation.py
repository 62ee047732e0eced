"""The book's navigation, generated from the chapter list (never typed by hand), and a link checker.

The single source of truth is the chapter files themselves, ``book/NN_name.py`` (jupytext percent format):

- **order**: the sorted ``NN_*.py`` file names;
- **title**: the first markdown heading ``# # N. Title: subtitle`` of the chapter. The part before the first
  ``": "`` is the *short title* used in the navigation and in the README (``N. Title``);
- **blurb**: one line, a blockquote directly under the title (blank lines between allowed)::

      # %% [markdown]
      # # 7. Channel conversion: a faster DRSN
      #
      # > three readings of the paper's "channel conversion", measured

Generated from them, between markers so that regeneration is idempotent and touches nothing else:

- in every chapter, two navigation blocks -- one under the title (after the blurb), one closing the chapter's last
  markdown cell -- each holding one line ``[← prev](...) | [Contents](../README.md#the-book) | [Next: ... →](...)``
  (no "previous" in the first chapter, no "next" in the last)::

      # <!-- nav:start -->
      #
      # [← 6. Knowledge distillation](06_distillation.ipynb) | [Contents](../README.md#the-book) | [Next: ...]
      #
      # <!-- nav:end -->

  The HTML comments are invisible in Jupyter and on GitHub; the blank lines keep every markdown renderer from
  swallowing the link line into the comment.
- in README.md, the chapter table between ``<!-- chapters:start -->`` and ``<!-- chapters:end -->``.

:func:`update_navigation` rewrites both; :func:`check_navigation` only reports what is stale, plus every relative
link in a chapter's markdown cells or in README.md that points to a file (or a heading of a ``.md`` file) that does
not exist. ``python -m ramancmp book nav [--check]`` is the command line.

Standard library only: chapters are parsed as jupytext percent-format text, so this module does not need jupytext.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from ramancmp.config import PROJECT_ROOT

BOOK_DIR = PROJECT_ROOT / "book"
README = PROJECT_ROOT / "README.md"

NAV_START, NAV_END = "<!-- nav:start -->", "<!-- nav:end -->"
CHAPTERS_START, CHAPTERS_END = "<!-- chapters:start -->", "<!-- chapters:end -->"
REGENERATE = "python -m ramancmp book nav"

_CELL = re.compile(r"^#\s*%%")
_MARKDOWN_CELL = re.compile(r"^#\s*%%.*\[(markdown|md)\]")
_TITLE = re.compile(r"^# # (.+?)\s*$")
_BLURB = re.compile(r"^# > (.+?)\s*$")
_TITLE_NUMBER = re.compile(r"^(\d+)\.\s")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?")
_HTML_LINK = re.compile(r"(?:href|src)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
_CODE_SPAN = re.compile(r"(`+).*?\1")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")


# --------------------------------------------------------------------------------------------------- chapters
def list_chapters(book_dir: Path = BOOK_DIR) -> list[str]:
    """Chapter names (``00_introduction``, ...) in reading order: the sorted stems of ``book/NN_*.py``."""
    return sorted(p.stem for p in Path(book_dir).glob("[0-9][0-9]_*.py"))


@dataclass(frozen=True)
class _Cell:
    start: int  # index of the "# %%" header line (or 0 for text before the first header)
    stop: int  # one past the cell's last line
    markdown: bool


def _cells(lines: list[str]) -> list[_Cell]:
    """The percent-format cells of a chapter's lines."""
    heads = [i for i, line in enumerate(lines) if _CELL.match(line)]
    cells = []
    if not heads or heads[0] > 0:
        cells.append(_Cell(0, heads[0] if heads else len(lines), False))
    for k, start in enumerate(heads):
        stop = heads[k + 1] if k + 1 < len(heads) else len(lines)
        cells.append(_Cell(start, stop, bool(_MARKDOWN_CELL.match(lines[start]))))
    return cells


def _markdown_lines(lines: list[str]) -> list[tuple[int, str]]:
    """(line index, markdown text) for every line of every markdown cell, the ``# `` comment prefix removed."""
    out = []
    for cell in _cells(lines):
        if not cell.markdown:
            continue
        for i in range(cell.start + 1, cell.stop):
            line = lines[i]
            if line.startswith("# "):
                out.append((i, line[2:]))
            elif line.rstrip() == "#" or not line.strip():
                out.append((i, ""))
            else:
                out.append((i, line.lstrip("#")))
    return out


def _title_and_blurb(lines: list[str]) -> tuple[int | None, str | None, int | None, str | None]:
    """(title line, title, blurb line, blurb) of a chapter; None where absent. The title is the first ``# # ``
    heading of a markdown cell; the blurb a ``# > `` line right under it (blank lines between allowed)."""
    for cell in _cells(lines):
        if not cell.markdown:
            continue
        for i in range(cell.start + 1, cell.stop):
            match = _TITLE.match(lines[i])
            if not match:
                continue
            j = i + 1
            while j < cell.stop and lines[j].rstrip() == "#":
                j += 1
            blurb = _BLURB.match(lines[j]) if j < cell.stop else None
            return i, match.group(1), (j if blurb else None), (blurb.group(1) if blurb else None)
    return None, None, None, None


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def chapter_titles(book_dir: Path = BOOK_DIR) -> dict[str, str]:
    """Chapter name -> full title, from each chapter's first ``# # `` heading (ValueError if one has none)."""
    titles = {}
    for chapter in list_chapters(book_dir):
        _, title, _, _ = _title_and_blurb(_read_lines(Path(book_dir) / f"{chapter}.py"))
        if title is None:
            raise ValueError(f"{chapter}.py has no title heading ('# # N. Title') in a markdown cell")
        titles[chapter] = title
    return titles


def chapter_blurbs(book_dir: Path = BOOK_DIR) -> dict[str, str]:
    """Chapter name -> one-line blurb (the ``# > `` line under the title; "" where a chapter has none)."""
    return {chapter: _title_and_blurb(_read_lines(Path(book_dir) / f"{chapter}.py"))[3] or ""
            for chapter in list_chapters(book_dir)}


def short_title(title: str) -> str:
    """``"7. Channel conversion: a faster DRSN"`` -> ``"7. Channel conversion"`` (the part before ``": "``)."""
    return title.split(": ", 1)[0].strip()


# ------------------------------------------------------------------------------------------ generated text
def slugify(heading: str) -> str:
    """GitHub's anchor for a markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors by its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _outside_fences(lines: list[str]) -> list[tuple[int, str]]:
    out, fenced = [], False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((i, line))
    return out


def _heading_slugs(lines: list[str]) -> set[str]:
    slugs, seen = set(), Counter()
    for _, line in _outside_fences(lines):
        match = _HEADING.match(line)
        if match:
            slug = slugify(match.group(2))
            slugs.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
            seen[slug] += 1
    return slugs


def _posix_relpath(path: Path, start: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()


def contents_link(book_dir: Path = BOOK_DIR, readme: Path = README) -> str:
    """The chapters' "Contents" link: README.md, at the heading above its chapter table if it has one."""
    link = _posix_relpath(readme, book_dir)
    if not Path(readme).exists():
        return link
    heading = None
    for _, line in _outside_fences(_read_lines(readme)):
        if line.strip() == CHAPTERS_START:
            break
        match = _HEADING.match(line)
        if match:
            heading = match.group(2)
    return f"{link}#{slugify(heading)}" if heading else link


def nav_line(chapters: list[str], titles: dict[str, str], chapter: str, contents: str | None = None) -> str:
    """The navigation line of ``chapter``: previous chapter, contents, next chapter (links to the notebooks)."""
    i = chapters.index(chapter)
    parts = []
    if i > 0:
        prev = chapters[i - 1]
        parts.append(f"[← {short_title(titles[prev])}]({prev}.ipynb)")
    if contents:
        parts.append(f"[Contents]({contents})")
    if i + 1 < len(chapters):
        nxt = chapters[i + 1]
        parts.append(f"[Next: {short_title(titles[nxt])} →]({nxt}.ipynb)")
    return " | ".join(parts)


def nav_block(line: str) -> list[str]:
    """The lines of one navigation block in a percent-format markdown cell."""
    return [f"# {NAV_START}", "#", f"# {line}", "#", f"# {NAV_END}"]


def _nav_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) line indices of every navigation block; ValueError on unbalanced markers."""
    blocks, start = [], None
    for i, line in enumerate(lines):
        text = line.lstrip("#").strip()
        if text == NAV_START:
            if start is not None:
                raise ValueError(f"line {i + 1}: '{NAV_START}' inside another navigation block")
            start = i
        elif text == NAV_END:
            if start is None:
                raise ValueError(f"line {i + 1}: '{NAV_END}' without '{NAV_START}'")
            blocks.append((start, i))
            start = None
    if start is not None:
        raise ValueError(f"line {start + 1}: '{NAV_START}' is never closed by '{NAV_END}'")
    return blocks


def render_chapter(text: str, line: str) -> str:
    """``text`` (a chapter) with exactly two navigation blocks holding ``line``: one under the title (after the
    blurb), one closing the last markdown cell (a new markdown cell if the chapter ends with code). Existing blocks
    are removed first, with the blank ``#`` line before each, so the result is the same however often it is applied.
    """
    lines = text.splitlines()
    for start, end in reversed(_nav_blocks(lines)):
        first = start - 1 if start > 0 and lines[start - 1].rstrip() == "#" else start
        del lines[first:end + 1]

    title_at, title, blurb_at, _ = _title_and_blurb(lines)
    if title is None:
        raise ValueError("no title heading ('# # N. Title') in a markdown cell")
    at = (blurb_at if blurb_at is not None else title_at) + 1
    block = nav_block(line)
    follows_text = at < len(lines) and lines[at].startswith("#") and lines[at].rstrip() != "#" \
        and not _CELL.match(lines[at])
    lines[at:at] = ["#", *block, *(["#"] if follows_text else [])]

    while lines and not lines[-1].strip():
        lines.pop()
    last = _cells(lines)[-1]
    if not last.markdown:
        lines += ["", "# %% [markdown]", *block]
    elif last.stop - last.start == 1:  # an empty markdown cell: the block is its content
        lines += block
    else:
        lines += ["#", *block]
    return "\n".join(lines) + "\n"


def readme_table(book_dir: Path = BOOK_DIR, readme: Path = README) -> str:
    """The README's chapter section: a line saying how it is generated, then the table: short title (linking the
    chapter's text form) and blurb, one row a chapter."""
    titles, blurbs = chapter_titles(book_dir), chapter_blurbs(book_dir)
    rows = [f"Generated by `{REGENERATE}` from each chapter's title and blurb (the quoted line under the title),",
            "as are the navigation links at the top and bottom of every chapter.", "",
            "| chapter | what it does |", "|---|---|"]
    for chapter in list_chapters(book_dir):
        link = _posix_relpath(Path(book_dir) / f"{chapter}.py", Path(readme).parent)
        title = short_title(titles[chapter]).replace("|", r"\|")
        rows.append(f"| [{title}]({link}) | {blurbs[chapter].replace('|', chr(92) + '|')} |")
    return "\n".join(rows)


def render_readme(text: str, table: str) -> str:
    """README text with the chapter table between the markers replaced (ValueError if the markers are missing)."""
    if text.count(CHAPTERS_START) != 1 or text.count(CHAPTERS_END) != 1 \
            or text.index(CHAPTERS_START) > text.index(CHAPTERS_END):
        raise ValueError(f"README needs one '{CHAPTERS_START}' ... '{CHAPTERS_END}' pair around the chapter table")
    head, rest = text.split(CHAPTERS_START, 1)
    _, tail = rest.split(CHAPTERS_END, 1)
    return f"{head}{CHAPTERS_START}\n{table}\n{CHAPTERS_END}{tail}"


# ----------------------------------------------------------------------------------------- update and check
def update_navigation(book_dir: Path = BOOK_DIR, readme: Path = README) -> list[Path]:
    """Regenerate the navigation blocks of every chapter ``.py`` and README.md's chapter table; return the files
    that changed (none on a second run). Only the text between the markers changes (and the markers themselves
    where a chapter has none yet). The ``.ipynb`` pairs are not touched: regenerate them from the ``.py`` files."""
    book_dir, readme = Path(book_dir), Path(readme)
    chapters, titles = list_chapters(book_dir), chapter_titles(book_dir)
    contents = contents_link(book_dir, readme)
    new_texts = {}
    for chapter in chapters:
        path = book_dir / f"{chapter}.py"
        try:
            new_texts[path] = render_chapter(path.read_text(encoding="utf-8"),
                                             nav_line(chapters, titles, chapter, contents))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
    new_texts[readme] = render_readme(readme.read_text(encoding="utf-8"), readme_table(book_dir, readme))
    changed = []
    for path, new in new_texts.items():  # everything is rendered before anything is written
        if path.read_text(encoding="utf-8") != new:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def _display(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


def _link_targets(numbered_lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """(line index, target) of every inline, reference-style and HTML link, outside code fences and code spans."""
    targets, fenced = [], False
    for i, line in numbered_lines:
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        line = _CODE_SPAN.sub("", line)
        for pattern in (_INLINE_LINK, _REFERENCE_LINK, _HTML_LINK):
            targets += [(i, m.group(1)) for m in pattern.finditer(line)]
    return targets


def broken_links(path: Path, root: Path | None = None) -> list[str]:
    """Relative links in a markdown file or in a chapter's markdown cells whose file does not exist, or (for links
    into ``.md`` files) whose ``#anchor`` names no heading there. http(s) and other URLs and pure ``#anchors`` are
    not checked. Paths starting with ``/`` are taken from ``root`` (default: the file's folder)."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    lines = _read_lines(path)
    numbered = _markdown_lines(lines) if path.suffix == ".py" else list(enumerate(lines))
    problems = []
    for i, target in _link_targets(numbered):
        if target.startswith("#") or _SCHEME.match(target):
            continue
        file_part, _, anchor = unquote(target).partition("#")
        file_part = file_part.split("?", 1)[0]
        resolved = root / file_part.lstrip("/") if file_part.startswith("/") else path.parent / file_part
        where = f"{_display(path, root)}:{i + 1}"
        if not resolved.exists():
            problems.append(f"{where}: broken link '{target}' ({_display(resolved, root)} does not exist)")
        elif anchor and resolved.suffix.lower() == ".md" and resolved.is_file() \
                and anchor not in _heading_slugs(_read_lines(resolved)):
            problems.append(f"{where}: broken link '{target}' (no heading '#{anchor}' in {_display(resolved, root)})")
    return problems


def check_navigation(book_dir: Path = BOOK_DIR, readme: Path = README) -> list[str]:
    """What :func:`update_navigation` would change, and every broken relative link, as readable problems (empty
    when all is well). Writes nothing."""
    book_dir, readme = Path(book_dir), Path(readme)
    root = readme.parent
    chapters = list_chapters(book_dir)
    problems = [] if chapters else [f"{_display(book_dir, root)}: no chapters (NN_name.py)"]
    fix = f"run `{REGENERATE}`"

    titles = {}
    for chapter in chapters:
        path = book_dir / f"{chapter}.py"
        name = _display(path, root)
        _, title, _, blurb = _title_and_blurb(_read_lines(path))
        if title is None:
            problems.append(f"{name}: no title heading ('# # N. Title') in a markdown cell")
            continue
        titles[chapter] = title
        number = _TITLE_NUMBER.match(title)
        if number and int(number.group(1)) != int(chapter[:2]):
            problems.append(f"{name}: the title's number {number.group(1)} is not the file's {chapter[:2]}")
        if not blurb:
            problems.append(f"{name}: no blurb ('# > one line' right under the title)")

    if len(titles) == len(chapters):  # the generated text needs every title
        contents = contents_link(book_dir, readme)
        for chapter in chapters:
            path = book_dir / f"{chapter}.py"
            name, text = _display(path, root), path.read_text(encoding="utf-8")
            expected = nav_line(chapters, titles, chapter, contents)
            try:
                lines = text.splitlines()
                blocks = _nav_blocks(lines)
                rendered = render_chapter(text, expected)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
                continue
            if rendered == text:
                continue
            found = [lines[s + 1:e] for s, e in blocks]
            stale = [" ".join(x.lstrip("# ").strip() for x in block if x.strip("# ")) for block in found]
            if len(blocks) != 2:
                problems.append(f"{name}: {len(blocks)} navigation block(s), expected 2 (under the title and at "
                                f"the end); {fix}")
            elif any(s != expected for s in stale):
                bad = next(s for s in stale if s != expected)
                problems.append(f"{name}: stale navigation block: found '{bad}', expected '{expected}'; {fix}")
            else:
                problems.append(f"{name}: navigation blocks are not under the title and at the end; {fix}")

        if readme.exists():
            text = readme.read_text(encoding="utf-8")
            try:
                if render_readme(text, readme_table(book_dir, readme)) != text:
                    problems.append(f"{_display(readme, root)}: the chapter table is stale; {fix}")
            except ValueError as exc:
                problems.append(f"{_display(readme, root)}: {exc}")

    if not readme.exists():
        problems.append(f"{readme}: does not exist")
    for path in [*(book_dir / f"{c}.py" for c in chapters), *([readme] if readme.exists() else [])]:
        problems += broken_links(path, root)
    return problems
