# %% [markdown]
# # 2. Baselines: LDA, PCA + LDA, and the library search a mineralogist would use
#
# > LDA, PCA + LDA and the kNN library search a mineralogist would use
#
# <!-- nav:start -->
#
# [← 1. The RRUFF data](01_data.ipynb) | [Contents](../README.md#the-book) | [Next: 3. A plain 1D CNN →](03_cnn.ipynb)
#
# <!-- nav:end -->
#
# Before any network, the classical answers. The paper's baseline is **linear discriminant analysis** (LDA): find
# the directions that separate the class means best relative to the spread within classes, and classify in that
# space. With 1024 wavenumbers and a few hundred training spectra the within-class scatter matrix is singular, so we
# also try the chemometrics textbook recipe, **PCA + LDA** (project on the leading principal components first).
#
# The baseline the paper does not have, and which readers ask about first, is the **library search**: compare the
# unknown spectrum with every reference spectrum and return the most similar one's mineral. That is what RRUFF's own
# matching does; here it is a 1-nearest-neighbour classifier with cosine similarity.
#
# All three go through the same evaluation harness as the networks of later chapters: the same by-sample splits,
# repeated, with mean ± sd of accuracy, macro sensitivity and macro specificity.

# %% [markdown]
# **Learning goals.** After this chapter you can
#
# * fit LDA, PCA + LDA and the 1-NN cosine library search through the book's evaluation harness
# * explain why plain LDA over-fits when there are more wavenumbers than training spectra
# * read a confusion matrix and a mean ± sd over repeated splits
#
# **Prerequisites:** chapter 1. Background: covariance matrices, projections, nearest-neighbour classification.
#
# **Reading** (full entries in [references](references.md)): [Ledoit2004] (shrinkage LDA, exercise 1), [Lafuente2015]
# (library search against RRUFF).


# %% tags=["parameters"]
profile = None  # None: the book runner's choice, else "quick"; "full" makes the book's results
seed = None  # None: the book runner's seed, else 0
data_dir = None  # None: the project's data cache (data/raw or $RAMANCMP_DATA_DIR)

# %%
import pandas as pd

from ramancmp import book as rc

ch = rc.Chapter("02_baselines", profile=profile, seed=seed, data_dir=data_dir)
ds = rc.load_task("rruff-groups-10")
print(ch, "|", ds)

# %% [markdown]
# ## The three models, written out
#
# Before the harness, each model in the few lines it takes, fitted on one by-sample split (the first of the
# harness's splits) and tested on its test part. LDA and PCA + LDA are one scikit-learn line each. The library search
# is three lines of numpy: scale every spectrum to unit length, so that one matrix product gives the cosine
# similarity of every test spectrum with every reference spectrum, and return the label of the most similar one.

# %%
split = rc.make_split(ds.y, ds.groups, kind="sample", seed=ch.seed)
X_train, y_train, X_test, y_test = ds.X[split.train], ds.y[split.train], ds.X[split.test], ds.y[split.test]

# %% tags=["from-scratch"]
import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import make_pipeline

lda = LinearDiscriminantAnalysis(solver="svd").fit(X_train, y_train)
pca_lda = make_pipeline(PCA(n_components=50, random_state=0), LinearDiscriminantAnalysis(solver="svd")).fit(X_train, y_train)


def library_search(X_library, y_library, X):
    """1-NN by cosine similarity: unit-length rows, one matrix product, the label of the best match."""
    def unit(A):
        return A / np.linalg.norm(A, axis=1, keepdims=True)
    return y_library[(unit(X) @ unit(X_library).T).argmax(axis=1)]


# %% [markdown]
# The concise form of each is the book's registered model of the same name (`rc.create_model("lda", ...)`,
# `"pca_lda"`, `"knn_cosine"`), which is what the harness fits. Both forms on the same split:

# %%
scratch = {"lda": lda.predict(X_test), "pca_lda": pca_lda.predict(X_test),
           "knn_cosine": library_search(X_train, y_train, X_test)}
registered = {name: rc.create_model(name, num_classes=len(ds.class_names), in_length=ds.X.shape[1])
              .fit(X_train, y_train).predict(X_test) for name in scratch}
pd.DataFrame({"written out: test accuracy (%)": {n: 100 * np.mean(p == y_test) for n, p in scratch.items()},
              "agrees with the registered model (%)": {n: 100 * np.mean(p == registered[n]) for n, p in scratch.items()}}
             ).round(2)

# %% [markdown]
# ## Evaluation on the by-sample split
#
# The harness repeats what the cells above did for one split: each registered model is fitted on the training part of
# each split and tested on spectra of samples it has never seen. Every model of the book learns from exactly the same
# training spectra; the validation part is used only by the networks
# of later chapters, to choose their best epoch.

# %%
baselines = ["lda", "pca_lda", "knn_cosine"]
by_sample = {name: rc.evaluate(name, ds, split_kind="sample", seed=ch.seed, profile=ch.profile, progress=False)
             for name in baselines}
model_rows = [rc.Row.from_evaluation(r) for r in by_sample.values()]
rc.tables.show(model_rows)

# %%
R = {r.model: r for r in model_rows}

# %% tags=["remove-input"]
rc.md(f"""
Test accuracy with its 95 % interval (corrected resampled t, over {R['lda'].accuracy.n} by-sample
splits): LDA {rc.tables.accuracy_text(R['lda'])}, PCA + LDA {rc.tables.accuracy_text(R['pca_lda'])}, the library
search {rc.tables.accuracy_text(R['knn_cosine'])}. Paired on the same splits, PCA + LDA minus LDA is
{rc.tables.difference_text(R['pca_lda'], R['lda'])}, and the library search minus PCA + LDA is
{rc.tables.difference_text(R['knn_cosine'], R['pca_lda'])}.

Why plain LDA can fall behind: with more wavenumbers than training spectra per class it fits directions of the noise
(the SVD solver discards only exactly-degenerate directions); reducing to principal components first regularises it.
The library search needs no fitting at all: it wins where the spectra of one mineral look alike, band for band.

**Known and new species.** A test spectrum of a species that has other samples in the training part is a "known
species"; one whose species is absent from training is a "new species" (many species of a group have one RRUFF
sample only):

{rc.tables.species_text(model_rows)}

A library search can only return the group of the most similar *known* spectrum; for a new species it must rely on
a related mineral of the same group looking alike, which is what the second number measures.

{rc.tables.specificity_text(model_rows, len(ds.class_names))}
""")

# %% [markdown]
# ## How fast is the library search, written as it would be?
#
# `knn_cosine` is the library search as a practitioner writes it (`rc.LibrarySearch`): the training spectra scaled
# to unit length once and kept as one float32 matrix, one matrix-vector product per spectrum, the class of the
# largest similarity. scikit-learn's `KNeighborsClassifier` with the cosine metric (`knn_cosine_sklearn`) computes
# the same thing and predicts the same class for every spectrum (a test checks it on every test spectrum of a
# by-sample split), but validates its input and re-normalises the whole library on every call. Both are timed here
# in the same interleaved rounds, with LDA and PCA + LDA (each one matrix product, PCA folded into LDA's
# coefficients) and the two variants chapter 10 shows beside the library search: square-root squashed spectra, and
# a library that also holds the validation spectra (legitimate: the library search tunes nothing on them).

# %%
library_rows, targets = rc.library_search_rows(ds, ch.profile, ch.seed, library=R["knn_cosine"])
targets.update({name: result.estimator for name, result in by_sample.items()})
speed_rows = model_rows + library_rows
rc.time_rows(speed_rows, targets, baselines=["knn_cosine"], profile=ch.profile, seed=ch.seed,
             inputs=ds.X[by_sample["knn_cosine"].last_split.test])
rc.tables.to_frame(speed_rows, rc.tables.COLUMN_GROUPS["size and speed"])

# %% tags=["remove-input"]
rc.md(rc.library_search_text(speed_rows))

# %% [markdown]
# ## Where the mistakes are
#
# Confusion matrices summed over the repeated splits (rows: true group; the numbers are spectra, the colour the
# fraction of the row).

# %%
rc.plots.confusion_figure(by_sample["lda"].confusion_matrix, ds.class_names, title="LDA: confusion matrix")

# %%
rc.plots.confusion_figure(by_sample["knn_cosine"].confusion_matrix, ds.class_names,
                       title="1-NN cosine library search: confusion matrix")

# %% [markdown]
# ## How many principal components?
#
# PCA + LDA has one knob. A small sweep on the same splits, showing the *validation* accuracy (the number a choice may
# use) beside the test accuracy (which may only be reported). The book's default was fixed before looking at test
# data; the cell below says what validation alone would choose.

# %%
sweep, val_mean = [], {}  # plot records; mean validation accuracy (%) by number of components
for k in (10, 25, 50, 100, 200):
    r = rc.evaluate("pca_lda", ds, split_kind="sample", seed=ch.seed, profile=ch.profile,
                    model_kwargs={"n_components": k}, measure_speed=False, progress=False)
    for part, key in (("validation", "val_accuracy"), ("test", "accuracy")):
        vals = [100 * p[key] for p in r.per_repeat]
        mean = float(pd.Series(vals).mean())
        sweep.append({"components": str(k), "part": part, "mean": mean, "sd": float(pd.Series(vals).std()),
                      "values": vals})
        if part == "validation":
            val_mean[str(k)] = mean
rc.plots.mean_sd_bar_figure(sweep, x="components", color="part",
                            title="PCA + LDA: validation and test accuracy vs number of components")

# %%
best_k = max(val_mean, key=val_mean.get)  # the first of equal means, as before
default_k = rc.create_model("pca_lda", num_classes=len(ds.class_names)).get_params().get("estimator__pca__n_components")

# %% tags=["remove-input"]
rc.md(f"On validation data alone the sweep would choose **{best_k}** components; the book's default is "
      f"{default_k}.")

# %% [markdown]
# ## Random vs by-sample split
#
# The paper-style random split, for comparison (same models, same number of repeats).

# %%
random_split = {name: rc.evaluate(name, ds, split_kind="random", seed=ch.seed, profile=ch.profile, measure_speed=False,
                               progress=False) for name in baselines}
rows = [{"model": name, "split": kind, "mean": 100 * res[name].metrics["accuracy"].mean,
         "sd": 100 * res[name].metrics["accuracy"].sd}
        for kind, res in (("by sample", by_sample), ("random", random_split)) for name in baselines]
rc.plots.mean_sd_bar_figure(rows, x="model", color="split", title="Baselines: by-sample vs random split")

# %% [markdown]
# ## A split that holds out whole species
#
# The by-sample split tests a *new sample*; most of its test spectra are of a species that other samples in the
# training part already show. A third protocol asks the harder question directly: `split_kind="species"` groups the
# splits by species (the same stratified group folds, seeded the same way), so every species of a test part is absent
# from its training part and each model must name the group of a mineral it has never seen.

# %%
by_species = {name: rc.evaluate(name, ds, split_kind="species", seed=ch.seed, profile=ch.profile, measure_speed=False,
                                progress=False) for name in baselines}
for row in model_rows:
    row.accuracy_random = rc.Row.from_evaluation(random_split[row.model]).accuracy
    row.accuracy_species_split = rc.Row.from_evaluation(by_species[row.model]).accuracy
lib = R["knn_cosine"]

# %% tags=["remove-input"]
rc.md(f"""
Accuracy on by-sample splits, on their new-species test spectra, and on by-species splits (95 % intervals):

{rc.tables.species_split_text(model_rows)}

**Why the library search wins on known species.** A new sample of a known species has a near twin among the reference
spectra: the same bands at the same positions, with other intensities, noise or laser. The nearest reference spectrum
is then almost always of that species, hence of its group: the library search is right on
{rc.tables.accuracy_text(lib, 'accuracy_known_species')} of the known-species test spectra. It learns nothing; it
only remembers, and on known species remembering is enough.

**What a model must learn to name the group of a new species.** For a species absent from training there is no twin;
the nearest spectrum is only a relative, and the library search falls to
{rc.tables.accuracy_text(lib, 'accuracy_species_split')} when every test species is new. To do better a model has to
learn what the species of a group *share*: the bands of the group's structural unit (the carbonate ion's symmetric
stretch near 1,085 cm⁻¹, the Si–O–Si bending of a framework silicate near 450-510 cm⁻¹, the SiO₄ modes of an orthosilicate
such as olivine or garnet), while ignoring what differs between species of one group: band shifts from cation
substitution, extra bands of other anions or of water, relative intensities and orientation. Accuracy on the
species-held-out split is the measure of that, and it is the number a network that claims to have *learnt* the
groups has to win.
""")

# %% [markdown]
# ## Curated labels: results with and without the flagged spectra
#
# Some RRUFF samples carry their own warnings: a status that says the identification is not yet confirmed, or a
# description that mentions a mixture, an intergrowth or crystals sitting on another mineral. The curation table
# `data/curation.csv` lists every such sample of the archive with the header text it was flagged for (built by
# `python -m ramancmp data curation`; rules and hand-checked rows in `data/README.md`). Nothing is removed from the
# task: every result above includes these spectra, and the same splits are scored again without them.

# %%
flagged = rc.flagged_in_task(ds)
flag_counts = (flagged.groupby("flag").agg(samples=("rruff_id", "nunique"), task_spectra=("task_spectra", "sum"))
               .reset_index())
flag_counts

# %% tags=["remove-input"]
rc.md("The hand-checked samples, with the reason and RRUFF's own description:\n\n" + "\n".join(
    f"* **{r.rruff_id} {r.species}** (labelled {r.group}): {r.reason.removeprefix('hand-checked: ')}. "
    f"Description: \u201c{r.source_text}\u201d" for r in flagged[flagged["flag"] == "likely_mislabelled"].itertuples()))

# %%
for row in model_rows:
    rc.evaluate_curated(row.model, ds, full=row, split_kind="sample", seed=ch.seed, profile=ch.profile,
                        progress=False)
n_flagged_spectra = int(flagged.drop_duplicates("rruff_id")["task_spectra"].sum())

# %% tags=["remove-input"]
rc.md(f"""
{flagged['rruff_id'].nunique()} samples of the task ({n_flagged_spectra} of its {len(ds.y)} spectra) carry at least
one flag. The same by-sample splits, scored with every test spectrum and without the flagged ones (training parts
unchanged), with the paired difference:

{rc.curated_text(model_rows)}
""")

# %%
metrics = {"rows": model_rows, "pca_lda_sweep": sweep}
ch.save(metrics, task=ds.task, split="sample", data_sha256=ds.source_sha256)
pd.DataFrame(rows).round(2)

# %% [markdown]
# ## Summary

# %%
best = rc.claims.pick_best(model_rows)

# %% tags=["remove-input"]
rc.md(f"""
* On validation data the best baseline is the {best.model} ({rc.tables.accuracy_text(best)} on the test parts);
  PCA before LDA changes plain LDA's accuracy by {rc.tables.difference_text(R['pca_lda'], R['lda'])}.
* The 1-NN cosine library search is the method mineralogists actually use. Any network in the following chapters
  has to beat *it*, paired on the same splits and outside the noise, not just LDA, to be worth its cost.
* Every accuracy here comes with a 95 % interval over repeated by-sample splits, and with its known-species and
  new-species parts; the random split is shown for comparison only.
* When whole species are held out, the library search scores {rc.tables.accuracy_text(R['knn_cosine'],
  'accuracy_species_split')} (known species in by-sample splits: {rc.tables.accuracy_text(R['knn_cosine'],
  'accuracy_known_species')}): naming the group of a new mineral is the harder task, and the one worth learning.
* Leaving the flagged spectra of `data/curation.csv` out of the test parts changes the library search's accuracy by
  {rc.curated_difference_text(R['knn_cosine'])}.
""")

# %%
lib = R["knn_cosine"]

# %% tags=["remove-input"]
rc.md(f"""
**Verdict.**

* {rc.findings.verdict_sentence(R["pca_lda"], lib)}
* {rc.findings.verdict_sentence(R["lda"], lib, a_words="LDA, the paper's classical baseline,")}

Next: [chapter 3](03_cnn.ipynb) builds the paper's plain 1D CNN and asks whether it beats this library search.
""")

# %% [markdown]
# ## Exercises
#
# Marked by kind: ★ explain why, ★★ change something and measure, ★★★ a project (listed under *Projects*,
# longer runs). Worked solutions, computed in the profile they run in: `book/solutions/`.
#
# 1. ★★ Evaluate LDA with Ledoit–Wolf shrinkage, `rc.evaluate("lda", ds, profile=ch.profile, model_kwargs={"shrinkage":
#    "auto"})`. How much of the gap to PCA + LDA does regularisation close?
# 2. ★★ Replace cosine with Euclidean distance in the library search: `evaluate` also takes a factory,
#    `lambda n_classes, length: rc.create_model("knn_cosine_sklearn", n_classes, length).set_params(metric="euclidean")`.
#    Why does min-max normalisation make the two behave differently?
# 3. ★★ Choose the number of PCA components on the validation part only (hint: `rc.make_split`) and
#    compare with the sweep above.
# 4. ★ Which pairs of groups does the library search confuse? Look at their class means in chapter 1: why?
#
# <!-- nav:start -->
#
# [← 1. The RRUFF data](01_data.ipynb) | [Contents](../README.md#the-book) | [Next: 3. A plain 1D CNN →](03_cnn.ipynb)
#
# <!-- nav:end -->
