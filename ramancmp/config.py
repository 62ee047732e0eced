"""Configuration in one place: paths, the default seed and the run profiles (quick / full).

Every chapter, benchmark and command reads its settings from here, so the quick profile (CI) and the full profile
(the results shown in the book) differ only in the numbers below.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEED = 0
RRUFF_URL = "https://rruff.info/zipped_data_files/raman/excellent_unoriented.zip"
RRUFF_ZIP_NAME = "excellent_unoriented.zip"


def data_dir() -> Path:
    """The data cache: ``$RAMANCMP_DATA_DIR`` if set, else ``data/raw`` in the project."""
    env = os.environ.get("RAMANCMP_DATA_DIR")
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT / "data" / "raw"


def results_dir(profile: str | None = None) -> Path:
    """Where chapters and benchmarks write their JSON results.

    ``$RAMANCMP_RESULTS_DIR`` if set; else ``results/`` for the full profile (what the book and README show) and
    ``build/<profile>/results`` for any other profile, so a quick run never overwrites the book's results.
    """
    env = os.environ.get("RAMANCMP_RESULTS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return PROJECT_ROOT / "results" if profile in (None, "full") else PROJECT_ROOT / "build" / profile / "results"


def checkpoints_dir(profile: str | None = None) -> Path:
    """Where trained models are saved: ``$RAMANCMP_CHECKPOINT_DIR``, else ``checkpoints/`` (full profile) or
    ``build/<profile>/checkpoints``."""
    env = os.environ.get("RAMANCMP_CHECKPOINT_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return (PROJECT_ROOT / "checkpoints" if profile in (None, "full")
            else PROJECT_ROOT / "build" / profile / "checkpoints")


# Every timing in the book (latency, throughput, the GEMM peak they are compared with) uses this many CPU threads.
# One thread: the paper's target is a small CPU beside a spectrometer, batch-1 work of tiny networks does not scale
# across threads, and single-threaded numbers stay comparable on a machine that is busy with other work.
TIMING_THREADS = 1

# The variant of each architecture that the book trains: (registered builder name, builder keyword arguments).
# One place, read by the chapters, the benchmarks and the compression methods (teacher, DRSN to convert, ...).
BOOK_MODELS: dict[str, tuple[str, dict]] = {
    "cnn": ("cnn", {}),
    "efficientnet": ("efficientnet_small", {}),
    "drsn": ("drsn_cw", {}),
}


@dataclass(frozen=True)
class Profile:
    """How much work a run does. ``quick`` checks that everything runs; ``full`` produces the book's results."""

    name: str
    repeats: int  # repeated splits per evaluation (mean +- sd over these)
    max_epochs: int  # training epochs for the networks (early stopping may end sooner)
    patience: int  # early-stopping patience in epochs, on the validation part
    batch_size: int
    latency_runs: int  # timed batch-1 forward passes (median reported)
    throughput_runs: int  # timed batch-256 forward passes

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", repeats=2, max_epochs=8, patience=3, batch_size=64, latency_runs=20, throughput_runs=3),
    "full": Profile("full", repeats=5, max_epochs=30, patience=10, batch_size=64, latency_runs=200, throughput_runs=10),
}


def get_profile(name: str | Profile) -> Profile:
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None
