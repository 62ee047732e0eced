"""rc.show_source and rc.show_settings: the chapters' window on the package's own code and training settings."""

import pytest

from ramancmp import book as rc
from ramancmp.config import PROFILES
from ramancmp.models.drsn import SoftThreshold


def test_show_source_renders_the_package_code_with_its_location():
    src = rc.show_source(SoftThreshold, "ramancmp.compression.distillation.distillation_loss")
    md = src._repr_markdown_()
    assert "```python\nclass SoftThreshold(nn.Module):" in md
    assert "`ramancmp/models/drsn.py`, lines" in md
    assert "torch.sign(x) * F.relu(x.abs() - tau)" in src.text  # the code that runs, not a copy
    assert "def distillation_loss(" in str(src) and "`ramancmp/compression/distillation.py`" in md
    method = rc.show_source(SoftThreshold.forward).text
    assert method.startswith("def forward(") and "\n    return" in method  # a method is dedented as a whole


def test_show_source_rejects_unknown_names_and_nothing():
    with pytest.raises(ValueError, match="cannot find 'ramancmp.no_such_thing'"):
        rc.show_source("ramancmp.no_such_thing")
    with pytest.raises(ValueError, match="at least one"):
        rc.show_source()
    with pytest.raises(ValueError, match="no source"):
        rc.show_source(len)


def test_show_settings_lists_what_the_store_trains_with():
    quick = PROFILES["quick"]
    table = rc.show_settings("efficientnet_small", profile=quick)
    col = table.columns[0]
    assert table.loc[("training", "max_epochs"), col] == str(quick.max_epochs)
    assert table.loc[("training", "patience"), col] == str(quick.patience)
    assert table.loc[("training", "batch_size"), col] == str(quick.batch_size)
    assert table.loc[("training", "optimizer"), col] == "AdamW"
    for setting in ("lr", "weight_decay", "schedule"):
        assert table.loc[("training", setting), col] not in ("", "-")
    assert table.loc[("augmentation", "augment"), col] == "True"
    # efficientnet_small's builder defaults are shown although the book names it without keyword arguments
    assert table.loc[("architecture", "width_mult"), col] == "0.5"
    assert table.loc[("architecture", "stem_stride"), col] == "8"
    assert table.loc[("training", "lr"), "meaning"]


def test_show_settings_side_by_side_distillation_folding_and_classical():
    full, quick = PROFILES["full"], PROFILES["quick"]
    table = rc.show_settings("cnn", ("drsn_folded", {"k": 4}), profile=full, distillation=(4.0, 0.5),
                             labels=["student", "folded"])
    assert list(table.columns) == ["student", "folded", "meaning"]
    assert table.loc[("training", "max_epochs"), "folded"] == str(full.max_epochs)
    assert table.loc[("distillation", "alpha"), "student"] == "0.5"
    assert table.loc[("architecture", "fold_k"), "folded"] == "4"
    assert table.loc[("architecture", "fold_k"), "student"] == ""  # not a folded network
    mixed = rc.show_settings("efficientnet_small", ("cnn", None, {"temperature": 2.0, "alpha": 0.9}),
                             labels=["teacher", "student"], profile=quick)
    assert mixed.loc[("distillation", "temperature"), "student"] == "2.0"
    assert mixed.loc[("distillation", "temperature"), "teacher"] == ""  # the teacher is not distilled
    lda = rc.show_settings(("lda", {"shrinkage": "auto"}), profile=quick)
    assert lda.loc[("model", "shrinkage"), lda.columns[0]] == "auto"
    with pytest.raises(ValueError, match="2 labels for 1 models"):
        rc.show_settings("cnn", labels=["a", "b"], profile=quick)
    with pytest.raises(ValueError, match="unknown model|not registered|Unknown"):
        rc.show_settings("no_such_model", profile=quick)
