"""Channel conversion: where folded values land, round trips, errors, folded models and CW -> CS thresholds."""

from __future__ import annotations

import pytest
import torch

from ramancmp.compression import BOOK_VARIANT, conversion_variants
from ramancmp.config import PROFILES
from ramancmp.models import (
    DRSN,
    DRSNConfig,
    FoldedDRSN,
    FoldSpectrum,
    channel_converted_drsn,
    create_model,
    fold_spectrum,
)
from ramancmp.models import unfold_spectrum as unfold
from ramancmp.training import load_checkpoint, save_checkpoint


def fold(x, k, mode="interleaved"):
    return fold_spectrum(x, k, mode)


def test_interleaved_fold_puts_neighbouring_points_in_neighbouring_channels():
    x = torch.arange(12.0).reshape(1, 12)
    z = fold(x, 3)  # out[n, c, j] = x[n, j*k + c]
    assert z.shape == (1, 3, 4)
    assert z[0].tolist() == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]


def test_contiguous_fold_stacks_windows_and_matches_fold_spectrum():
    x = torch.arange(12.0).reshape(1, 1, 12)
    z = fold(x, 3, "contiguous")
    assert z[0].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert torch.equal(z, fold_spectrum(x, 3))


@pytest.mark.parametrize("mode", ["interleaved", "contiguous"])
@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_unfold_inverts_fold(mode, k):
    x = torch.randn(3, 64)
    assert torch.equal(unfold(fold(x, k, mode), mode), x)
    assert torch.equal(fold(x.unsqueeze(1), k, mode), fold(x, k, mode))


def test_bad_folds_raise_clear_errors():
    with pytest.raises(ValueError, match="not divisible by k=3"):
        fold(torch.zeros(1, 1000), 3)
    with pytest.raises(ValueError, match="fold mode"):
        FoldSpectrum(2, "diagonal")
    with pytest.raises(ValueError, match="single-channel"):
        fold(torch.zeros(1, 2, 8), 2)
    with pytest.raises(ValueError, match="not divisible"):
        create_model("drsn_folded", 5, 1000, k=3)
    with pytest.raises(ValueError, match="pass k="):
        create_model("drsn_folded", 5, 1024, in_channels=4)


@pytest.mark.parametrize("k,mode", [(4, "interleaved"), (8, "contiguous")])
def test_folded_drsn_shapes(k, mode):
    m = create_model("drsn_folded", 7, 256, k=k, fold_mode=mode).eval()
    assert isinstance(m, FoldedDRSN) and m.stem.in_channels == k
    assert (m.in_channels, m.in_length) == (1, 256)
    x = torch.randn(2, 256)
    with torch.no_grad():
        out = m(x)
        assert out.shape == (2, 7)
        assert torch.allclose(m(x.unsqueeze(1)), out)
        assert torch.allclose(m(fold(x, k, mode)), out)  # pre-folded input is accepted as is
        assert m.forward_features(x).shape == (2, m.num_features)
        assert m.stage_features(x, 1).shape == (2, m.config.widths[0])
    with pytest.raises(ValueError, match="256 points"):
        m(torch.randn(2, 128))


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_folding_is_a_layer_of_the_model():
    m = create_model("drsn_folded", 3, 64, k=4)
    assert any(isinstance(mod, FoldSpectrum) for mod in m.modules())
    traced = torch.jit.trace(m.eval(), torch.randn(1, 1, 64))
    x = torch.randn(2, 1, 64)
    assert torch.allclose(traced(x), m(x), atol=1e-6)


def test_width_multiplier_and_k1_give_a_plain_drsn():
    m = channel_converted_drsn(4, 128, k=1, width_mult=0.5)
    assert type(m) is DRSN and m.config.widths == tuple(w // 2 for w in DRSNConfig().widths)


def test_cw_and_cs_threshold_shapes():
    x = torch.randn(3, 1, 128)
    width = DRSNConfig().widths[0]
    for shrinkage, shape in (("cw", (3, width, 1)), ("cs", (3, 1, 1))):
        m = create_model("drsn_folded", 4, 128, k=2, shrinkage=shrinkage).eval()
        unit = m.stages[0][0]
        h = unit.residual(m.stem(m._as_input(x)))
        assert unit.shrinkage.thresholds(h).shape == shape
        assert unit.shrinkage.fc[-2].out_features == (width if shrinkage == "cw" else 1)


def test_checkpoint_round_trip(tmp_path):
    m = create_model("drsn_folded", 4, 128, k=4, shrinkage="cs", width_mult=0.5).eval()
    save_checkpoint(tmp_path / "m", m)
    loaded, _ = load_checkpoint(tmp_path / "m")
    x = torch.randn(2, 128)
    assert isinstance(loaded, FoldedDRSN)
    assert torch.equal(loaded(x), m(x))


def test_variants_build_and_include_the_book_variant():
    for profile in ("quick", "full"):
        variants = conversion_variants(PROFILES[profile].conversion_variants)
        assert BOOK_VARIANT in variants
        for v in variants:
            assert create_model(v.model, 10, 1024, **v.kwargs).eval()(torch.randn(1, 1024)).shape == (1, 10)
    assert (len(conversion_variants(PROFILES["full"].conversion_variants))
            > len(conversion_variants(PROFILES["quick"].conversion_variants)))
