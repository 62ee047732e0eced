# %% [markdown]
# # Solutions to chapter 8: The DRSN as a feature extractor for LDA
#
# Worked solutions to the exercises of [chapter 8](../08_feature_extraction.ipynb). Every number in an answer is
# computed by the code above it, in the profile set below; the DRSNs are loaded from the model store.

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
DRSN, DRSN_KWARGS = ("drsn_cw", {})
split = rc.make_split(ds.y, ds.groups, kind="sample", seed=seed)
drsn = rc.get_or_train(DRSN, ds, split, prof, model_kwargs=DRSN_KWARGS or None)
X_tr, y_tr = ds.X[split.train], ds.y[split.train]
X_te, y_te = ds.X[split.test], ds.y[split.test]

# %% [markdown]
# ## Exercise 1 -- LDA on the full-depth features vs the DRSN's own head
#
# Both are linear maps of the same pooled features, but fitted by different criteria: the head was trained by
# gradient descent on the cross-entropy, jointly with the features (and with dropout, augmentation and early
# stopping); LDA models each class as a Gaussian with one shared covariance and classifies by the nearest class mean
# in that metric, fitted in closed form on the clean training spectra.

# %%
pipe = rc.feature_pipeline(drsn).fit(X_tr, y_tr)  # depth None: after the last stage
lda_pred, head_pred = pipe.predict(X_te), drsn.predict(X_te)
print(f"first split: DRSN head {100 * np.mean(head_pred == y_te):.2f} %, full-depth features + LDA "
      f"{100 * np.mean(lda_pred == y_te):.2f} %; they agree on {100 * np.mean(lda_pred == head_pred):.1f} % of "
      f"the {len(y_te)} test spectra")

# %% [markdown]
# ## Exercise 2 -- a 1-nearest-neighbour search on the features
#
# The same features at each depth, classified by LDA and by the library search of chapter 2:

# %%
rows = []
for depth in range(drsn.model_.num_stages + 1):
    pipe = rc.feature_pipeline(drsn, depth).fit(X_tr, y_tr)
    features = pipe.named_steps["features"]
    F_tr, F_te = features.transform(X_tr), features.transform(X_te)
    knn = rc.create_model("knn_cosine", len(ds.class_names), F_tr.shape[1]).fit(F_tr, y_tr)
    rows.append({"depth": depth, "features": F_tr.shape[1], "LDA %": 100 * pipe.score(X_te, y_te),
                 "1-NN cosine %": 100 * knn.score(F_te, y_te)})
by_depth = pd.DataFrame(rows)
by_depth.round(2)

# %%
best = by_depth.loc[by_depth["1-NN cosine %"].idxmax()]
print(f"1-NN is best after depth {int(best['depth'])} ({best['1-NN cosine %']:.2f} %, LDA there "
      f"{best['LDA %']:.2f} %). A nearest-neighbour search needs features in which distance means similarity; "
      "LDA learns such a metric itself, 1-NN has to rely on the network's.")

# %% [markdown]
# ## Exercise 3 -- why the feature extractor must not have seen the test part
#
# LDA is fitted anew, but the features are not: if the DRSN had been trained on test spectra, its features would
# already separate those very spectra (it could even have memorised them), and LDA on top would inherit that
# knowledge -- the test would measure memory. The store's DRSN was trained on the training part only; the split
# keeps every sample on one side:

# %%
shared = np.intersect1d(ds.groups[split.train], ds.groups[split.test])
print(f"samples in both the training and the test part of the first split: {len(shared)}; training spectra "
      f"{len(split.train)}, test spectra {len(split.test)}")
