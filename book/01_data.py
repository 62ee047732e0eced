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
# * say what a Raman shift is, why a mineral group has characteristic bands, and why RRUFF used near-infrared lasers
#   beside green ones
# * read a RRUFF spectrum file and say what each preprocessing step does to it
# * tell the book's 2019 snapshot of the archive from another download, and what changes if yours differs
# * describe the book's main task, its ten mineral groups and how imbalanced they are
# * measure how a random split of spectra leaks samples into the test set, and why a by-sample split does not
#
# **Prerequisites:** chapter 0. Background: train/test splits, interpolation onto a grid; for the primer, the idea
# of a molecule's vibrations (a mass on a spring).
#
# **Reading** (full entries in [references](references.md)): [Lafuente2015] (RRUFF: how the spectra were measured and
# processed), [Raman1928] (the effect); the band table's sources per group: [Gunasekaran2006] (carbonates),
# [Kos2020] (garnet), [Huang2000] (pyroxenes), [Apopei2011] (amphiboles), [Freeman2008] (feldspars), [Tlili1989]
# (micas), [Breitenfeld2018] (olivine), [Gasharova1997], [Hoang2011] (tourmaline), [Penel1998] (apatite), [Tsai2021]
# (zeolites).


# %% tags=["parameters"]
profile = None  # None: the book runner's choice, else "quick"; "full" makes the book's results
seed = None  # None: the book runner's seed, else 0
data_dir = None  # None: the project's data cache (data/raw or $RAMANCMP_DATA_DIR)

# %%

import numpy as np
import pandas as pd

from ramancmp import book as rc

ch = rc.Chapter("01_data", profile=profile, seed=seed, data_dir=data_dir)
ch

# %% [markdown]
# ## A Raman primer
#
# **The Raman shift.** Shine a laser of wavelength $\lambda_0$ on a crystal. Almost all scattered light keeps that
# wavelength (Rayleigh scattering), but about one photon in a million leaves with a little less energy: it has set
# one vibration of the crystal going and kept the rest [Raman1928]. This is *Stokes* scattering (the weaker
# *anti-Stokes* side, where a photon takes energy from a vibration, is not recorded by RRUFF). A spectrometer measures
# the scattered wavelength $\lambda_s$, and a Raman spectrum plots intensity against the *Raman shift*
#
# $$\Delta\tilde\nu = \frac{1}{\lambda_0} - \frac{1}{\lambda_s}\quad[\mathrm{cm^{-1}}],
# \qquad h c\,\Delta\tilde\nu = E_{\text{vibration}},$$
#
# the energy of the vibration in wavenumbers. Because it is a difference, the shift does not depend on the laser:
# the same band of calcite sits at the same shift whether measured with a green or a near-infrared laser. For one
# bond pictured as two masses on a spring of stiffness $k$ with reduced mass $\mu$,
# $\tilde\nu = \frac{1}{2\pi c}\sqrt{k/\mu}$: stiff bonds between light atoms vibrate at high shifts (O–H near
# 3600 cm⁻¹, C–O of a carbonate near 1085 cm⁻¹), heavy or loosely bound units at low ones; replacing Mg by the
# heavier Fe lowers the bands of a pyroxene [Huang2000].
#
# **Why minerals have fingerprints.** A crystal's vibrations fall into two families. *Internal modes* stretch and
# bend the bonds inside tightly bound groups — SiO4 tetrahedra in silicates, CO3 triangles in carbonates, PO4
# tetrahedra in phosphates, OH groups and water — and appear at shifts typical of the group: the symmetric stretching
# (ν1) of CO3 near 1085 cm⁻¹, of PO4 near 960 cm⁻¹, of isolated SiO4 between about 800 and 930 cm⁻¹. How the
# tetrahedra are linked (isolated in garnet and olivine, chains in pyroxene, double chains in amphibole, sheets in
# mica, rings in tourmaline, frameworks in feldspar and zeolites) moves the Si–O–Si bending and stretching bands
# between about 400 and 700 cm⁻¹. *Lattice modes* move whole groups and cations against each other, below about
# 400 cm⁻¹, and depend on the crystal structure and on which cations fill it. Hydrous minerals add O–H stretching
# bands at 3200–3700 cm⁻¹. Together these make a spectrum a fingerprint of structure and composition — the table of
# the ten groups' bands and the figure of their class means below show it.
#
# **Lasers and fluorescence.** Raman scattering grows as $1/\lambda_0^4$, so a green laser gives far more signal than
# a near-infrared one. But green photons can also be absorbed by transition-metal or rare-earth ions, defects or
# organic traces, which then re-emit broad *fluorescence*, often much stronger than the Raman bands: a sloping
# background that can bury them. Near-infrared photons (780 or 785 nm) carry too little energy to excite most of it,
# which is why RRUFF measured many samples with both kinds of laser. The price is a weaker signal and a shorter
# range: a silicon detector stops seeing light at about a micrometre, and the computation below shows where a band's
# scattered light lands for each laser of the archive.

# %%
shifts = pd.Series([1085.0, 3600.0], index=["CO3 ν1, 1085 cm⁻¹", "O–H stretch, 3600 cm⁻¹"])
# a band at shift Δν (cm⁻¹) excited at λ0 (nm) is scattered at λs = 1 / (1/λ0 - Δν): in nm, 1e7 / (1e7/λ0 - Δν)
pd.DataFrame({f"{laser} nm laser": (1e7 / (1e7 / laser - shifts)).round(0) for laser in (514, 532, 780, 785)},
             index=shifts.index).rename_axis("scattered wavelength (nm) of")

# %% [markdown]
# ## The archive
#
# `python -m ramancmp data fetch` downloads `excellent_unoriented.zip` from rruff.info into the data cache, checks
# that it is a complete zip and writes a record beside it: the zip's sha256 and a *content fingerprint*, a sha256 over
# the sorted (file name, sha256 of the file) pairs of its spectra. The zip's digest changes when the same files are
# zipped again; the fingerprint does not, and it changes as soon as one spectrum is added, removed or edited. The
# book's counts and results were computed on the 2019 snapshot; the record below says which archive *this* run used.

# %%
archive = rc.describe_archive()  # an older record without the fingerprint is completed here (a few seconds)
# the record's file, size, digests and date; where it was copied from is a path of the machine that fetched it
pd.Series({k: archive.get(k) for k in ("file", "size", "sha256", "content_sha256", "n_txt_files", "snapshot", "date")},
          name="archive")

# %% tags=["remove-input"]
rc.md(f"""
**Which archive is this?** {archive["note"]}

An archive that is not the snapshot (today's rruff.info download is one: its files are named and laid out
differently, and spectra have been added and re-processed since 2019) still loads, but the numbers of this book — the
counts below, the exclusions, every accuracy, interval and timing of later chapters — are then those of *your*
archive, and the tests that compare outputs with the book's committed notebooks will report the differences. Every
result file names its archive by both digests (`data_sha256`, `data_content_sha256` in its provenance).
""")

# %% [markdown]
# ### What is in it: Processed and RAW files, lasers
#
# RRUFF publishes a spectrum as measured (*RAW*: the detector's counts, fluorescence background included) and after its
# own processing (*Processed*: cosmic-ray spikes removed, the background subtracted, the wavenumber axis calibrated)
# [Lafuente2015]. The archive's catalog (every file parsed once and cached) says what this archive holds:

# %%
catalog = rc.load_catalog()
files = catalog.meta
kinds = files["processing"].value_counts()
lasers = files["laser_nm"].value_counts().sort_index()
coverage = files.groupby("laser_nm")["wn_max"].median()
reach_oh = files.groupby("laser_nm")["wn_max"].apply(lambda s: float((s >= 3200).mean()))
skipped = f" (and {len(catalog.skipped):,} files the parser skipped)" if catalog.skipped else ""

# %% tags=["remove-input"]
rc.md(f"""
This archive holds {len(files):,} readable spectrum files{skipped}:
{kinds.get("Processed", 0):,} Processed and {kinds.get("RAW", 0):,} RAW. The book uses only Processed spectra (the
funnel below counts the RAW ones as excluded), so every spectrum a model sees went through RRUFF's own background
subtraction. Lasers: {", ".join(f"{int(n):,} spectra at {laser:g} nm" for laser, n in lasers.items())}. Whatever the laser, most
spectra stop long before the O–H region: the median highest shift is
{", ".join(f"{coverage[laser]:,.0f} cm⁻¹ at {laser:g} nm" for laser in coverage.index)}, and the share of spectra
that reach 3200 cm⁻¹ is {", ".join(f"{100 * reach_oh[laser]:.0f} % at {laser:g} nm" for laser in reach_oh.index)}.
""")

# %% [markdown]
# Where one sample was measured both ways with the same laser, RAW and Processed can be compared directly. The
# difference is what RRUFF's processing removed: mostly a smooth fluorescence background.

# %%
pairs = files[files["processing"] == "RAW"].merge(
    files[files["processing"] == "Processed"], on=["rruff_id", "laser_nm"], suffixes=("_raw", "_processed"))
pairs = pairs.assign(in_task=pairs["mineral_raw"].isin(set(rc.mineral_groups()))).sort_values(
    ["in_task", "rruff_id"], ascending=[False, True])
pairs[["mineral_raw", "rruff_id", "laser_nm", "in_task"]].reset_index(drop=True)

# %%
fig = None
if len(pairs):
    pair = pairs.iloc[0]
    raw, processed = rc.read_spectrum(pair["source_raw"]), rc.read_spectrum(pair["source_processed"])
    fig = rc.plots.overlay_figure(
        {"RAW (as measured)": (raw.wavenumber, raw.intensity),
         "Processed (RRUFF)": (processed.wavenumber, processed.intensity)},
        title=f"{raw.mineral} {raw.rruff_id}, {raw.laser_nm} nm: RAW and Processed", yaxis_title="intensity (counts)")

# %% tags=["remove-input"]
fig if fig is not None else rc.md("This archive has no sample with both a RAW and a Processed spectrum at the same laser.")

# %% [markdown]
# ## The main task: ten mineral groups

# %%
ds = rc.load_task("rruff-groups-10")
grid = ds.preprocess

# %% tags=["remove-input"]
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
rc.plots.spectra_figure(ds.grid, ds.X, ds.y, ds.class_names, per_class=3, seed=ch.seed,
                        labels=ds.meta["mineral"].tolist())

# %%
rc.plots.class_means_figure(ds.grid, ds.X, ds.y, ds.class_names)

# %% [markdown]
# ## The groups' characteristic bands
#
# The table `data/bands.csv` lists, for each group, the bands the mineralogical literature assigns to it — the
# position or range, the vibration, and the source (full entries in [references](references.md)). It is read through
# the package (`rc.load_bands`), which checks every row. Ranges are wide where a group holds many species: a band
# moves with the cations (Fe for Mg, Na for K) and with the linkage of the tetrahedra.

# %%
bands = rc.load_bands(grid=(float(ds.grid[0]), float(ds.grid[-1])))
bands.assign(band=[f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}" for lo, hi in zip(bands["low_cm1"], bands["high_cm1"])]
             )[["group", "band", "assignment", "source", "on_grid"]].rename(columns={"band": "band (cm⁻¹)"})

# %%
rc.plots.bands_figure(ds.grid, ds.X, ds.y, ds.class_names, bands.to_dict("records"))

# %%
# for each group: where its class mean peaks, and whether that shift lies in one of its bands (within 5 cm⁻¹)
means = np.stack([ds.X[ds.y == k].mean(axis=0) for k in range(len(ds.class_names))])
strongest = {g: float(ds.grid[np.argmax(means[k])]) for k, g in enumerate(ds.class_names)}
in_band = {g: bool(((bands["group"] == g) & (bands["low_cm1"] - 5 <= x) & (x <= bands["high_cm1"] + 5)).any())
           for g, x in strongest.items()}
species = ds.meta.assign(group=[ds.class_names[i] for i in ds.y]).groupby("group")["mineral"].agg(
    lambda s: ", ".join(f"{m} ({n})" for m, n in s.value_counts().head(4).items()))
outside = [g for g, ok in in_band.items() if not ok]

# %% tags=["remove-input"]
rc.md(f"""
The strongest peak of the class mean falls inside one of the group's bands for
{sum(in_band.values())} of the {len(in_band)} groups ({", ".join(f"{g} at {strongest[g]:.0f} cm⁻¹" for g, ok in
in_band.items() if ok)}). {"For " + ", ".join(f"{g} (strongest at {strongest[g]:.0f} cm⁻¹; species {species[g]})"
for g in outside) + " it does not." if outside else ""} Either a group's mean mixes species whose bands lie at
different shifts — the garnet positions in the table are almandine's, and the apatite supergroup includes arsenates
and vanadates (mimetite, vanadinite), whose AsO4 and VO4 groups have their own bands — or a group's strongest band is
not among the few the table lists. That spread of bands within a group is what a classifier has to learn, and what
a single reference band cannot capture.
""")

# %%
off_grid = bands[~bands["on_grid"]]
covers = ds.meta.assign(group=[ds.class_names[i] for i in ds.y])
# the share of each group's spectra (in the task) that reach the upper end of each off-grid band
reach = [(r.group, f"{r.low_cm1:g}–{r.high_cm1:g}",
          float((covers.loc[covers["group"] == r.group, "wn_max"] >= r.high_cm1).mean())) for r in off_grid.itertuples()]
rare = [f"{g} {band}" for g, band, v in reach if v < 0.05]

# %% tags=["remove-input"]
rc.md(f"""
Of the {len(bands)} bands in the table, {len(off_grid)} lie off the book's grid ({ds.grid[0]:g}–{ds.grid[-1]:g} cm⁻¹),
and the models never see them. Could a wider grid include them? Only for the spectra that reach that far:
{"; ".join(f"{100 * v:.0f} % of the {g} spectra reach {band} cm⁻¹" for g, band, v in reach)}.
{f"For {', '.join(rare)} cm⁻¹ the band is missing from (nearly) every spectrum of this archive, not only from the grid." if rare else ""}
Which range serves classification best is a measurement, not an assumption (exercise 6).
""")

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
knn = {kind: rc.evaluate("knn_cosine", ds, split_kind=kind, seed=ch.seed, profile=ch.profile, measure_speed=False,
                      progress=False) for kind in ("random", "sample")}
# each split kind's test accuracy over the repeats, in per cent: mean, sd and the per-split values
acc = {kind: rc.tables.Stat(100 * r.metrics["accuracy"].mean, 100 * r.metrics["accuracy"].sd,
                            [100 * p["accuracy"] for p in r.per_repeat]) for kind, r in knn.items()}
rows = [{"split": kind, "mean": s.mean, "sd": s.sd, "repeats": knn[kind].repeats, "values": list(s.values)}
        for kind, s in acc.items()]
pd.DataFrame(rows).drop(columns="values").round(2)

# %%
rc.plots.mean_sd_bar_figure(rows, x="split", title="1-NN cosine library search: test accuracy by split kind")

# %%
random_split, by_sample = acc["random"], acc["sample"]
gap = random_split.mean - by_sample.mean
print(f"random split: {random_split.mean:.2f} ± {random_split.sd:.2f} %, by-sample split: {by_sample.mean:.2f} ± "
      f"{by_sample.sd:.2f} % -> difference {gap:+.2f} points (compare with the sds)")

# %% [markdown]
# ## Where the leak is
#
# The two means alone hide what happens inside the random split. For each test spectrum we ask: does its sample
# have other spectra in the training part (a *sibling*), is its nearest training spectrum such a sibling, and is the
# library search right? Means over the same repeated splits:

# %%
leak_rows = [{"split": kind, **rc.sibling_leakage(ds, s)}
             for kind in ("random", "sample")
             for s in rc.repeated_splits(ds.y, ds.groups, kind, repeats=ch.profile.repeats, seed=ch.seed)]
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
         "knn_cosine_accuracy": {kind: s.to_dict() for kind, s in acc.items()},
         "sibling_leakage": leak.to_dict()},
        task=ds.task, split="sample and random", data_sha256=ds.source_sha256)

# %% [markdown]
# ## Summary
#
# * The 2019 RRUFF *excellent_unoriented* archive gives the book's main task, `rruff-groups-10`: ten IMA mineral
#   groups with imbalanced class sizes, defined by a reviewable species → group table.
# * Every file goes through one parser and one preprocessing path (grid, normalisation); unusable files are listed
#   with reasons, never silently altered.
# * A Raman shift is the energy of a vibration in cm⁻¹, the same for every laser. Internal modes of the SiO4, CO3
#   and PO4 groups and of OH, and the lattice modes below them, give each mineral group characteristic bands
#   (`data/bands.csv`, with sources); the book's grid keeps most of them but not the O–H stretches or the carbonate
#   ν3, and the chapter measures how many spectra of the archive reach those at all.
# * Near-infrared lasers avoid much of the fluorescence that green ones excite, at the cost of signal and range;
#   RRUFF's Processed files have that background subtracted, the RAW ones do not. The book uses Processed spectra.
# * The archive is named by a content fingerprint that survives re-zipping; the chapter says whether yours is the
#   book's 2019 snapshot, and every result file records it.
# * Most samples have several spectra. Splitting spectra at random lets test spectra find their own sample's other
#   spectra in the training set, and those are recognised almost perfectly; the book's main split keeps each sample
#   on one side, and reports mean ± sd over repeated splits.

# %%
gap_row = rc.Row.from_evaluation(knn["sample"])
gap_row.accuracy_random = rc.Row.from_evaluation(knn["random"]).accuracy

# %% tags=["remove-input"]
rc.md(f"""
**Verdict.**

* {rc.findings.split_sentence(gap_row)}

Next: [chapter 2](02_baselines.ipynb) trains the classical baselines and the library search.
""")

# %% [markdown]
# ## Exercises
#
# Marked by kind: ★ explain why, ★★ change something and measure, ★★★ a project (listed under *Projects*,
# longer runs). Worked solutions, computed in the profile they run in: `book/solutions/`.
#
# 1. ★★ Run `python -m ramancmp data summary --task rruff-species-10` and compare the class balance with the groups task.
# 2. ★★ Change the grid to 100–1400 cm⁻¹
#    (`rc.load_task("rruff-groups-10", preprocess=rc.PreprocessConfig(grid_start=100, grid_stop=1400))`) and count
#    how many spectra are dropped. What does that trade?
# 3. ★★ The gap between random and by-sample splits depends on how many spectra a sample has. Predict how it would change
#    on `rruff-species-10` (`rc.load_task("rruff-species-10")`), then measure it with the library search as above.
#    (`rruff-all-species` cannot be split at random with stratification: it has more classes than test spectra.)
# 4. ★ Which groups overlap most in the class-mean figure? Check your guess against the confusion matrices of chapter 2.
# 5. ★★ The Raman shift does not depend on the laser. Check it on the archive: find samples measured with both a green
#    (514/532 nm) and a near-infrared (780/785 nm) laser (`rc.load_catalog().meta`, columns `rruff_id`, `laser_nm`,
#    `processing`), locate the strongest peak of each Processed spectrum (`rc.read_spectrum(source)`) and compare the
#    two positions. How large are the differences, and what besides the laser could cause them?
# 6. ★★ How far could the grid reach? For upper ends from 1200 to 2000 cm⁻¹, count how many spectra of the ten groups
#    still cover 150 cm⁻¹ to that end (`wn_min`, `wn_max` in the catalog; the groups from `rc.mineral_groups()`).
#    From which end on is the carbonate ν3 band (`rc.load_bands()`) on the grid, and how many spectra does that cost?
# 7. ★★ The content fingerprint. Write a zip of a few of the archive's spectra, then the same files in another order and
#    without compression, and compare `rc.content_fingerprint` of the two with their sha256s
#    (`rc.file_sha256`). Then change one intensity in one file: which digests change?
#
# <!-- nav:start -->
#
# [← 0. Introduction](00_introduction.ipynb) | [Contents](../README.md#the-book) | [Next: 2. Baselines →](02_baselines.ipynb)
#
# <!-- nav:end -->
