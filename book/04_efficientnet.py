# %% [markdown]
# # 4. 1D-EfficientNet
#
# > EfficientNet-B0's MBConv layout in 1D
#
# <!-- nav:start -->
#
# [← 3. A plain 1D CNN](03_cnn.ipynb) | [Contents](../README.md#the-book) | [Next: 5. 1D-DRSN →](05_drsn.ipynb)
#
# <!-- nav:end -->
#
# EfficientNet (Tan & Le, 2019) is the paper's "lightweight model". Its building block, **MBConv** (from MobileNetV2),
# makes convolutions cheap:
#
# 1. a 1×1 convolution *expands* the channels (×6),
# 2. a *depthwise* convolution (one filter per channel, kernel 3 or 5, sometimes with stride 2) looks along the
#    wavenumber axis,
# 3. **squeeze-and-excitation** pools each channel to one number, passes the vector through a tiny bottleneck and
#    rescales the channels by sigmoid gates — the network learns which feature maps matter for *this* spectrum,
# 4. a 1×1 convolution *projects* back to few channels (no activation: a linear bottleneck),
# 5. a skip connection adds the input when the shapes match, with **stochastic depth** (the whole block is dropped
#    for a random subset of the batch during training).
#
# B0's seven stages are listed below as the configuration the package builds from (one small dataclass per stage,
# as in torchvision). `width_mult` and `depth_mult` scale channels and repeats, EfficientNet's compound scaling.

# %% [markdown]
# **Learning goals.** After this chapter you can
#
# * write an MBConv block (expansion, depthwise convolution, SE, projection, stochastic depth) in a dozen lines, and
#   check it against the package's block
# * scale a network's width and depth, and say why a model with few FLOPs can still be slow on a CPU
# * compare full B0 with the scaled-down variant the book trains
#
# **Prerequisites:** chapter 3 (the training recipe is the same). Background: residual connections.
#
# **Reading** (full entries in [references](references.md)): [Tan2019] (EfficientNet), [Sandler2018] (inverted
# residuals), [Hu2018] (squeeze-and-excitation).


# %% tags=["parameters"]
profile = None  # None: the book runner's choice, else "quick"; "full" makes the book's results
seed = None  # None: the book runner's seed, else 0
data_dir = None  # None: the project's data cache (data/raw or $RAMANCMP_DATA_DIR)

# %%
from dataclasses import asdict

import pandas as pd

from ramancmp import book as rc

ch = rc.Chapter("04_efficientnet", profile=profile, seed=seed, data_dir=data_dir)
ds = rc.load_task("rruff-groups-10")
L = ds.X.shape[1]
print(ch, "|", ds.task, len(ds.y), "spectra")

# %%
pd.DataFrame([asdict(c) for c in rc.B0_SETTING], index=[f"stage {i + 1}" for i in range(len(rc.B0_SETTING))])

# %% [markdown]
# ## EfficientNet-B0 in 1D, and the variant this book trains
#
# Full B0 is large for this task. On spectra of this length its depthwise convolutions are cheap in FLOPs but slow on
# a CPU (depthwise kernels use the processor poorly: compare "% of GEMM peak" in chapter 10), and a few hundred
# training spectra cannot use its capacity. The book therefore trains a scaled-down member of the same family, fixed
# on validation data (never on a test part; chapter 0 says how far that choice is independent of the reported
# splits); both are shown side by side here, with their sizes computed below.

# %%
MODEL, MODEL_KWARGS = ("efficientnet_small", {})
b0 = rc.create_model("efficientnet_b0", num_classes=len(ds.class_names), in_length=L)
book_net = rc.create_model(MODEL, num_classes=len(ds.class_names), in_length=L, **MODEL_KWARGS)
nets = {"efficientnet_b0 (full B0)": b0.eval(), f"{MODEL}{' ' + str(MODEL_KWARGS) if MODEL_KWARGS else ''} (trained here)": book_net.eval()}
speed = rc.compare_speed(nets, length=L, batches=(1,), inputs=ds.X, **ch.profile.timing)  # the book's timing protocol
sizes = pd.DataFrame([
    {"model": name, "params": rc.count_params(m)["total"], "MFLOPs": round(rc.count_flops(m, (1, 1, L))["flops"] / 1e6, 3),
     "latency b1 (ms) [95 %]": "{0.median_ms:.3f} [{0.lo_ms:.3f}, {0.hi_ms:.3f}]".format(speed.cell(name))}
    for name, m in nets.items()])
sizes

# %% tags=["remove-input"]
ch.timing_label

# %%
small, full = list(nets)[1], list(nets)[0]

# %% tags=["remove-input"]
rc.md(f"Full B0 has {sizes['params'].iloc[0]:,} parameters, the variant trained here {sizes['params'].iloc[1]:,}; "
      f"timed together at batch 1, the variant is {rc.describe_speedup(speed.speedup(small, full))} than B0.")

# %% [markdown]
# ## One MBConv block, written out
#
# ![An MBConv block: 1×1 expansion, depthwise convolution, squeeze-and-excitation, 1×1 projection, and a shortcut
# with stochastic depth](figures/mbconv.svg)
#
# Every entry of the stage table above is a stack of **MBConv** blocks (mobile inverted bottleneck): a 1×1
# convolution widens the channels `expand` times, a depthwise convolution (one kernel per channel, `groups=wide`)
# looks along the wavenumber axis, a squeeze-and-excitation gate weighs each channel by a number in (0, 1) computed
# from the whole spectrum, and a 1×1 convolution narrows back. When input and output have the same shape the block
# is residual, and during training **stochastic depth** skips the whole block for some spectra of a batch.

# %% tags=["from-scratch"]
import torch
from torch import nn


class MBConvBlock(nn.Module):
    def __init__(self, c_in, c_out, kernel, stride, expand=6, drop=0.0):
        super().__init__()
        wide = int(c_in * expand)
        self.expand = (nn.Sequential(nn.Conv1d(c_in, wide, 1, bias=False), nn.BatchNorm1d(wide), nn.SiLU())
                       if wide != c_in else nn.Identity())
        self.depthwise = nn.Sequential(nn.Conv1d(wide, wide, kernel, stride, kernel // 2, groups=wide, bias=False),
                                       nn.BatchNorm1d(wide), nn.SiLU())
        self.se = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Conv1d(wide, max(1, c_in // 4), 1), nn.SiLU(),
                                nn.Conv1d(max(1, c_in // 4), wide, 1), nn.Sigmoid())
        self.project = nn.Sequential(nn.Conv1d(wide, c_out, 1, bias=False), nn.BatchNorm1d(c_out))
        self.residual, self.drop = stride == 1 and c_in == c_out, drop

    def forward(self, x):
        h = self.depthwise(self.expand(x))
        h = self.project(h * self.se(h))  # the SE gate: one weight in (0, 1) per channel and spectrum
        if not self.residual:
            return h
        if self.training and self.drop > 0:  # stochastic depth: drop the block for some spectra, rescale the rest
            h = h * (torch.rand(len(x), 1, 1) >= self.drop) / (1 - self.drop)
        return h + x


# %% [markdown]
# The package's block, `rc.MBConv`, built from the same stage entry, is the same block: same tensors in the same
# order, and with its weights copied into ours the same output (in evaluation mode, where stochastic depth is off).

# %%
stage = rc.B0_SETTING[2]  # expand 6, kernel 5, stride 2, 24 -> 40 channels
ours = MBConvBlock(stage.input_channels, stage.out_channels, stage.kernel, stage.stride, stage.expand_ratio)
theirs = rc.MBConv(stage, stochastic_depth_prob=0.0)
ours.load_state_dict(dict(zip(ours.state_dict(), theirs.state_dict().values())))
x = torch.randn(4, stage.input_channels, 128, generator=torch.Generator().manual_seed(ch.seed))
with torch.no_grad():
    print(f"{sum(p.numel() for p in ours.parameters()):,} parameters; same output as rc.MBConv:",
          torch.allclose(ours.eval()(x), theirs.eval()(x), atol=1e-5))

# %%
rc.layer_table(book_net, (1, 1, L), depth=2)

# %% [markdown]
# ## Training
#
# The same recipe as the CNN (AdamW, one-cycle schedule, augmentation, early stopping on the by-sample validation
# part), on the same repeated splits.

# %%
trained = rc.train_networks([(MODEL, MODEL_KWARGS)], ds, profile=ch.profile, seed=ch.seed,
                           split_kinds=("sample", "random"))
print(f"{trained} networks trained now, in parallel (the rest were in the model store)")

# %%
# Every setting in effect: `efficientnet_small` is the book's EfficientNet by its one name, its builder lists every
# architecture argument explicitly; here they are with the training settings of this profile.
rc.show_settings("efficientnet_small", profile=ch.profile)

# %%
by_sample = rc.evaluate(MODEL, ds, split_kind="sample", seed=ch.seed, profile=ch.profile, model_kwargs=MODEL_KWARGS)
print(by_sample)
rc.plots.curves_figure([{**h, "label": f"split {i}"} for i, h in enumerate(by_sample.histories)],
                    title="1D-EfficientNet: loss and accuracy per epoch")

# %%
random_split = rc.evaluate(MODEL, ds, split_kind="random", seed=ch.seed, profile=ch.profile, model_kwargs=MODEL_KWARGS,
                           measure_speed=False)
row = rc.Row.from_evaluation(by_sample)
row.accuracy_random = rc.Row.from_evaluation(random_split).accuracy
rc.tables.show([row])

# %%
rc.plots.confusion_figure(by_sample.confusion_matrix, ds.class_names,
                       title="1D-EfficientNet: confusion matrix (by-sample splits)")

# %% tags=["remove-input"]
rc.md(f"""
Accuracy on unseen samples {rc.tables.accuracy_text(row)} (95 % interval); by kind of test spectrum:

{rc.tables.species_text([row])}
""")

# %% [markdown]
# ## Compared with the chapters before

# %%
ch.save({"rows": [row], "complexity": by_sample.complexity, "model_kwargs": MODEL_KWARGS,
         "per_split": by_sample.per_repeat},
        task=ds.task, split="sample", data_sha256=ds.source_sha256)
by_sample.save_checkpoint()  # the distillation teacher's architecture; `python -m ramancmp predict --model ...`
compared = rc.load_rows(["02_baselines", "03_cnn", "04_efficientnet"], directory=ch.results_dir)
rc.tables.show(compared)

# %% tags=["remove-input"]
rc.md("Paired on the same splits (EfficientNet minus each earlier model, 95 % interval):\n\n" + "\n".join(
    f"* vs {other.model}: {rc.tables.difference_text(row, other)}" for other in compared if other.model != row.model))

# %% [markdown]
# ## Summary
#
# * MBConv blocks (expansion, depthwise convolution, squeeze-and-excitation, linear projection, stochastic depth)
#   are built from one list of stage configurations; width and depth multipliers scale the family.
# * Full B0 is oversized for a few hundred spectra and slow on a CPU despite its modest FLOPs; the scaled variant
#   trained here is what the rest of the book uses as "1D-EfficientNet", and this chapter shows both.
# * Its accuracy on unseen samples, with its interval, its known- and new-species parts and the paired differences to
#   the baselines and the CNN, is computed above.

# %%
lib = next((r for r in compared if r.model == "knn_cosine"), None)

# %% tags=["remove-input"]
rc.md(f"""
**Verdict.**

* {rc.findings.verdict_sentence(row, lib) if lib is not None else "The library search was not measured in this run."}

Next: [chapter 5](05_drsn.ipynb) builds the 1D-DRSN and judges the paper's first claim.
""")

# %% [markdown]
# ## Exercises
#
# Marked by kind: ★ explain why, ★★ change something and measure, ★★★ a project (listed under *Projects*,
# longer runs). Worked solutions, computed in the profile they run in: `book/solutions/`.
#
# 1. ★★ Train full B0 for two epochs (`rc.TorchClassifier(model="efficientnet_b0", train_config=rc.TrainConfig(max_epochs=2))` fitted on
#    `rc.train_part(ds, split)` of a split from `rc.make_split`) and compare its epoch time (`history_.epoch_time`)
#    with the variant's. Where does the time go? (`layer_table` gives FLOPs per stage; time a stage against the whole
#    network with `rc.compare_speed`.)
# 2. ★★ Switch stochastic depth off (`rc.evaluate(MODEL, ds, profile=ch.profile,
#    model_kwargs={"stochastic_depth_prob": 0.0})`) and measure the effect over repeated splits. Is the difference
#    larger than the sd?
# 3. ★ Why is a depthwise convolution cheaper in FLOPs than an ordinary one, but not proportionally faster on a CPU?
#
# <!-- nav:start -->
#
# [← 3. A plain 1D CNN](03_cnn.ipynb) | [Contents](../README.md#the-book) | [Next: 5. 1D-DRSN →](05_drsn.ipynb)
#
# <!-- nav:end -->
