"""What a chapter notebook needs: its parameters applied, and one place to save its results.

>>> ch = Chapter("01_data", profile="quick", seed=0, data_dir=None)   # doctest: +SKIP
>>> ch.save({"n_spectra": 1000}, task="rruff-groups-10")               # doctest: +SKIP

The chapters' parameters cell reads the profile and seed from the environment (``$RAMANCMP_PROFILE``,
``$RAMANCMP_SEED``, set by the book runner), so "Run All" in JupyterLab and ``papermill`` without ``-p`` run the
quick profile and write only to ``build/quick/`` (never to the tracked ``results/``).
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
from ramancmp.config import DEFAULT_SEED, PROJECT_ROOT, checkpoints_dir, get_profile, results_dir
from ramancmp.experiments.results import save_result

__all__ = ["Chapter", "SEED_ENV", "ShownPath", "md", "profile_dirs"]

SEED_ENV = "RAMANCMP_SEED"
_DIR_ENVS = ("RAMANCMP_RESULTS_DIR", "RAMANCMP_CHECKPOINT_DIR")
# What a Chapter itself put into the environment: those values may be replaced by the next Chapter (another profile
# in the same kernel); values set from outside (the book runner, a user, a test) are always honoured.
_SET_HERE: dict[str, str] = {}


def profile_dirs(profile: str, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Where a profile's results and checkpoints go: ``results/`` and ``checkpoints/`` for the full profile,
    ``build/<profile>/...`` for any other. Results of another seed than the book's go to ``seed<k>/`` inside, so a run
    with another seed never overwrites the book's results; checkpoints are keyed by their split seed already."""
    results = results_dir(profile)
    return {"results": results if seed == DEFAULT_SEED else results / f"seed{seed}",
            "checkpoints": checkpoints_dir(profile)}


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
    """What a chapter notebook needs from the runner: its parameters applied, and one place to save results.

    >>> ch = Chapter("01_data", profile="quick", seed=0, data_dir=None)   # doctest: +SKIP
    >>> ch.save({"n_spectra": 1000}, task="rruff-groups-10")               # doctest: +SKIP
    """

    def __init__(self, name: str, *, profile: str | None = None, seed: int | None = None,
                 data_dir: str | None = None):
        self.name = name
        self.profile = get_profile(profile)  # None: $RAMANCMP_PROFILE, else "quick"
        self.seed = int(os.environ.get(SEED_ENV) or DEFAULT_SEED) if seed is None else int(seed)
        if data_dir:
            os.environ["RAMANCMP_DATA_DIR"] = str(data_dir)
        # Run interactively (not through the runner) the chapter still keeps profiles apart: the folders follow this
        # chapter's profile and seed, also when an earlier Chapter in the same kernel ran another profile.
        for key in _DIR_ENVS:
            if key in os.environ and _SET_HERE.get(key) == os.environ[key]:
                del os.environ[key]  # an earlier Chapter's choice, not the user's: chosen again below
        wanted = profile_dirs(self.profile.name, self.seed)
        for key, folder in zip(_DIR_ENVS, (wanted["results"], wanted["checkpoints"])):
            if key not in os.environ:
                os.environ[key] = _SET_HERE[key] = str(folder)
        self.results_dir = results_dir()
        self.checkpoints_dir = checkpoints_dir()
        configure_outputs()

    def save(self, metrics: dict, **provenance_fields) -> ShownPath:
        """Write ``results/<chapter>.json`` (atomically) with the profile, seed and any provenance given."""
        return ShownPath(save_result(self.name, metrics, directory=self.results_dir, profile=self.profile.name,
                                     seed=self.seed, chapter=self.name, **provenance_fields))

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


def configure_outputs() -> None:
    """Clean notebook outputs: figures as interactive plotly output with a static image beside it
    (:func:`ramancmp.plots.configure_renderer`), tables without six-decimal floats, no spurious log lines."""
    plots.configure_renderer()
    pd.set_option("styler.format.formatter", format_number)
    pd.set_option("styler.format.na_rep", "–")
    pd.set_option("display.float_format", format_number)
    # torch's ONNX exporter logs "torchvision is not installed. Skipping torchvision::nms" (4 lines per export) on
    # every export: the book never uses torchvision's operators, so the warning says nothing about it.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
