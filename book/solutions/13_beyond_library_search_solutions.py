# %% [markdown]
# # Solutions to chapter 13: Beyond the library search
#
# Worked solutions to the exercises of [chapter 13](../13_beyond_library_search.ipynb). Every number in an answer is
# computed by the code above it, in the profile set below; networks the chapter trained are loaded from the model
# store. To stay quick, the exercises that train new networks use the first split only.

# %% tags=["parameters"]
profile = "quick"
seed = 0
data_dir = None

# %%
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ramancmp import book as rc

prof = rc.RunContext.from_env(profile, seed).profile
ds = rc.load_task("rruff-groups-10")
splits = rc.repeated_splits(ds.y, ds.groups, kind="sample", repeats=prof.repeats, seed=seed)
CNN, CNN_KWARGS = ("cnn", {})
species = ds.meta["mineral"].astype(str).to_numpy()
cnns = rc.beyond.trained(rc.beyond.variant_jobs(CNN, ds, splits, prof, model_kwargs=CNN_KWARGS))

# %% [markdown]
# ## Exercise 1 -- which distortion matters?
#
# The CNN with the full realistic augmentation and with one distortion switched off at a time (mixing, broadening),
# on the first split; accuracy on all test spectra and on those of new species.

# %%
variants = {"realistic (all distortions)": "realistic", "without mixing": rc.RealisticAugment(mix=0),
            "without broadening": rc.RealisticAugment(broaden=0)}
rows = []
for name, augment in variants.items():
    nets = rc.beyond.trained(rc.beyond.variant_jobs(CNN, ds, splits[:1], prof, model_kwargs=CNN_KWARGS,
                                                    estimator_params={"augment": augment}))
    rows.append(rc.beyond.stored_row(name, ds, rc.beyond.frozen(nets), splits[:1], prof, seed=seed))
rc.tables.to_frame(rows, columns=("model", "accuracy (%)", "validation (%)", "known species (%)", "new species (%)"))

# %%
drop = {r.model: rows[0].mean("accuracy_new_species") - r.mean("accuracy_new_species") for r in rows[1:]}
rc.md("On this split, switching off a distortion changes new-species accuracy by "
      + ", ".join(f"{-v:+.1f} points ({k})" for k, v in drop.items())
      + ". One split and one seed per variant: differences of a few points are within the noise of a single "
        "training run; a conclusion needs the profile's repeats and the paired intervals of the chapter.")

# %% [markdown]
# ## Exercise 2 -- how well is the hybrid's threshold determined?
#
# Validation accuracy of the hybrid (library search + the book's CNN) for every threshold, on the first split.

# %%
split = splits[0]
X_tr, y_tr, X_val, y_val = rc.train_part(ds, split)
library = rc.LibrarySearch().fit(X_tr, y_tr)
sims, idx = library.kneighbors(X_val, 1)
lib_ok = library.classes_[library.library_labels_[idx[:, 0]]] == y_val
net_ok = cnns[0].predict(X_val) == y_val
thresholds = np.linspace(sims.min() - 1e-3, 1.0, 200)
acc = [100 * np.mean(np.where(sims[:, 0] >= t, lib_ok, net_ok)) for t in thresholds]
choice = rc.choose_hybrid_threshold(sims[:, 0], lib_ok, net_ok)
fig = go.Figure(go.Scatter(x=thresholds, y=acc, mode="lines", name="hybrid"))
fig.add_vline(x=choice["threshold"], line_dash="dot", annotation_text="chosen")
fig.update_layout(xaxis_title="cosine-similarity threshold", yaxis_title="validation accuracy (%)",
                  template="plotly_white", height=380)
fig

# %%
near = [t for t, a in zip(thresholds, acc) if a >= max(acc) - 100 / len(y_val)]
rc.md(f"The best validation accuracy, {max(acc):.2f} %, is reached (within one validation spectrum) for thresholds "
      f"from {min(near):.3f} to {max(near):.3f}: the curve is flat over that range, so the exact threshold is poorly "
      f"determined by {len(y_val)} validation spectra -- but every threshold in it gives nearly the same accuracy, "
      "which is what matters. Below the range the library decides spectra of new species it gets wrong; above it the "
      "network decides known species the library would have named.")

# %% [markdown]
# ## Exercise 3 -- why the library search wins on known species

# %%
out = []
for r, split in enumerate(splits):
    lib = rc.LibrarySearch().fit(ds.X[split.train], ds.y[split.train])
    _, nn = lib.kneighbors(ds.X[split.test], 1)
    nearest = split.train[nn[:, 0]]
    known = np.isin(species[split.test], species[split.train])
    out.append({"split": r, "known-species test spectra": int(known.sum()),
                "nearest is the same species (%)": 100 * np.mean(species[nearest][known] == species[split.test][known]),
                "library right (%)": 100 * np.mean(ds.y[nearest][known] == ds.y[split.test][known]),
                "CNN right (%)": 100 * np.mean(cnns[r].predict(ds.X[split.test][known]) == ds.y[split.test][known])})
known_table = pd.DataFrame(out)
known_table.round(2)

# %%
rc.md(f"For a test spectrum of a known species, the most similar library spectrum is of the *same species* in "
      f"{known_table['nearest is the same species (%)'].mean():.1f} % of cases (mean over splits): the library search "
      "does not need to know what a group is, it recognises the mineral, and the group follows. The CNN has to "
      f"map the spectrum to a group through learnt features and gets {known_table['CNN right (%)'].mean():.1f} % "
      "of them right -- the library's advantage on known species is a lookup, not a generalisation.")

# %% [markdown]
# ## Exercise 4 -- the pretrained representation as a library
#
# The book's CNN pretrained on all other species (the chapter's pretraining, loaded from the model store when the
# chapter pretrained the same network), its features used as the library of a cosine 1-NN search.

# %%
pool = rc.load_task("rruff-all-species")
pretrained = rc.beyond.trained(rc.beyond.pretrain_jobs(CNN, pool, ds, splits, prof, model_kwargs=CNN_KWARGS))
res = []
for r, (split, net) in enumerate(zip(splits, pretrained)):
    F = rc.beyond.features(net, ds.X)
    known = np.isin(species[split.test], species[split.train])
    for name, Z in (("spectra", ds.X), ("pretrained features", F)):
        lib = rc.LibrarySearch().fit(Z[split.train], ds.y[split.train])
        ok = lib.predict(Z[split.test]) == ds.y[split.test]
        res.append({"split": r, "library of": name, "accuracy (%)": 100 * ok.mean(),
                    "known species (%)": 100 * ok[known].mean(), "new species (%)": 100 * ok[~known].mean()})
feature_table = pd.DataFrame(res).groupby("library of").mean(numeric_only=True).drop(columns="split")
feature_table.round(2)

# %%
a, b = feature_table.loc["spectra"], feature_table.loc["pretrained features"]
rc.md(f"A library search in the pretrained features: {b['accuracy (%)']:.2f} % (new species "
      f"{b['new species (%)']:.2f} %) against {a['accuracy (%)']:.2f} % (new species {a['new species (%)']:.2f} %) "
      "on the spectra themselves. The pretraining learnt to tell species apart; whether that also places new "
      "species near their group's members is what the new-species column says. (In the quick profile the "
      "pretraining runs a few epochs only.)")
