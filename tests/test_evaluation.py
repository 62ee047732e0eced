"""The evaluation harness and the model benchmark, on a small synthetic task (fast, no RRUFF data needed)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from ramancmp.config import PROFILES
from ramancmp.experiments.evaluation import EvaluationResult, evaluate

from conftest import synthetic_dataset

TINY = PROFILES["tiny"]
LENGTH = 128



@pytest.fixture(scope="module")
def dataset():
    return synthetic_dataset()


def test_evaluate_lda_protocol(dataset):
    result = evaluate("lda", dataset, profile=TINY, seed=3, progress=False)
    assert isinstance(result, EvaluationResult)
    assert result.model == "lda" and result.repeats == 2 and result.split_kind == "sample"
    assert [r["seed"] for r in result.per_repeat] == [3, 4]
    acc = result.metrics["accuracy"]
    assert len(acc.values) == 2 and acc.mean == pytest.approx(np.mean(acc.values))
    assert acc.sd == pytest.approx(np.std(acc.values, ddof=1))
    assert acc.mean > 0.9  # three well separated bands
    # confusion matrix summed over repeats = every test spectrum once per repeat
    cm = np.asarray(result.confusion_matrix)
    assert cm.shape == (3, 3) and cm.sum() == sum(r["n_test"] for r in result.per_repeat)
    assert result.complexity["params"] == 3 * LENGTH + 3  # coef_ + intercept_
    assert result.complexity["flops"] == 2 * result.complexity["macs"] > 0
    assert result.speed["latency_b1"]["median_ms"] > 0 and result.speed["throughput_b256"]["batch"] == 256
    # the last split's test part is disjoint from its training part, by sample
    split = result.last_split
    assert not set(dataset.groups[split.train]) & set(dataset.groups[split.test])
    assert result.estimator.predict(dataset.X[:2]).shape == (2,)


def test_evaluate_network_keeps_histories_and_is_deterministic(dataset, tmp_path):
    kwargs = {"profile": TINY, "repeats": 1, "seed": 0, "progress": False, "device": "cpu", "measure_speed": False}
    first = evaluate("cnn", dataset, **kwargs)
    second = evaluate("cnn", dataset, **kwargs)
    assert first.per_repeat[0]["confusion_matrix"] == second.per_repeat[0]["confusion_matrix"]
    assert first.metrics["accuracy"].values == second.metrics["accuracy"].values
    assert len(first.histories) == 1 and 1 <= len(first.histories[0]["train_loss"]) <= TINY.max_epochs
    assert first.histories[0]["val_acc"], "the split's validation part must reach the network"
    assert first.speed is None
    assert first.complexity["params"] > 1000 and first.complexity["breakdown"]["conv_linear"] > 0
    assert np.isnan(first.metrics["accuracy"].sd)  # one repeat: sd undefined

    saved = first.save(directory=tmp_path)
    payload = json.loads(saved.read_text())
    assert payload["metrics"]["model"] == "cnn"
    assert payload["provenance"]["task"] == "synthetic-3" and payload["provenance"]["data_sha256"] == "0" * 64
    assert payload["provenance"]["profile"] == "tiny" and payload["provenance"]["split_kind"] == "sample"
    assert "estimator" not in payload["metrics"]

    ckpt = first.save_checkpoint(tmp_path / "ckpt" / "cnn")
    info = json.loads(ckpt.with_suffix(".json").read_text())
    assert info["class_names"] == dataset.class_names and info["preprocess"]["n_points"] == LENGTH


def test_evaluate_factory_and_errors(dataset):
    from sklearn.neighbors import NearestCentroid

    result = evaluate(lambda n_classes, length: NearestCentroid(), dataset, profile=TINY, repeats=1,
                      progress=False, measure_speed=False)
    assert result.metrics["accuracy"].mean > 0.9
    # no counting rule for NearestCentroid: size is unknown (with the reason), not made up
    assert result.complexity["params"] is None and "NearestCentroid" in result.complexity["rule"]
    with pytest.raises(ValueError, match="repeats"):
        evaluate("lda", dataset, profile=TINY, repeats=0, progress=False)
    with pytest.raises(ValueError, match="unknown model"):
        evaluate("resnet9000", dataset, profile=TINY, progress=False)


def test_bench_models_table(dataset, tmp_path, monkeypatch):
    from ramancmp.experiments import bench

    monkeypatch.setenv("RAMANCMP_RESULTS_DIR", str(tmp_path))
    monkeypatch.setattr(bench, "gemm_peak_gflops",
                        lambda n, runs, threads=None: {"gflops": 50.0, "best_gflops": 55.0, "n": n, "runs": runs,
                                                       "threads": 1})
    table = bench.bench_models(profile=TINY, models=("lda", "knn_cosine"), dataset=dataset, progress=False)
    assert [r.model for r in table["rows"]] == ["lda", "knn_cosine", bench.LIBRARY_SKLEARN, bench.SQRT_LIBRARY,
                                                 bench.FULL_LIBRARY]
    row, sk, _, full = table["rows"][1:]
    L = dataset.X.shape[1]
    assert row.mflops * 1e6 / 2 == row.params + 2 * L  # the library is the model: one MAC per stored number + norm
    # scikit-learn's kNN is the cross-check: the same predictions, hence the same accuracy on every split; timed in
    # the same rounds, with its speed-up over the numpy search
    assert sk.accuracy.values == row.accuracy.values and sk.speedup_over(bench.LIBRARY) is not None
    assert full.val_accuracy is None and full.baseline == "knn_cosine" and full.group == bench.LIBRARY_GROUP
    text = bench.library_search_text(table["rows"], 50.0)
    assert "KNeighborsClassifier" in text and "×" in text and "validation spectra added to its library" in text
    assert row.pct_gemm_peak == pytest.approx(100 * row.mflops * 1e6 * row.throughput_b256 / 50e9)
    assert len(row.accuracy.values) == TINY.repeats  # per-split values are kept
    saved = json.loads((tmp_path / "bench_models.json").read_text())
    assert saved["metrics"]["rows"][0]["model"] == "lda" and saved["provenance"]["task"] == "synthetic-3"
    text = bench.format_table(table)
    assert "GEMM peak 50.0 GFLOP/s" in text and "knn_cosine" in text and "±" in text
    assert len({len(line) for line in text.splitlines()[3:6]}) == 1  # header, rule and a row align
    with pytest.raises(ValueError, match="unknown benchmark"):
        bench.run("everything", profile=TINY)


def test_networks_are_trained_once_per_split_and_reused(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(tmp_path))
    first = evaluate("cnn", dataset, profile=TINY, seed=0, progress=False, measure_speed=False)
    saved = sorted(p.name for p in tmp_path.rglob("*.pt"))
    assert saved == ["sample-seed0.pt", "sample-seed1.pt"]
    second = evaluate("cnn", dataset, profile=TINY, seed=0, progress=False, measure_speed=False)
    assert [r["fit_time_s"] for r in second.per_repeat] == [r["fit_time_s"] for r in first.per_repeat]
    assert second.metrics["accuracy"] == first.metrics["accuracy"]
    other_seed = evaluate("cnn", dataset, profile=TINY, seed=5, repeats=1, progress=False, measure_speed=False)
    assert other_seed.per_repeat[0]["seed"] == 5 and len(list(tmp_path.rglob("*.pt"))) == 3


def test_a_changed_architecture_does_not_load_an_old_checkpoint(dataset, tmp_path, monkeypatch):
    from ramancmp.experiments.store import architecture_signature

    monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(tmp_path))
    assert architecture_signature("cnn", 3, LENGTH) != architecture_signature("cnn", 3, LENGTH, {"head_bins": 4})
    evaluate("cnn", dataset, profile=TINY, repeats=1, progress=False, measure_speed=False)
    import ramancmp.experiments.store as ck

    real = ck.architecture_signature
    monkeypatch.setattr(ck, "architecture_signature", lambda *a, **k: real(*a, **k) + "-changed")
    retrained = evaluate("cnn", dataset, profile=TINY, repeats=1, progress=False, measure_speed=False)
    assert retrained.per_repeat[0]["n_test"] > 0  # trained again instead of loading a mismatching file
    key = json.loads(next(tmp_path.rglob("*.json")).read_text())["key"]
    assert key["architecture"].endswith("-changed")


def test_sibling_leakage_counts_shared_samples_only_in_random_splits(dataset):
    from ramancmp.data.splits import make_split
    from ramancmp.experiments.evaluation import sibling_leakage

    by_sample = sibling_leakage(dataset, make_split(dataset.y, dataset.groups, "sample", seed=0))
    assert by_sample["with_sibling_in_train"] == 0 and by_sample["nearest_is_sibling"] == 0
    assert by_sample["accuracy_with_sibling"] is None
    random = sibling_leakage(dataset, make_split(dataset.y, dataset.groups, "random", seed=0))
    assert 0 < random["with_sibling_in_train"] <= random["n_test"]
    assert random["nearest_is_sibling"] <= random["with_sibling_in_train"]


def test_bench_cli_prints_json_with_numpy_values(monkeypatch, capsys):
    from ramancmp.cli import main
    from ramancmp.experiments import bench

    monkeypatch.setattr(bench, "run", lambda what, **kw: {"what": what, "rows": [], "gemm": {"gflops": np.float32(50)},
                                                          "values": np.arange(2)})
    assert main(["bench", "models", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"what": "models", "rows": [], "gemm": {"gflops": 50.0},
                                                   "values": [0, 1]}


def test_evaluation_reports_validation_species_and_f1_and_classical_models_take_more_repeats(dataset):
    from ramancmp.experiments.tables import Row

    prof = replace(TINY, classical_repeats=3)
    result = evaluate("lda", dataset, profile=prof, seed=0, progress=False, measure_speed=False)
    assert result.repeats == 3 and [r["seed"] for r in result.per_repeat] == [0, 1, 2]  # the networks' first 2 shared
    for rep in result.per_repeat:
        assert 0.0 <= rep["val_accuracy"] <= 1.0 and 0.0 <= rep["macro_f1"] <= 1.0
        assert rep["balanced_accuracy"] == pytest.approx(rep["sensitivity"])  # scikit-learn's = macro recall
        # the synthetic task's species are its classes: every test spectrum is of a known species
        assert rep["n_known_species"] == rep["n_test"] and rep["accuracy_new_species"] is None
    row = Row.from_evaluation(result)
    assert row.seeds == [0, 1, 2] and 0 < row.test_train_ratio < 1
    assert row.val_accuracy and row.accuracy_new_species is None and len(row.accuracy_known_species.values) == 3


def test_species_accuracy_splits_the_test_part_by_species_seen_in_training():
    from types import SimpleNamespace

    from ramancmp.experiments.evaluation import species_accuracy

    species = np.array(["a", "a", "b", "c", "a", "b", "d"])
    split = SimpleNamespace(train=np.array([0, 1, 2]), test=np.array([3, 4, 5, 6]))
    out = species_accuracy(species, split, np.array([True, True, False, False]))
    # test: c (new, right), a (known, right), b (known, wrong), d (new, wrong)
    assert out["accuracy_known_species"] == 0.5 and out["accuracy_new_species"] == 0.5
    assert out["n_known_species"] == 2 and out["n_new_species"] == 2 and out["new_species_fraction"] == 0.5
    assert species_accuracy(None, split, np.array([True] * 4)) == {}


def test_species_split_through_evaluate_tests_only_new_species():
    """split_kind="species" goes through the same API: every test spectrum is of a species absent from training, so
    the known-species part is empty; a task whose classes are its species is refused with a clear error."""
    import pandas as pd

    from conftest import synthetic_dataset

    ds = synthetic_dataset(n_classes=3, samples_per_class=10, spectra_per_sample=2, length=64, seed=0)
    # five species per class, two samples each
    ds.meta = pd.DataFrame({"mineral": [f"{ds.class_names[c]}-sp{i // 4 % 5}" for i, c in enumerate(ds.y)],
                            "sample_id": ds.groups})
    species = ds.meta["mineral"].to_numpy()
    for g in np.unique(ds.groups):  # a sample holds one species
        assert len(set(species[ds.groups == g])) == 1
    result = evaluate("knn_cosine", ds, split_kind="species", repeats=2, profile=TINY, progress=False,
                      measure_speed=False)
    assert result.split_kind == "species"
    for rep in result.per_repeat:
        assert rep["n_known_species"] == 0 and rep["n_new_species"] == rep["n_test"] > 0
        assert rep["accuracy_new_species"] == pytest.approx(rep["accuracy"])
    plain = synthetic_dataset(n_classes=3, samples_per_class=10, spectra_per_sample=2, length=64, seed=0)
    with pytest.raises(ValueError, match="several species"):
        evaluate("knn_cosine", plain, split_kind="species", repeats=1, profile=TINY, progress=False,
                 measure_speed=False)


def test_final_table_takes_the_rows_chapters_6_to_9_saved_when_the_profile_says_so(tmp_path):
    """The quick profile's chapter 10 (bench_all) takes the compression and deployment rows of chapters 6-9 instead of
    measuring them again, only when all four ran with this profile, seed and task; baselines are listed once and of
    the distillation grid only the chosen (T, alpha)."""
    from types import SimpleNamespace

    from ramancmp.experiments import bench
    from ramancmp.experiments.results import save_result
    from ramancmp.experiments.tables import Row

    quick = PROFILES["quick"]
    assert quick.final_table_reuses_chapters and not PROFILES["full"].final_table_reuses_chapters
    saved = {
        "06_distillation": {"chosen": {"temperature": 4.0, "alpha": 0.9}, "rows": [
            Row("efficientnet_small", group="distillation", extra={"role": "teacher"}),
            Row("cnn_distilled_T4_a0.9", group="distillation", extra={"role": "distilled", "chosen": True}),
            Row("cnn_distilled_T2_a0.9", group="distillation", extra={"role": "distilled", "chosen": False})]},
        "07_channel_conversion": {"rows": [Row("drsn_cw", group="channel_conversion"),
                                           Row("DRSN-CS", group="channel_conversion", mflops=2.0,
                                               throughput_b256=1000.0)]},
        "08_feature_extraction": {"rows": [Row("drsn_cw", group="feature_extraction"),
                                           Row("drsn_features1_lda", group="feature_extraction")]},
        "09_beyond_compression": {"variants": [], "fine_tune": {"max_epochs": 1}, "split_sizes": {"test": 9}},
    }
    for chapter, metrics in saved.items():
        save_result(chapter, metrics, directory=tmp_path, profile="quick", seed=0, task="t")
    ds = SimpleNamespace(task="t")
    compressed, chosen, deployed, about = bench._chapters_rows(tmp_path, ds, quick, 0, 100.0)
    assert chosen == {"temperature": 4.0, "alpha": 0.9} and deployed == [] and about["split_sizes"] == {"test": 9}
    listed = bench._listed_once(compressed, {"efficientnet_small", "drsn_cw"})
    assert [r.model for r in listed] == ["cnn_distilled_T4_a0.9", "DRSN-CS", "drsn_features1_lda"]
    assert listed[1].pct_gemm_peak == pytest.approx(100 * 2e6 * 1000.0 / 100e9)  # this run's GEMM peak
    assert bench._chapters_rows(tmp_path, ds, quick, 1, 100.0) is None  # another seed: measured again
    assert bench._chapters_rows(tmp_path, SimpleNamespace(task="other"), quick, 0, 100.0) is None
    (tmp_path / "08_feature_extraction.json").unlink()
    assert bench._chapters_rows(tmp_path, ds, quick, 0, 100.0) is None  # a chapter has not run
