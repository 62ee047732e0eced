"""``predict``: a tiny network trained on synthetic spectra, checkpointed, then asked about good and bad files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from ramancmp.cli import main
from ramancmp.data.preprocess import PreprocessConfig
from ramancmp.predict import format_predictions, predict_paths, resolve_checkpoint
from ramancmp.training import TorchClassifier, TrainConfig

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
    clf = TorchClassifier(model="cnn", validation_fraction=0,
                          train_config=TrainConfig(max_epochs=15, patience=None, batch_size=16, lr=1e-2, augment=False,
                                                   device="cpu", seed=0)).fit(X, y)
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


@pytest.mark.slow
def test_the_readme_predict_example_works_as_written(tmp_path, monkeypatch):
    """The README's commands, run as written in a folder holding the data cache: no trained network exists, so the
    library search answers -- the albite, its sample held out of the library, is a feldspar found through another
    albite sample; the gypsum (in none of the ten groups) is not in library. Fails if identification breaks."""
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
    assert "held out of the library: every spectrum of R040068" in out
    assert "R040068 " not in albite.split("top library")[1]
    assert "nearest library spectrum: Albite R" in albite
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
    clf = TorchClassifier(model="cnn", validation_fraction=0,
                          train_config=TrainConfig(max_epochs=1, patience=None, device="cpu", seed=0)).fit(
        ds.X[split.train], ds.y[split.train])
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


# ------------------------------------------------- the library search on a synthetic library (no archive needed)
from ramancmp.predict import NOT_IN_LIBRARY, Identifier  # noqa: E402

LIB_WN = np.arange(100.0, 1300.0, 0.5)
SPECIES = {"Calcite": ("carbonate", [1086.0, 282.0]), "Fakeite": ("sulfate", [1091.0, 287.0, 700.0]),
           "Quartz": ("silicate", [465.0, 206.0]), "Gypsum": ("sulfate", [1008.0, 415.0, 620.0])}


def lines(centres, wn=LIB_WN, width=3.0, shift=0.0, rng=None):
    y = sum(np.exp(-0.5 * ((wn - c - shift) / width) ** 2) for c in centres) * 100.0
    return y + (rng.normal(0, 0.3, wn.size) if rng is not None else 0.0)


@pytest.fixture(scope="module")
def library_predictor():
    import pandas as pd

    from ramancmp.data.preprocess import preprocess_spectrum

    rng = np.random.default_rng(7)
    config = PreprocessConfig()
    classes = sorted({c for c, _ in SPECIES.values()})
    X, y, meta = [], [], []
    for k, (species, (cls, centres)) in enumerate(SPECIES.items()):
        for rep in range(4):
            X.append(preprocess_spectrum((LIB_WN, lines(centres, rng=rng) + 1.0), config))
            y.append(classes.index(cls))
            meta.append({"mineral": species, "rruff_id": f"R{k:02d}000{rep}", "laser_nm": 532.0})
    unknown = [preprocess_spectrum((LIB_WN, lines(rng.uniform(200, 1150, 3), rng=rng) + 1.0), config)
               for _ in range(40)]
    idx = np.arange(len(X))
    return Identifier.from_arrays(np.stack(X), np.array(y), classes, pd.DataFrame(meta), idx[idx % 4 != 3],
                                 idx[idx % 4 == 3], np.stack(unknown), config)


def write_xy(path, wn, y, header=""):
    path.write_text(header + "\n".join(f"{a:.2f}, {b:.4f}" for a, b in zip(wn, y)) + "\n")
    return path


def test_the_search_tolerates_a_calibration_shift_and_reports_it(library_predictor, tmp_path):
    query = write_xy(tmp_path / "calcite_plus4.csv", LIB_WN, lines(SPECIES["Calcite"][1], shift=4.0) + 1.0)
    rigid = predict_paths(library_predictor, [query], max_shift=0)["predictions"][0]
    assert rigid["nearest"]["mineral"] == "Fakeite"  # 1 cm^-1 from its bands: the wrong neighbour wins
    report = predict_paths(library_predictor, [query], top=3)
    pred = report["predictions"][0]
    assert pred["nearest"]["mineral"] == "Calcite" and pred["nearest"]["shift_cm1"] == pytest.approx(4.0)
    assert pred["identified"] == "carbonate" and pred["score"] > 0.99
    assert [m["mineral"] for m in pred["matches"]][:2] == ["Calcite", "Fakeite"] and len(pred["matches"]) == 3
    sims = [m["similarity"] for m in pred["matches"]]
    assert sims == sorted(sims, reverse=True)
    assert any("shift of +4 cm^-1" in w for w in pred["warnings"])
    rule = report["model"]["open_set_rule"]
    assert rule["max_shift_cm1"] == 5.0 and rule["validation_unknowns_rejected"] >= 0.95
    assert "'not in library' means" in rule["meaning"]
    text = format_predictions(report)
    assert "top library matches" in text and "1. Calcite" in text and "+4 cm^-1" in text and "what it means" in text


def test_partial_ranges_are_searched_on_the_part_covered(library_predictor, tmp_path):
    part = LIB_WN >= 500
    ok = write_xy(tmp_path / "from500.txt", LIB_WN[part], lines(SPECIES["Gypsum"][1])[part] + 1.0)
    short = LIB_WN >= 800
    bad = write_xy(tmp_path / "from800.txt", LIB_WN[short], lines(SPECIES["Gypsum"][1])[short] + 1.0)
    report = predict_paths(library_predictor, [ok, bad])
    pred = report["predictions"][0]
    assert pred["nearest"]["mineral"] == "Gypsum" and pred["covered"] == pytest.approx(700 / 1050, abs=0.01)
    assert any(w.startswith("partial range: covers 500-1300") and "67%" in w for w in pred["warnings"])
    assert "at least 60%" in report["errors"][0]["reason"] and report["errors"][0]["source"].endswith("from800.txt")


def test_a_raw_spectrum_is_baseline_corrected_when_it_looks_uncorrected(library_predictor, tmp_path):
    background = 400 * np.exp(-0.5 * ((LIB_WN - 900) / 500) ** 2) + 0.2 * LIB_WN
    raw = write_xy(tmp_path / "quartz_raw.txt", LIB_WN, lines(SPECIES["Quartz"][1]) + background)
    on = predict_paths(library_predictor, [raw])["predictions"][0]
    off = predict_paths(library_predictor, [raw], baseline="off")["predictions"][0]
    assert on["baseline_corrected"] and not off["baseline_corrected"]
    assert any("looks uncorrected" in w for w in on["warnings"])
    assert on["nearest"]["mineral"] == "Quartz" and on["score"] > off["score"] + 0.2
    clean = write_xy(tmp_path / "quartz.txt", LIB_WN, lines(SPECIES["Quartz"][1]) + 1.0)
    assert not predict_paths(library_predictor, [clean])["predictions"][0]["baseline_corrected"]


def test_held_out_samples_leave_the_library(library_predictor, tmp_path):
    query = write_xy(tmp_path / "quartz.txt", LIB_WN, lines(SPECIES["Quartz"][1]) + 1.0)
    ids = {r["rruff_id"] for r in library_predictor.library_rows if r["mineral"] == "Quartz"}
    first = sorted(ids)[0]
    report = predict_paths(library_predictor, [query], hold_out=[first])
    pred = report["predictions"][0]
    assert pred["nearest"]["mineral"] == "Quartz" and all(m["rruff_id"] != first for m in pred["matches"])
    assert any(first in n for n in report["model"]["notes"])
    assert library_predictor.library_size == 16  # the original is untouched
    with pytest.raises(ValueError, match="no library spectrum has RRUFF ID R999"):
        predict_paths(library_predictor, [query], hold_out=["R999"])


def test_saturated_bands_are_reported(library_predictor, tmp_path):
    y = np.minimum(lines(SPECIES["Quartz"][1]) + 1.0, 60.0)
    pred = predict_paths(library_predictor, [write_xy(tmp_path / "sat.txt", LIB_WN, y)])["predictions"][0]
    assert any(w.startswith("possibly saturated") and "intensity 60 " in w for w in pred["warnings"])


def test_your_own_references_join_the_library(library_predictor, tmp_path):
    import copy

    refs = tmp_path / "refs"
    refs.mkdir()
    mystery = [450.0, 820.0, 1130.0]
    head = "#Title=Mystery phase\n#Laser (nm)=785\n"
    (refs / "m.txt").write_text(head + "\n".join(f"{a:.2f}\t{b:.4f}" for a, b in zip(LIB_WN, lines(mystery) + 1)))
    (refs / "readme.md").write_text("not a spectrum")
    query = write_xy(tmp_path / "unknown_sample.csv", LIB_WN, lines(mystery, shift=1.0) + 2.0)
    predictor = copy.deepcopy(library_predictor)
    assert predict_paths(predictor, [query])["predictions"][0]["identified"] == NOT_IN_LIBRARY
    report = predict_paths(predictor, [query], library=refs)
    pred = report["predictions"][0]
    assert pred["identified"] == "Mystery phase (your library)" and pred["nearest"]["mineral"] == "Mystery phase"
    assert pred["matches"][0]["source"].startswith("your library: ") and pred["matches"][0]["laser_nm"] == 785
    assert report["model"]["user_references"] == 1
    assert any("readme.md" in e["source"] and "reference not added" in e["reason"] for e in report["errors"])


@pytest.mark.slow  # writes plotly figures: about 2.5 s
def test_cli_csv_plot_and_strict_json(library_predictor, tmp_path, monkeypatch, capsys):
    import csv

    import ramancmp.predict as predict_module

    monkeypatch.setattr(predict_module, "load_predictor", lambda *a, **k: library_predictor)
    folder = tmp_path / "batch"
    folder.mkdir()
    for name, (_cls, centres) in SPECIES.items():
        write_xy(folder / f"{name.lower()}.csv", LIB_WN, lines(centres, shift=2.0) + 1.0, "wavenumber,intensity\n")
    (folder / "broken.csv").write_text("x,y\n1,2\n")
    out_csv, plots = tmp_path / "table.csv", tmp_path / "plots"
    assert main(["predict", "--model", "library", "--json", "--csv", str(out_csv), "--plot", str(plots),
                 str(folder)]) == 0
    report = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert len(report["predictions"]) == 4 and len(report["errors"]) == 1
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 5 and {r["best_match"] for r in rows[:4]} == set(SPECIES)
    assert rows[-1]["identified"] == "error" and "broken.csv" in rows[-1]["source"]
    assert all(float(r["shift_cm1"]) == pytest.approx(2.0) for r in rows[:4])
    htmls = sorted(plots.glob("*.html"))
    assert len(htmls) == 4 and (plots / "plotly.min.js").is_file()
    assert "your spectrum" in htmls[0].read_text()


def test_the_shift_rule_is_cached_on_disk_and_a_damaged_cache_is_recomputed(library_predictor, tmp_path):
    import copy

    predictor = copy.deepcopy(library_predictor)
    predictor.cache_rules_in(tmp_path)
    rule = predictor.shift_rule(3.0)
    files = list(tmp_path.glob("predict-shift-rule-*-3.json"))
    assert len(files) == 1
    again = copy.deepcopy(library_predictor)
    again.cache_rules_in(tmp_path)
    assert again.shift_rule(3.0) == rule
    files[0].write_text('{"threshold": NaN}')
    third = copy.deepcopy(library_predictor)
    third.cache_rules_in(tmp_path)
    assert third.shift_rule(3.0) == rule  # recomputed, the same


def test_text_output_escapes_control_characters_from_files(library_predictor, tmp_path):
    name = "q\n  -> garnet (score 0.9999).txt"  # a file name that would print a fake answer line
    path = write_xy(tmp_path / name, LIB_WN, lines(SPECIES["Quartz"][1]) + 1.0, "#Title=Calcite\x1b[2K\u202e\n")
    text = format_predictions(predict_paths(library_predictor, [path]))
    assert "\x1b" not in text and "\u202e" not in text and "\n  -> garnet" not in text
    assert "\\x1b[2K" in text and "\\u202e" in text


# ------------------------------------------------ the numpy library search: the same rule, the same baseline
def test_the_numpy_rule_is_the_open_set_classifiers(library_predictor):
    """Identifier computes temperature, score and threshold itself (no scikit-learn on predict's path); they are
    the ones OpenSetClassifier fits around LibrarySearch on the same split."""
    from ramancmp.models import LibrarySearch, OpenSetClassifier

    ident = library_predictor
    idx = np.arange(ident.library_size)  # the fixture's split
    train, val = idx[idx % 4 != 3], idx[idx % 4 == 3]
    X, y = ident.library_X, ident.library_y
    clf = OpenSetClassifier(LibrarySearch(), unknown_rejection=0.95).fit(X[train], y[train], X_val=X[val],
                                                                         y_val=y[val],
                                                                         X_unknown=ident._calibration[3])
    rule = ident.rule
    assert rule["score"] == clf.score_
    assert rule["temperature"] == pytest.approx(clf.temperature_, rel=1e-3)
    assert rule["threshold"] == pytest.approx(clf.threshold_, abs=1e-5)
    assert rule["validation_knowns_accepted"] == pytest.approx(clf.val_known_acceptance_)
    assert rule["val_auroc"]["max_score"] == pytest.approx(clf.val_auroc_["max_score"], abs=1e-9)


def test_the_banded_arpls_is_pybaselines_arpls():
    from ramancmp.data.preprocess import correct_baseline
    from ramancmp.predict import _arpls

    grid = PreprocessConfig().grid
    rng = np.random.default_rng(5)
    y = lines([300.0, 700.0], wn=grid) + 80 * np.exp(-0.5 * ((grid - 900) / 300) ** 2) + rng.normal(0, 0.5, grid.size)
    for lam in (1e5, 1e6, 1e7):
        assert np.allclose(_arpls(y, lam), correct_baseline((grid, y), "arpls", lam=lam)[1], atol=1e-6)


def test_the_library_index_round_trips_and_a_damaged_one_is_rebuilt(library_predictor, tmp_path):
    from ramancmp.predict import _read_index, _write_index

    ident = library_predictor
    path = tmp_path / "predict-library-x.npz"
    _write_index(path, ident.library_X, ident.library_y, ident.class_names, ident.library_rows, ident.rule)
    X, y, names, rows, rule = _read_index(path)
    assert np.array_equal(X, ident.library_X) and names == ident.class_names and rows == ident.library_rows
    assert rule == {k: ident.rule[k] for k in rule}
    path.write_bytes(path.read_bytes()[:500])
    assert _read_index(path) is None  # truncated: rebuilt, not a traceback


def test_an_identifier_answers_arrays_directly(library_predictor):
    answer = library_predictor.identify((LIB_WN, lines(SPECIES["Gypsum"][1]) + 1.0), top=2)
    assert answer["identified"] == "sulfate" and answer["nearest"]["mineral"] == "Gypsum" and len(answer["top"]) == 2
    with pytest.raises(ValueError, match="finite 1-D arrays"):
        library_predictor.identify((LIB_WN, np.full(LIB_WN.size, np.nan)))


def test_a_rayleigh_wing_is_left_out_and_broad_humps_are_not_identified(library_predictor, tmp_path):
    from ramancmp.predict import BROAD_BANDS, LOW_WING

    wing = 1000 * np.exp(-(LIB_WN - 100) / 60)
    query = write_xy(tmp_path / "quartz_wing.txt", LIB_WN, lines(SPECIES["Quartz"][1]) + wing + 1.0)
    pred = predict_paths(library_predictor, [query])["predictions"][0]
    assert any(w.startswith(LOW_WING) for w in pred["warnings"]) and pred["covered"] < 1.0
    assert pred["nearest"]["mineral"] == "Quartz"
    humps = 50 * np.exp(-0.5 * ((LIB_WN - 500) / 90) ** 2) + 60 * np.exp(-0.5 * ((LIB_WN - 980) / 70) ** 2) + 1
    glass = predict_paths(library_predictor, [write_xy(tmp_path / "glass.txt", LIB_WN, humps)])["predictions"][0]
    assert glass["identified"] == NOT_IN_LIBRARY and any(w.startswith(BROAD_BANDS) for w in glass["warnings"])


# ----------------------------------------- out of distribution, on the RRUFF library (needs the fetched archive)
def _real_library():
    from ramancmp.data.fetch import archive_path

    if not archive_path().is_file():
        pytest.skip("needs the fetched RRUFF archive in the data cache")
    from ramancmp.predict import Identifier

    return Identifier.for_task()


WN = np.arange(100.0, 1300.0, 0.5)


def _gauss(c, w, h):
    return h * np.exp(-0.5 * ((WN - c) / w) ** 2)


def _hostile_spectra(ident):
    """The cases of issues 21 and 23, built here: a silicon wafer (one sharp band at 520.7 cm^-1) under a strong
    Rayleigh wing, a basaltic glass (two broad humps) under a fluorescence background, pure noise, and an archive
    spectrum at SNR 3 and under a fluorescence background 30x its strongest band."""
    rng = np.random.default_rng(11)
    silicon = 100 / (1 + ((WN - 520.7) / 2) ** 2) + _gauss(960, 25, 3) + _gauss(300, 20, 1.5)
    glass = _gauss(500, 90, 50) + _gauss(980, 70, 60)
    fluorescence = _gauss(1500, 600, 1.0) + 0.002 * WN
    base = np.interp(WN, ident.preprocess.grid, ident.library_X[100])
    return {"silicon wafer + wing": silicon + 1000 * np.exp(-(WN - 100) / 60) + rng.normal(0, 0.3, WN.size),
            "basaltic glass + fluorescence": glass + 200 * fluorescence + rng.normal(0, 0.5, WN.size),
            "pure noise": rng.normal(10, 1, WN.size),
            "SNR 3": base + rng.normal(0, base.max() / 3, WN.size) + 0.5,
            "fluorescence 30x": base + 30 * base.max() * fluorescence + rng.normal(0, 0.01, WN.size)}


def test_silicon_glass_and_noise_are_not_in_the_library():
    ident = _real_library()
    for name, y in _hostile_spectra(ident).items():
        if name == "fluorescence 30x":
            continue
        answer = ident.identify((WN, y))
        assert answer["identified"] == NOT_IN_LIBRARY, (name, answer["identified"], answer["score"])


def test_a_confidently_wrong_network_is_not_trusted_out_of_distribution(tmp_path):
    """A network that says apatite at p = 1 for everything (what the quick CNN did on fluorescence and noise): each
    answer is checked against the library's threshold; unlike every library spectrum -> not in library, with the
    named warning; an archive spectrum keeps the network's answer."""
    from ramancmp.predict import DISTRIBUTION_SHIFT, Predictor

    ident = _real_library()
    apatite = ident.class_names.index("apatite")

    class Sure:
        threshold_, score_, temperature_ = 0.0, "max_proba", 1.0
        val_unknown_rejection_ = val_known_acceptance_ = 0.95

        def predict_proba(self, X):
            p = np.full((len(X), len(ident.class_names)), 1e-6)
            p[:, apatite] = 1.0
            return p / p.sum(1, keepdims=True)

        def score_samples(self, X):
            return np.ones(len(X))

    net = object.__new__(Predictor)
    net.notes, net.path, net.profile, net.name, net.task = [], tmp_path / "sure.pt", "custom", "sure", ident.task
    net.class_names, net.preprocess, net.classifier = list(ident.class_names), ident.preprocess, Sure()
    cases = _hostile_spectra(ident)
    cases["archive apatite"] = np.interp(WN, ident.preprocess.grid, ident.library_X[ident.library_y == apatite][0])
    paths = [write_xy(tmp_path / f"{n.replace(' ', '_')}.txt", WN, y) for n, y in cases.items()]
    report = predict_paths(net, paths)
    by = {p["source"].rsplit("/", 1)[-1].removesuffix(".txt").replace("_", " "): p for p in report["predictions"]}
    assert report["model"]["distribution_check"]["checked"]
    for name in ("silicon wafer + wing", "basaltic glass + fluorescence", "pure noise", "SNR 3"):
        assert by[name]["identified"] == NOT_IN_LIBRARY, name
        assert any(w.startswith(DISTRIBUTION_SHIFT) for w in by[name]["warnings"]), name
        assert not by[name]["distribution_check"]["passed"]
    assert by["archive apatite"]["identified"] == "apatite" and by["archive apatite"]["distribution_check"]["passed"]
    net.classifier = type("Closed", (), {"predict_proba": Sure.predict_proba})()  # --closed-set: kept, flagged
    closed = predict_paths(net, paths[2:3])["predictions"][0]
    assert closed["identified"] == "apatite" and any(w.startswith(DISTRIBUTION_SHIFT) for w in closed["warnings"])


def test_the_library_path_imports_neither_torch_nor_scikit_learn(tmp_path):
    import subprocess
    import sys

    ident = _real_library()
    path = write_xy(tmp_path / "s.txt", ident.preprocess.grid, ident.library_X[0])
    code = ("import sys; from ramancmp.predict import predict_paths; "
            f"r = predict_paths('library', [{str(path)!r}]); assert r['predictions'], r; "
            "print(sorted(m for m in ('torch', 'sklearn', 'pybaselines') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
