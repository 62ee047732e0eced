# %% [markdown]
# # 8. The DRSN as a feature extractor for LDA
#
# > A trained DRSN as feature extractor for LDA
#
# <!-- nav:start -->
#
# [← 7. Channel conversion](07_channel_conversion.ipynb) | [Contents](../README.md#the-book) | [Next: 9. Beyond the paper →](09_beyond_compression.ipynb)
#
# <!-- nav:end -->
#
# The paper replaces the DRSN's classifier by linear discriminant analysis (LDA) on the network's features and
# reports 94.48 % accuracy at 93 % less inference time. LDA is linear, like the DRSN's own last layer, so on the
# *full* trunk's features it cannot be faster -- the whole network still runs. A large saving needs a **shallow
# cut**: features pooled after the stem or the first stages (`DRSN.stage_features`), so most of the network is
# skipped. We read the claim that way, sweep the depth of the cut (0 = stem only, 3 = all stages) and report
# accuracy, FLOPs and batch-1 latency at every depth. The DRSN of each split is trained on that split's training
# part only, and LDA is fitted on the same training spectra.

# %% [markdown]
# **Learning goals.** After this chapter you can
#
# * use a trained network's intermediate features as input to LDA
# * explain why LDA on the full network's features cannot be faster than the network, and what a shallow cut saves
# * read an accuracy-cost trade-off across depths
#
# **Prerequisites:** chapters 2 (LDA) and 5 (the DRSN).
#
# **Reading** (full entries in [references](references.md)): [RamanCMP2023] (the claim), [Ledoit2004] (LDA's covariance
# estimate), [Zhao2020].


# %% tags=["parameters"]
profile = "quick"
seed = 0
data_dir = None

# %%
import numpy as np
import pandas as pd

from ramancmp import book as rc

ch = rc.Chapter("08_feature_extraction", profile=profile, seed=seed, data_dir=data_dir)
ds = rc.load_task("rruff-groups-10")
ch

# %% [markdown]
# ## Depth sweep: DRSN prefix + LDA vs the full DRSN

# %%
exp = rc.feature_extraction_experiment(ds, profile=ch.profile, seed=ch.seed)
rows = rc.compression_rows(None, None, exp)  # DRSN-CW first, then features after each depth + LDA
rc.tables.to_frame(rows)

# %%
rc.plots.pareto_figure(rows, title="DRSN prefix features + LDA vs the full DRSN (marker area ~ parameters)")

# %% [markdown]
# ## What LDA sees
#
# The features of the last split's spectra after the chosen depth, projected on the first two discriminant axes of
# the LDA fitted on the training part (filled: training spectra; open: test spectra).

# %%
best = max(exp["depths"], key=lambda d: d["result"].metrics["accuracy"]["mean"])
pipe, split = best["result"].estimator, best["result"].last_split
idx = np.concatenate([split.train, split.test])
Z = pipe.named_steps["lda"].transform(pipe.named_steps["features"].transform(ds.X[idx]))
rc.plots.projection_figure(Z, ds.y[idx], ds.class_names, test=np.isin(idx, split.test),
                  title=f"DRSN features after depth {best['depth']}, projected by LDA")

# %% [markdown]
# ## The paper's numbers beside ours
#
# We compare the fastest depth whose accuracy is within one point of the DRSN, or the most accurate depth if none is.

# %%
pick = rc.claims.pick_fastest_within(rows[1:], rows[0], points=1.0)  # the rule of chapters 7 and 10
judged = rc.claims.judge_claims(rows, keys=["feature_lda_speedup", "feature_lda_accuracy"])
pd.DataFrame(judged)[["claim", "paper", "ours", "at", "verdict"]]

# %%
ch.save({"rows": rows, "picked": pick.model, "claims": judged},
        task=ds.task, split="sample", data_sha256=ds.source_sha256)

# %% [markdown]
# ## Summary
#
# * A trained DRSN's pooled features are linearly separable enough for LDA; at full depth LDA only replaces the
#   last linear layer, so it cannot be faster than the DRSN.
# * Cutting the network after the stem or the first stage removes most of the work; the table shows what accuracy
#   that costs. This is our reading of the paper's "−93 % inference time".
#
# ## Exercises
#
# 1. Fit LDA on the full-depth features (`rc.feature_pipeline(drsn)` with a DRSN from `rc.get_or_train`) and
#    compare its predictions with the DRSN's own head. Why do they differ, although both are linear?
# 2. Replace LDA by a 1-nearest-neighbour search on the features (chapter 2's `rc.create_model("knn_cosine", ...)`
#    on `pipe.named_steps["features"].transform(X)`). Which depth suits it best?
# 3. Why must the DRSN used as feature extractor be trained without the test part, although LDA is fitted anew?
#
# <!-- nav:start -->
#
# [← 7. Channel conversion](07_channel_conversion.ipynb) | [Contents](../README.md#the-book) | [Next: 9. Beyond the paper →](09_beyond_compression.ipynb)
#
# <!-- nav:end -->
