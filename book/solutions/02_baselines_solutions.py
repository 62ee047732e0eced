# %% [markdown]
# # Solutions to chapter 2: Baselines
#
# Worked solutions to the exercises of [chapter 2](../02_baselines.ipynb). Every number in an answer is computed by
# the code above it, in the profile set below.

# %% tags=["parameters"]
profile = "quick"
seed = 0
data_dir = None

# %%
import numpy as np
import pandas as pd

from ramancmp import book as rc

prof = rc.RunContext.from_env(profile, seed).profile
ds = rc.load_task("rruff-groups-10")


def accuracy(model, **kwargs):
    """Mean and sd of test accuracy (%) over the profile's repeated by-sample splits."""
    r = rc.evaluate(model, ds, seed=seed, profile=prof, measure_speed=False, progress=False, **kwargs)
    return 100 * r.metrics["accuracy"].mean, 100 * r.metrics["accuracy"].sd, r


# %% [markdown]
# ## Exercise 1 -- LDA with Ledoit–Wolf shrinkage
#
# Shrinkage pulls the within-class covariance towards a diagonal matrix, so LDA no longer fits directions of noise
# in a matrix estimated from fewer spectra than wavenumbers.

# %%
# Every number is measured here, in this file's profile, on the same repeated splits (chapter 2's stored results may
# come from another profile: reading them beside numbers computed now would mix two protocols).
plain, pca = accuracy("lda")[:2], accuracy("pca_lda")[:2]
shrunk = accuracy("lda", model_kwargs={"shrinkage": "auto"})[:2]
gap = pca[0] - plain[0]
closed = (shrunk[0] - plain[0]) / gap if gap > 0 else float("nan")
if gap <= 0:
    verdict = "PCA + LDA is not better than LDA here, so there is no gap to close"
elif closed > 1:
    verdict = (f"shrinkage does more than close the gap: it is {shrunk[0] - pca[0]:+.2f} points against PCA + LDA "
               f"({100 * closed:.0f} % of the gap)")
elif closed < 0:
    verdict = "shrinkage makes LDA worse, so it closes none of the gap"
else:
    verdict = f"shrinkage closes {100 * closed:.0f} % of the gap to PCA + LDA"
print(f"LDA {plain[0]:.2f} ± {plain[1]:.2f} %, LDA + shrinkage {shrunk[0]:.2f} ± {shrunk[1]:.2f} %, "
      f"PCA + LDA {pca[0]:.2f} ± {pca[1]:.2f} % (mean ± sd over {prof.classical_repeats} splits, profile "
      f"{prof.name}): {verdict}.")

# %% [markdown]
# ## Exercise 2 -- Euclidean instead of cosine distance
#
# After min-max normalisation every spectrum spans 0 to 1, but the *shape* between varies: a spectrum with one
# dominant band has most intensities near 0, one with many bands of similar height does not. Cosine similarity
# compares only the direction of the intensity vector; Euclidean distance also counts differences in overall level
# (a residual background lifts every point), so it is more sensitive to what normalisation left behind.

# %%
euclid = lambda n_classes, length: rc.create_model("knn_cosine_sklearn", n_classes, length).set_params(metric="euclidean")  # noqa: E731
cos, euc = accuracy("knn_cosine")[:2], accuracy(euclid)[:2]
print(f"1-NN cosine {cos[0]:.2f} ± {cos[1]:.2f} %, 1-NN Euclidean {euc[0]:.2f} ± {euc[1]:.2f} % "
      f"({euc[0] - cos[0]:+.2f} points)")

# %% [markdown]
# ## Exercise 3 -- the number of PCA components, chosen on the validation part
#
# For each repeated split: fit PCA + LDA on the training part for every candidate, score it on the validation part,
# keep the best, and only then touch the test part.

# %%
candidates = (10, 25, 50, 100, 200)
rows = []
for split in rc.repeated_splits(ds.y, ds.groups, "sample", repeats=prof.repeats, seed=seed):
    val = {k: rc.create_model("pca_lda", len(ds.class_names), ds.X.shape[1], n_components=k)
           .fit(ds.X[split.train], ds.y[split.train]).score(ds.X[split.val], ds.y[split.val]) for k in candidates}
    best = max(val, key=val.get)
    test = rc.create_model("pca_lda", len(ds.class_names), ds.X.shape[1], n_components=best) \
        .fit(ds.X[split.train], ds.y[split.train]).score(ds.X[split.test], ds.y[split.test])
    rows.append({"split seed": split.seed, "chosen components": best, "validation %": 100 * val[best],
                 "test %": 100 * test})
chosen = pd.DataFrame(rows)
chosen.round(2)

# %%
print(f"chosen on validation: {', '.join(map(str, chosen['chosen components']))} components; test accuracy "
      f"{chosen['test %'].mean():.2f} % vs {pca[0]:.2f} % with the default 50 (fixed before looking at test data)")

# %% [markdown]
# ## Exercise 4 -- which groups does the library search confuse?

# %%
_, _, knn = accuracy("knn_cosine")
cm = np.asarray(knn.confusion_matrix)
pairs = pd.DataFrame([(ds.class_names[i], ds.class_names[j], cm[i, j]) for i in range(len(cm))
                      for j in range(len(cm)) if i != j and cm[i, j]],
                     columns=["true group", "predicted as", "spectra"]).nlargest(5, "spectra")
pairs

# %% [markdown]
# Why these pairs? Two measurable reasons, computed below for the most frequent confusion: how alike the two groups'
# mean spectra are (cosine similarity, against the other pairs of groups), and which characteristic bands of the two
# groups (`rc.load_bands()`, with their sources) overlap in position.

# %%
top = pairs.iloc[0]
a, b = ds.class_names.index(top["true group"]), ds.class_names.index(top["predicted as"])
means = np.stack([ds.X[ds.y == k].mean(axis=0) for k in range(len(ds.class_names))])
unit = means / np.linalg.norm(means, axis=1, keepdims=True)
similarity = unit @ unit.T
others = similarity[np.triu_indices(len(means), k=1)]
rank = int((others > similarity[a, b]).sum()) + 1
bands = rc.load_bands()
band_a, band_b = bands[bands["group"] == top["true group"]], bands[bands["group"] == top["predicted as"]]
shared = [f"{ra.low_cm1:.0f}-{ra.high_cm1:.0f} cm⁻¹ ({ra.assignment.split(':')[0]}) with "
          f"{rb.low_cm1:.0f}-{rb.high_cm1:.0f} cm⁻¹ ({rb.assignment.split(':')[0]})"
          for ra in band_a.itertuples() for rb in band_b.itertuples()
          if ra.low_cm1 <= rb.high_cm1 and rb.low_cm1 <= ra.high_cm1]
print(f"The most frequent confusion is {top['true group']} -> {top['predicted as']} ({top['spectra']} spectra over "
      f"{knn.repeats} splits). Their mean spectra have cosine similarity {similarity[a, b]:.3f}, rank {rank} of "
      f"{len(others)} pairs of groups (median {np.median(others):.3f}): "
      + ("among the most alike quarter of pairs, so the average spectra themselves invite the confusion. "
         if rank <= len(others) / 4 else "not among the most alike pairs, so the average spectra do not explain it: "
         "look at the few confused spectra themselves (a mixture, a strong background, a mislabelled sample). ")
      + (f"Overlapping characteristic bands: {'; '.join(shared)}." if shared else
         "None of their characteristic bands in data/bands.csv overlap: the confusion comes from spectra that are "
         "atypical for their group (look at the confused spectra themselves), not from shared band positions."))
