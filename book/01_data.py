# %% [markdown]
# # 1. The RRUFF data: spectra, mineral groups, and why a sample's spectra stay together
#
# > The archive, the 10 mineral groups, spectra views, why a sample's spectra must stay together
#
# <!-- nav:start -->
#
# [← 0. Introduction](00_introduction.ipynb) | [Contents](../README.md#the-book) | [Next: 2. Baselines →](02_baselines.ipynb)
#
# <!-- nav:end -->
#
# [RRUFF](https://rruff.info) is the mineralogists' reference database of Raman spectra, X-ray patterns and
# chemistry of well-characterised mineral samples (Lafuente et al. 2015). Each sample has a RRUFF ID such as
# `R040063`; a sample is often measured several times (with 514, 532, 780 or 785 nm lasers, or repeatedly), and each
# measurement is one text file: a few `##KEY=value` header lines (mineral name, RRUFF ID, locality, ...) and then
# `wavenumber, intensity` rows. We use the *excellent_unoriented* set: spectra of unoriented samples of the best
# quality, baseline-corrected by RRUFF ("Processed").
#
# This chapter loads the archive, builds the book's main task, looks at the spectra, and measures why evaluation must
# keep all spectra of one sample on the same side of a train/test split.

# %% [markdown]
# **Learning goals.** After this chapter you can
#
# * read a RRUFF spectrum file and say what each preprocessing step does to it
# * describe the book's main task, its ten mineral groups and how imbalanced they are
# * measure how a random split of spectra leaks samples into the test set, and why a by-sample split does not
#
# **Prerequisites:** chapter 0. Background: train/test splits, interpolation onto a grid.
#
# **Reading** (full entries in [references](references.md)): [Lafuente2015] (RRUFF: how the spectra were measured and
# processed).


# %% tags=["parameters"]
import os

profile = os.environ.get("RAMANCMP_PROFILE", "quick")  # set by the book runner; "full" makes the book's results
seed = int(os.environ.get("RAMANCMP_SEED", 0))
data_dir = None  # None: the project's data cache (data/raw or $RAMANCMP_DATA_DIR)

# %%
import json

import numpy as np
import pandas as pd

from ramancmp import book as rc

ch = rc.Chapter("01_data", profile=profile, seed=seed, data_dir=data_dir)
ch

# %% [markdown]
# ## The archive
#
# `python -m ramancmp data fetch` downloads `excellent_unoriented.zip` from rruff.info into the data cache, checks
# that it is a complete zip and records its sha256 beside it. The book's results were computed on the 2019 snapshot;
# the sha256 printed below says which archive *this* run used.

# %%
zip_path = rc.archive_path()
record = json.loads((zip_path.parent / "excellent_unoriented.json").read_text())
# the record's file, size, digest and date; where it was copied from is a path of the machine that fetched it
pd.Series({k: record.get(k) for k in ("file", "size", "sha256", "n_txt_files", "snapshot", "date")}, name="archive")

# %% [markdown]
# ## The main task: ten mineral groups

# %%
ds = rc.load_task("rruff-groups-10")
grid = ds.preprocess
rc.md(f"""
The paper classifies {rc.claims.PAPER['n_spectra']} spectra of "{rc.claims.PAPER['n_classes']} mineral categories"
without listing them ({rc.claims.PAPER['journal']}). Our analogue, `rruff-groups-10`, maps every species to one of
ten groups of the IMA nomenclature (garnet, carbonate, pyroxene, amphibole, feldspar, mica, olivine, tourmaline,
apatite, zeolite) through the table `data/mineral_groups.csv`, whose rules and sources are in `data/README.md`. Each
spectrum is resampled onto one grid ({grid.grid_start:g}–{grid.grid_stop:g} cm⁻¹, {grid.n_points} points: a choice,
measured against wider ranges in [chapter 12](12_preprocessing.ipynb) -- it drops lattice modes below it, carbonate
ν3 near 1400–1450 cm⁻¹ and the O–H/H₂O stretches at 3200–3700 cm⁻¹, which most of these Processed spectra do not
reach at all; chapter 12 counts them) and normalised ({grid.normalisation}). The summary counts every spectrum
that was left out and why.
""")

# %%
print(rc.format_summary(ds.summary))

# %% [markdown]
# The same counts as a table. (This cell's output is checked by the tests: if a change to the parser, the grid or the
# mapping changes the dataset, `nbval` reports it.)

# %%
# NBVAL_CHECK_OUTPUT
print(f"archive sha256 {ds.source_sha256}: {len(ds.y)} spectra, {len(ds.class_names)} classes, "
      f"{len(np.unique(ds.groups))} samples")
class_table = pd.DataFrame(ds.summary["classes"]).T[["spectra", "samples"]]
print(class_table.to_string())
print(pd.Series(ds.summary["funnel"]).to_string())

# %%
groups_table = rc.mineral_groups()
species_used = ds.meta.groupby("mineral").size()
print(f"{len(groups_table)} species in the mapping, {len(species_used)} of them with usable spectra")
ds.meta.assign(group=[ds.class_names[i] for i in ds.y]).groupby("group")["mineral"].agg(
    lambda s: ", ".join(f"{m} ({n})" for m, n in s.value_counts().head(6).items())).to_frame("most frequent species")

# %%
counts = {c: v["spectra"] for c, v in ds.summary["classes"].items()}
samples = {c: v["samples"] for c, v in ds.summary["classes"].items()}
rc.plots.counts_figure(counts, samples)

# %% [markdown]
# Carbonates are the largest group and olivine the smallest: the classes are imbalanced by a factor of five. That is
# why the book reports macro sensitivity and specificity (every class weighs the same) beside accuracy.
#
# ## From a file to a model input
#
# One file of the archive, before and after preprocessing. The green band is the grid; a spectrum that does not
# cover it is dropped (and counted above) rather than extrapolated.

# %%
row = ds.meta.iloc[int(np.flatnonzero(ds.meta["mineral"] == "Forsterite")[0])]
spectrum = rc.read_spectrum(row["source"])  # "archive.zip::member.txt" reads straight from the zip
print(f"{spectrum.mineral} ({spectrum.rruff_id}, laser {spectrum.laser_nm} nm, {len(spectrum.wavenumber)} points, "
      f"{spectrum.wavenumber[0]:.0f}-{spectrum.wavenumber[-1]:.0f} cm-1)")
rc.plots.preprocessing_figure(spectrum.wavenumber, spectrum.intensity, ds.grid,
                           rc.preprocess_spectrum(spectrum, ds.preprocess))

# %% [markdown]
# ## What the classes look like
#
# Three random spectra per group (click legend entries to hide groups), then each group's mean spectrum with a band of
# ± one standard deviation. Groups have characteristic bands — the carbonate ion's symmetric stretch near
# 1085 cm⁻¹, the Si–O–Si bending of framework silicates near 500 cm⁻¹ — but within-group spread is large, because a
# group holds many species with shifted bands.

# %%
rc.plots.spectra_figure(ds.grid, ds.X, ds.y, ds.class_names, per_class=3, seed=seed, labels=ds.meta["mineral"].tolist())

# %%
rc.plots.class_means_figure(ds.grid, ds.X, ds.y, ds.class_names)

# %% [markdown]
# ## Several spectra per sample
#
# Most samples were measured more than once. Two spectra of one sample are far more alike than two samples of one
# species: same crystal, same impurities, same fluorescence background.

# %%
per_sample = pd.Series(ds.groups).value_counts()
spectra_per_sample = per_sample.value_counts().sort_index().rename_axis("spectra per sample").to_frame("samples")
print(f"{len(per_sample)} samples; {int((per_sample > 1).sum())} of them have more than one spectrum, holding "
      f"{int(per_sample[per_sample > 1].sum())} of {len(ds.y)} spectra")
spectra_per_sample.T

# %% [markdown]
# ## Why a sample's spectra must stay together: a measurement
#
# A *random* split of spectra (what many papers do) puts spectra of one sample on both sides: the test then partly
# measures whether the model recognises a sample it has seen. A *by-sample* split keeps every RRUFF ID on one side
# (scikit-learn's group-aware splitters), which is what a user with a new sample experiences.
#
# The quickest honest check is the library search mineralogists use: 1-nearest-neighbour by cosine similarity. We
# run it on both kinds of split, repeated over several seeds, through the same evaluation harness every later model
# uses.

# %%
knn = {kind: rc.evaluate("knn_cosine", ds, split_kind=kind, seed=seed, profile=ch.profile, measure_speed=False,
                      progress=False) for kind in ("random", "sample")}
rows = [{"split": kind, "mean": 100 * r.metrics["accuracy"]["mean"], "sd": 100 * r.metrics["accuracy"]["sd"],
         "repeats": r.repeats, "values": [100 * p["accuracy"] for p in r.per_repeat]} for kind, r in knn.items()]
pd.DataFrame(rows).drop(columns="values").round(2)

# %%
rc.plots.mean_sd_bar_figure(rows, x="split", title="1-NN cosine library search: test accuracy by split kind")

# %%
gap = rows[0]["mean"] - rows[1]["mean"]
print(f"random split: {rows[0]['mean']:.2f} ± {rows[0]['sd']:.2f} %, by-sample split: {rows[1]['mean']:.2f} ± "
      f"{rows[1]['sd']:.2f} % -> difference {gap:+.2f} points (compare with the sds)")

# %% [markdown]
# ## Where the leak is
#
# The two means alone hide what happens inside the random split. For each test spectrum we ask: does its sample
# have other spectra in the training part (a *sibling*), is its nearest training spectrum such a sibling, and is the
# library search right? Means over the same repeated splits:

# %%
leak_rows = [{"split": kind, **rc.sibling_leakage(ds, s)}
             for kind in ("random", "sample")
             for s in rc.repeated_splits(ds.y, ds.groups, kind, repeats=ch.profile.repeats, seed=seed)]
leak = pd.DataFrame(leak_rows).groupby("split").mean(numeric_only=True).T.round(3)
leak

# %% [markdown]
# Test spectra whose sample is also in the training part are identified almost perfectly — often simply by finding
# a sibling — while the others are much harder. In a random split the "easy" sibling cases are mixed with test
# spectra of single-spectrum samples (often rarer species), so the overall means above can be close or far apart
# depending on the dataset; the per-spectrum view shows the leak either way. A user's new sample never has a
# sibling in the library, which is exactly what the by-sample split measures. From here on every headline number in
# the book uses the by-sample split; the random split is shown beside it where it matters.

# %%
ch.save({"n_spectra": int(len(ds.y)), "n_classes": len(ds.class_names), "n_samples": int(len(per_sample)),
         "class_counts": counts, "class_samples": samples, "funnel": ds.summary["funnel"],
         "knn_cosine_accuracy": {r["split"]: {"mean": r["mean"], "sd": r["sd"], "values": r["values"]} for r in rows},
         "sibling_leakage": leak.to_dict()},
        task=ds.task, split="sample and random", data_sha256=ds.source_sha256)

# %% [markdown]
# ## Summary
#
# * The 2019 RRUFF *excellent_unoriented* archive gives the book's main task, `rruff-groups-10`: ten IMA mineral
#   groups with imbalanced class sizes, defined by a reviewable species → group table.
# * Every file goes through one parser and one preprocessing path (grid, normalisation); unusable files are listed
#   with reasons, never silently altered.
# * Most samples have several spectra. Splitting spectra at random lets test spectra find their own sample's other
#   spectra in the training set, and those are recognised almost perfectly; the book's main split keeps each sample
#   on one side, and reports mean ± sd over repeated splits.
#
# ## Exercises
#
# 1. Run `python -m ramancmp data summary --task rruff-species-10` and compare the class balance with the groups task.
# 2. Change the grid to 100–1400 cm⁻¹
#    (`rc.load_task("rruff-groups-10", preprocess=rc.PreprocessConfig(grid_start=100, grid_stop=1400))`) and count
#    how many spectra are dropped. What does that trade?
# 3. The gap between random and by-sample splits depends on how many spectra a sample has. Predict how it would change
#    on `rruff-species-10` (`rc.load_task("rruff-species-10")`), then measure it with the library search as above.
#    (`rruff-all-species` cannot be split at random with stratification: it has more classes than test spectra.)
# 4. Which groups overlap most in the class-mean figure? Check your guess against the confusion matrices of chapter 2.
#
# <!-- nav:start -->
#
# [← 0. Introduction](00_introduction.ipynb) | [Contents](../README.md#the-book) | [Next: 2. Baselines →](02_baselines.ipynb)
#
# <!-- nav:end -->
