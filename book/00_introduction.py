# %% [markdown]
# # 0. Introduction: fast, compressed deep learning for Raman spectra of minerals
#
# > The paper's claims, what this book does differently and why, how to run it
#
# <!-- nav:start -->
#
# [Contents](../README.md#the-book) | [Next: 1. The RRUFF data →](01_data.ipynb)
#
# <!-- nav:end -->
#
# A Raman spectrum is a fingerprint of a crystal's vibrations: peak positions tell which bonds and structures are
# present, so a mineralogist can name a mineral from its spectrum. Deep networks classify such spectra well, but they
# are slow on the small CPUs that sit beside portable spectrometers. The paper this book re-creates,
#
# > *RamanCMP: A Raman spectral classification acceleration method based on lightweight model and model compression
# > techniques*, Analytica Chimica Acta 1278 (2023) 341758,
#
# classifies RRUFF Raman spectra of 10 mineral categories with a 1D-EfficientNet and a 1D deep residual shrinkage
# network (DRSN), then makes them faster with three compression methods. This book rebuilds every step in a small
# package, `ramancmp`, runs it on the public RRUFF data, and puts each of the paper's claims beside our own
# measurement. Every number you see below is computed by the run that shows it.

# %% [markdown]
# **Learning goals.** After this chapter you can
#
# * state the paper's claims and how this book tests each one
# * explain why the book splits by sample, repeats every split and times models side by side
# * run the whole book, one chapter, or one chapter with another seed
#
# **Prerequisites:** none in the book. Background: Python and NumPy; what a Raman spectrum is (see *Raman shift* in the
# [glossary](glossary.md)).
#
# **Reading** (full entries in [references](references.md)): [RamanCMP2023] (the paper), [Lafuente2015] (the RRUFF
# database).


# %% tags=["parameters"]
profile = None  # None: the book runner's choice, else "quick"; "full" makes the book's results
seed = None  # None: the book runner's seed, else 0
data_dir = None  # None: the project's data cache (data/raw or $RAMANCMP_DATA_DIR)

# %%
import pandas as pd

from ramancmp import book as rc

ch = rc.Chapter("00_introduction", profile=profile, seed=seed, data_dir=data_dir)
ch

# %% [markdown]
# ## What we found
#
# The book's answer first, the way to it in the chapters. Chapter 10 measures every model and variant in one run and
# judges the paper's claims on that table; this chapter runs before it, so it reads chapter 10's stored results: this
# profile's if chapter 10 has run in it, else the book's full-profile results committed in `results/`.

# %%
found = rc.findings.book_findings(ch.results_dir)

# %% tags=["remove-input"]
rc.md("Chapter 10 has not run yet and no committed results were found: run the book "
      "(`python -m ramancmp book run`) and this section shows what it found." if found is None else
      rc.findings.findings_markdown(found[0], found[1], source=f"from {found[2]}"))

# %% [markdown]
# ## What the paper claims
#
# The paper's headline numbers, quoted. The last column says how this book tests each one; chapter 10 marks each
# claim *reached*, *consistent (within noise)* or *not reached*, from our number's 95 % interval.

# %%
claims = pd.DataFrame(rc.claims.claims_table())[["chapter", "statement", "value", "unit", "how_we_measure"]]
claims.style.hide(axis="index")

# %% [markdown]
# ## What this book does differently, and why

# %%
P, C = rc.claims.PAPER, rc.claims.claim
prof = ch.profile

# %% tags=["remove-input"]
rc.md(f"""
* **Data.** The paper ({P['journal']}) used {P['n_spectra']} RRUFF spectra of {P['n_classes']} "mineral categories"
  but does not publish the list. We use the RRUFF *excellent_unoriented* archive (the 2019 snapshot, pinned by its
  sha256) and define the categories ourselves, following the IMA's group nomenclature: garnet, carbonate, pyroxene,
  amphibole, feldspar, mica, olivine, tourmaline, apatite and zeolite. The mapping from species to group is a small,
  reviewable table, `data/mineral_groups.csv`; chapter 1 shows its counts. This task, `rruff-groups-10`, is the
  book's main task. Two more tasks, the most frequent species and every species, let you test how the conclusions
  scale.
* **Evaluation without leakage.** RRUFF holds several spectra of the same physical sample (different lasers, or
  repeated measurements). If one of them is in the training set and another in the test set, the test measures
  memory of a sample rather than recognition of a mineral. The book's main split therefore keeps each RRUFF sample on
  one side. The paper-style random split is shown beside it so you can see the difference.
* **Known and new species.** Keeping samples apart is not the whole story: many species of a group have a single
  RRUFF sample, so a test spectrum is either a *new sample of a species seen in training* ("known species") or of a
  *species absent from training* ("new species"). Every model's accuracy is reported for both; the second asks the
  model to name the group of a mineral it has never seen, which a library search can only do when a related mineral
  of the same group happens to look alike.
* **Statistics.** In this profile ({prof.name}) every network is evaluated on {prof.repeats} repeated by-sample
  splits and the cheap classical models on {prof.classical_repeats} (the first {prof.repeats} are the networks'
  splits, so they pair). The repeats overlap, so intervals use the corrected resampled t-test of Nadeau & Bengio
  (variance times 1/J + n_test/n_train, Student t with J − 1 degrees of freedom). Every table shows a 95 % interval
  for each accuracy, and every difference between two models is computed *paired*, split by split, with its
  interval; where the interval covers 0 the book writes **within noise** and reads no ranking from it. Balanced
  accuracy and macro-F1 stand beside accuracy. Macro one-vs-rest specificity is shown because the paper reports it,
  but with {P['n_classes']} classes it is near 100 % for any usable model and says little (chapter 2 shows why).
* **Selection on validation data only.** Every pick the book makes -- "the" compressed variant (the fastest within
  {rc.claims.PICK_TOLERANCE_POINTS:g} point of the baseline), the feature depth, the distillation temperature and
  weight, "the best" of two models in a claim -- uses the *validation* accuracy of the same splits; test accuracy is
  only reported. The architecture defaults of `BOOK_MODELS` (the DRSN's downsampling stem, the networks' head bins,
  the scaled `efficientnet_small`) were fixed once, earlier, on validation parts of by-sample splits of the same
  seeds; those validation parts overlap the test parts of other repeats, so these fixed choices could carry a
  selection bias. Chapter 5 measures it: it makes the head and stem choices of the CNN, the DRSN, the EfficientNet
  and the paper-layout DRSN again on every split's own validation part (nested selection) and pairs the re-chosen
  models' test accuracy with the fixed choice's. The EfficientNet's width and depth multipliers stay fixed (chapter
  4 shows full B0 beside the scaled variant).
* **Baselines a mineralogist would ask for.** Beside the paper's LDA and CNN we add a 1-nearest-neighbour library
  search by cosine similarity, the way RRUFF's own matching software identifies an unknown spectrum.
* **Timing you can trust.** Every time is the median per spectrum over interleaved rounds after warm-up, with a
  95 % interval, and every speed-up is a ratio measured side by side in one run. A speed-up claim is read at each
  timing cell: {"; ".join(words for _, words in rc.claims.SPEED_READINGS)}. The verdict of record is the claim's
  primary reading, fixed in code before the results: the end-to-end one, what a deployment sees (for channel
  conversion: {rc.claims.PRIMARY['channel_conversion_speedup'].readings[0]}); the others are shown beside it. The
  timing of record is chapter 10's, spread over fresh processes in the full profile (`Profile.timing_processes`)
  so that its intervals hold across processes. Throughput at batch 256 is also stated as a
  fraction of this CPU's measured matrix-multiply peak.
* **Interpretations made explicit.** Where the paper is vague ("channel conversion"), the chapter implements several
  readings, measures them all and says which one it keeps.
""")

# %% [markdown]
# ## How to run and read the book
#
# Each chapter is a notebook paired with a plain-text Python file (`book/NN_name.py`, the form to read and review in
# git). Two commands on a fresh machine:
#
# ```bash
# make book   # set up .venv, fetch RRUFF, run every chapter in the full profile
# make test   # set up .venv, fetch RRUFF, run the tests (every chapter in the quick profile included)
# ```
#
# One chapter with papermill and its parameters:
#
# ```bash
# python -m ramancmp book run --chapters 03 --profile full      # or:
# papermill book/03_cnn.ipynb out.ipynb -p profile quick -p seed 1
# ```
#
# All code lives in the `ramancmp` package; the chapters only call it. This is what the notebook ran with:

# %%
import os
import platform

import torch

environment = {
    "python": platform.python_version(),
    "torch": torch.__version__,
    "torch threads": torch.get_num_threads(),
    "cpu count": os.cpu_count(),
    "profile": ch.profile.name,
    "repeats per evaluation": ch.profile.repeats,
    "max epochs": ch.profile.max_epochs,
}
pd.Series(environment, name="value").to_frame()

# %% [markdown]
# ## Chapter map

# %%
titles = rc.chapter_titles()
pd.DataFrame({"chapter": list(titles), "title": list(titles.values())}).style.hide(axis="index")

# %%
ch.save({"environment": environment, "chapters": titles, "paper": rc.claims.PAPER})

# %% [markdown]
# ## Summary

# %%
speedups = [C(key).value for key in ("channel_conversion_speedup", "feature_lda_speedup")]
gap = None if found is None else next(iter(c for c in rc.findings.headline_claims(found[1])
                                           if c.key == "deep_vs_classical_gap"), None)

# %% tags=["remove-input"]
rc.md(f"""
* The paper claims that lightweight networks beat classical baselines by more than
  {C('deep_vs_classical_gap').value:g} {C('deep_vs_classical_gap').unit} on {P['n_classes']} mineral categories, and
  that its compression methods make them {min(speedups):g}–{max(speedups):g} % faster at little cost in accuracy.
* This book tests those claims on public RRUFF data, with a leakage-free split, repeated and paired comparisons with
  intervals, accuracy on known and on new species, picks made on validation data, and timings measured side by side.
* {"The verdicts appear once chapter 10 has run." if gap is None else
   rc.findings.claim_sentence(gap, lead="The paper's headline accuracy claim") + f" Source: {found[2]}."}

Next: [chapter 1](01_data.ipynb) opens the RRUFF archive and defines the ten mineral groups.
""")

# %% [markdown]
# ## Exercises
#
# Marked by kind: ★ explain why, ★★ change something and measure, ★★★ a project (listed under *Projects*,
# longer runs). Worked solutions, computed in the profile they run in: `book/solutions/`.
#
# 1. ★ Read the paper's abstract. Which of its claims depend on the hardware, and which do not?
# 2. ★ Why might a random split of spectra overstate accuracy when one mineral sample has several spectra?
#    Write down your guess; chapter 1 measures it.
# 3. ★★ Run `python -m ramancmp data summary --task rruff-groups-10` and compare the counts with the paper's 723.
#
# <!-- nav:start -->
#
# [Contents](../README.md#the-book) | [Next: 1. The RRUFF data →](01_data.ipynb)
#
# <!-- nav:end -->
