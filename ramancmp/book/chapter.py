"""What a chapter notebook needs: its parameters applied, and one place to save its results.

>>> ch = Chapter("01_data", profile="quick", seed=0, data_dir=None)   # doctest: +SKIP
>>> ch.save({"n_spectra": 1000}, task="rruff-groups-10")               # doctest: +SKIP
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import plotly.io as pio

from ramancmp.config import DEFAULT_SEED, checkpoints_dir, get_profile, results_dir
from ramancmp.experiments.results import save_result

__all__ = ["Chapter", "md"]


def md(text: str) -> "IPython.display.Markdown":  # noqa: F821
    """Prose rendered from the run's variables: ``rc.md(f"... {accuracy:.1f} % ...")`` as a cell's last line.

    The book's rule: every measured number in a chapter's text comes from the run that shows it, so sentences that
    quote numbers are built here (a test scans the chapters' plain markdown cells for hand-typed measurements).
    """
    from IPython.display import Markdown  # lazy: IPython comes with the book's extras (Jupyter), not the package

    return Markdown(textwrap.dedent(text).strip())


class Chapter:
    """What a chapter notebook needs from the runner: its parameters applied, and one place to save results.

    >>> ch = Chapter("01_data", profile="quick", seed=0, data_dir=None)   # doctest: +SKIP
    >>> ch.save({"n_spectra": 1000}, task="rruff-groups-10")               # doctest: +SKIP
    """

    def __init__(self, name: str, *, profile: str = "quick", seed: int = DEFAULT_SEED, data_dir: str | None = None):
        self.name = name
        self.profile = get_profile(profile)
        self.seed = int(seed)
        if data_dir:
            os.environ["RAMANCMP_DATA_DIR"] = str(data_dir)
        # Run interactively (not through the runner) the chapter still keeps profiles apart.
        os.environ.setdefault("RAMANCMP_RESULTS_DIR", str(results_dir(self.profile.name)))
        os.environ.setdefault("RAMANCMP_CHECKPOINT_DIR", str(checkpoints_dir(self.profile.name)))
        self.results_dir = results_dir()
        self.checkpoints_dir = checkpoints_dir()
        _configure_plotly()

    def save(self, metrics: dict, **provenance_fields) -> Path:
        """Write ``results/<chapter>.json`` (atomically) with the profile, seed and any provenance given."""
        return save_result(self.name, metrics, directory=self.results_dir, profile=self.profile.name,
                           seed=self.seed, chapter=self.name, **provenance_fields)

    def __repr__(self) -> str:
        return f"Chapter({self.name!r}, profile={self.profile.name!r}, seed={self.seed})"


def _configure_plotly() -> None:
    """Figures render as interactive plotly outputs in JupyterLab (and stay small in the committed .ipynb)."""
    pio.renderers.default = "plotly_mimetype"
