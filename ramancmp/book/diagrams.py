"""Architecture diagrams of the book, drawn by code as SVG: the CNN, an MBConv block, an RSBU and the folding of a
spectrum into channels (chapters 3, 4, 5 and 7 show them).

The numbers in the diagrams come from the package: the CNN's stages from :data:`ramancmp.models.cnn.BOOK_CNN_KWARGS`,
the block diagrams' defaults from the blocks' code, so a changed architecture changes its picture when the figures
are rebuilt. The SVG files are committed in ``book/figures/`` (``python -m ramancmp.book.diagrams`` rewrites them;
a test fails when a committed file differs from what this module draws). Plain SVG, no plotting library: the files
are small, diff well and render on GitHub, in JupyterLab and on the site.
"""

from __future__ import annotations

import argparse
from html import escape
from pathlib import Path

from ramancmp.config import PROJECT_ROOT
from ramancmp.models.cnn import BOOK_CNN_KWARGS

__all__ = ["FIGURES_DIR", "cnn_svg", "diagrams", "fold_svg", "mbconv_svg", "rsbu_svg", "write_diagrams"]

FIGURES_DIR = PROJECT_ROOT / "book" / "figures"
_FONT = 'font-family="Helvetica, Arial, sans-serif"'
_COLOURS = {"conv": "#dbe9f6", "norm": "#e8f4e1", "pool": "#fdf0d5", "head": "#f3e0ef", "io": "#eeeeee",
            "gate": "#fde2e1"}


class _Canvas:
    def __init__(self, width: int, height: int, title: str):
        self.width, self.height, self.title, self.items = width, height, title, []

    def box(self, cx: float, y: float, w: float, h: float, lines: list[str], kind: str = "conv") -> float:
        """A rounded box centred at ``cx`` from ``y`` down; returns its bottom."""
        self.items.append(f'<rect x="{cx - w / 2:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="6" '
                          f'fill="{_COLOURS[kind]}" stroke="#555" stroke-width="1"/>')
        step = 15
        top = y + h / 2 - step * (len(lines) - 1) / 2 + 4.5
        for i, line in enumerate(lines):
            weight = ' font-weight="bold"' if i == 0 else ""
            self.text(cx, top + i * step, line, size=13 if i == 0 else 11.5, extra=weight)
        return y + h

    def text(self, x: float, y: float, s: str, size: float = 11.5, anchor: str = "middle", extra: str = "",
             colour: str = "#222") -> None:
        self.items.append(f'<text x="{x:g}" y="{y:g}" font-size="{size:g}" text-anchor="{anchor}" fill="{colour}"'
                          f'{extra}>{escape(s)}</text>')

    def arrow(self, points: list[tuple[float, float]], dashed: bool = False) -> None:
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        path = " ".join(f"{x:g},{y:g}" for x, y in points)
        self.items.append(f'<polyline points="{path}" fill="none" stroke="#444" stroke-width="1.4"{dash} '
                          'marker-end="url(#arrow)"/>')

    def node(self, cx: float, cy: float, symbol: str) -> None:
        self.items.append(f'<circle cx="{cx:g}" cy="{cy:g}" r="11" fill="#fff" stroke="#444" stroke-width="1.4"/>')
        self.text(cx, cy + 5, symbol, size=16)

    def rect(self, x: float, y: float, w: float, h: float, fill: str) -> None:
        self.items.append(f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" fill="{fill}" stroke="#555" '
                          'stroke-width="0.6"/>')

    def svg(self) -> str:
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
                f'viewBox="0 0 {self.width} {self.height}" {_FONT} role="img">\n'
                f'<title>{escape(self.title)}</title>\n'
                '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>\n'
                f'<rect width="{self.width}" height="{self.height}" fill="#fff"/>\n')
        return head + "\n".join(self.items) + "\n</svg>\n"


def _column(c: _Canvas, cx: float, y: float, w: float, specs: list[tuple[list[str], str, str]], h: float = 44,
            gap: float = 22) -> float:
    """Boxes one under the other, joined by arrows, each with a shape note on its right; returns the last bottom."""
    for i, (lines, kind, note) in enumerate(specs):
        if i:
            c.arrow([(cx, y), (cx, y + gap)])
            y += gap
        bottom = c.box(cx, y, w, h, lines, kind)
        if note:
            c.text(cx + w / 2 + 10, y + h / 2 + 4, note, anchor="start", colour="#555")
        y = bottom
    return y


def cnn_svg(num_classes: int = 10, in_length: int = 1024) -> str:
    """The book's plain 1D CNN (``cnn``), stage by stage, with the tensor shape after each box."""
    k = BOOK_CNN_KWARGS
    channels, kernels, pool, bins = k["channels"], k["kernel_sizes"], k["pool"], k["head_bins"]
    specs = [(["input spectrum"], "io", f"1 × {in_length}")]
    length, c_in = in_length, 1
    for i, (c_out, kern) in enumerate(zip(channels, kernels)):
        length //= pool
        specs.append(([f"stage {i + 1}: Conv1d k={kern}, {c_in} → {c_out}",
                       f"BatchNorm · ReLU · MaxPool {pool}"], "conv", f"{c_out} × {length}"))
        c_in = c_out
    specs += [([f"AdaptiveAvgPool1d({bins})", "8 bins along the wavenumber axis"], "pool", f"{c_in} × {bins}"),
              (["Flatten · Dropout", f"p = {k['dropout']:g}"], "head", f"{c_in * bins}"),
              ([f"Linear {c_in * bins} → {num_classes}", "one score per mineral group"], "head", f"{num_classes}")]
    height = 30 + len(specs) * 44 + (len(specs) - 1) * 22 + 40
    c = _Canvas(520, height, "The plain 1D CNN (registry name cnn)")
    c.text(260, 20, "The plain 1D CNN (cnn): shapes are channels × points", size=13, extra=' font-weight="bold"')
    _column(c, 190, 34, 300, specs)
    return c.svg()


def mbconv_svg(expand: int = 6, kernel: int = 5) -> str:
    """An MBConv block (EfficientNet): expansion, depthwise convolution, squeeze-and-excitation, projection."""
    c = _Canvas(600, 520, "An MBConv block (EfficientNet-1D)")
    c.text(300, 20, "MBConv: inverted residual block with squeeze-and-excitation", size=13,
           extra=' font-weight="bold"')
    cx, w = 200, 290
    y = _column(c, cx, 34, w, [
        (["input"], "io", "C × L"),
        ([f"1×1 Conv1d: expand ×{expand}", "BatchNorm · SiLU"], "conv", f"{expand}C × L"),
        ([f"depthwise Conv1d k={kernel}, stride s", "one kernel per channel · BatchNorm · SiLU"], "conv",
         f"{expand}C × L/s")])
    node_y = y + 130
    c.arrow([(cx, y), (cx, node_y - 11)])
    c.node(cx, node_y, "×")
    # squeeze-and-excitation side branch
    c.arrow([(cx, y + 16), (470, y + 16), (470, y + 32)])
    se_bottom = c.box(470, y + 32, 200, 74, ["squeeze-and-excitation", "global average pool", "1×1 conv · SiLU",
                                              "1×1 conv · sigmoid"], "gate")
    c.arrow([(470, se_bottom), (470, node_y), (cx + 13, node_y)])
    c.text(470, node_y + 18, "a weight in (0, 1) per channel", colour="#555")
    c.arrow([(cx, node_y + 11), (cx, node_y + 33)])
    y = _column(c, cx, node_y + 33, w, [
        (["1×1 Conv1d: project", "BatchNorm (no activation)"], "conv", "C' × L/s"),
        (["stochastic depth", "training: skip the block for some spectra"], "norm", "")])
    c.arrow([(cx, y), (cx, y + 28)])
    c.node(cx, y + 39, "+")
    c.arrow([(cx - w / 2, 56), (40, 56), (40, y + 39), (cx - 12, y + 39)], dashed=True)
    c.text(34, (56 + y) / 2, "shortcut", anchor="middle", colour="#555", extra=f' transform="rotate(-90 34 '
                                                                             f'{(56 + y) / 2:g})"')
    c.arrow([(cx, y + 50), (cx, y + 74)])
    c.text(cx, y + 90, "output (shortcut only when s = 1 and C' = C)", colour="#555")
    c.height = int(y + 104)
    return c.svg()


def rsbu_svg(kernel: int = 5) -> str:
    """A residual shrinkage building unit (DRSN-CW): residual branch, learnt threshold, soft thresholding."""
    c = _Canvas(620, 560, "A residual shrinkage building unit (RSBU, DRSN-CW)")
    c.text(310, 20, "RSBU: residual unit whose branch is soft-thresholded with a learnt τ", size=13,
           extra=' font-weight="bold"')
    cx, w = 200, 290
    y = _column(c, cx, 34, w, [
        (["input x"], "io", "C × L"),
        (["BatchNorm · ReLU", f"Conv1d k={kernel}, stride s"], "conv", "C' × L/s"),
        (["BatchNorm · ReLU", f"Conv1d k={kernel}"], "conv", "C' × L/s")])
    c.arrow([(cx, y), (cx, y + 150)])
    c.arrow([(cx, y + 16), (470, y + 16), (470, y + 32)])
    side = c.box(470, y + 32, 220, 90, ["threshold sub-network", "s = mean |r| per channel",
                                         "α = sigmoid(FC · BN · ReLU · FC)(s)", "τ = α · s  (one per channel)"],
                 "gate")
    c.arrow([(470, side), (470, side + 22), (cx + 145, side + 22)])
    y = c.box(cx, y + 150, w, 50, ["soft thresholding", "sign(r) · max(|r| − τ, 0)"], "norm")
    c.arrow([(cx, y), (cx, y + 28)])
    c.node(cx, y + 39, "+")
    c.arrow([(cx - w / 2, 56), (40, 56), (40, y + 39), (cx - 12, y + 39)], dashed=True)
    mid = (56 + y) / 2
    c.text(34, mid, "shortcut: identity, or 1×1 conv (stride s) · BN", colour="#555",
           extra=f' transform="rotate(-90 34 {mid:g})"')
    c.arrow([(cx, y + 50), (cx, y + 74)])
    c.text(cx, y + 90, "output", colour="#555")
    c.height = int(y + 104)
    return c.svg()


def fold_svg(points: int = 16, k: int = 4) -> str:
    """Folding a spectrum of ``points`` points into ``k`` channels, contiguous and interleaved (chapter 7)."""
    if points % k:
        raise ValueError(f"{points} points do not fold into k={k} channels; choose a multiple of k")
    cell, m = 26, points // k
    c = _Canvas(max(520, 80 + points * cell), 110 + 2 * (k * cell + 60), "Folding a spectrum into channels")
    c.text(c.width / 2, 20, f"Channel conversion: 1 × L → {k} × L/{k} (here L = {points})", size=13,
           extra=' font-weight="bold"')

    def colour(i: int) -> str:  # position along the spectrum, light to dark
        t = i / (points - 1)
        return f"rgb({int(222 - 170 * t)},{int(235 - 130 * t)},{int(247 - 60 * t)})"

    def row(x0: float, y0: float, idx: list[int]) -> None:
        for j, i in enumerate(idx):
            c.rect(x0 + j * cell, y0, cell, cell, colour(i))
            c.text(x0 + j * cell + cell / 2, y0 + cell / 2 + 4, str(i), size=10,
                   colour="#fff" if i > points / 2 else "#222")

    x0 = 40
    c.text(x0, 48, "the spectrum: one channel, points 0 … L − 1 in wavenumber order", anchor="start")
    row(x0, 56, list(range(points)))
    for n, (mode, rule, fold) in enumerate((
            ("contiguous", "channel c holds the c-th window of L/k points",
             lambda ch: [ch * m + j for j in range(m)]),
            ("interleaved", "channel c holds points c, c + k, c + 2k, … (each position: k neighbours)",
             lambda ch: [j * k + ch for j in range(m)]))):
        y0 = 110 + n * (k * cell + 60)
        c.text(x0, y0, f"{mode}: {rule}", anchor="start", extra=' font-weight="bold"')
        for ch in range(k):
            c.text(x0 - 6, y0 + 10 + ch * cell + cell / 2 + 4, f"c{ch}", size=10, anchor="end")
            row(x0, y0 + 10 + ch * cell, fold(ch))
        c.text(x0, y0 + 10 + k * cell + 18, f"{k} channels × {m} positions: every layer after the fold runs on a "
               f"{k}× shorter sequence", anchor="start", colour="#555")
    return c.svg()


def diagrams() -> dict[str, str]:
    """File name -> SVG text of every diagram of the book."""
    return {"cnn.svg": cnn_svg(), "mbconv.svg": mbconv_svg(), "rsbu.svg": rsbu_svg(), "fold.svg": fold_svg()}


def write_diagrams(directory: Path | str = FIGURES_DIR) -> list[Path]:
    """Write every diagram into ``directory`` (``book/figures`` by default); returns the paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, text in diagrams().items():
        (directory / name).write_text(text, encoding="utf-8")
        out.append(directory / name)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(FIGURES_DIR), help="folder to write the SVG files into")
    for path in write_diagrams(parser.parse_args(argv).output):
        print(path)


if __name__ == "__main__":
    main()
