"""What a chapter notebook needs: its run context, and one place to save its results.

>>> ch = Chapter("01_data", profile="quick", seed=0, data_dir=None)   # doctest: +SKIP
>>> ch.save({"n_spectra": 1000}, task="rruff-groups-10")               # doctest: +SKIP

The chapter's parameters cell (``profile = None``, ``seed = None``, ``data_dir = None``; papermill's ``-p`` sets
them) builds the run's :class:`~ramancmp.config.RunContext` through ``Chapter``: a value given there wins, else the
book runner's choice (``$RAMANCMP_PROFILE``, ``$RAMANCMP_SEED``, ... read by
:meth:`~ramancmp.config.RunContext.from_env`), else the quick profile and seed 0 -- so "Run All" in JupyterLab and
``papermill`` without ``-p`` run the quick profile and write only to ``build/quick/`` (never to the tracked
``results/``). A Chapter changes nothing in the environment but, when ``data_dir`` is given, ``$RAMANCMP_DATA_DIR``
(where the data layer finds the data cache).
"""

from __future__ import annotations

import logging
import numbers
import os
import textwrap
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from ramancmp import plots
from ramancmp.config import DATA_DIR_ENV, DEFAULT_SEED, PROJECT_ROOT, SEED_ENV, RunContext
from ramancmp.experiments.results import save_result

__all__ = ["Chapter", "SEED_ENV", "ShownPath", "TIMING_OF_RECORD", "md", "profile_dirs"]

#: The chapter whose timings are the book's timing of record (every other chapter's timings are its own, labelled).
TIMING_OF_RECORD = "10_comparison"


def profile_dirs(profile: str, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Where a profile's results and checkpoints go (:meth:`RunContext.from_env`): ``results/`` and
    ``checkpoints/`` for the full profile, ``build/<profile>/...`` for any other, unless ``$RAMANCMP_RESULTS_DIR`` /
    ``$RAMANCMP_CHECKPOINT_DIR`` say otherwise. Results of another seed than the book's go to ``seed<k>/`` inside
    the profile's folder, so a run with another seed never overwrites the book's results; checkpoints are keyed by
    their split seed already."""
    ctx = RunContext.from_env(profile, seed)
    return {"results": ctx.results_dir, "checkpoints": ctx.checkpoints_dir}


class ShownPath(type(Path())):
    """A path that shows itself relative to the project (no absolute path of the build machine in a notebook)."""

    def _shown(self) -> str:
        try:
            return self.relative_to(PROJECT_ROOT).as_posix()
        except ValueError:
            return self.name

    def __repr__(self) -> str:
        return f"saved {self._shown()}"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


class Chapter:
    """What a chapter notebook needs from the runner: its :class:`~ramancmp.config.RunContext` (``context``;
    ``profile``, ``seed``, ``results_dir``, ``checkpoints_dir`` for short), and one place to save results.

    >>> ch = Chapter("01_data", profile="quick", seed=0, data_dir=None)   # doctest: +SKIP
    >>> ch.save({"n_spectra": 1000}, task="rruff-groups-10")               # doctest: +SKIP
    """

    def __init__(self, name: str, *, profile: str | None = None, seed: int | None = None,
                 data_dir: str | None = None, context: RunContext | None = None):
        self.name = name
        # The parameters cell's values win, then the book runner's (the environment), then quick / seed 0.
        self.context = context if context is not None else RunContext.from_env(profile, seed, data_dir=data_dir)
        self.profile = self.context.profile
        self.seed = self.context.seed
        self.results_dir = self.context.results_dir
        self.checkpoints_dir = self.context.checkpoints_dir
        if data_dir:  # the data layer (and the worker processes it starts) finds the data cache in the environment
            os.environ[DATA_DIR_ENV] = str(self.context.data_dir)
        configure_outputs(static=self.context.static_figures)

    def save(self, metrics: dict, **provenance_fields) -> ShownPath:
        """Write ``results/<chapter>.json`` (atomically) with the profile, seed and any provenance given."""
        return ShownPath(save_result(self.name, metrics, directory=self.results_dir, profile=self.profile.name,
                                     seed=self.seed, chapter=self.name, **provenance_fields))

    @property
    def timing_label(self) -> Markdown:
        """The label beside a chapter's own timings: they are this chapter's; the book's timing of record is chapter
        :data:`TIMING_OF_RECORD`'s (the one the README and the other chapters cite)."""
        record = f"chapter {int(TIMING_OF_RECORD[:2])}"
        if self.name == TIMING_OF_RECORD:
            return md(f"*These timings are the book's timing of record ({record}).*")
        return md(f"*This chapter's timing; the timing of record is {record}'s.*")

    def __repr__(self) -> str:
        return f"Chapter({self.name!r}, profile={self.profile.name!r}, seed={self.seed})"


def md(text: str) -> Markdown:
    """Prose rendered from the run's variables: ``rc.md(f"... {accuracy:.1f} % ...")`` as a cell's last line.

    The book's rule: every measured number in a chapter's text comes from the run that shows it, so sentences that
    quote numbers are built here (a test scans the chapters' plain markdown cells for hand-typed measurements).
    """
    return Markdown(textwrap.dedent(text).strip())


def format_number(x) -> str:
    """Numbers in tables: integers with thousands separators, others with 4 significant digits (2 decimals >= 100)."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return str(x)
    if x != x:  # NaN
        return "–"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.2f}"
    return f"{x:.4g}"


def configure_outputs(static: bool = True) -> None:
    """Clean notebook outputs: figures as interactive plotly output with a static image beside it (unless
    ``static=False``; :func:`ramancmp.plots.configure_renderer`), tables without six-decimal floats and without cut
    cells or rows, no spurious log lines."""
    plots.configure_renderer(static)
    pd.set_option("styler.format.formatter", format_number)
    pd.set_option("styler.format.na_rep", "–")
    pd.set_option("display.float_format", format_number)
    # Nothing cut: pandas would shorten a cell to 50 characters with "..." (so "…, batch 1" and "…, batc…" rows
    # cannot be told apart) and show 10 of 80 rows; the book's tables are split to at most 9 columns instead
    # (ramancmp.experiments.tables.MAX_COLUMNS) and a section that says "every" shows every row.
    for option, value in (("display.max_colwidth", None), ("display.max_rows", None), ("display.min_rows", None),
                          ("display.max_columns", None), ("display.width", None), ("styler.render.max_rows", None),
                          ("styler.render.max_columns", None), ("styler.render.max_elements", 2 ** 22)):
        pd.set_option(option, value)
    # torch's ONNX exporter logs "torchvision is not installed. Skipping torchvision::nms" (4 lines per export) on
    # every export: the book never uses torchvision's operators, so the warning says nothing about it.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
