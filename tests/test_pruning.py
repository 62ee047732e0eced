"""Structured channel pruning: physically fewer channels, params and FLOPs; shapes right; still trains."""

from __future__ import annotations

import pytest
import torch
from _compression_data import CLASSES, LENGTH, network, synthetic_spectra

from ramancmp.compression.pruning import classifier_head, conv_channels, prune_channels
from ramancmp.metrics import count_flops, count_params

SHAPE = (1, 1, LENGTH)


@pytest.mark.parametrize("name", ["cnn", "drsn_cw", "drsn_cs", "efficientnet_lite"])
def test_pruning_removes_channels(name):
    model = network(name)
    before = conv_channels(model)
    pruned = prune_channels(model, SHAPE, 0.5)
    assert conv_channels(model) == before  # the original is untouched
    after = conv_channels(pruned)
    assert len(after) == len(before) and sum(after) < sum(before)
    assert all(a <= b for a, b in zip(after, before))
    assert count_params(pruned)["total"] < count_params(model)["total"]
    assert count_flops(pruned, SHAPE)["flops"] < count_flops(model, SHAPE)["flops"]
    head = classifier_head(pruned)
    assert head.out_features == CLASSES and pruned.num_features == head.in_features
    X = torch.from_numpy(synthetic_spectra(n_per_class=3)[0])
    with torch.no_grad():
        assert pruned(X).shape == (len(X), CLASSES)
        assert pruned(X.unsqueeze(1)).shape == (len(X), CLASSES)
    assert pruned.pruning_["ratio"] == 0.5 and not hasattr(pruned, "default_cfg")


def test_more_pruning_means_fewer_flops():
    model = network("cnn")
    flops = [count_flops(prune_channels(model, SHAPE, r), SHAPE)["flops"] for r in (0.25, 0.5, 0.75)]
    assert flops[0] > flops[1] > flops[2]


def test_ratio_zero_is_identity():
    model = network("drsn_cw")
    pruned = prune_channels(model, SHAPE, 0.0)
    assert conv_channels(pruned) == conv_channels(model)
    X = torch.from_numpy(synthetic_spectra(n_per_class=3)[0])
    with torch.no_grad():
        assert torch.equal(pruned(X), model(X))


def test_pruned_model_still_trains():
    from ramancmp.training import TrainConfig, train_model

    X, y = synthetic_spectra(n_per_class=8)
    pruned = prune_channels(network("cnn"), SHAPE, 0.5)
    weights = [p.detach().clone() for p in pruned.parameters()]
    history = train_model(pruned, X, y, config=TrainConfig(max_epochs=1, batch_size=16, device="cpu"),
                          progress=False)
    assert history.epochs == 1 and torch.isfinite(torch.tensor(history.train_loss)).all()
    assert any(not torch.equal(w, p) for w, p in zip(weights, pruned.parameters()))


def test_invalid_arguments():
    model = network("cnn")
    with pytest.raises(ValueError, match="ratio"):
        prune_channels(model, SHAPE, 1.0)
    with pytest.raises(ValueError, match="modules of the model"):
        prune_channels(model, SHAPE, 0.5, ignored=[torch.nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="torch network"):
        prune_channels(object(), SHAPE, 0.5)
