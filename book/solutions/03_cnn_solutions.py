# %% [markdown]
# # Solutions to chapter 3: A plain 1D CNN
#
# Worked solutions to the exercises of [chapter 3](../03_cnn.ipynb). Every number in an answer is computed by the
# code above it, in the profile set below; networks the chapter trained are loaded from the model store.

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
MODEL, MODEL_KWARGS = ("cnn", {})


def accuracy(model, **kwargs):
    r = rc.evaluate(model, ds, seed=seed, profile=prof, measure_speed=False, progress=False, **kwargs)
    return 100 * r.metrics["accuracy"].mean, 100 * r.metrics["accuracy"].sd


# %% [markdown]
# ## Exercise 1 -- global average pooling instead of 8 bins
#
# With one bin, the head only knows *which* patterns occur, not *where* along the wavenumber axis; but a band's
# position is what tells minerals apart (1085 cm⁻¹ vs 700 cm⁻¹). Expect a loss in accuracy; the convolutions can
# partly encode position themselves (padding effects, large receptive fields), so it need not be large.

# %%
bins8, bins1 = accuracy(MODEL, model_kwargs=MODEL_KWARGS or None), accuracy(MODEL, model_kwargs={"head_bins": 1})
print(f"8 bins {bins8[0]:.2f} ± {bins8[1]:.2f} %, global pooling {bins1[0]:.2f} ± {bins1[1]:.2f} % "
      f"({bins1[0] - bins8[0]:+.2f} points)")

# %% [markdown]
# ## Exercise 2 -- the effect of augmentation
#
# A factory (`lambda n_classes, length: rc.TorchClassifier(model="cnn", train_config=rc.TrainConfig(augment=False, ...))`) works with
# `rc.evaluate`, but its networks are trained in this process and not stored. Cheaper and exactly comparable: the
# networks *with* augmentation are the chapter's stored ones, so only the networks *without* it are trained here --
# with the same settings and the same seed per split as the store uses, on one thread.

# %%
splits = rc.repeated_splits(ds.y, ds.groups, "sample", repeats=prof.repeats, seed=seed)
effect = []
with rc.num_threads(1):
    for split in splits:
        X_tr, y_tr, X_val, y_val = rc.train_part(ds, split)
        stored = rc.get_or_train(MODEL, ds, split, prof, model_kwargs=MODEL_KWARGS or None)
        config = rc.train_config(prof, MODEL, seed=int(split.seed), device="cpu").replace(augment=False)
        plain = rc.TorchClassifier(model=MODEL, model_kwargs=MODEL_KWARGS or None, train_config=config).fit(
            X_tr, y_tr, X_val=X_val, y_val=y_val)
        X_te, y_te = ds.X[split.test], ds.y[split.test]
        effect.append({"split seed": split.seed, "with augmentation %": 100 * np.mean(stored.predict(X_te) == y_te),
                       "without %": 100 * np.mean(plain.predict(X_te) == y_te)})
effect = pd.DataFrame(effect)
effect.round(2)

# %%
gain = effect["with augmentation %"] - effect["without %"]
print(f"augmentation changes test accuracy by {gain.mean():+.2f} points on average over {len(gain)} splits "
      f"(per split: {', '.join(f'{g:+.2f}' for g in gain)}); compare with the sd of the chapter's table before "
      "calling it an effect")

# %% [markdown]
# ## Exercise 3 -- predict the class of a spectrum file
#
# `python -m ramancmp predict --model cnn FILE` reads the file, preprocesses it like the training data and prints
# the top classes. The same steps in Python, on a file of the archive the network never saw (a test spectrum of the
# first split):

# %%
split = rc.make_split(ds.y, ds.groups, kind="sample", seed=seed)
cnn = rc.get_or_train(MODEL, ds, split, prof, model_kwargs=MODEL_KWARGS or None)
i = int(split.test[0])
spectrum = rc.read_spectrum(ds.meta["source"].iloc[i])
x = rc.preprocess_spectrum(spectrum, ds.preprocess)
proba = cnn.predict_proba(np.asarray(x, dtype=np.float32)[None, :])[0]
top = np.argsort(proba)[::-1][:3]
print(f"{spectrum.mineral} ({spectrum.rruff_id}), true group {ds.class_names[ds.y[i]]}:")
for k in top:
    print(f"  {ds.class_names[int(cnn.classes_[k])]:12s} {100 * proba[k]:.1f} %")

# %% [markdown]
# ## Exercise 4 -- where the best weights are kept
#
# The loop keeps a copy of the weights whenever the monitored validation score improves, and loads it back after
# the last epoch (early stop or not). The lines of `train_model` that do it:

# %%
print("\n".join(line for line in rc.show_source(rc.train_model).text.splitlines() if "best_state" in line))

# %% [markdown]
# With `monitor="val_loss"` the best epoch is the one with the lowest validation loss rather than the highest
# validation accuracy (ties broken by loss). Loss reacts to confidence as well as to correctness, so it usually
# picks an earlier epoch, before the network becomes over-confident; with a validation part of a few dozen spectra,
# accuracy moves in coarse steps and often ties. The setting is validated by the config:

# %%
print(rc.TrainConfig(monitor="val_loss").monitor, "| default:", rc.TrainConfig().monitor)
