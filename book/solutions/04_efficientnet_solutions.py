# %% [markdown]
# # Solutions to chapter 4: 1D-EfficientNet
#
# Worked solutions to the exercises of [chapter 4](../04_efficientnet.ipynb). Every number in an answer is computed
# by the code above it, in the profile set below; networks the chapter trained are loaded from the model store.

# %% tags=["parameters"]
profile = "quick"
seed = 0
data_dir = None

# %%
import numpy as np
import pandas as pd

from ramancmp import book as rc

prof = rc.RunContext.from_env(profile, seed).profile
ds = rc.load_task("rruff-groups-10")
L = ds.X.shape[1]
MODEL, MODEL_KWARGS = ("efficientnet_small", {})

# %% [markdown]
# ## Exercise 1 -- full B0's epoch time against the variant's
#
# Epoch time is proportional to the number of training spectra, so one epoch on a subset of the first split's
# training part is enough to compare the two (the ratio is what matters).

# %%
split = rc.make_split(ds.y, ds.groups, kind="sample", seed=seed)
X_tr, y_tr, X_val, y_val = rc.train_part(ds, split)
subset = np.random.default_rng(seed).choice(len(y_tr), size=min(128, len(y_tr)), replace=False)
epoch = {}
for name in ("efficientnet_b0", MODEL):
    with rc.num_threads(1):
        one_epoch = rc.TrainConfig(max_epochs=1, batch_size=prof.batch_size, device="cpu", seed=seed)
        clf = rc.TorchClassifier(model=name, train_config=one_epoch, validation_fraction=0).fit(X_tr[subset],
                                                                                                y_tr[subset])
    epoch[name] = clf.history_.epoch_time[0]
print(f"one epoch on {len(subset)} spectra: full B0 {epoch['efficientnet_b0']:.2f} s, {MODEL} {epoch[MODEL]:.2f} s "
      f"({epoch['efficientnet_b0'] / epoch[MODEL]:.1f}x)")

# %% [markdown]
# Where the time goes: B0's stride-2 stem leaves half the spectrum's points as positions for the first stages
# (the book's variant: an eighth), so its early depthwise convolutions run on long sequences; the FLOPs per stage (first level of `layer_table`) show it, and the latency of
# the first stages alone confirms it.

# %%
b0 = rc.create_model("efficientnet_b0", num_classes=len(ds.class_names), in_length=L)
rc.layer_table(b0, (1, 1, L), depth=2).head(12)

# %%
stem_and_first = b0.features[:3].eval()  # stem conv + the first two MBConv stages
speed = rc.compare_speed({"stem + first two stages": stem_and_first, "whole B0": b0.eval()}, length=L, batches=(1,),
                         inputs=ds.X, **prof.timing)  # the book's timing protocol: interleaved rounds
share = speed.ratio("stem + first two stages", "whole B0")  # time(first) / time(all), with its 95 % interval
t_first, t_all = speed.cell("stem + first two stages").median_ms, speed.cell("whole B0").median_ms
print(f"positions after the stem: B0 {L // b0.config['stem_stride']}, the variant "
      f"{L // rc.create_model(MODEL, len(ds.class_names), L, **MODEL_KWARGS).config['stem_stride']}")
print(f"stem + first two stages: {t_first:.2f} ms of {t_all:.2f} ms for the whole network at batch 1 "
      f"({100 * share.ratio:.0f} %, 95 % interval {100 * share.lo:.0f}-{100 * share.hi:.0f} %)")

# %% [markdown]
# ## Exercise 2 -- stochastic depth off
#
# Stochastic depth regularises (each block is skipped for a random part of a batch). Whether switching it off
# matters is a question of the sd: a difference smaller than the spread over splits is not an effect.

# %%
def accuracy(**kwargs):
    r = rc.evaluate(MODEL, ds, seed=seed, profile=prof, measure_speed=False, progress=False, **kwargs)
    return 100 * r.metrics["accuracy"].mean, 100 * r.metrics["accuracy"].sd


on, off = accuracy(model_kwargs=MODEL_KWARGS or None), accuracy(model_kwargs={"stochastic_depth_prob": 0.0})
diff = off[0] - on[0]
print(f"with stochastic depth {on[0]:.2f} ± {on[1]:.2f} %, without {off[0]:.2f} ± {off[1]:.2f} %: difference "
      f"{diff:+.2f} points, {'larger' if abs(diff) > max(on[1], off[1]) else 'not larger'} than the larger sd")

# %% [markdown]
# ## Exercise 3 -- why depthwise convolutions are cheap in FLOPs but not proportionally fast
#
# A depthwise convolution filters each channel separately: C·k multiply-adds per position instead of C²·k. But it
# does very little arithmetic per byte of data it reads, and cannot be written as one large matrix product, so a
# CPU runs it far below its matrix-multiply (GEMM) peak. The book's own measurements show it: FLOPs per second
# actually achieved at batch 1 by the plain CNN (dense convolutions) and by the EfficientNet (mostly depthwise):

# %%
rows = {r.model: r for r in rc.load_rows(["03_cnn", "04_efficientnet"])}
achieved = pd.DataFrame([{"model": m, "MFLOPs": r.mflops, "latency b1 (ms)": r.latency_b1_ms,
                          "GFLOP/s achieved": r.mflops / r.latency_b1_ms, "% of GEMM peak (b256)": r.pct_gemm_peak}
                         for m, r in rows.items() if r.mflops and r.latency_b1_ms])
achieved.round(3)
