"""No hand-typed measurements in the book's prose.

Every measured number a chapter states must come from the run that shows it (a code cell rendering markdown with
``rc.md(f"...")``), and every quoted paper number from ``ramancmp.experiments.claims`` with its source. This test
reads the chapters' plain markdown cells (book/*.py, jupytext percent format) and fails on anything that looks like
a measurement typed by hand: percentages, times, speed-up factors, accuracy points, counts of spectra / samples /
species / parameters / FLOPs, and decimals with two or more digits. What is not a measurement is allowed by rule:
chapter numbers, years and citations carry no unit; wavenumbers (cm⁻¹) and the input length are settings; inline
code and LaTeX are stripped (they are code and formulae, not claims); "95 % interval" names the confidence level.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

from ramancmp.data.preprocess import PreprocessConfig

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.py"))

NUMBER = r"(?<![\w.])\d[\d,]*(?:\.\d+)?"
RANGE = rf"{NUMBER}(?:\s*[–-]\s*{NUMBER})?"
MEASUREMENT = re.compile("|".join([
    rf"{RANGE}\s?(?:%|per ?cent\b)",  # percentages (accuracy, speed-up)
    rf"{RANGE}\s?(?:ms|µs|s|sec|seconds?|min|minutes?|h|hours?)\b",  # times
    rf"{NUMBER}\s?[x×](?![\d\w])",  # speed-up factors: 2.8x, 4×
    rf"{RANGE}\s?(?:accuracy\s)?(?:points?|pts)\b",  # accuracy differences (the input length is allowed below)
    rf"{RANGE}\s?(?:k\s|thousand\s|million\s|M\s)?(?:[a-z][a-z-]*\s)?"  # counts measured on the data or model
    r"(?:spectra|spectrum|samples?|species|minerals|parameters|params|weights|MFLOPs?|GFLOP/?s?|FLOPs?|networks|"
    r"repeats|splits|epochs)\b",
    r"(?<![\w.])\d+\.\d{2,}(?![\w.])",  # decimals with two or more digits: 94.48, 0.69
]), flags=re.I)


def _settings() -> set[str]:
    """Numbers that are settings, not measurements: the preprocessing grid (length, range)."""
    cfg = PreprocessConfig()
    values = {getattr(cfg, f) for f in ("n_points", "grid_start", "grid_stop")}
    return {f"{v:g}" if isinstance(v, float) else str(v) for v in values}


def _prose(path: Path) -> list[str]:
    """The lines of a chapter's markdown cells without code, formulae, link targets and navigation blocks."""
    cells = [c.source for c in jupytext.read(path).cells if c.cell_type == "markdown"]
    text = "\n".join(cells)
    text = re.sub(r"<!-- nav:start -->.*?<!-- nav:end -->", " ", text, flags=re.S)
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]*\$", " ", text)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return text.splitlines()


def hand_typed_measurements(lines: list[str]) -> list[str]:
    settings = _settings()
    found = []
    for line in lines:
        for m in MEASUREMENT.finditer(line):
            number = re.match(r"\d[\d,]*(?:\.\d+)?", m.group(0)).group(0).replace(",", "")
            if number in settings and re.search(r"points?|pts", m.group(0)):
                continue  # "1024 points": the input length, a setting
            if m.group(0).endswith("%") and re.match(r"\s*(?:[\w-]+\s+){0,3}?(?:intervals?|confidence|CI)\b",
                                                     line[m.end():]):
                continue  # "95 % interval": the confidence level, a setting
            found.append(f"{m.group(0)!r} in: {line.strip()}")
    return found


def test_the_scanner_catches_measurements_and_lets_settings_pass():
    bad = ["The CNN reaches 94.8 % on new samples.", "Latency 0.69 ms at batch 1.", "weights shrink about 4x",
           "a gap of 12.1 points", "187 test spectra", "about 40 k parameters", "it runs 2.8× faster",
           "accuracy 0.9412", "60–93 % faster"]
    for line in bad:
        assert hand_typed_measurements([line]), line
    good = ["# 10. The final comparison", "Zhao et al. 2020, *IEEE Trans. Ind. Inform.* 16, 4681",
            "a 1×1 convolution expands the channels (×6)", "chapter 7 measures CS",
            f"one spectrum of {PreprocessConfig().n_points} points", "a band at 1085 cm⁻¹",
            "the 10 mineral groups", "with a 95 % interval", "within their 95 % intervals",
            "a 95 % paired bootstrap interval", "`rc.evaluate('cnn', ds, model_kwargs={'head_bins': 1})`"]
    for line in good:
        assert not hand_typed_measurements([line]), line


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_no_hand_typed_measurements_in_a_chapters_prose(chapter):
    found = hand_typed_measurements(_prose(chapter))
    assert not found, (f"{chapter.name}: numbers typed into markdown (render them from the run with rc.md(f'...'), "
                       "or quote the paper through rc.claims):\n  " + "\n  ".join(found))
