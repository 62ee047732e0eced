"""The models chapters 2-5 write out in a cell ("from scratch", tagged ``from-scratch``) are the package's models.

Each chapter builds its model in a few visible lines, then hands the registered model of the same name to the
harness. These tests run the chapter's own cell (read from the chapter's text form, so the test follows the chapter)
and hold it to the package: the same predictions for the classical models, the same tensors (shapes, in order) and,
with the package's weights copied in by position, the same outputs for the networks and blocks.
"""
from dataclasses import replace
from pathlib import Path

import jupytext
import numpy as np
import pytest
import torch

from ramancmp.models import RSBU, create_model
from ramancmp.models.efficientnet import B0_SETTING, MBConv

BOOK = Path(__file__).resolve().parents[1] / "book"


def _scratch_cell(chapter: str, **names) -> dict:
    """Run the chapter's ``from-scratch`` cell in a namespace holding ``names``; return the namespace."""
    cells = [c for c in jupytext.read(BOOK / f"{chapter}.py").cells if "from-scratch" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{chapter} must have exactly one cell tagged from-scratch, has {len(cells)}"
    namespace = dict(names)
    exec(compile(cells[0].source, f"{chapter}:from-scratch", "exec"), namespace)  # noqa: S102 - the book's own code
    return namespace


def _same_tensors(ours: torch.nn.Module, theirs: torch.nn.Module) -> None:
    assert [tuple(t.shape) for t in ours.state_dict().values()] == [
        tuple(t.shape) for t in theirs.state_dict().values()]
    ours.load_state_dict(dict(zip(ours.state_dict(), theirs.state_dict().values())))


def test_chapter_2_writes_out_lda_pca_lda_and_the_library_search():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(10, 200))
    y = np.repeat(np.arange(10), 14)
    X = np.abs(means[y] + 0.8 * rng.normal(size=(len(y), 200)))
    train = rng.permutation(len(y))
    train, test = train[:100], train[100:]
    ns = _scratch_cell("02_baselines", X_train=X[train], y_train=y[train])
    scratch = {"lda": ns["lda"].predict(X[test]), "pca_lda": ns["pca_lda"].predict(X[test]),
               "knn_cosine": ns["library_search"](X[train], y[train], X[test])}
    for name, predicted in scratch.items():
        registered = create_model(name, num_classes=10, in_length=200).fit(X[train], y[train])
        np.testing.assert_array_equal(predicted, registered.predict(X[test]), err_msg=name)


def test_chapter_3_cnn_is_the_registered_cnn():
    ns = _scratch_cell("03_cnn", n_classes=10, L=1024)
    ours, theirs = ns["cnn_scratch"], create_model("cnn", num_classes=10, in_length=1024)
    _same_tensors(ours, theirs)
    x = torch.randn(3, 1, 1024, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), theirs.eval()(x))


@pytest.mark.parametrize("stage", [*B0_SETTING, replace(B0_SETTING[2], input_channels=40, stride=1)],
                         ids=lambda s: f"e{s.expand_ratio}k{s.kernel}s{s.stride}_{s.input_channels}-{s.out_channels}")
def test_chapter_4_mbconv_block_is_the_package_block(stage):
    block = _scratch_cell("04_efficientnet")["MBConvBlock"]
    ours = block(stage.input_channels, stage.out_channels, stage.kernel, stage.stride, stage.expand_ratio)
    theirs = MBConv(stage, stochastic_depth_prob=0.0)
    _same_tensors(ours, theirs)
    x = torch.randn(2, stage.input_channels, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), theirs.eval()(x))


@pytest.mark.parametrize("c_in, c_out, kernel, stride", [(32, 64, 5, 2), (64, 64, 3, 1), (16, 16, 5, 2)])
def test_chapter_5_rsbu_is_the_package_unit(c_in, c_out, kernel, stride):
    ours = _scratch_cell("05_drsn")["RSBUBlock"](c_in, c_out, kernel, stride)
    theirs = RSBU(c_in, c_out, kernel, stride)
    _same_tensors(ours, theirs)
    torch.manual_seed(0)
    for p in theirs.parameters():  # non-trivial weights, so a wrong threshold or shortcut shows
        p.data.normal_(0, 0.3)
    ours.load_state_dict(dict(zip(ours.state_dict(), theirs.state_dict().values())))
    x = torch.randn(3, c_in, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), theirs.eval()(x))
