# %% [markdown]
# # 7. Channel conversion: a faster DRSN
#
# > Three readings of the paper's "channel conversion", measured
#
# <!-- nav:start -->
#
# [← 6. Knowledge distillation](06_distillation.ipynb) | [Contents](../README.md#the-book) | [Next: 8. The DRSN as a feature extractor for LDA →](08_feature_extraction.ipynb)
#
# <!-- nav:end -->
#
# The paper reports that "channel conversion" cuts the DRSN's inference time (its number is quoted from
# `rc.claims` beside ours at the end of the chapter) but does not define it. We implement three readings and measure them all, alone and combined:
#
# * **(a) fold the spectrum into channels**: $1 \times L \to k \times L/k$, so every layer runs on a $k$-times shorter
#   sequence. We fold *interleaved* (channel $c$ holds points $c, c+k, c+2k, \dots$): at each position the $k$
#   channels hold $k$ neighbouring wavenumbers, so the first convolution still sees a contiguous window. The
#   *contiguous* layout (channel $c$ = the $c$-th window of the spectrum) is measured for comparison.
# * **(b) channel-wise → channel-shared thresholds** (DRSN-CW → DRSN-CS).
# * **(c) narrower channels** (a width multiplier).
#
# Two baselines, both trained on the same splits: chapter 5's DRSN-CW (loaded from its checkpoints when present),
# whose stride-8 stem already cuts the 1024 points to 128 positions, and the **paper-layout DRSN** (`drsn_paper`,
# at full resolution: Zhao et al.'s RSBU-CW layout in 1D, a 3-tap stem that does not downsample, three stages of four residual
# shrinkage units with 4, 8 and 16 channels, and a 4-bin head in place of Zhao's global pooling, chosen on validation
# data in chapter 5; `("drsn_paper", {})`), folded into 4 channels the same way.
# Every row is timed in one run of the book's timing protocol, printed below the table.

# %% [markdown]
# **Learning goals.** After this chapter you can
#
# * fold a spectrum into channels (contiguous and interleaved) and read the package's folding code
# * implement and measure three readings of an under-specified method, alone and combined
# * apply a selection rule fixed before looking at the numbers
#
# **Prerequisites:** chapter 5 (the DRSN being converted). Background: how a convolution's cost depends on length and
# channels.
#
# **Reading** (full entries in [references](references.md)): [RamanCMP2023] (the claim), [Zhao2020] (CW and CS
# thresholds).


# %% tags=["parameters"]
profile = None  # None: the book runner's choice, else "quick"; "full" makes the book's results
seed = None  # None: the book runner's seed, else 0
data_dir = None

# %%
from ramancmp import book as rc

ch = rc.Chapter("07_channel_conversion", profile=profile, seed=seed, data_dir=data_dir)
ds = rc.load_task("rruff-groups-10")
ch

# %% [markdown]
# ## A spectrum folded into channels
#
# ![Folding a short spectrum into channels: contiguous windows, or interleaved points](figures/fold.svg)
#
# One spectrum folded into 4 interleaved channels: each channel is the spectrum sampled every 4th point, shifted by
# one point from the previous channel, so the four curves are nearly the same shape -- no band is cut apart.

# %%
rc.plots.folded_spectrum_figure(ds.grid, ds.X[0], 4, mode="interleaved")

# %%
# Folding as the package does it: the function, and the DRSN that folds its input before the stem.
rc.show_source(rc.fold_spectrum, rc.FoldedDRSN)

# %%
rc.plots.folded_spectrum_figure(ds.grid, ds.X[0], 4, mode="contiguous")

# %% [markdown]
# ## Measure every variant beside its baseline

# %%
exp = rc.channel_conversion_experiment(ds, profile=ch.profile, seed=ch.seed)
rows = rc.compression_rows(None, exp, None)  # DRSN-CW, its variants, then the paper DRSN and its fold
base, paper = rows[0], next(r for r in rows if r.extra.get("role") == "paper baseline")
table = rc.tables.to_frame(rows)
table.insert(1, "reading", [(r.extra.get("variant") or {}).get("reading", "baseline") for r in rows])
table.insert(2, "compared with", [r.baseline for r in rows])
rc.tables.show(table, keep=2)

# %%
# Every setting in effect for the baseline and each variant (same training recipe; the architectures differ).
variants = [v["variant"] for v in exp["variants"]]
rc.show_settings("drsn_cw", *[(v["model"], v["kwargs"]) for v in variants], profile=ch.profile,
                 labels=["DRSN-CW (baseline)"] + [v["label"] for v in variants])

# %% [markdown]
# ## Every timing cell, with its interval
#
# Time per spectrum (µs, median and 95 % interval over the interleaved rounds) at batch 1 and batch 256, in eager
# PyTorch and in ONNX Runtime, on one thread (and on every core where the profile asks), and the speed-up over the
# row's baseline with its paired bootstrap interval. How the numbers were taken:

# %%
print(rc.PROTOCOL_NOTE)
phase = exp["timing"]["1"]["info"]
print("load check:", phase.get("busy"), "|", phase.get("warning") or "no other process was busy")
rc.speed_frame(rows)

# %% tags=["remove-input"]
ch.timing_label

# %% [markdown]
# ## Accuracy vs latency vs FLOPs

# %%
rc.plots.pareto_figure(rows, title="Channel-conversion variants vs their DRSN (marker area ~ parameters)")

# %% [markdown]
# ## The paper's number, read every way
#
# The rule, fixed before looking at the numbers (and shared with chapters 8 and 10,
# `rc.claims.pick_fastest_within`): keep the **fastest variant whose mean accuracy is at most one point below its
# baseline's**, or the most accurate one if none is. Each reading applies it with its own times: against the book's
# DRSN and against the paper-layout DRSN, at batch 1 and batch 256, in eager PyTorch and ONNX Runtime.

# %%
judged = rc.claims.judge_claims(rows, keys=["channel_conversion_speedup"])  # the one place claims are judged
rc.claims.to_frame(judged, claim_column=False)

# %%
primary = next((c for c in judged if c.primary), None)

# %% tags=["remove-input"]
rc.md(f"**Primary reading** (★, fixed before the results: end to end): {primary.reading} -- {primary.reason}. "
      f"There the paper's {primary.paper_text} compares with our {primary.ours:.1f} % "
      f"(95 % interval {primary.interval_text}): **{primary.verdict}**."
      if primary else "No speed-up of a converted DRSN was measured in this run.")

# %%
ch.save({"rows": rows, "claims": judged, "timing": exp["timing"]}, task=ds.task, split="sample",
        data_sha256=ds.source_sha256)

# %% [markdown]
# ## Summary

# %%
def _said(label: str, ref=base) -> str:
    row = next((r for r in rows if r.model == label), None)
    return "not measured in this profile" if row is None else rc.describe_speedup(rc.speedup_of(row, ref.model))


folds = [r for r in rows if r.extra.get("role") == "variant" and "fold" in r.model]
fold_b256 = {r.model: rc.describe_speedup(rc.speedup_of(r, base.model, "1/torch/256")) for r in folds}
paper_fold = next(r for r in rows if r.extra.get("role") == "paper variant")

# %% tags=["remove-input"]
rc.md("\n".join([
    "* **Folding** divides the work after the stem by about $k$: per spectrum at batch 256 (eager PyTorch) "
    + "; ".join(f"{k}: {v}" for k, v in fold_b256.items()) + ". At batch 1 on the book's DRSN, where a small "
    "network's time is dominated by per-layer overhead, the same folds are "
    + "; ".join(f"{r.model}: {_said(r.model)}" for r in folds) + ".",
    f"* **Channel-shared thresholds** (DRSN-CS) at batch 1: {_said('DRSN-CS')}; **narrower channels** "
    f"(width x0.5): {_said('width x0.5')}. The intervals decide the words: a reading whose interval covers 0 is "
    "reported as within noise, not as a saving.",
    f"* **The baseline matters.** The book's DRSN already converts 1024 points into 128 positions x 32 channels "
    f"with its stride-8 stem. On the full-resolution DRSN, folding into 4 channels is {_said(paper_fold.model, paper)}"
    f" at batch 1 and {rc.describe_speedup(rc.speedup_of(paper_fold, paper.model, '1/torch/256'))} per spectrum "
    f"at batch 256 (eager PyTorch), with accuracy {paper_fold.mean():.1f} % vs {paper.mean():.1f} %.",
]))

# %%
headline = rc.findings.headline_claims(judged)

# %% tags=["remove-input"]
rc.md(f"""
**Verdict.**

{chr(10).join(f"* {rc.findings.claim_sentence(c)}" for c in headline)}

Next: [chapter 8](08_feature_extraction.ipynb) uses the trained DRSN as a feature extractor for LDA.
""")

# %% [markdown]
# ## Exercises
#
# Marked by kind: ★ explain why, ★★ change something and measure, ★★★ a project (listed under *Projects*,
# longer runs). Worked solutions, computed in the profile they run in: `book/solutions/`.
#
# 1. ★ Why can folding not reduce the number of layers executed? What *would* reduce per-layer overhead?
# 2. ★★ Try `k=16` (`rc.evaluate("drsn_folded", ds, profile=ch.profile, model_kwargs={"k": 16})`). At what $k$ does
#    the stem's receptive field stop covering a Raman band's width?
# 3. ★ Compare the contiguous and interleaved layouts' accuracies. Explain the difference with the figures above.
#
# ### Projects
#
# 4. ★★★ Repeat the measurement against a full-resolution baseline, `model_kwargs={"stem_stride": 2, "stem_kernel": 7}`
#    for both the DRSN (`"drsn_cw"`) and the folded variants (`"drsn_folded"` with `k`). Latency does not depend on
#    the weights: `rc.compare_speed` on untrained `rc.create_model(...)` networks answers the speed half without
#    training. How close
#    do you get to the paper's number (`rc.claims.claim("channel_conversion_speedup")`)?
#
# <!-- nav:start -->
#
# [← 6. Knowledge distillation](06_distillation.ipynb) | [Contents](../README.md#the-book) | [Next: 8. The DRSN as a feature extractor for LDA →](08_feature_extraction.ipynb)
#
# <!-- nav:end -->
