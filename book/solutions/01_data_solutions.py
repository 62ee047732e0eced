# %% [markdown]
# # Solutions to chapter 1: The RRUFF data
#
# Worked solutions to the exercises of [chapter 1](../01_data.ipynb). Every number in an answer is computed by the
# code above it, in the profile set below.

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


def balance(dataset):
    counts = pd.Series({c: v["spectra"] for c, v in dataset.summary["classes"].items()})
    return counts, counts.max() / counts.min()


# %% [markdown]
# ## Exercise 1 -- class balance of `rruff-species-10`
#
# `python -m ramancmp data summary --task rruff-species-10` prints the summary; the counts per class and the ratio
# of the largest to the smallest class:

# %%
species = rc.load_task("rruff-species-10")
(g_counts, g_ratio), (s_counts, s_ratio) = balance(ds), balance(species)
print(f"groups: {len(ds.y)} spectra, largest/smallest class {g_ratio:.1f}x; "
      f"species-10: {len(species.y)} spectra, largest/smallest class {s_ratio:.1f}x")
s_counts.sort_values(ascending=False).to_frame("spectra")

# %% [markdown]
# ## Exercise 2 -- a 100–1400 cm⁻¹ grid
#
# A wider grid keeps more bands (carbonate ν3 near 1400–1450 cm⁻¹ partly, more lattice modes below 150 cm⁻¹), but
# every spectrum must cover it: spectra measured over a shorter range are dropped. With the same 1024 points the grid
# is also coarser. What it trades, counted:

# %%
wide = rc.load_task("rruff-groups-10", preprocess=rc.PreprocessConfig(grid_start=100, grid_stop=1400))
step = {name: (d.grid[1] - d.grid[0]) for name, d in (("150-1200", ds), ("100-1400", wide))}
print(f"150-1200 cm-1: {len(ds.y)} spectra (grid step {step['150-1200']:.2f} cm-1); 100-1400 cm-1: {len(wide.y)} "
      f"spectra (step {step['100-1400']:.2f} cm-1): {len(ds.y) - len(wide.y)} spectra dropped")
pd.DataFrame({"150-1200": pd.Series(ds.summary["funnel"]), "100-1400": pd.Series(wide.summary["funnel"])})

# %% [markdown]
# ## Exercise 3 -- the random vs by-sample gap on `rruff-species-10`
#
# Prediction: with species as classes, a test spectrum's own sample is often the closest match of its class
# (species of one group share most bands, so other samples of the same species are less distinctive than a sibling).
# The more spectra per sample, the more test spectra have a sibling in a random split, and the larger the gap.
# Measured with the library search on both tasks (`rruff-all-species` cannot be split at random with
# stratification: it has more classes than test spectra):

# %%
gaps = {}
for name, d in (("rruff-groups-10", ds), ("rruff-species-10", species)):
    acc = {kind: 100 * rc.evaluate("knn_cosine", d, split_kind=kind, seed=seed, profile=prof, measure_speed=False,
                                   progress=False).metrics["accuracy"].mean for kind in ("random", "sample")}
    gaps[name] = {**acc, "gap (points)": acc["random"] - acc["sample"],
                  "spectra per sample": len(d.y) / len(np.unique(d.groups))}
pd.DataFrame(gaps).T.round(2)

# %%
print(f"gap: {gaps['rruff-groups-10']['gap (points)']:.2f} points on the groups "
      f"({gaps['rruff-groups-10']['spectra per sample']:.2f} spectra per sample), "
      f"{gaps['rruff-species-10']['gap (points)']:.2f} points on species-10 "
      f"({gaps['rruff-species-10']['spectra per sample']:.2f} spectra per sample)")

# %% [markdown]
# ## Exercise 4 -- which groups overlap most?
#
# The cosine similarity between class-mean spectra (1 = identical shape), the most similar pairs, and the pairs the
# library search confuses most on the by-sample split (chapter 2 shows the full confusion matrix):

# %%
means = np.stack([ds.X[ds.y == k].mean(axis=0) for k in range(len(ds.class_names))])
unit = means / np.linalg.norm(means, axis=1, keepdims=True)
sim = unit @ unit.T
pairs = [(ds.class_names[i], ds.class_names[j], sim[i, j]) for i in range(len(sim)) for j in range(i + 1, len(sim))]
similar = pd.DataFrame(pairs, columns=["group", "group ", "cosine of means"]).nlargest(5, "cosine of means")
knn = rc.evaluate("knn_cosine", ds, seed=seed, profile=prof, measure_speed=False, progress=False)
cm = np.asarray(knn.confusion_matrix)
confused = pd.DataFrame([(ds.class_names[i], ds.class_names[j], cm[i, j] + cm[j, i])
                         for i in range(len(cm)) for j in range(i + 1, len(cm))],
                        columns=["group", "group ", "confusions (both ways)"]).nlargest(5, "confusions (both ways)")
print(similar.round(3).to_string(index=False), "\n")
print(confused.to_string(index=False))

# %%
top_similar = {frozenset(p) for p in similar.iloc[:, :2].itertuples(index=False)}
top_confused = {frozenset(p) for p in confused.iloc[:, :2].itertuples(index=False)}
print(f"{len(top_similar & top_confused)} of the 5 most similar pairs of means are among the 5 most confused pairs. "
      "Similar means make confusion likely, but a group's mean hides its spread: a group of many species with "
      "shifted bands can be confused with a neighbour whose mean looks different.")

# %% [markdown]
# ## Exercise 5 -- the Raman shift does not depend on the laser
#
# Samples with Processed spectra at both a green (514/532 nm) and a near-infrared (780/785 nm) laser; for each, the
# position of the strongest peak above 150 cm⁻¹ (below that, the laser's edge filter dominates) of one spectrum per
# laser family:

# %%
files = rc.load_catalog().meta
proc = files[(files["processing"] == "Processed") & files["reason"].isna()].assign(
    family=lambda d: np.where(d["laser_nm"] < 600, "green", "near-IR"))
both = proc.groupby("rruff_id")["family"].nunique()
chosen = proc[proc["rruff_id"].isin(both[both == 2].index)].groupby(["rruff_id", "family"]).first().reset_index()


def strongest_peak(source):
    s = rc.read_spectrum(source)
    keep = s.wavenumber >= 150
    return float(s.wavenumber[keep][np.argmax(s.intensity[keep])])


chosen = chosen.head(120)  # the first 60 samples with both laser families: enough to see the pattern, and quick
chosen["peak_cm1"] = [strongest_peak(src) for src in chosen["source"]]
peaks = chosen.pivot(index="rruff_id", columns="family", values="peak_cm1").dropna()
diff = (peaks["near-IR"] - peaks["green"]).abs()
print(f"{len(peaks)} samples: the strongest peak is within 5 cm-1 for {int((diff <= 5).sum())} of them "
      f"(median difference {diff.median():.1f} cm-1); {int((diff > 50).sum())} differ by more than 50 cm-1")
peaks.assign(difference=diff).sort_values("difference", ascending=False).head(5).round(1)

# %% [markdown]
# For most samples the strongest band sits at the same shift (within the spectra's calibration and sampling). The
# large differences are not a laser effect on the shift: a different band becomes the strongest, because relative
# intensities do depend on the laser (resonance, orientation of the grain, a residue of fluorescence background after
# RRUFF's subtraction) and on the range each spectrum covers.
#
# ## Exercise 6 -- how far could the grid reach?

# %%
groups = rc.mineral_groups()
grouped = proc.assign(group=proc["mineral"].map(groups)).dropna(subset=["group"])
ends = list(range(1200, 2001, 100))
covered = pd.DataFrame({end: grouped[(grouped["wn_min"] <= 150) & (grouped["wn_max"] >= end)].groupby("group").size()
                        for end in ends}).fillna(0).astype(int)
covered.loc["all groups"] = covered.sum()
nu3 = rc.load_bands().query("group == 'carbonate' and low_cm1 > 1200").iloc[0]
first = next(end for end in ends if end >= nu3["high_cm1"])
print(f"carbonate ν3 ({nu3['low_cm1']:g}-{nu3['high_cm1']:g} cm-1) is on a grid ending at {first} cm-1 or later; "
      f"{covered.loc['all groups', 1200]} spectra cover 150-1200 cm-1, {covered.loc['all groups', first]} cover "
      f"150-{first} cm-1 ({covered.loc['all groups', 1200] - covered.loc['all groups', first]} fewer; carbonate: "
      f"{covered.loc['carbonate', 1200]} -> {covered.loc['carbonate', first]})")
covered

# %% [markdown]
# (The counts use the archive's coverage only; the task applies a tolerance of a few cm⁻¹ at each end, so its own
# counts differ slightly.) A wider grid keeps the carbonate ν3 but drops every spectrum that stops earlier, in every
# group: whether ν3 is worth the spectra it costs is a measurement (the accuracy on the smaller data set, on the same
# kind of splits), not a judgement made from this table.
#
# ## Exercise 7 -- the content fingerprint survives re-zipping

# %%
import tempfile
import zipfile
from pathlib import Path

with zipfile.ZipFile(rc.archive_path()) as zf:
    members = sorted(n for n in zf.namelist() if n.endswith(".txt"))[:20]
    data = {n: zf.read(n) for n in members}
with tempfile.TemporaryDirectory() as tmp:
    a, b, c = Path(tmp, "a.zip"), Path(tmp, "b.zip"), Path(tmp, "c.zip")
    with zipfile.ZipFile(a, "w", zipfile.ZIP_DEFLATED) as z:
        for n in members:
            z.writestr(n, data[n])
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:  # other order, no compression, inside a folder
        for n in reversed(members):
            z.writestr(f"spectra/{n}", data[n])
    changed = data[members[0]].replace(b",", b", ", 1)  # one row of one spectrum written differently
    with zipfile.ZipFile(c, "w", zipfile.ZIP_DEFLATED) as z:
        for n in members:
            z.writestr(n, changed if n == members[0] else data[n])
    digests = pd.DataFrame({p.name: {"zip sha256": rc.file_sha256(p)[:16], "content fingerprint":
                                     rc.content_fingerprint(p)[:16]} for p in (a, b, c)}).T
digests

# %%
same_zip = digests.loc["a.zip", "zip sha256"] == digests.loc["b.zip", "zip sha256"]
same_content = digests.loc["a.zip", "content fingerprint"] == digests.loc["b.zip", "content fingerprint"]
changed_content = digests.loc["a.zip", "content fingerprint"] != digests.loc["c.zip", "content fingerprint"]
print(f"re-zipped: zip sha256 equal: {same_zip}, content fingerprint equal: {same_content}; one file changed: "
      f"content fingerprint changed: {changed_content}")
