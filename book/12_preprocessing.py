# %% [markdown]
# # 12. Preprocessing, wavenumber range, and what the models look at
#
# > Baseline, spikes, smoothing, normalisation and range, each measured; the default chosen on validation data; occlusion maps of the CNN
#
# <!-- nav:start -->
#
# [← 11. Identification](11_identification.ipynb) | [Contents](../README.md#the-book) | [Next: 13. Beyond the library search →](13_beyond_library_search.ipynb)
#
# <!-- nav:end -->
#
# Every model of this book sees a spectrum only after `rc.preprocess_spectrum` has put it on one grid and normalised
# it. RRUFF's Processed files arrive already cleaned: their fluorescence baseline has been subtracted and cosmic-ray
# spikes removed. A spectrometer in a teaching lab gives neither. This chapter does the cleaning steps on spectra
# whose truth is known, and then measures every preprocessing choice the book could have made -- normalisation,
# intensity squashing, smoothing and the wavenumber range -- with the library search and one network, on the same
# spectra and the same by-sample splits as the other chapters. The book's default is then chosen on validation data.
# Finally: which parts of a spectrum does the trained CNN use, and are they the bands a mineralogist would name?

# %% [markdown]
# **Learning goals.** After this chapter you can
#
# * correct a Raman baseline with pybaselines, remove cosmic-ray spikes and smooth a spectrum, and measure how well
#   each step recovers a spectrum whose truth is known
# * compare preprocessing choices fairly: the same spectra, the same splits, paired differences with intervals
# * choose a default on validation data and say when a difference is within noise
# * read an occlusion map: where along the wavenumber axis the network's evidence for a class lies
#
# **Prerequisites:** chapters 1 (the data and the grid), 2 (the library search) and 3 (the CNN). Background: least
# squares, the median, convolution.
#
# **Reading** (full entries in [references](references.md)): [Erb2022] (pybaselines), [Whitaker2018] (spike
# removal), [Savitzky1964] (smoothing), [Zeiler2014] (occlusion), [Lafuente2015] (RRUFF's Processed and RAW files).

# %% tags=["parameters"]
profile = None  # None: the book runner's choice, else "quick"; "full" makes the book's results
seed = None  # None: the book runner's seed, else 0
data_dir = None  # None: the project's data cache (data/raw or $RAMANCMP_DATA_DIR)

# %%
from ramancmp import book as rc

ch = rc.Chapter("12_preprocessing", profile=profile, seed=seed, data_dir=data_dir)
ds = rc.load_task("rruff-groups-10")
P = rc.preprocessing_study
print(ch, "|", ds.task, len(ds.y), "spectra")

# %% [markdown]
# ## 1. Baseline correction
#
# Fluorescence of the sample (or of impurities) adds a broad, smooth background to a Raman spectrum, often far
# stronger than the bands. A baseline method estimates that background and subtracts it. We use pybaselines
# [Erb2022], a maintained library of the standard algorithms, through one package function: penalised least squares
# that fit a stiff curve lying under the spectrum (AsLS, arPLS), a modified polynomial fit (I-ModPoly) and SNIP
# clipping. The settings were fixed before any measurement.

# %%
rc.show_source(rc.correct_baseline)

# %% [markdown]
# ### On RRUFF's RAW files
#
# The 2019 archive holds a handful of RAW (uncorrected) files besides the Processed ones. Where the same sample also
# has a Processed spectrum, RRUFF's own correction is a reference: how similar (correlation) is each method's
# correction of the RAW file to it?

# %%
pairs = rc.raw_pairs()
raw_table, example = P.raw_benchmark(pairs)
raw_table

# %%
rc.plots.baseline_figure(example["grid"], {"RAW (as measured)": example["raw"], "RRUFF Processed": example["processed"],
                                           **example["corrected"]},
                         title=f"{example['mineral']} ({example['rruff_id']}): RAW, RRUFF's correction and ours")

# %%
methods = list(P.BASELINE_SETTINGS)
best_raw = raw_table[methods].mean().idxmax()

# %% tags=["remove-input"]
rc.md(f"""
Of the {len(pairs)} RAW files, {len(raw_table)} have a Processed partner of the same sample (same RRUFF ID; the same
laser where the archive has it). Mean correlation with
RRUFF's correction: {", ".join(f"{m} {raw_table[m].mean():.3f}" for m in methods)}; without any correction
{raw_table["no correction"].mean():.3f}. Closest to RRUFF's own processing on these files: **{best_raw}**. A
handful of files is a small test; the synthetic one below has a known truth and many spectra.
""")

# %% [markdown]
# ### On synthetic baselines with a known truth
#
# Take Processed spectra (the truth), add a random fluorescence-like hump and slope (its height one or three times
# the spectrum's range) and a little noise, correct, and compare with the truth: the relative RMSE (RMSE divided by
# the true spectrum's range; smaller is better) and the correlation.

# %%
baseline_table = P.baseline_benchmark(ds.X, ds.grid, seed=ch.seed)
baseline_table

# %%
rmse = baseline_table[("relative RMSE", "mean")].unstack()
best_synth = rmse.drop(index="no correction").mean(axis=1).idxmin()

# %% tags=["remove-input"]
rc.md(f"""
Averaged over both baseline heights, the smallest relative RMSE is **{best_synth}**'s
({rmse.loc[best_synth].mean():.3f}, against {rmse.loc["no correction"].mean():.3f} without correction). Every method
leaves some error: a baseline method cannot tell a broad band from background, and a stiffer fit (larger `lam`)
trades residual background for preserved bands (exercise 1).
""")

# %% [markdown]
# ## 2. Cosmic-ray spikes
#
# A cosmic ray hitting the detector adds a spike one or two points wide. A Raman band rises over several points, so
# the *first difference* of a spike is an outlier: the modified z-score (median and median absolute deviation, robust
# to the spikes themselves) finds it [Whitaker2018]. On spectra as clean as RRUFF's, the steep flank of a strong band
# is an outlier too, so the package also asks for the jump back down within two points; the flagged points are
# replaced by interpolation.

# %%
rc.show_source(rc.remove_spikes)

# %%
spike_table = P.spike_benchmark(ds.X, seed=ch.seed)
rc.tables.show(spike_table)

# %%
s = spike_table.iloc[0]

# %% tags=["remove-input"]
rc.md(f"""
On synthetic spikes added to Processed spectra, all spikes of a spectrum were found in
{100 * s[("spikes found", "mean")]:.0f} % of the spectra, replacing {s[("points replaced", "mean")]:.1f} points per
spectrum for {s[("spike points", "mean")]:.1f} spike points (the spikes' neighbours are replaced too); the relative RMSE to the spike-free spectrum falls from
{s[("relative RMSE with spikes", "mean")]:.3f} to {s[("relative RMSE after removal", "mean")]:.3f}. On the same
spectra without spikes it changed {s[("points changed without spikes", "mean")]:.1f} points per spectrum on average
(the harm done: sharp true bands that look like spikes; a lower threshold finds smaller spikes and does more harm).
""")

# %% [markdown]
# ## 3. Smoothing
#
# A Savitzky–Golay filter fits a low-order polynomial in a sliding window [Savitzky1964]; it reduces noise but also
# flattens narrow bands. Both sides, measured: the error of noisy spectra before and after smoothing, and the height
# the strongest band of a *clean* spectrum loses.

# %%
smoothing_table = P.smoothing_benchmark(ds.X, seed=ch.seed)
smoothing_table

# %%
sm = smoothing_table

# %% tags=["remove-input"]
rc.md(f"""
Noisy spectra start at a relative RMSE of {sm.loc["none", ("relative RMSE", "mean")]:.3f}; the windows give
{", ".join(f"{w} points {sm.loc[w, ('relative RMSE', 'mean')]:.3f}" for w in sm.index if w != "none")}. The
strongest band of a clean spectrum loses
{", ".join(f"{100 * sm.loc[w, ('strongest band height lost', 'mean')]:.1f} % (window {w})" for w in sm.index if w != "none")}
of the range. RRUFF's Processed spectra are already smooth, so for them smoothing can only cost; whether it costs
accuracy is measured next.
""")

# %% [markdown]
# ## 4. Each choice, measured on the book's task
#
# The candidates change *one* setting of the book's default at a time: the normalisation (min-max, as in the paper; unit
# vector; unit area), the **square root** of the normalised intensities (it lifts weak bands relative to the strongest
# one), Savitzky–Golay smoothing, and **wider wavenumber ranges**. For the ranges, the question is first what the
# spectra cover:

# %%
coverage = P.range_coverage(ds, [(150, 1200), (100, 1300), (100, 1500), (150, 1800), (150, 4000)])
coverage

# %% tags=["remove-input"]
rc.md(f"""
The task's Processed spectra end between {coverage.attrs["end_min"]:.0f} and {coverage.attrs["end_max"]:.0f} cm⁻¹
(median {coverage.attrs["end_median"]:.0f} cm⁻¹) and start between {coverage.attrs["start_min"]:.0f} and
{coverage.attrs["start_max"]:.0f} cm⁻¹. So in this archive the O–H and H₂O stretching bands
(3200–3700 cm⁻¹) of amphibole, mica, tourmaline, apatite and zeolite and the carbonate ν3 band (about
1400–1450 cm⁻¹) are simply not there for most spectra; wider ranges can add only lattice modes below
{ds.preprocess.grid_start:g} cm⁻¹ and the region up to the ends above. Wider grids keep the *same* spectra: a point
that a spectrum did not measure is set to 0 (`outside="zero"`, the coverage mask of `rc.coverage_mask`), so every
choice is compared on the same rows and the same splits.
""")

# %%
choices = P.preprocessing_choices(ds.preprocess)
DEFAULT = next(iter(choices))  # the book's default (PreprocessConfig()), first
rows = P.measure_choices(ds, choices, profile=ch.profile, seed=ch.seed)
short = P.short_profile(ch.profile)

# %% tags=["remove-input"]
rc.md(f"""
{len(choices)} choices; the library search on {ch.profile.classical_repeats} by-sample splits, the CNN of chapter 3
on the first {ch.profile.repeats} of them with a short budget ({short.max_epochs} epochs, patience {short.patience};
all choices at the same budget, so they compare with each other, not with chapter 3's CNN).
""")

# %%
table = P.choices_table(rows, DEFAULT)
rc.tables.show(table, keep=2)

# %%
rc.show_source(rc.claims.pick_preprocessing)

# %%
pick = rc.claims.pick_preprocessing(rows, DEFAULT)
sqrt_label = next(label for label, c in choices.items() if c.squash != ds.preprocess.squash)
knn = {r.model: r for r in rows if r.extra["model"] == P.LIBRARY_MODEL}
cnn = {r.model: r for r in rows if r.extra["model"] == P.CNN_MODEL}

# %% tags=["remove-input"]
rc.md(f"""
**The pick, on validation accuracy only:** {pick.model}. **The book's default** ({DEFAULT}) **is
{"this run's validation pick" if pick.model == DEFAULT else "NOT this run's validation pick"}.**

* Squashing ({sqrt_label}) against the default, paired: library search test
  {rc.tables.difference_text(knn[sqrt_label], knn[DEFAULT])}, validation
  {rc.tables.difference_text(knn[sqrt_label], knn[DEFAULT], "val_accuracy")}; CNN test
  {rc.tables.difference_text(cnn[sqrt_label], cnn[DEFAULT])}.
* The cosine library search is blind to a spectrum's scale, so the three normalisations differ for it only through
  min-max's offset; for the CNN they change what the input looks like.
* The intervals are corrected for the overlap of repeated splits (Nadeau–Bengio): with this many splits, small
  differences come out "within noise", and the rule then keeps the default rather than chase them.
""")

# %%
ch.save({"rows": rows, "pick": pick.model, "default": DEFAULT, "default_is_pick": pick.model == DEFAULT,
         "raw_benchmark": raw_table.to_dict(orient="records")},
        task=ds.task, split="sample", data_sha256=ds.source_sha256)

# %% [markdown]
# ## 5. What the CNN looks at
#
# **Occlusion** [Zeiler2014]: cover a window of the spectrum with zeros and measure how much the network's probability
# of the true class drops; slide the window along the axis. Large values mark the wavenumbers the network's evidence
# comes from. Below, for the CNN of chapter 3 (from the model store), averaged over test spectra of each class
# (a few per class: every window position costs one pass of the network over them) of the first by-sample split,
# drawn over their class means, with the groups' characteristic bands shaded.

# %%
rc.show_source(rc.occlusion)

# %%
att = P.cnn_attribution(ds, profile=ch.profile, seed=ch.seed)
bands = rc.load_bands()
rc.plots.attribution_figure(att["grid"], att["means"], att["attribution"], ds.class_names,
                            bands.to_dict(orient="records"))

# %%
overlap = P.band_overlap(att, ds.class_names, bands)
overlap

# %% tags=["remove-input"]
rc.md(f"""
Occlusion of {att["n_test"]} test spectra (split seed {att["split_seed"]}). For each class, the share of the most
attributed tenth of the grid that lies in a marked band, against the share of the grid those bands cover (what
chance would give): higher in {int((overlap["top points in a band %"] > overlap["grid share of the bands %"]).sum())}
of {len(overlap)} classes. Where it is not, the network relies on other parts of the spectrum -- neighbouring
bands, the absence of bands, or the shape of the background RRUFF's processing left.
""")

# %% [markdown]
# ## Summary

# %% tags=["remove-input"]
rc.md(f"""
* Baseline correction, spike removal and smoothing were measured on spectra whose truth is known; on synthetic
  baselines **{best_synth}** came closest, on RRUFF's RAW files **{best_raw}**.
* {len(choices)} preprocessing choices were compared on the same spectra and splits; on validation data the rule picks
  **{pick.model}**, and the book's default {"is" if pick.model == DEFAULT else "is not"} that pick.
* The range {ds.preprocess.grid_start:g}–{ds.preprocess.grid_stop:g} cm⁻¹ is a choice, not where all bands lie: the
  task's spectra mostly stop near {coverage.attrs["end_median"]:.0f} cm⁻¹, so
  {"the O–H stretches (from 3200 cm⁻¹) cannot be used with this archive at all" if coverage.attrs["end_max"] < 3200
   else "the O–H stretches (from 3200 cm⁻¹) are measured in few of its spectra"}.
* Occlusion maps show which wavenumbers the CNN uses; they are a measurement of one network on one split, not a proof
  of what it "knows".
""")

# %%
same_model = [r for r in rows if r.extra["model"] == pick.extra["model"]]
default_row = next(r for r in same_model if r.model == DEFAULT)
rival = pick if pick is not default_row else rc.claims.pick_best([r for r in same_model if r is not default_row])

# %% tags=["remove-input"]
rc.md(f"""
**Verdict.**

* {rc.findings.verdict_sentence(rival, default_row, a_words=f"{rival.model} ({rival.extra['model']})",
   b_words=f"the book's default ({DEFAULT})")}

Next: [chapter 13](13_beyond_library_search.ipynb) tries every lever that might beat the library search.
""")

# %% [markdown]
# ## Exercises
#
# Marked by kind: ★ explain why, ★★ change something and measure, ★★★ a project (listed under *Projects*,
# longer runs). Worked solutions, computed in the profile they run in: `book/solutions/`.
#
# 1. ★★ On the synthetic benchmark, vary the stiffness of arPLS (`settings={"arPLS 1e4": ("arpls", {"lam": 1e4}), ...}`
#    for `lam` 1e4 to 1e8 in `P.baseline_benchmark`). Which recovers best, and which spectra would you use to choose it
#    for real measurements without fooling yourself?
# 2. ★★ Combine two choices in one `rc.PreprocessConfig(squash="sqrt", smoothing=11)` and measure it with the library
#    search against the default, paired (`P.measure_choices(ds, {...}, networks=False)`). Is the combination better
#    than either alone?
# 3. ★★ Recompute the occlusion maps with a narrow (`window=8`) and a wide (`window=64`) window
#    (`P.cnn_attribution(ds, window=..., stride=...)`). How does the picture change, and why?
#
# <!-- nav:start -->
#
# [← 11. Identification](11_identification.ipynb) | [Contents](../README.md#the-book) | [Next: 13. Beyond the library search →](13_beyond_library_search.ipynb)
#
# <!-- nav:end -->
