"""Shared test fixtures: the real RRUFF archive (skipped if absent) and builders for synthetic RRUFF files.

Synthetic files follow the two real layouts exactly (see ``ramancmp/data/rruff.py``), so unit tests stay small and fast
while exercising the same parser the real archive goes through. Import the builders with
``from conftest import make_rruff_text, make_rruff_name, write_rruff_zip``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

# the shared mirror beside the checkout (as CI lays it out: ../shared), or wherever $RAMANCMP_SHARED_ZIP says
SHARED_RRUFF_ZIP = Path(os.environ.get("RAMANCMP_SHARED_ZIP")
                        or Path(__file__).resolve().parents[2] / "shared" / "data" / "rruff"
                        / "excellent_unoriented.zip")


def make_spectrum_arrays(n: int = 200, start: float = 150.0, stop: float = 1300.0, peaks=(465.0, 1085.0),
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A plausible processed Raman spectrum: Lorentzian peaks on a small noisy baseline (deterministic)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(start, stop, n)
    y = sum(1000.0 / (1.0 + ((x - p) / 6.0) ** 2) for p in peaks) + rng.normal(0.0, 5.0, n)
    return x, y


def make_rruff_name(mineral: str = "AgarditeY", rruff_id: str = "R050016", *, layout: str = "2019",
                    laser_nm: int | str = 532, processing: str = "Processed", orientation: str | None = None,
                    index: int | str = 1) -> str:
    """A RRUFF file name in the 2019 layout or today's rruff.info layout (``layout="modern"``)."""
    if layout == "2019":
        return f"{mineral}__{rruff_id}__Raman__{laser_nm}__0__unoriented__Raman_Data_{processing}__{index}.txt"
    if layout == "modern":
        orient = orientation or "0-000__"  # unoriented: "0-000____Raman..."; oriented e.g. "45-000__ccw"
        return f"{mineral}__{rruff_id}__Raman__{laser_nm}__{orient}__Raman_Data_{processing}__{index}.txt"
    raise ValueError(f"unknown layout {layout!r}")


def make_rruff_text(mineral: str = "Agardite-(Y)", rruff_id: str = "R050016", *, layout: str = "2019",
                    wavenumber: Iterable[float] | None = None, intensity: Iterable[float] | None = None,
                    rows: Iterable[str] | None = None, laser_nm: int | None = 532, orientation: str = "0-000",
                    processing: str = "Processed", locality: str = "Somewhere, Some country",
                    newline: str = "\n", sep: str = ", ", end: bool = True, trailer: str = "\n\n",
                    extra_header: Mapping[str, str] | None = None, seed: int = 0) -> str:
    """The text of one RRUFF ``.txt`` file.

    ``layout="2019"`` writes the 2019 snapshot's headers (no laser header); ``layout="modern"`` adds ``##PIN_ID``,
    ``##ORIENTATION``, ``##FILETYPE`` and ``##RAMAN WAVELENGTH`` and a blank line before the data, as rruff.info does
    today. ``rows`` replaces the data lines verbatim (for malformed-input tests); otherwise rows are written from
    ``wavenumber``/``intensity`` (default: :func:`make_spectrum_arrays`) joined with ``sep``.
    """
    header = {"NAMES": mineral, "RRUFFID": rruff_id, "IDEAL CHEMISTRY": "CaCO_3_", "LOCALITY": locality,
              "OWNER": "RRUFF", "SOURCE": "Test collection", "DESCRIPTION": "Synthetic test spectrum",
              "STATUS": "Synthetic.", "URL": f"rruff.info/{rruff_id}"}
    if layout == "modern":
        header.update({"PIN_ID": "12345", "ORIENTATION": orientation, "FILETYPE": f"Raman {processing}"})
        if laser_nm is not None:
            header["RAMAN WAVELENGTH"] = str(laser_nm)
    elif layout != "2019":
        raise ValueError(f"unknown layout {layout!r}")
    header.update(extra_header or {})
    if rows is None:
        if wavenumber is None:
            wavenumber, intensity = make_spectrum_arrays(seed=seed)
        rows = [f"{x:.4f}{sep}{y:.6g}" for x, y in zip(wavenumber, intensity, strict=True)]
    lines = [f"##{k}={v}" for k, v in header.items()]
    if layout == "modern":
        lines.append("")
    lines += list(rows)
    if end:
        lines.append("##END=")
    return newline.join(lines) + (trailer.replace("\n", newline) if end else newline)


def write_rruff_zip(path: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write ``{member name: text or bytes}`` into a deflated zip at ``path``."""
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content.encode("utf-8") if isinstance(content, str) else content)
    return path


@pytest.fixture(scope="session")
def rruff_zip() -> Path:
    """The real RRUFF 2019 archive: the project's data cache first, then the shared mirror; skip if neither."""
    from ramancmp.data.fetch import archive_path

    for candidate in (archive_path(), SHARED_RRUFF_ZIP):
        if candidate.is_file():
            return candidate
    pytest.skip("the RRUFF archive is not available; run `python -m ramancmp data fetch` first")


@pytest.fixture(autouse=True, scope="session")
def _isolated_outputs(tmp_path_factory):
    """Tests never write into the project's results/ or checkpoints/ (the book's full-profile outputs), and train in
    the test process (the serial scheduler)."""
    import os

    root = tmp_path_factory.mktemp("outputs")
    saved = {k: os.environ.get(k) for k in ("RAMANCMP_RESULTS_DIR", "RAMANCMP_CHECKPOINT_DIR", "RAMANCMP_SCHEDULER")}
    os.environ["RAMANCMP_RESULTS_DIR"] = str(root / "results")
    os.environ["RAMANCMP_CHECKPOINT_DIR"] = str(root / "checkpoints")
    # Units run in the test process unless a test asks for workers (executor="local:2", the book tests): starting
    # worker processes that import torch costs seconds per test and tests nothing the executor tests do not.
    os.environ["RAMANCMP_SCHEDULER"] = "serial"
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests use one intra-op thread: tiny networks gain nothing from more, and on a busy 2-core machine extra
    threads wait on each other (10-100x slower). Timings are never asserted, so this changes no outcome."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def synthetic_spectra(n_per_class: int = 20, n_classes: int = 3, length: int = 256, seed: int = 0, *,
                      spectra_per_sample: int = 1, return_groups: bool = False):
    """THE synthetic spectra of the test suite: classes of three Gaussian bands at class-specific positions.

    Spectra come in samples of ``spectra_per_sample`` (a sample's spectra share their band positions and heights,
    like a RRUFF sample's spectra; each adds its own noise), max-normalised. Returns ``(X, y)``, or ``(X, y,
    groups)`` with ``return_groups`` (sample IDs ``R<class><sample>``, for by-sample splits).
    """
    rng = np.random.default_rng(seed)
    grid = np.arange(length)
    centres = np.random.default_rng(123).uniform(0.1 * length, 0.9 * length, size=(n_classes, 3))
    X, y, groups = [], [], []
    for c in range(n_classes):
        for i in range(n_per_class):
            if i % spectra_per_sample == 0:
                pos = centres[c] + rng.normal(0, 1.5, 3)
                s = sum(rng.uniform(0.5, 1.0) * np.exp(-0.5 * ((grid - p) / 3) ** 2) for p in pos)
            X.append(s + rng.normal(0, 0.03, length))
            y.append(c)
            groups.append(f"R{c:02d}{i // spectra_per_sample:04d}")
    X = np.asarray(X, np.float32)
    X = X / X.max(axis=1, keepdims=True)
    return (X, np.asarray(y), np.asarray(groups)) if return_groups else (X, np.asarray(y))


def synthetic_dataset(n_classes: int = 3, samples_per_class: int = 6, spectra_per_sample: int = 4,
                      length: int = 128, seed: int = 0):
    """:func:`synthetic_spectra` as a :class:`~ramancmp.data.tasks.SpectraDataset` (task ``synthetic-<classes>``)."""
    import pandas as pd

    from ramancmp.data.preprocess import PreprocessConfig
    from ramancmp.data.tasks import SpectraDataset

    X, y, groups = synthetic_spectra(samples_per_class * spectra_per_sample, n_classes, length, seed,
                                     spectra_per_sample=spectra_per_sample, return_groups=True)
    names = [f"class_{c}" for c in range(n_classes)]
    meta = pd.DataFrame({"mineral": [names[c] for c in y], "sample_id": groups})
    return SpectraDataset(X=X, y=y.astype(np.int64), groups=groups, class_names=names,
                          grid=np.linspace(150.0, 1200.0, length), meta=meta, task=f"synthetic-{n_classes}",
                          source_sha256="0" * 64, preprocess=PreprocessConfig(n_points=length), summary={})


class QuickBook(NamedTuple):
    """The whole book run once in the quick profile (:func:`quick_book`): the runner's exit code, the folder of the
    executed notebooks and the context its chapters ran in (its results and model store)."""

    code: int
    notebooks: Path
    ctx: Any


@pytest.fixture(scope="session")
def quick_book(tmp_path_factory) -> QuickBook:
    """The whole book, run once per test session in the quick profile as ``book run --profile quick --force`` does
    (chapters in order, networks trained by worker processes). The book tests check it; the solutions read what its
    chapters stored (results, networks), through ``quick_book.ctx``.

    Under pytest-xdist (the book tier runs on both cores: ``make test-book``) the first worker that asks runs it and
    the others wait for it and take its outcome: the results and the model store are in the session's shared
    temporary folder, not in a worker's own."""
    import fcntl
    import json

    from ramancmp.book import runner
    from ramancmp.config import RunContext

    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "quick-book"
    shared.mkdir(parents=True, exist_ok=True)
    ctx = RunContext.from_env("quick", 0, results_dir=shared / "results", checkpoints_dir=shared / "checkpoints",
                              scheduler="local")
    done = shared / "exit-code.json"
    with open(shared / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # blocks while another worker runs the book
        try:
            if not done.exists():
                with pytest.MonkeyPatch.context() as mp:  # the folders for this run only, restored after it
                    mp.setenv("RAMANCMP_RESULTS_DIR", str(ctx.results_root))
                    mp.setenv("RAMANCMP_CHECKPOINT_DIR", str(ctx.checkpoints_dir))
                    code = runner.run_book("quick", output=shared / "build", force=True, scheduler="local")
                done.write_text(json.dumps({"code": code}))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return QuickBook(json.loads(done.read_text())["code"], shared / "build" / "quick", ctx)


def pytest_collection_modifyitems(config, items):
    """The book tier runs whole chapters (the first such test also runs the whole quick book for the session): give
    it a limit of its own instead of the suite's per-test one (pyproject.toml); the site's tests form one group for
    pytest-xdist."""
    for item in items:
        if item.get_closest_marker("book") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(2400))
        if "built_site" in getattr(item, "fixturenames", ()):
            # one worker builds the site once (the fixture is per module and process) and opens it in the browser,
            # while the other runs the quick book: `pytest -n 2 --dist loadgroup`
            item.add_marker(pytest.mark.xdist_group("site"))
