# %% [markdown]
# # 10. The final comparison
#
# > Every model and variant in one table, a Pareto plot, the paper's claims judged
#
# <!-- nav:start -->
#
# [← 9. Beyond the paper](09_beyond_compression.ipynb) | [Contents](../README.md#the-book) | [Next: 11. Identification →](11_identification.ipynb)
#
# <!-- nav:end -->
#
# Every model and every compressed variant of the book in one table, measured in **one run**: accuracy (mean ± sd
# over repeated by-sample splits, and the random split for the models), macro sensitivity and specificity, size,
# FLOPs, training time, batch-1 latency, batch-256 throughput and the fraction of this CPU's matrix-multiply peak the
# model achieves. Networks trained by the earlier chapters (in the same profile) are loaded from their checkpoints;
# all timings are taken here, side by side, so their ratios are fair. `python -m ramancmp bench all` produces the
# same table from the command line.

# %% [markdown]
# **Learning goals.** After this chapter you can
#
# * read one table of every model and variant measured in one run, and its Pareto front
# * judge each of the paper's claims with our number beside it
# * separate properties of a method from properties of the hardware
#
# **Prerequisites:** chapters 2-9.
#
# **Reading** (full entries in [references](references.md)): [RamanCMP2023] (the claims judged), [Nadeau2003] (comparing
# models on repeated splits).


# %% tags=["parameters"]
profile = None  # None: the book runner's choice, else "quick"; "full" makes the book's results
seed = None  # None: the book runner's seed, else 0
data_dir = None  # None: the project's data cache (data/raw or $RAMANCMP_DATA_DIR)

# %%
import pandas as pd
from IPython.display import display

from ramancmp import book as rc

ch = rc.Chapter("10_comparison", profile=profile, seed=seed, data_dir=data_dir)
ds = rc.load_task("rruff-groups-10")
table = rc.bench_all(profile=ch.profile, seed=ch.seed, dataset=ds, progress=False,
                    results_dir=ch.results_dir)
claims = rc.claims.judge_claims(table["rows"])
csv_files = rc.tables.write_csv(table["rows"], ch.results_dir)  # the full tables, also as CSV

# %% tags=["remove-input"]
rc.md(rc.findings.findings_markdown(table["rows"], claims, source=f"this run, profile {ch.profile.name}"))

# %% [markdown]
# ## The table, in five parts
#
# The models (three views of the same rows), the compression variants of chapters 6-8 against their baseline, and the
# deployment variants of chapter 9 against their float network. The full table, every row and column, is written
# beside the results as CSV (`bench_all.csv`, one file per part as well).

# %%
for title, frame in rc.tables.sections(table["rows"]).items():
    display(frame.style.hide(axis="index").set_caption(title[:1].upper() + title[1:]))

# %% [markdown]
# ## Accuracy against latency
#
# Each point is a model or variant; the marker area grows with the number of parameters, the dashed line joins the
# Pareto front (no other point is both faster and more accurate). Hover for details; the latency axis is logarithmic.
# Only rows timed from spectrum to class are drawn: "LDA alone on stored features" (chapter 8) leaves the feature
# extraction out of its time, so it is a reading of the paper's claim, not a model one could deploy.

# %%
rc.plots.pareto_figure(rc.tables.end_to_end(table["rows"]),
                       title="Every model and variant: accuracy vs batch-1 latency (marker area ~ parameters)")

# %% tags=["remove-input"]
ch.timing_label

# %% [markdown]
# ## The library search, timed as it would be written
#
# `knn_cosine` is the library search as a practitioner writes it: the training spectra scaled to unit length once and
# kept as one float32 matrix, one matrix-vector product per spectrum, the class of the largest similarity
# (`rc.LibrarySearch`). Three rows of the group "library search" sit beside it, timed in the same interleaved rounds:
# scikit-learn's `KNeighborsClassifier` (`knn_cosine_sklearn`), which predicts the same class for every spectrum and
# is the cross-check; the library search on square-root squashed spectra (the preprocessing option of chapter 12);
# and the library that also holds each split's validation spectra, tested on the same test parts -- legitimate,
# because the library search tunes nothing on the validation part (its validation accuracy is left out: those spectra
# are their own nearest neighbours). The front and the sentences below are generated from the rows of this run.

# %%
front = rc.plots.pareto_front(rc.tables.end_to_end(table["rows"]))

# %% tags=["remove-input"]
rc.md("The Pareto front of this run, fastest first: " + "; ".join(
    f"**{p['name']}** ({p['latency_ms']:.4f} ms, {p['accuracy']:.2f} %)" for p in front) + ".\n\n"
    + rc.library_search_text(table["rows"], table["gemm"]["gflops"]))

# %% [markdown]
# ## Which differences are real
#
# Every model against the library search (the method a mineralogist would use), paired on the same by-sample splits
# with the corrected resampled t interval; then each model's accuracy on known and on new species.

# %%
models = [r for r in table["rows"] if r.group == "model"]
by_name = {r.model: r for r in models}
library = by_name.get("knn_cosine")
best = rc.claims.pick_best(models)

# %% tags=["remove-input"]
rc.md("\n".join(
    [f"Highest mean validation accuracy: **{best.model}** ({best.mean('val_accuracy'):.2f} %; test accuracy "
     f"{rc.tables.accuracy_text(best)}). Its architecture defaults were fixed on validation parts of these seeds' "
     "splits, so its validation number is optimistic (chapter 5 measures that bias); the test accuracy is not.",
     ""]
    + ([f"* {r.model} minus the library search: {rc.tables.difference_text(r, library)}"
        for r in models if r is not library] if library is not None else [])
    + ["", "Known species (a new sample of a species seen in training) and new species (absent from training):", "",
       rc.tables.species_text(models), "", rc.tables.specificity_text(models, len(ds.class_names))]))

# %% [markdown]
# ## New species, and curated labels
#
# Two more columns of the table above. **Species held out**: the same models on a third split protocol that holds out
# whole species (`split_kind="species"`: every species of a test part is absent from its training part), the
# networks trained on those splits here. **Without flagged**: the by-sample accuracy on the same splits with the
# spectra that the curation table `data/curation.csv` flags (unconfirmed identifications, mixtures, two hand-checked
# likely mislabelled samples) left out of the test parts; training is unchanged.

# %%
species_rows = [r for r in models if r.accuracy_species_split]
lines = [rc.tables.species_split_text(species_rows), ""]
if library is not None and library.accuracy_species_split:
    lines += ["Paired with the library search on the same by-species splits:", ""]
    lines += [f"* {r.model} minus the library search: "
              f"{rc.tables.difference_text(r, library, 'accuracy_species_split')}"
              for r in species_rows if r is not library]
    lines += ["", f"""The library search is right on {rc.tables.accuracy_text(library, 'accuracy_known_species')} of
the by-sample test spectra of known species: a new sample of a known species has a near twin among the references,
and remembering it is enough. With every test species new there is no twin, only relatives, and it scores
{rc.tables.accuracy_text(library, 'accuracy_species_split')}. A model beats it there only by learning what the species
of a group share (the bands of the group's structural unit) and ignoring what separates them (band shifts from cation
substitution, other anions, water, intensities); chapter 2 explains this in more detail."""]
lines += ["", "With and without the flagged spectra, paired on the same by-sample splits:", "",
          rc.curated_text(models)]

# %% tags=["remove-input"]
rc.md("\n".join(lines))

# %% [markdown]
# ## The paper's claims, judged

# %%
split_gaps = {r.model: rc.tables.split_gap_text(r) for r in models if r.accuracy_random}
all_noise = all(text.endswith(rc.tables.WITHIN_NOISE) for text in split_gaps.values())

# %% tags=["remove-input"]
rc.md(f"""
Each claim beside our number from the table above. A claim states a number to reach, so the verdict is one-sided:
*{rc.claims.REACHED}* when even the worse end of our 95 % interval is at most {rc.claims.ACCURACY_TOLERANCE:g}
accuracy points ({rc.claims.SPEEDUP_TOLERANCE:g} percentage points for speed-ups) short of the paper's number,
*{rc.claims.NOT_REACHED}* when even its better end is further short, *{rc.claims.CONSISTENT}* in between -- and
for readings made of per-split values the splits must agree (a sign test at p < 0.05 on the splits above and below
that threshold; *{rc.claims.TOO_FEW_SPLITS}* where no sign test on so few splits can reach it), while readings in
seconds are *{rc.claims.NOT_COMPARABLE}* with the paper's seconds on hardware it does not describe. How far
beyond the paper our number lies is a column of its own ("beyond the paper"), with its interval, not a verdict:
whether a saving well past the paper's "beats" it by more than a tolerance is decided by run-to-run timing noise,
and a verdict must not change when the book is run again. Every pick behind a number was made on validation accuracy. Speed-ups depend on
hardware and on how small the baseline already is. Does our split explain the accuracy gap to the paper? The
random split (the paper's protocol) minus our by-sample split, per model, on this run's repeats:

""" + "\n".join(f"* {m}: {text}" for m, text in split_gaps.items()) + "\n\n" + (
    "Every one of these differences is within noise: on this task the split does not explain the gap to the paper; "
    "the task definition (our ten groups from the public archive, not the paper's unpublished list) and the models "
    "remain." if all_noise else
    "Where a difference is outside the noise, the random split does inflate that model's accuracy; where it is "
    "within noise, the split does not explain the gap to the paper, and the task definition (our ten groups from the "
    "public archive, not the paper's unpublished list) and the models remain."))

# %%
rc.findings.claims_frame(claims).style.hide(axis="index")

# %% [markdown]
# Every reading of every claim (the table above shows the one closest to the paper's text) is in the appendix at the
# end of this chapter.

# %% [markdown]
# ## Is a timing reproducible within one run?
#
# `bench all` times the DRSN twice, as two separate rows of the same interleaved rounds. If the protocol works, the two
# medians of each timing cell agree within their 95 % intervals.

# %%
pd.DataFrame(table["timing_check"])

# %%
ch.save({"rows": table["rows"], "claims": claims, "gemm": table["gemm"],
         "distillation_chosen": table["distillation_chosen"]}, task=ds.task, split="sample", data_sha256=ds.source_sha256)

# %% [markdown]
# ## Appendix: every reading of the paper's claims
#
# Each claim read every way the paper's text allows (★: the reading closest to it, the one in the table above).

# %%
rc.claims.to_frame(claims).style.hide(axis="index")

# %% [markdown]
# ## Summary
#
# * One table, one run: every model and compressed variant with accuracy (mean ± sd and a 95 % interval, known and
#   new species, a split that holds out whole species, and without the flagged spectra), paired differences
#   marked "within noise" where their interval covers 0, size, FLOPs and timings measured side by side. The README's
#   findings and results are generated from it (`python -m ramancmp report readme`).
# * FLOPs do not predict latency for small 1-D networks: per-layer overheads and poorly vectorised depthwise or
#   elementwise work dominate at batch 1, which the "GEMM peak reached" column makes visible.

# %%
verdicts = {v: sum(c.verdict.startswith(v) for c in rc.findings.headline_claims(claims))
            for v in (rc.claims.REACHED, rc.claims.CONSISTENT, rc.claims.NOT_REACHED)}
other = len(rc.findings.headline_claims(claims)) - sum(verdicts.values())
other_text = f", {other} with another verdict (the claims table above)" if other else ""
nets = [r for r in models if r.model in rc.NETWORKS]
best_net = rc.claims.pick_best(nets) if nets else None

# %% tags=["remove-input"]
rc.md(f"""
* Of the paper's {len(rc.findings.headline_claims(claims))} claims, read closest to its text:
  {verdicts[rc.claims.REACHED]} reached, {verdicts[rc.claims.CONSISTENT]} consistent within noise,
  {verdicts[rc.claims.NOT_REACHED]} not reached{other_text}.
* {rc.findings.verdict_sentence(best_net, library) if best_net is not None and library is not None else
   "The networks and the library search were not both measured in this run."}

Next: [chapter 11](11_identification.ipynb) asks what a classifier should answer for a mineral outside its ten
classes.
""")

# %% [markdown]
#
# ## Exercises
#
# Marked by kind: ★ explain why, ★★ change something and measure, ★★★ a project (listed under *Projects*,
# longer runs). Worked solutions, computed in the profile they run in: `book/solutions/`.
#
# ### Projects
#
# 1. ★★★ Rerun the book with another seed (`python -m ramancmp book run --profile full --seed 1 --force`). Which
#    conclusions change? Which differences in the table are smaller than their sd?
# 2. ★★★ Run `python -m ramancmp bench all --profile full` on another machine (a laptop, a Raspberry Pi) and compare the
#    latency ratios. Which speed-ups are properties of the method, which of the hardware?
# 3. ★★★ Repeat the comparison on `rruff-species-10` (`rc.load_task("rruff-species-10")`, then `rc.evaluate` each model
#    of `rc.BOOK_MODELS`). Does the ranking hold?
#
# <!-- nav:start -->
#
# [← 9. Beyond the paper](09_beyond_compression.ipynb) | [Contents](../README.md#the-book) | [Next: 11. Identification →](11_identification.ipynb)
#
# <!-- nav:end -->
