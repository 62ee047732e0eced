"""The trained-model store and the execution engine together: the book's real training jobs give the same
networks and the same metrics -- to the last digit -- serially, on local worker processes and on a Dask cluster;
stored networks are never trained twice (distilled students included)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ramancmp.config import PROFILES
from ramancmp.data.splits import repeated_splits
from ramancmp.experiments import results, store
from ramancmp.experiments.evaluation import evaluate
from ramancmp.experiments.executor import DaskExecutor, LocalExecutor, SerialExecutor
from ramancmp.fileio import fingerprint

from conftest import synthetic_dataset

TINY = PROFILES["tiny"]
SMALL = {"channels": (4, 8), "kernel_sizes": (5, 5), "head_bins": 2}


@pytest.fixture(scope="module")
def dataset():
    return synthetic_dataset()


def _weights_digest(clf) -> str:
    h = hashlib.sha256()
    for name, t in sorted(clf.model_.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def _jobs(dataset, directory):
    splits = repeated_splits(dataset.y, dataset.groups, "sample", repeats=TINY.repeats, seed=0)
    return [store.make_job("cnn", dataset, s, TINY, model_kwargs=SMALL, device="cpu", directory=directory)
            for s in splits]


@pytest.mark.slow
def test_serial_local_and_dask_train_identical_networks(dataset, tmp_path):
    distributed = pytest.importorskip("distributed")
    digests = {}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        executors = {"serial": SerialExecutor(), "local": LocalExecutor(2), "dask": DaskExecutor(client)}
        for name, ex in executors.items():
            trained = store.train_all(_jobs(dataset, tmp_path / name), ex)
            digests[name] = [_weights_digest(c) for c in trained]
            probs = [c.predict_proba(dataset.X) for c in trained]
            digests[name + " proba"] = [hashlib.sha256(p.tobytes()).hexdigest() for p in probs]
    assert digests["serial"] == digests["local"] == digests["dask"]
    assert digests["serial proba"] == digests["local proba"] == digests["dask proba"]
    assert len(set(digests["serial"])) == TINY.repeats  # each split's network is its own


@pytest.mark.slow
def test_evaluate_gives_the_same_metrics_whatever_the_executor(dataset, tmp_path, monkeypatch):
    metrics = {}
    for name in ("serial", "local:2"):
        monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(tmp_path / name.replace(":", "")))
        res = evaluate("cnn", dataset, profile=TINY, model_kwargs=SMALL, progress=False, measure_speed=False,
                       executor=name, device="cpu")
        metrics[name] = [(r["accuracy"], r["sensitivity"], r["specificity"]) for r in res.per_repeat]
    assert metrics["serial"] == metrics["local:2"]


def test_stored_networks_are_loaded_not_retrained(dataset, tmp_path, monkeypatch):
    jobs = _jobs(dataset, tmp_path)
    first = store.train_all(jobs, "serial")
    calls = []
    monkeypatch.setattr(store, "run_job", lambda job: calls.append(job) or job.path)
    again = store.train_all(_jobs(dataset, tmp_path), "serial")
    assert calls == []  # nothing trained the second time
    assert [_weights_digest(c) for c in again] == [_weights_digest(c) for c in first]
    assert all(c.train_fingerprint_ == j.key["train_fingerprint"] for c, j in zip(again, jobs))


def test_empty_and_missing_model_kwargs_are_the_same_network(dataset, tmp_path):
    split = repeated_splits(dataset.y, dataset.groups, "sample", repeats=1, seed=0)[0]
    a = store.make_job("cnn", dataset, split, TINY, model_kwargs={}, directory=tmp_path)
    b = store.make_job("cnn", dataset, split, TINY, model_kwargs=None, directory=tmp_path)
    assert a.key == b.key and a.path == b.path


def test_distilled_students_are_stored_once_per_teacher_and_setting(dataset, tmp_path):
    split = repeated_splits(dataset.y, dataset.groups, "sample", repeats=1, seed=0)[0]
    teacher = store.make_job("cnn", dataset, split, TINY, model_kwargs=SMALL, directory=tmp_path)
    store.train_all([teacher], "serial")
    students = [store.make_job("cnn", dataset, split, TINY, model_kwargs=SMALL, directory=tmp_path, teacher=teacher,
                               distillation=cfg) for cfg in ((4.0, 0.9), (2.0, 0.5))]
    assert len({s.path for s in students} | {teacher.path}) == 3  # one file each, never the teacher's
    trained = store.train_all(students, "serial")
    assert all(s.is_stored() for s in students)
    assert trained[0].checkpoint_info_["key"]["teacher"] == json.loads(json.dumps(teacher.key, default=str))
    with pytest.raises(ValueError, match="distillation"):
        store.make_job("cnn", dataset, split, TINY, directory=tmp_path, teacher=teacher)


def test_a_corrupt_checkpoint_side_car_is_retrained_not_trusted(dataset, tmp_path):
    job = _jobs(dataset, tmp_path)[0]
    store.train_all([job], "serial")
    job.json_path.write_text("{not json")
    assert not job.is_stored()
    clf = store.train_all([job], "serial")[0]
    assert job.is_stored() and isinstance(clf.model_, torch.nn.Module)
    assert np.isfinite(clf.predict_proba(dataset.X[:2])).all()


def test_the_profile_makes_the_training_run_and_the_key_lists_what_it_always_listed(dataset, tmp_path):
    """One place makes a profile a TrainConfig; the key of a network trained with the same settings is the one it
    had when the settings were TorchClassifier's own parameters (a newly reachable knob enters only when changed)."""
    full = PROFILES["full"]
    assert store.train_config(full, "drsn_paper").max_epochs == full.epochs_for("drsn_paper") != full.max_epochs
    config = store.train_config(TINY, "cnn", seed=4, device="cpu")
    assert (config.max_epochs, config.patience, config.batch_size, config.seed) == (
        TINY.max_epochs, TINY.patience, TINY.batch_size, 4)
    split = repeated_splits(dataset.y, dataset.groups, "sample", repeats=1, seed=0)[0]
    job = store.make_job("cnn", dataset, split, TINY, model_kwargs=SMALL, directory=tmp_path)
    assert set(job.key["estimator"]) == {"model", "model_kwargs", "validation_fraction", "max_epochs", "batch_size",
                                         "lr", "weight_decay", "schedule", "label_smoothing", "patience", "augment",
                                         "seed"}
    assert job.estimator.train_config == store.train_config(TINY, "cnn", seed=split.seed)
    clipped = store.estimator_key(job.estimator.set_params(train_config__grad_clip=1.0))
    assert clipped == {**job.key["estimator"], "grad_clip": 1.0}
    assert "device" not in store.estimator_key(job.estimator.set_params(train_config__device="cpu"))


# ------------------------------------------------------------------------------------------- provenance
def _package_copy(tmp_path):
    root = Path(store.__file__).resolve().parents[1]
    for rel in store.FINGERPRINTED_CODE:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / rel, tmp_path / rel)
    return tmp_path


def test_a_change_to_the_training_code_changes_the_checkpoint_key(dataset, tmp_path):
    split = repeated_splits(dataset.y, dataset.groups, "sample", repeats=1, seed=0)[0]
    assert store.make_job("cnn", dataset, split, TINY, directory=tmp_path).key["code"] == store.code_fingerprint()
    copy = _package_copy(tmp_path / "pkg")
    assert store.code_fingerprint(copy) == store.code_fingerprint()
    loop = copy / "training/loop.py"
    source = loop.read_text()
    loop.write_text(source.replace('"""Training networks', '"""Reworded: training networks', 1) + "\n# a comment\n")
    assert store.code_fingerprint(copy) == store.code_fingerprint()  # docstrings, comments, layout: same code
    assert "pct_start=0.25" in source
    loop.write_text(source.replace("pct_start=0.25", "pct_start=0.3"))
    assert store.code_fingerprint(copy) != store.code_fingerprint()  # what the weights depend on changed
    assert set(store.FINGERPRINTED_CODE) >= {"training/loop.py", "compression/distillation.py", "models/cnn.py"}


def test_results_name_the_commit_that_trained_every_network_they_load(dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "git_commit", lambda: "0123abcd+dirty")
    monkeypatch.setattr(results, "_LOADED_NETWORKS", {})
    job = _jobs(dataset, tmp_path)[0]
    trained = store.train_all([job], "serial")[0]
    assert trained.checkpoint_info_["trained_by"] == {"commit": "0123abcd+dirty"}
    name = "/".join(job.path.parts[-3:])
    assert results.loaded_networks() == {name: "0123abcd+dirty"}
    path = results.save_result("provenance-check", {"rows": []}, directory=tmp_path / "results")
    prov = json.loads(path.read_text())["provenance"]
    assert prov["networks"] == {name: "0123abcd+dirty"} and prov["network_commits"] == ["0123abcd+dirty"]
    assert store.trained_commit({}) == "unknown"  # a side-car from before commits were recorded


def test_git_commit_is_a_sha_with_dirty_marker_or_unknown(tmp_path, monkeypatch):
    commit = results.git_commit()
    assert commit == "unknown" or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit)
    monkeypatch.setattr(results, "PROJECT_ROOT", tmp_path)  # not a git checkout
    assert results.git_commit() == "unknown"


def test_the_selection_half_never_reaches_training_or_early_stopping(dataset, tmp_path, monkeypatch):
    """The model store trains on split.train and stops early on split.val only; the validation accuracy the book
    compares models by is measured on split.select, which no fit saw."""
    monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(tmp_path / "store"))
    split = repeated_splits(dataset.y, dataset.groups, "sample", repeats=1, seed=0)[0]
    assert len(split.select) and not set(dataset.groups[split.select]) & set(
        dataset.groups[np.concatenate([split.train, split.val, split.test])])
    job = store.make_job("cnn", dataset, split, TINY, model_kwargs=SMALL, directory=tmp_path)
    assert job.key["val_fingerprint"] == fingerprint(*store.train_part(dataset, split)[2:])  # keyed: it picks the epoch
    rows = {np.asarray(x).tobytes() for x in np.concatenate([job.X_train, job.X_val])}
    assert not rows & {np.asarray(x, dtype=np.float32).tobytes() for x in dataset.X[split.select]}
    res = evaluate("cnn", dataset, profile=TINY, model_kwargs=SMALL, repeats=1, progress=False, measure_speed=False,
                   executor="serial", device="cpu")
    net = store.train_all([job], "serial")[0]
    expected = float(np.mean(net.predict(dataset.X[split.select]) == dataset.y[split.select]))
    assert res.per_repeat[0]["val_accuracy"] == expected and res.per_repeat[0]["n_select"] == len(split.select)
