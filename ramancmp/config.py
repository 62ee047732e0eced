"""Configuration in one place: paths, the default seed and the run profiles (quick / full).

Every chapter, benchmark and command reads its settings from here, so the quick profile (CI) and the full profile
(the results shown in the book) differ only in the numbers below.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEED = 0
RRUFF_URL = "https://rruff.info/zipped_data_files/raman/excellent_unoriented.zip"
RRUFF_ZIP_NAME = "excellent_unoriented.zip"
# The archive every count and result of the book refers to (data/README.md): RRUFF excellent_unoriented, 2019.
RRUFF_SNAPSHOT_NAME = "RRUFF excellent_unoriented 2019 snapshot"
RRUFF_SNAPSHOT_SHA256 = "dacbe9ba38d5dbfe5ef497fef899a479184a6758ac27d7bb6247d43975d4a37e"
# The same archive named by its spectra rather than by its zip (ramancmp.data.fetch.content_fingerprint: sha256 over
# the sorted (member base name, sha256 of member bytes) of the .txt members), so a re-zipped or unzipped copy of the
# snapshot is still recognised. Computed once from the zip above.
RRUFF_SNAPSHOT_CONTENT_SHA256 = "104ec8dd611dfdfdfbe02c724c51ebbbb02efab280f3ea819ec1a76e52db3118"
RRUFF_SNAPSHOT_ORIGIN = ("The book's snapshot is RRUFF's excellent_unoriented set as distributed in 2019, recovered "
                         "unchanged from the public research repository charlesll/RaMin (commit 8d0293f, 2019-11-15) "
                         "and re-zipped flat, one .txt per spectrum; rruff.info serves an updated archive today.")


# --------------------------------------------------------------------------------------------- the environment
# The seven environment variables that configure a run. They are read HERE and nowhere else (a test greps the
# package): :meth:`RunContext.from_env` resolves them once at an entry point (the CLI, the book runner, a chapter's
# :class:`ramancmp.book.Chapter`, a benchmark script), and the resolved context is passed down as an object.
PROFILE_ENV = "RAMANCMP_PROFILE"
SEED_ENV = "RAMANCMP_SEED"
DATA_DIR_ENV = "RAMANCMP_DATA_DIR"
RESULTS_DIR_ENV = "RAMANCMP_RESULTS_DIR"
CHECKPOINT_DIR_ENV = "RAMANCMP_CHECKPOINT_DIR"
SCHEDULER_ENV = "RAMANCMP_SCHEDULER"
STATIC_FIGURES_ENV = "RAMANCMP_STATIC_FIGURES"
RUN_ENV = (PROFILE_ENV, SEED_ENV, DATA_DIR_ENV, RESULTS_DIR_ENV, CHECKPOINT_DIR_ENV, SCHEDULER_ENV,
           STATIC_FIGURES_ENV)


def env_setting(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of one of :data:`RUN_ENV` (``None`` when unset or blank): the ONE reader of the environment."""
    if name not in RUN_ENV:
        raise ValueError(f"{name!r} is not one of the run's settings {RUN_ENV}")
    value = (os.environ if environ is None else environ).get(name, "")
    return value.strip() or None


def _folder(value: str | Path) -> Path:
    return Path(value).expanduser().resolve()


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The data cache: ``$RAMANCMP_DATA_DIR`` if set, else ``data/raw`` in the project."""
    env = env_setting(DATA_DIR_ENV, environ)
    return _folder(env) if env else PROJECT_ROOT / "data" / "raw"


def results_dir(profile: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """Where chapters and benchmarks write their JSON results.

    ``$RAMANCMP_RESULTS_DIR`` if set; else ``results/`` for the full profile (what the book and README show) and
    ``build/<profile>/results`` for any other profile, so a quick run never overwrites the book's results.
    """
    env = env_setting(RESULTS_DIR_ENV, environ)
    if env:
        return _folder(env)
    return PROJECT_ROOT / "results" if profile in (None, "full") else PROJECT_ROOT / "build" / profile / "results"


def checkpoints_dir(profile: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """Where trained models are saved: ``$RAMANCMP_CHECKPOINT_DIR``, else ``checkpoints/`` (full profile) or
    ``build/<profile>/checkpoints``."""
    env = env_setting(CHECKPOINT_DIR_ENV, environ)
    if env:
        return _folder(env)
    return (PROJECT_ROOT / "checkpoints" if profile in (None, "full")
            else PROJECT_ROOT / "build" / profile / "checkpoints")


# Every timing in the book (latency, throughput, the GEMM peak they are compared with) uses this many CPU threads.
# One thread: the paper's target is a small CPU beside a spectrometer, batch-1 work of tiny networks does not scale
# across threads, and single-threaded numbers stay comparable on a machine that is busy with other work.
TIMING_THREADS = 1

# Every model the book evaluates, by its ONE name: the name the registry builds it by (ramancmp.models, every
# architecture argument explicit in its builder, as timm registers resnet18) and the name its rows, tables, results
# and checkpoints carry. The chapters, the benchmarks, the compression experiments, `predict`'s default and the
# README read this list. The networks' variants were chosen on validation data (chapters 3-5).
BOOK_MODELS: tuple[str, ...] = ("lda", "pca_lda", "knn_cosine", "cnn", "efficientnet_small", "drsn_cw",
                                # the paper-faithful, full-resolution DRSN (Zhao et al. 2020's RSBU-CW layout, no
                                # downsampling stem): the second baseline of the channel-conversion readings (chapter
                                # 7, chapter 10's table); its epochs are the profile's ``epochs_by_model``
                                "drsn_paper")
NETWORKS: tuple[str, ...] = ("cnn", "efficientnet_small", "drsn_cw")  # the trained networks of BOOK_MODELS
# Their roles in the paper's pipeline, each the one name above: the distillation teacher and student, the DRSN that
# channel conversion and feature extraction start from, and `python -m ramancmp predict`'s default network.
TEACHER, STUDENT, DRSN, PAPER_DRSN = "efficientnet_small", "cnn", "drsn_cw", "drsn_paper"
PREDICT_MODEL = "efficientnet_small"



@dataclass(frozen=True)
class Profile:
    """How much work a run does: the ONE quick/full switch. ``quick`` checks that everything runs (CI); ``full``
    produces the book's results. Profiles differ only in these numbers -- no code anywhere branches on the name."""

    name: str
    repeats: int  # repeated splits per evaluation of a network (per-split values, mean +- sd over these)
    classical_repeats: int  # repeated splits for the classical models (cheap: seconds), the first `repeats` shared
    max_epochs: int  # training epochs for the networks (early stopping may end sooner)
    patience: int  # early-stopping patience in epochs, on the validation part
    batch_size: int
    latency_runs: int  # timed batch-1 forward passes (median reported)
    throughput_runs: int  # timed batch-256 forward passes
    distillation_grid: tuple[tuple[float, float], ...]  # (temperature, alpha) points searched on validation data
    conversion_variants: tuple[str, ...] | None  # labels of ramancmp.compression.CONVERSION_VARIANTS (None: all)
    calibration_size: int  # training spectra used to calibrate int8 models
    prune_ratios: tuple[float, ...]  # structured-pruning ratios of the deployment variants
    fine_tune_epochs: int  # epochs (and patience below) of the fine-tune after pruning
    fine_tune_patience: int
    onnx_dynamo: bool  # ONNX export with the torch.export-based exporter (else the fast legacy TorchScript one)
    # The timing protocol (ramancmp.metrics.timing.compare_speed): interleaved rounds per comparison, the minimum
    # length of one sample (calls are repeated until it lasts this long), and a ceiling in seconds per comparison
    # (fewer rounds, at least 3, when the calibrated cost would exceed it). all_cores: time a second column on
    # every core besides the 1-thread one.
    timing_rounds: int = 15
    timing_min_ms: float = 20.0
    timing_max_s: float = 60.0
    timing_all_cores: bool = True
    # Separate processes each comparison's rounds are spread over (the same total rounds and budget, split between
    # them; one after another, a fresh interpreter each): the timing intervals are built over processes, so they hold
    # what a rerun in a new process changes. 1: everything in the calling process (the pipeline checks).
    timing_processes: int = 1
    # Training-epoch budget of networks slower to train than the book's (registry name -> max epochs; others use
    # max_epochs): the paper-faithful full-resolution DRSN trains ~10x slower per epoch than the book's DRSN. The
    # full profile gives it the book's max_epochs (with 12 epochs it reached only ~40 % validation accuracy).
    epochs_by_model: tuple[tuple[str, int], ...] = ()
    # Chapter 13: maximum epochs of the pretraining on every other RRUFF species (a pool ~4x the task's size, so
    # each epoch costs ~4 task epochs; the fine-tuning that follows uses max_epochs).
    pretrain_epochs: int = 20
    # The short training budget of the CNN in the preprocessing comparison (chapter 12: one network per choice and
    # split; the choices are compared with each other, all at this budget).
    preprocess_epochs: int = 3
    # How long a timing phase waits for other processes to go quiet before it times anyway and says the timings are
    # not trustworthy (ramancmp.metrics.timing.exclusive_phase). The book's results wait; checks (quick, tiny) do not:
    # their timings are never quoted, and on a busy test machine every wait would be a sleep.
    idle_wait_s: float = 30.0
    # The most alternatives a comparison of architecture or training choices trains beside the book's own choice
    # (chapter 5's nested selection, ...): None trains them all. A pipeline check needs one alternative to exercise
    # the code path; the full profile trains every one the chapter lists.
    max_alternatives: int | None = None
    # By-sample splits of EVERY model of the main comparison (chapter 10's table, the README's): networks included,
    # so the classical and the network rows pair on the same splits and no row's interval rests on fewer. None: each
    # model's own default (classical_repeats for the classical models, repeats for the networks). The other
    # evaluations of networks (chapters 3-9 and 11-13: distillation grid, conversion variants, feature depths, nested
    # selection, preprocessing choices) keep `repeats`: they train many networks per split. Splits are the same for
    # every count (split r uses seed + r), so the first `repeats` of these are the other chapters' splits and their
    # stored networks are loaded, not trained again.
    comparison_repeats: int | None = None
    # Chapter 10's final table (ramancmp.experiments.bench.bench_all). False: every compression and deployment row is
    # measured again, in the table's own run (the book's "one table, one run"). True: the rows chapters 6-9 measured in
    # this profile and seed are taken as they are (each experiment's rows were still timed together, in its chapter)
    # when all four chapters have run -- a pipeline check need not measure them twice.
    final_table_reuses_chapters: bool = False

    @property
    def timing(self) -> dict:
        """The timing protocol's settings as keyword arguments of ``compare_speed``: ``compare_speed(targets,
        length=L, **profile.timing)``."""
        return {"rounds": self.timing_rounds, "min_sample_ms": self.timing_min_ms, "max_s": self.timing_max_s,
                "idle_wait_s": self.idle_wait_s, "processes": self.timing_processes}

    def timing_with(self, **changes: object) -> dict:
        """:attr:`timing` with some settings changed, e.g. ``timing_with(processes=1)`` for a comparison whose
        targets cannot be saved for separate processes (int8 FX networks: torch cannot pickle them)."""
        unknown = set(changes) - set(self.timing)
        if unknown:
            raise ValueError(f"unknown timing settings {sorted(unknown)}; the settings are {sorted(self.timing)}")
        return {**self.timing, **changes}

    def alternatives(self, options: dict) -> dict:
        """The first ``1 + max_alternatives`` entries of ``options`` (the book's choice first), or all of them."""
        if self.max_alternatives is None:
            return dict(options)
        return dict(list(options.items())[:1 + self.max_alternatives])

    def to_dict(self) -> dict:
        return asdict(self)

    def epochs_for(self, model: str) -> int:
        """Maximum training epochs of registry model ``model`` (``epochs_by_model``, else ``max_epochs``)."""
        return int(dict(self.epochs_by_model).get(model, self.max_epochs))


PROFILES: dict[str, Profile] = {
    # tiny: the unit tests' profile (synthetic data of a few dozen spectra): every code path once, in seconds.
    "tiny": Profile("tiny", repeats=2, classical_repeats=2, max_epochs=2, patience=1, batch_size=16, latency_runs=3,
                    throughput_runs=2, distillation_grid=((4.0, 0.9),),
                    conversion_variants=("DRSN-CS", "fold k=4 (interleaved)"), calibration_size=32,
                    prune_ratios=(0.5,), fine_tune_epochs=1, fine_tune_patience=1, onnx_dynamo=False,
                    timing_rounds=3, timing_min_ms=0.0, timing_max_s=1.0, timing_all_cores=False,
                    epochs_by_model=(("drsn_paper", 1), ("drsn_paper_folded", 1)), pretrain_epochs=1,
                    preprocess_epochs=1, idle_wait_s=0.0, max_alternatives=1),
    # quick: a pipeline check of the whole book on RRUFF (CI, "Run All" in JupyterLab): every chapter and every
    # section runs, on 2 splits with one epoch, one alternative per choice and short timings; chapter 10 takes the
    # rows chapters 6-9 measured instead of measuring them again. Its numbers check that
    # the code runs; they are not results.
    "quick": Profile("quick", repeats=2, classical_repeats=2, max_epochs=1, patience=1, batch_size=64, latency_runs=5,
                     throughput_runs=2, distillation_grid=((4.0, 0.9),),
                     conversion_variants=("DRSN-CS", "fold k=4 (interleaved)", "fold k=8 + CS + x0.5"),
                     calibration_size=64, prune_ratios=(0.5,), fine_tune_epochs=1, fine_tune_patience=1,
                     onnx_dynamo=False, timing_rounds=3, timing_min_ms=0.5, timing_max_s=1.0,
                     timing_all_cores=False, epochs_by_model=(("drsn_paper", 1), ("drsn_paper_folded", 1)),
                     pretrain_epochs=1, preprocess_epochs=1, idle_wait_s=0.0, max_alternatives=1,
                     final_table_reuses_chapters=True),
    # The full grid: T in {2, 4, 8} at alpha = 0.9, plus T = 4 at alpha = 0.5 (how much the soft targets weigh).
    # 41 timing rounds: the 95 % interval of a median of n rounds ends near its (n/2 + sqrt(n))-th sample; with 15
    # rounds that is the 12th of 15, and when a fifth of the rounds are disturbed (batch-1 ONNX Runtime on two shared
    # cores) the end lands among them: between two runs of the book one speed-up's upper end moved by 16 points while
    # its median moved by 1. With 41 rounds the end is near the 27th of 41, clear of such a tail.
    "full": Profile("full", repeats=5, classical_repeats=10, max_epochs=30, patience=10, batch_size=64,
                    latency_runs=200, throughput_runs=10,
                    distillation_grid=((2.0, 0.9), (4.0, 0.5), (4.0, 0.9), (8.0, 0.9)),
                    conversion_variants=None, calibration_size=256, prune_ratios=(0.25, 0.5, 0.75),
                    fine_tune_epochs=7, fine_tune_patience=5, onnx_dynamo=True, timing_rounds=41, timing_min_ms=10.0,
                    timing_max_s=75.0, timing_all_cores=True, timing_processes=3, preprocess_epochs=12,
                    epochs_by_model=(("drsn_paper", 100), ("drsn_paper_folded", 100)), comparison_repeats=10),
}


def get_profile(name: str | Profile | None = None) -> Profile:
    """A :class:`Profile` by name (a :class:`Profile` is returned as it is; ``None`` means ``"quick"``).

    Called only where a run starts (:meth:`RunContext.from_env` and the entry points that build one): everything
    below them receives the resolved :class:`Profile`.
    """
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name or "quick"]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None


_OFF = ("0", "false", "no", "off")


@dataclass(frozen=True)
class RunContext:
    """Everything a run is configured with, resolved once: the profile, the seed, the folders and the scheduler.

    Built by :meth:`from_env` at an entry point (the CLI, the book runner, a chapter's parameters cell through
    :class:`ramancmp.book.Chapter`, a benchmark script) and passed down as an object; nothing below an entry point
    reads the environment or resolves a profile by name.

    - ``profile``: the :class:`Profile` (how much work the run does)
    - ``seed``: the first split seed (split ``r`` uses ``seed + r``)
    - ``data_dir``: the data cache (the archive and the task cache)
    - ``results_root``: where the results' JSON files of the book's seed go; :attr:`results_dir` is the run's
      folder: ``results_root`` itself, or ``results_root/seed<k>`` for another seed, which so never overwrites the
      book's results
    - ``checkpoints_dir``: the model store (checkpoints are keyed by their split seed already)
    - ``scheduler``: where networks train (``None``: the executor's default, local processes)
    - ``static_figures``: whether figures carry a static image beside the interactive output
    """

    profile: Profile
    seed: int = DEFAULT_SEED
    data_dir: Path | None = None  # None: the defaults below (never the environment: that is from_env's)
    results_root: Path | None = None
    checkpoints_dir: Path | None = None
    scheduler: str | None = None
    static_figures: bool = True

    def __post_init__(self):
        if not isinstance(self.profile, Profile):
            raise TypeError(f"RunContext.profile must be a Profile, got {self.profile!r} (use RunContext.from_env)")
        defaults = {"data_dir": data_dir({}), "results_root": results_dir(self.profile.name, {}),
                    "checkpoints_dir": checkpoints_dir(self.profile.name, {})}
        for name, default in defaults.items():
            value = getattr(self, name)
            object.__setattr__(self, name, default if value is None else Path(value))

    @classmethod
    def from_env(cls, profile: str | Profile | None = None, seed: int | None = None, *,
                 data_dir: str | Path | None = None, results_dir: str | Path | None = None,
                 checkpoints_dir: str | Path | None = None, scheduler: str | None = None,
                 static_figures: bool | None = None, environ: Mapping[str, str] | None = None) -> RunContext:
        """The run's context: each setting from its explicit argument if given, else from its ``RAMANCMP_*``
        environment variable (:data:`RUN_ENV`), else the default (the quick profile, seed 0, the profile's folders).

        ``results_dir`` (or ``$RAMANCMP_RESULTS_DIR``) is the folder of the book's seed: a run with another seed
        writes into its ``seed<k>/`` (:attr:`results_dir`).
        """
        env = os.environ if environ is None else environ
        prof = get_profile(profile if profile is not None else env_setting(PROFILE_ENV, env))
        if seed is None:
            raw = env_setting(SEED_ENV, env)
            try:
                seed = int(raw) if raw is not None else DEFAULT_SEED
            except ValueError:
                raise ValueError(f"${SEED_ENV} must be a non-negative integer, got {raw!r}") from None
        if int(seed) != seed or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        seed = int(seed)
        if static_figures is None:
            static_figures = (env_setting(STATIC_FIGURES_ENV, env) or "1").lower() not in _OFF
        return cls(profile=prof, seed=seed,
                   data_dir=_folder(data_dir) if data_dir is not None else _data_root(env),
                   results_root=(_folder(results_dir) if results_dir is not None
                                 else _results_root(prof.name, env)),
                   checkpoints_dir=(_folder(checkpoints_dir) if checkpoints_dir is not None
                                    else _checkpoints_root(prof.name, env)),
                   scheduler=scheduler if scheduler is not None else env_setting(SCHEDULER_ENV, env),
                   static_figures=bool(static_figures))

    @property
    def results_dir(self) -> Path:
        """The run's results folder: :attr:`results_root`, or its ``seed<k>/`` for a seed other than the book's."""
        return self.results_root if self.seed == DEFAULT_SEED else self.results_root / f"seed{self.seed}"

    def replace(self, **changes) -> RunContext:
        """A copy with some settings changed (``profile`` as a :class:`Profile`)."""
        return replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """The environment that gives :meth:`from_env` this same context in another process (a chapter's kernel
        started by the book runner): the profile, the seed, the folders and the scheduler."""
        out = {PROFILE_ENV: self.profile.name, SEED_ENV: str(self.seed), DATA_DIR_ENV: str(self.data_dir),
               RESULTS_DIR_ENV: str(self.results_root), CHECKPOINT_DIR_ENV: str(self.checkpoints_dir),
               STATIC_FIGURES_ENV: "1" if self.static_figures else "0"}
        if self.scheduler:
            out[SCHEDULER_ENV] = self.scheduler
        return out


_data_root = data_dir
_results_root = results_dir
_checkpoints_root = checkpoints_dir
