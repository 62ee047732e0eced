# %% [markdown]
# # Solutions to chapter 12: Preprocessing, wavenumber range, and what the models look at
#
# Worked solutions to the exercises of [chapter 12](../12_preprocessing.ipynb). Every number in an answer is computed
# by the code above it, in the profile set below; the CNN the chapters stored is loaded from the model store.

# %% tags=["parameters"]
profile = "quick"
seed = 0
data_dir = None

# %%
import numpy as np

from ramancmp import book as rc

prof = rc.RunContext.from_env(profile, seed).profile
ds = rc.load_task("rruff-groups-10")
P = rc.preprocessing_study

# %% [markdown]
# ## Exercise 1 -- the stiffness of arPLS
#
# `lam` weighs smoothness of the baseline against closeness to the spectrum. Too small: the baseline bends into the
# bands and removes part of them; too large: it cannot follow the background's curvature and leaves some of it.

# %%
sweep = {f"arPLS lam {lam:.0e}": ("arpls", {"lam": lam}) for lam in (1e4, 1e5, 1e6, 1e7, 1e8)}
table = P.baseline_benchmark(ds.X, ds.grid, seed=seed, settings=sweep)
rmse = table[("relative RMSE", "mean")].unstack().drop(index="no correction")
print(rmse.round(4))
print("smallest mean relative RMSE:", rmse.mean(axis=1).idxmin())

# %% [markdown]
# The best `lam` here is chosen on the same synthetic spectra it is judged on, so its error is optimistic. For real
# measurements, choose `lam` on one set of spectra with a known answer (e.g. RAW files with a Processed partner, or
# synthetic baselines on the *training* spectra) and report it on others -- the same validation/test discipline as
# for any model.

# %% [markdown]
# ## Exercise 2 -- square root and smoothing together

# %%
default = ds.preprocess
combined = {P.describe(default): default,
            P.describe(rc.PreprocessConfig(squash="sqrt")): rc.PreprocessConfig(squash="sqrt"),
            P.describe(rc.PreprocessConfig(smoothing=11)): rc.PreprocessConfig(smoothing=11),
            P.describe(rc.PreprocessConfig(squash="sqrt", smoothing=11)): rc.PreprocessConfig(squash="sqrt", smoothing=11)}
rows = P.measure_choices(ds, combined, profile=prof, seed=seed, networks=False)
P.choices_table(rows, P.describe(default))

# %% [markdown]
# Compare the rows' paired differences to the default: the combination helps only if its interval lies above the
# better single change's. Smoothing the already smooth Processed spectra changes little for the cosine search, so
# the combination is expected to behave like the square root alone.

# %% [markdown]
# ## Exercise 3 -- narrow and wide occlusion windows

# %%
maps = {w: P.cnn_attribution(ds, profile=prof, seed=seed, window=w, stride=w // 2, per_class=4) for w in (8, 24, 64)}
for w, m in maps.items():
    a, b = m["attribution"], maps[24]["attribution"]
    r = np.nanmean([np.corrcoef(a[c], b[c])[0, 1] for c in range(len(a)) if np.isfinite(a[c]).all()])
    print(f"window {w:2d}: mean correlation with the window-24 map {r:.3f}")
rc.plots.attribution_figure(maps[8]["grid"], maps[8]["means"], maps[8]["attribution"], ds.class_names,
                            rc.load_bands().to_dict(orient="records"), title="Occlusion with an 8-point window")

# %% [markdown]
# A narrow window hides less than a band's width, and the network can still see the rest of the band: the map is
# noisy and small. A wide one hides whole bands and their neighbours at once: the map is smooth but cannot tell two
# close bands apart. A window of about a band's width (the chapter's 24 points, about 25 cm⁻¹) is the compromise.
