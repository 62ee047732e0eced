# %% [markdown]
# # 6. Knowledge distillation: a small CNN taught by 1D-EfficientNet
#
# > EfficientNet teacher → CNN student
#
# <!-- nav:start -->
#
# [← 5. 1D-DRSN](05_drsn.ipynb) | [Contents](../README.md#the-book) | [Next: 7. Channel conversion →](07_channel_conversion.ipynb)
#
# <!-- nav:end -->
#
# A large network is accurate but slow; a small one is fast but, trained on labels alone, less accurate. Knowledge
# distillation (Hinton, Vinyals & Dean, 2015) trains the small *student* to imitate the large *teacher*'s output
# distribution as well as the labels:
#
# $$L = \alpha\,T^2\,\mathrm{KL}\big(\mathrm{softmax}(z_t/T)\,\|\,\mathrm{softmax}(z_s/T)\big) + (1-\alpha)\,\mathrm{CE}(z_s, y)$$
#
# The temperature $T>1$ softens both distributions, so the student also learns which *wrong* classes the teacher
# finds plausible for a spectrum -- information a one-hot label does not carry. The paper distils its
# 1D-EfficientNet into a CNN and reports a small loss against the teacher (quoted below from `rc.claims`). Here the
# teacher is the book's 1D-EfficientNet of chapter 4 and the student the plain CNN of chapter 3, both trained on the
# training part of each split only; the teacher runs on the same augmented batches the student sees.

# %% [markdown]
# **Learning goals.** After this chapter you can
#
# * write the distillation loss and read the package's implementation of it
# * explain what the temperature does to the teacher's output, and choose T and α on validation data
# * measure how close a distilled student comes to its teacher, and how much faster it is
#
# **Prerequisites:** chapters 3 (the student) and 4 (the teacher). Background: softmax, cross-entropy, KL divergence.
#
# **Reading** (full entries in [references](references.md)): [Hinton2015] (knowledge distillation), [RamanCMP2023] (the
# claim tested here).


# %% tags=["parameters"]
profile = None  # None: the book runner's choice, else "quick"; "full" makes the book's results
seed = None  # None: the book runner's seed, else 0
data_dir = None

# %%
from ramancmp import book as rc

ch = rc.Chapter("06_distillation", profile=profile, seed=seed, data_dir=data_dir)
ds = rc.load_task("rruff-groups-10")
loss_claim = rc.claims.claim("distillation_loss")

# %% tags=["remove-input"]
rc.md(f"The paper's claim, quoted ({rc.claims.PAPER['journal']}): *{loss_claim.statement}* "
      f"({loss_claim.value:+g} {loss_claim.unit}).")

# %% [markdown]
# ## Run the experiment
#
# Teachers are loaded from checkpoints trained on each split's training part (or trained now), then the student is
# trained alone and by distillation at each $(T, \alpha)$ of the profile's grid. The $(T, \alpha)$ we report is
# chosen on the validation parts, never on the test parts.

# %%
exp = rc.distillation_experiment(ds, profile=ch.profile, seed=ch.seed)
rows = rc.compression_rows(exp, None, None)  # teacher, student alone, one distilled student per (T, alpha)
rc.tables.show(rows)

# %%
# The distillation loss, and the hook that runs the frozen teacher on the very batch the student sees.
rc.show_source(rc.distillation_loss, "ramancmp.compression.distillation.DistillationLoss")

# %%
# Every setting of the networks trained here: teacher, student alone, and the distilled student at the (T, alpha)
# chosen on the validation parts (the whole grid searched in this profile is printed below the table).
teacher_model, student_model = ("efficientnet_small", {}), ("cnn", {})
print("(T, alpha) grid searched on validation data:", ch.profile.distillation_grid)
rc.show_settings(teacher_model, student_model, (*student_model, exp["chosen"]), profile=ch.profile,
                 labels=["teacher", "student alone", "distilled student"])

# %% [markdown]
# ## Soft targets of a real spectrum
#
# The teacher's output for one test spectrum of the last split, at several temperatures. At $T=1$ it is almost a
# one-hot vector; at higher $T$ the runner-up classes become visible -- that is what the student learns from.

# %%
teacher_net = exp["teacher"].estimator.model_
test_idx = exp["teacher"].last_split.test
i = int(test_idx[0])
logits = rc.predict_logits(teacher_net, ds.X[i:i + 1], device="cpu")[0]
rc.plots.soft_targets_figure(ds.class_names, logits, (1, 2, 4, 8), true_class=int(ds.y[i]),
                    title=f"Soft targets for a {ds.class_names[int(ds.y[i])]} spectrum ({ds.meta.iloc[i]['rruff_id']})")

# %% [markdown]
# ## Accuracy vs latency vs FLOPs
#
# Batch-1 latency on this CPU (median, same run); marker area grows with the number of parameters.

# %%
rc.plots.pareto_figure(rows, title="Teacher, student alone and distilled students")

# %% tags=["remove-input"]
ch.timing_label

# %% [markdown]
# ## The paper's number beside ours

# %%
teacher_row, alone_row = rows[0], rows[1]
distilled_row = next(r for r in rows if r.extra.get("chosen"))
judged = rc.claims.judge_claims(rows, keys=["distillation_loss", "distillation_gain", "distillation_time"])
speedup_b1 = rc.speedup_of(distilled_row, teacher_row.model, "1/torch/1")  # % less time, with its interval
speedup_b256 = rc.speedup_of(distilled_row, teacher_row.model, "1/torch/256")
vs_teacher = rc.tables.paired(distilled_row, teacher_row)
vs_alone = rc.tables.paired(distilled_row, alone_row)
rc.claims.to_frame(judged)

# %% tags=["remove-input"]
rc.md(f"""
The distilled student ({distilled_row.model}, its (T, α) chosen on validation data), paired on the same splits with
95 % intervals:

* minus its teacher: {rc.tables.difference_text(distilled_row, teacher_row)} (the paper: {loss_claim.value:+g}
  {loss_claim.unit});
* minus the same CNN trained alone: {rc.tables.difference_text(distilled_row, alone_row)};
* time per spectrum against its teacher, timed together in this run's interleaved rounds: at batch 1
  {rc.describe_speedup(speedup_b1)}; at batch 256 {rc.describe_speedup(speedup_b256)}.

By kind of test spectrum:

{rc.tables.species_text([teacher_row, alone_row, distilled_row])}
""")

# %%
ch.save({"rows": rows, "chosen": exp["chosen"], "claims": judged,
         "speedup_vs_teacher": {"b1": speedup_b1, "b256": speedup_b256},
         "distilled_vs_teacher": vs_teacher, "distilled_vs_alone": vs_alone},
        task=ds.task, split="sample", data_sha256=ds.source_sha256)

# %% [markdown]
# ## Summary
#
# * Distillation trains a small network on a large one's softened outputs; with augmentation the teacher must see
#   the very batch the student sees, and it must never have seen the test part.
# * The paired differences above show how close the distilled CNN comes to its teacher, how much it gains over the
#   same CNN trained alone (each with its interval: "within noise" is no gain), and how much faster it is at batch 1.
#   In the quick profile (few epochs) the numbers only show that the pipeline runs; the full profile gives the book's
#   results.

# %%
headline = rc.findings.headline_claims(judged)

# %% tags=["remove-input"]
rc.md(f"""
**Verdict.**

{chr(10).join(f"* {rc.findings.claim_sentence(c)}" for c in headline)}

Next: [chapter 7](07_channel_conversion.ipynb) measures three readings of the paper's "channel conversion".
""")

# %% [markdown]
# ## Exercises
#
# Marked by kind: ★ explain why, ★★ change something and measure, ★★★ a project (listed under *Projects*,
# longer runs). Worked solutions, computed in the profile they run in: `book/solutions/`.
#
# 1. ★★ Set $\alpha = 0$ (`rc.distillation_experiment(ds, profile=ch.profile, seed=ch.seed, grid=[(4.0, 0.0)])`):
#    the soft term vanishes. Does the student then match "cnn alone"? Why (not) exactly?
# 2. ★ Draw the teacher's soft targets for a *pyroxene* test spectrum (pick `i` among the test indices whose class is
#    pyroxene and redraw the figure above). Which classes get the most probability mass at $T = 8$? Is that
#    mineralogically sensible?
#
# ### Projects
#
# 3. ★★★ Distil into a narrower CNN: `rc.DistilledClassifier(teacher=..., model="cnn",
#    model_kwargs={"channels": (8, 16, 32, 32)}, temperature=..., alpha=...)` with each split's stored teacher
#    (`rc.get_or_train`), evaluated through `rc.evaluate` with a factory. Where does accuracy start to drop?
#
# <!-- nav:start -->
#
# [← 5. 1D-DRSN](05_drsn.ipynb) | [Contents](../README.md#the-book) | [Next: 7. Channel conversion →](07_channel_conversion.ipynb)
#
# <!-- nav:end -->
