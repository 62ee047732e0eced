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
# reports its accuracy and a large cut in inference time (both numbers quoted from `rc.claims` beside ours below).
# LDA is linear, like the DRSN's own last layer, so on the
# *full* trunk's features it cannot be faster -- the whole network still runs. The claim has several readings, and
# we measure each:
#
# * **a shallow cut**: features after the stem or the first stages (0 = stem only, 3 = all stages), either
#   globally pooled (where a band sits is lost) or pooled into position bins, with plain or **shrinkage LDA**
#   (`solver="lsqr", shrinkage="auto"`: the covariance is regularised, which many binned features need);
# * **one graph**: each fitted prefix + LDA becomes a single torch module (and ONNX file), so its latency is the
#   arithmetic's, not scikit-learn's per-call overhead;
# * **the classifier alone** on features extracted beforehand (what "LDA classifies the DRSN's features" costs if
#   the features are already stored);
# * **training/adaptation time**: fitting LDA on frozen features vs retraining the DRSN.
#
# The DRSN of each split is trained on that split's training part only, and LDA is fitted on the same training
# spectra; choices (the depth) are made on the validation parts.

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
profile = None  # None: the book runner's choice, else "quick"; "full" makes the book's results
seed = None  # None: the book runner's seed, else 0
data_dir = None

# %%
import numpy as np

from ramancmp import book as rc

ch = rc.Chapter("08_feature_extraction", profile=profile, seed=seed, data_dir=data_dir)
ds = rc.load_task("rruff-groups-10")
ch

# %% [markdown]
# ## Depth sweep: DRSN prefix + LDA vs the full DRSN

# %%
exp = rc.feature_extraction_experiment(ds, profile=ch.profile, seed=ch.seed)
rows = rc.compression_rows(None, None, exp)  # DRSN-CW first, then every reading, then the classifier alone
base = rows[0]
table = rc.tables.to_frame(rows)
table.insert(1, "reading", [r.extra.get("reading", "baseline") for r in rows])
table.insert(2, "validation accuracy (%)",
             ["–" if not (v := rc.tables.Stat.from_dict(r.extra.get("val_accuracy"))) or not v.mean else
              f"{100 * v.mean:.2f}" for r in rows])
rc.tables.show(table, keep=2)

# %% [markdown]
# ## Every timing cell, with its interval

# %%
print(rc.PROTOCOL_NOTE)
phase = exp["timing"]["1"]["info"]
print("load check:", phase.get("busy"), "|", phase.get("warning") or "no other process was busy")
rc.speed_frame(rows)

# %% tags=["remove-input"]
ch.timing_label

# %% [markdown]
# The accuracy-latency plane of the pipelines timed from spectrum to class (the "LDA alone" readings, whose time leaves
# the feature extraction out, are in the table above but not on this plot):

# %%
rc.plots.pareto_figure(rc.tables.end_to_end(rows),
                       title="DRSN prefix features + LDA vs the full DRSN (marker area ~ parameters)")

# %% [markdown]
# ## What LDA sees
#
# The features of the last split's spectra at the depth chosen on the validation parts (binned features), projected
# on the first two discriminant axes of a shrinkage LDA fitted on the training part (filled: training spectra; open:
# test spectra). The `lsqr` solver of the measured pipelines has no projection, so the figure refits the same
# features with the `eigen` solver and the same shrinkage.

# %%
chosen = next(d for d in exp["depths"] if d["depth"] == exp["chosen_depth"] and d["lda"])
fitted, split = chosen["result"].estimator, chosen["result"].last_split
pipe = rc.feature_pipeline(fitted.named_steps["features"].model_or_checkpoint, chosen["depth"],
                           bins=chosen["bins"] or 1, solver="eigen", shrinkage="auto")
pipe.fit(ds.X[split.train], ds.y[split.train])
idx = np.concatenate([split.train, split.test])
Z = pipe.named_steps["lda"].transform(pipe.named_steps["features"].transform(ds.X[idx]))
rc.plots.projection_figure(Z, ds.y[idx], ds.class_names, test=np.isin(idx, split.test),
                           title=f"DRSN features after depth {chosen['depth']} ({chosen['reading']}), projected by LDA")

# %% [markdown]
# ## The paper's numbers, read every way
#
# Speed readings pick the fastest binned + shrinkage-LDA depth whose accuracy is within one point of the DRSN
# (`rc.claims.pick_fastest_within`); when no shallow cut qualifies the pick is the full network + LDA, which runs the
# whole DRSN and is labelled as such -- never presented as a speed-up.

# %%
judged = rc.claims.judge_claims(rows, keys=["feature_lda_speedup", "feature_lda_accuracy"])
rc.claims.to_frame(judged)

# %%
primary = {c.key: c for c in judged if c.primary}

# %% tags=["remove-input"]
rc.md("\n".join(f"* **Primary reading ({c.claim}; ★, fixed before the results: end to end):** {c.reading} -- "
                 f"{c.reason}. Ours: {c.ours:.2f} {c.unit} (95 % interval {c.interval_text}) vs the paper's "
                 f"{c.paper_text}: **{c.verdict}**." for c in primary.values() if c.ours is not None))

# %%
ch.save({"rows": rows, "chosen_depth": exp["chosen_depth"], "claims": judged, "timing": exp["timing"]},
        task=ds.task, split="sample", data_sha256=ds.source_sha256)

# %% [markdown]
# ## Summary

# %%
graphs = [r for r in rows if r.extra.get("role") == "variant" and r.extra.get("lda")]
alone = [r for r in rows if r.extra.get("role") == "classifier alone"]
train_reading = next((c for c in judged if c.reading.startswith("training")), None)
best_acc = max(graphs, key=lambda r: r.mean())
paper_acc = next(c.value for c in rc.claims.CLAIMS if c.key == "feature_lda_accuracy")
faster = [r for r in graphs if (sp := rc.speedup_of(r, base.model)) is not None and sp.lo is not None and sp.lo > 0]
headline = rc.findings.headline_claims(judged)

# %% tags=["remove-input"]
rc.md("\n".join([
    "* **Prefix + shrinkage LDA as one graph** (batch 1, eager PyTorch, against the full DRSN): "
    + "; ".join(f"depth {r.extra['depth']}: {rc.describe_speedup(rc.speedup_of(r, base.model))}, "
                f"{r.mean():.1f} % accuracy" for r in graphs) + f". {len(faster)} of {len(graphs)} cuts are measurably faster than the whole network (interval above 0)"
    + ("" if len(faster) == len(graphs) else "; a shallow prefix removes FLOPs but runs on long, high-resolution "
       "feature maps, so a cut is not faster by construction") + ".",
    f"* **Accuracy**: the best reading reaches {best_acc.mean():.2f} % ({best_acc.model}) against the DRSN's "
    f"{base.mean():.2f} % and the paper's {paper_acc:g} %.",
    "* **The classifier alone** on stored features: "
    + "; ".join(f"{r.model}: {rc.describe_speedup(rc.speedup_of(r, base.model, '1/torch/256'))} per spectrum at "
                f"batch 256" for r in alone) + " -- the feature extraction is not counted, so this is the one reading "
    "that keeps the full network's features and can still save as much as the paper says.",
    "* **Training/adaptation**: " + ("not measured" if train_reading is None else
    f"fitting LDA on frozen features takes {train_reading.ours:.1f} % less time than training the DRSN "
    f"(95 % interval {train_reading.lo:.1f} to {train_reading.hi:.1f} %)") + ".",
    "",
    *[f"* {rc.findings.claim_sentence(c)}" for c in headline],
    "",
    "Next: [chapter 9](09_beyond_compression.ipynb) goes beyond the paper: int8, pruning and ONNX Runtime.",
]))

# %% [markdown]
# ## Exercises
#
# Marked by kind: ★ explain why, ★★ change something and measure, ★★★ a project (listed under *Projects*,
# longer runs). Worked solutions, computed in the profile they run in: `book/solutions/`.
#
# 1. ★★ Fit LDA on the full-depth features (`rc.feature_pipeline(drsn)` with a DRSN from `rc.get_or_train`) and
#    compare its predictions with the DRSN's own head. Why do they differ, although both are linear?
# 2. ★★ Replace LDA by a 1-nearest-neighbour search on the features (chapter 2's `rc.create_model("knn_cosine", ...)`
#    on `pipe.named_steps["features"].transform(X)`). Which depth suits it best?
# 3. ★ Why must the DRSN used as feature extractor be trained without the test part, although LDA is fitted anew?
#
# <!-- nav:start -->
#
# [← 7. Channel conversion](07_channel_conversion.ipynb) | [Contents](../README.md#the-book) | [Next: 9. Beyond the paper →](09_beyond_compression.ipynb)
#
# <!-- nav:end -->
