"""``predict``: a tiny network trained on synthetic spectra, checkpointed, then asked about good and bad files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from ramancmp.cli import main
from ramancmp.data.preprocess import PreprocessConfig
from ramancmp.training import TorchClassifier
from ramancmp.predict import format_predictions, predict_paths, resolve_checkpoint

CONFIG = PreprocessConfig(grid_start=150.0, grid_stop=1200.0, n_points=128)
CLASSES = ["Calcite", "Quartz", "Gypsum"]
CENTRES = [400.0, 700.0, 1000.0]


def band(centre: float, wn: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return 100 * np.exp(-0.5 * ((wn - centre - rng.normal(0, 3)) / 25.0) ** 2) + rng.normal(0, 1, wn.size) + 5



@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A CNN trained on three well separated bands, saved with class names and the preprocessing config."""
    rng = np.random.default_rng(0)
    grid = CONFIG.grid
    X = np.stack([band(CENTRES[c], grid, rng) for c in range(3) for _ in range(20)])
    X = ((X - X.min(1, keepdims=True)) / np.ptp(X, axis=1, keepdims=True)).astype(np.float32)
    y = np.repeat(np.arange(3), 20)
    clf = TorchClassifier(model="cnn", max_epochs=15, patience=None, batch_size=16, lr=1e-2, augment=False,
                          validation_fraction=0, device="cpu", seed=0).fit(X, y)
    path = tmp_path_factory.mktemp("ckpt") / "rruff-groups-10" / "cnn"
    return clf.save(path, extra={"class_names": CLASSES, "preprocess": CONFIG.to_dict(), "task": "synthetic"})


@pytest.fixture()
def spectra_dir(tmp_path):
    """Two RRUFF-style files, a plain two-column file, and two bad files."""
    rng = np.random.default_rng(1)
    wn = np.arange(100.0, 1300.0, 0.5)
    rows = lambda c: "\n".join(f"{w:.2f}, {i:.4f}" for w, i in zip(wn, band(CENTRES[c], wn, rng)))
    folder = tmp_path / "spectra"
    folder.mkdir()
    (folder / "Calcite__R040070__Raman__532__0__unoriented__Raman_Data_Processed__1.txt").write_text(
        f"##NAMES=Calcite\n##RRUFFID=R040070\n{rows(0)}\n##END=\n")
    (folder / "Gypsum__R040029__Raman__532__0__unoriented__Raman_Data_Processed__2.txt").write_text(
        f"##NAMES=Gypsum\n##RRUFFID=R040029\n{rows(2)}\n##END=\n")
    plain = tmp_path / "my_quartz.csv"
    plain.write_text(rows(1).replace(", ", "\t") + "\n")
    short = tmp_path / "short_range.txt"  # stops at 600 cm^-1: 43 % of the 150-1200 grid, below the minimum 60 %
    short.write_text("\n".join(f"{w:.1f}, 1.0" for w in np.arange(100.0, 600.0, 1.0) if w) + "\n")
    broken = tmp_path / "broken.txt"
    broken.write_text("##NAMES=Nothing\nthis is not, a spectrum\n")
    return folder, plain, short, broken


def test_predict_good_and_bad_files(checkpoint, spectra_dir):
    folder, plain, short, broken = spectra_dir
    report = predict_paths(checkpoint, [folder, plain, short, broken, folder.parent / "missing.txt"], top=3)
    assert report["model"]["name"] == "cnn" and report["model"]["classes"] == 3
    by_source = {p["source"].rsplit("/", 1)[-1]: p for p in report["predictions"]}
    assert len(by_source) == 3
    for name, expected in [("Calcite__", "Calcite"), ("Gypsum__", "Gypsum"), ("my_quartz.csv", "Quartz")]:
        pred = next(p for src, p in by_source.items() if src.startswith(name))
        assert pred["top"][0]["class"] == expected
        assert len(pred["top"]) == 3
        probs = [t["probability"] for t in pred["top"]]
        assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0, abs=1e-5)
    assert next(p for s, p in by_source.items() if s.startswith("Calcite"))["label_in_file"] == "Calcite"
    errors = {e["source"].rsplit("/", 1)[-1]: e["reason"] for e in report["errors"]}
    assert set(errors) == {"short_range.txt", "broken.txt", "missing.txt"}
    assert "not covering grid" in errors["short_range.txt"]
    assert "at least 60%" in errors["short_range.txt"]
    assert "line 2" in errors["broken.txt"]
    assert "no such" in errors["missing.txt"]
    text = format_predictions(report)
    assert "1. Calcite" in text and "short_range.txt: not covering grid" in text and "3 classified, 3 failed" in text


def test_predict_reads_zip_archives(checkpoint, spectra_dir, tmp_path):
    folder, *_ = spectra_dir
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f.name)
    report = predict_paths(checkpoint, archive, top=1)
    assert sorted(p["top"][0]["class"] for p in report["predictions"]) == ["Calcite", "Gypsum"]
    assert all("::" in p["source"] for p in report["predictions"]) and not report["errors"]


def test_model_name_lookup_and_errors(checkpoint, monkeypatch, tmp_path):
    root = checkpoint.parent.parent
    monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(root))
    assert resolve_checkpoint("cnn", task="rruff-groups-10") == checkpoint
    monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="book run"):
        resolve_checkpoint("drsn_cw")
    with pytest.raises(ValueError, match="neither a checkpoint"):
        resolve_checkpoint("no_such_model")
    with pytest.raises(FileNotFoundError, match="not found"):
        resolve_checkpoint(tmp_path / "nothing.pt")


def test_cli_predict_json(checkpoint, spectra_dir, capsys):
    _folder, plain, short, _ = spectra_dir
    assert main(["predict", "--model", str(checkpoint), "--json", "--top", "2", str(plain), str(short)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["predictions"][0]["top"][0]["class"] == "Quartz" and len(report["predictions"][0]["top"]) == 2
    assert report["errors"][0]["source"].endswith("short_range.txt")
    # nothing classifiable: exit code 1, the reason still printed
    assert main(["predict", "--model", str(checkpoint), str(short)]) == 1
    assert "not covering grid" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["truncated weights", "corrupt json", "not a checkpoint"])
def test_a_damaged_checkpoint_is_a_clear_error_naming_the_file(checkpoint, spectra_dir, tmp_path, capsys, damage):
    import shutil

    folder = tmp_path / "damaged"
    folder.mkdir()
    pt, js = folder / "cnn.pt", folder / "cnn.json"
    shutil.copyfile(checkpoint, pt)
    shutil.copyfile(checkpoint.with_suffix(".json"), js)
    if damage == "truncated weights":
        pt.write_bytes(pt.read_bytes()[: pt.stat().st_size // 2])
        bad = pt
    elif damage == "corrupt json":
        js.write_text(js.read_text()[:200])
        bad = js
    else:
        js.write_text('{"format": "something else"}')
        bad = js
    code = main(["predict", "--model", str(pt), str(spectra_dir[1])])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and str(bad) in err and "Traceback" not in err


def test_degenerate_spectra_get_a_reason_not_a_confident_class(checkpoint, tmp_path):
    wn = np.arange(100.0, 1300.0, 0.5)
    rng = np.random.default_rng(3)
    good = band(CENTRES[0], wn, rng)
    files = {"gap.txt": (wn[(wn < 300) | (wn > 1100)], good[(wn < 300) | (wn > 1100)]),
             "ten_points.txt": (np.linspace(150.0, 1200.0, 10), np.linspace(1.0, 2.0, 10)),
             "inverted.txt": (wn, -good)}
    for name, (x, y) in files.items():
        (tmp_path / name).write_text("\n".join(f"{a:.2f}, {b:.4f}" for a, b in zip(x, y)) + "\n")
    report = predict_paths(checkpoint, [tmp_path / n for n in files])
    assert report["predictions"] == []
    reasons = {e["source"].rsplit("/", 1)[-1]: e["reason"] for e in report["errors"]}
    assert "no measured point between" in reasons["gap.txt"]
    assert "ten_points.txt" in reasons and "more than max_gap" in reasons["ten_points.txt"]
    assert reasons["inverted.txt"].startswith("mostly negative")


def test_a_raw_spectrum_is_classified_with_a_warning(checkpoint, tmp_path):
    rng = np.random.default_rng(4)
    wn = np.arange(100.0, 1300.0, 0.5)
    rows = "\n".join(f"{w:.2f}, {i:.4f}" for w, i in zip(wn, band(CENTRES[1], wn, rng) + 0.05 * wn))
    raw = tmp_path / "Quartz__R040031__Raman__532__0__unoriented__Raman_Data_RAW__1.txt"
    processed = tmp_path / "Quartz__R040031__Raman__532__0__unoriented__Raman_Data_Processed__1.txt"
    for path in (raw, processed):
        path.write_text(f"##NAMES=Quartz\n##RRUFFID=R040031\n{rows}\n##END=\n")
    report = predict_paths(checkpoint, [raw, processed], baseline="off")
    warnings = {p["source"].rsplit("/", 1)[-1]: p["warnings"] for p in report["predictions"]}
    assert warnings[processed.name] == []
    assert len(warnings[raw.name]) == 1 and warnings[raw.name][0].startswith("RAW spectrum")
    assert "warning: RAW spectrum" in format_predictions(report)
    # by default the background is measured, whatever the metadata say: both are corrected, and it is reported
    report = predict_paths(checkpoint, [raw, processed])
    for pred in report["predictions"]:
        assert pred["baseline_corrected"] and pred["top"][0]["class"] == "Quartz"
        assert any(w.startswith("baseline corrected (arPLS)") and "looks uncorrected" for w in pred["warnings"])


def test_a_classical_model_name_is_explained_not_sent_to_save_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="scikit-learn model: predict uses trained networks"):
        resolve_checkpoint("knn_cosine")


# ------------------------------------------------------------------------- out of the box: the library search
def _readme_example() -> str:
    from ramancmp.config import PROJECT_ROOT

    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- predict-example:start -->", 1)[1].split("<!-- predict-example:end -->", 1)[0]
    return block.split("```bash", 1)[1].split("```", 1)[0].strip()


def test_the_readme_predict_example_works_as_written(tmp_path, monkeypatch):
    """The README's commands, run as written in a folder holding the data cache: no trained network exists, so the
    library search answers -- the albite is a feldspar, the gypsum (in none of the ten groups) not in library."""
    import shutil
    import subprocess
    import sys

    from ramancmp.data.fetch import archive_path

    if not archive_path().is_file() or shutil.which("unzip") is None:
        pytest.skip("needs the fetched RRUFF archive (data fetch) and unzip")
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "excellent_unoriented.zip").symlink_to(archive_path())
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    python = tmp_path / ".venv" / "bin" / "python"  # this interpreter, under the README's path
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    env = {**__import__("os").environ, "RAMANCMP_DATA_DIR": str(archive_path().parent),
           "RAMANCMP_CHECKPOINT_DIR": str(tmp_path / "no-checkpoints")}
    done = subprocess.run(["bash", "-ec", _readme_example()], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "model: library search (1-NN cosine)" in out and "no checkpoint" in out and "open-set rule" in out
    albite, gypsum = out.split("\n\n")[1], out.split("\n\n")[2]
    assert "Albite" in albite and "-> feldspar" in albite
    assert "Gypsum" in gypsum and "-> not in library (score" in gypsum
    assert "2 classified, 0 failed; 1 of them not in library" in out


def test_library_search_report_names_what_it_used(rruff_zip, tmp_path, monkeypatch):
    monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(tmp_path / "empty"))
    from ramancmp.data.fetch import archive_path
    from ramancmp.predict import LIBRARY, default_model

    if not archive_path().is_file():
        pytest.skip("needs the fetched RRUFF archive in the data cache")
    assert default_model() == LIBRARY  # no checkpoint of the default network: the library search
    with zipfile.ZipFile(rruff_zip) as zf:
        name = next(n for n in zf.namelist() if n.startswith("Albite__R040068__") and "Processed" in n)
        (tmp_path / "albite.txt").write_bytes(zf.read(name))
    report = predict_paths(None, [tmp_path / "albite.txt"], top=2)
    model = report["model"]
    assert model["checkpoint"] is None and model["open_set"] and model["library_spectra"] > 900
    assert model["open_set_rule"]["validation_unknowns_rejected"] >= 0.95
    pred = report["predictions"][0]
    assert pred["identified"] == "feldspar" and pred["nearest"]["mineral"] == "Albite" and len(pred["top"]) == 2
    assert pred["score"] > model["open_set_rule"]["threshold"]


def test_a_stored_network_gets_the_open_set_rule_and_names_its_checkpoint(tmp_path, monkeypatch):
    """A network of the task (here one epoch on the first split's training part, as the store would keep it) is
    used when asked for, calibrated on that split's validation part and the validation unknowns."""
    from ramancmp.data import load_task, make_split
    from ramancmp.data.fetch import archive_path

    if not archive_path().is_file():
        pytest.skip("needs the fetched RRUFF archive in the data cache")
    monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(tmp_path))
    ds = load_task("rruff-groups-10")
    split = make_split(ds.y, ds.groups, kind="sample", seed=0)
    clf = TorchClassifier(model="cnn", max_epochs=1, patience=None, validation_fraction=0, device="cpu",
                          seed=0).fit(ds.X[split.train], ds.y[split.train])
    path = clf.save(tmp_path / "rruff-groups-10" / "cnn", extra={"class_names": ds.class_names,
                                                                  "preprocess": ds.preprocess.to_dict(),
                                                                  "task": ds.task})
    spectrum = tmp_path / "albite.txt"
    spectrum.write_text("\n".join(f"{w:.1f}, {v:.5f}" for w, v in zip(ds.grid, ds.X[split.test[0]])) + "\n")
    report = predict_paths("cnn", [spectrum])
    model = report["model"]
    assert model["checkpoint"] == str(path) and model["open_set"] and "RAMANCMP_CHECKPOINT_DIR" in model["profile"]
    assert model["open_set_rule"]["validation_unknowns_rejected"] >= 0.95
    pred = report["predictions"][0]
    assert pred["identified"] in [*ds.class_names, "not in library"] and pred["score"] is not None
    closed = predict_paths("cnn", [spectrum], open_set=False)
    assert not closed["model"]["open_set"] and closed["predictions"][0]["score"] is None
    text = format_predictions(report)
    assert f"checkpoint {path}" in text and "open-set rule" in text
