# %% [markdown]
# # Solutions to chapter 5: 1D-DRSN
#
# Worked solutions to the exercises of [chapter 5](../05_drsn.ipynb). Every number in an answer is computed by the
# code above it, in the profile set below; networks the chapters trained are loaded from the model store.

# %% tags=["parameters"]
profile = "quick"
seed = 0
data_dir = None

# %%
import numpy as np
import pandas as pd
import plotly.express as px

from ramancmp import book as rc

prof = rc.RunContext.from_env(profile, seed).profile
ds = rc.load_task("rruff-groups-10")
L = ds.X.shape[1]
MODEL, MODEL_KWARGS = ("drsn_cw", {})

# %% [markdown]
# ## Exercise 1 -- DRSN-CS against DRSN-CW
#
# One threshold per unit instead of one per channel: the threshold branch's last layer shrinks from C outputs to
# one, a small saving in parameters; whether accuracy suffers is measured on the same splits.

# %%
res = {name: rc.evaluate(name, ds, seed=seed, profile=prof, progress=False, model_kwargs=kw or None)
       for name, kw in ((MODEL, MODEL_KWARGS), ("drsn_cs", {}))}
rows = {name: rc.tables.Row.from_evaluation(r) for name, r in res.items()}
table = pd.DataFrame({name: {"accuracy %": r.mean(), "sd": r.sd(), "params": r.params,
                             "latency b1 (ms)": r.latency_b1_ms} for name, r in rows.items()}).T
table.round(3)

# %%
cw, cs = table.loc[MODEL], table.loc["drsn_cs"]
print(f"CS vs CW: {cs['accuracy %'] - cw['accuracy %']:+.2f} points, {int(cw['params'] - cs['params']):,} fewer "
      f"parameters, batch-1 latency {cs['latency b1 (ms)']:.3f} vs {cw['latency b1 (ms)']:.3f} ms")

# %% [markdown]
# ## Exercise 2 -- soft thresholding replaced by a ReLU
#
# A subclass of `rc.Shrinkage` whose `forward` ignores the learned thresholds and applies a ReLU, put in place of
# every RSBU's shrinkage; trained with the book's loop and settings on the first split, and compared with the
# stored DRSN-CW of the same split.

# %%
class ReLUInstead(rc.Shrinkage):
    def forward(self, x):
        return x.clamp(min=0)


split = rc.make_split(ds.y, ds.groups, kind="sample", seed=seed)
X_tr, y_tr, X_val, y_val = rc.train_part(ds, split)
net = rc.create_model(MODEL, num_classes=len(ds.class_names), in_length=L, **MODEL_KWARGS)
for unit in (m for m in net.modules() if isinstance(m, rc.RSBU)):
    unit.shrinkage = ReLUInstead(unit.shrinkage.fc[0].in_features)
config = rc.train_config(prof, MODEL, seed=int(split.seed), device="cpu")
with rc.num_threads(1):
    history = rc.train_model(net, X_tr, y_tr, X_val, y_val, config, progress=False)
relu_acc = 100 * np.mean(rc.predict_logits(net, ds.X[split.test], device="cpu").argmax(1) == ds.y[split.test])
drsn = rc.get_or_train(MODEL, ds, split, prof, model_kwargs=MODEL_KWARGS or None)
drsn_acc = 100 * np.mean(drsn.predict(ds.X[split.test]) == ds.y[split.test])
print(f"split {split.seed}: soft thresholding {drsn_acc:.2f} %, ReLU instead {relu_acc:.2f} % "
      f"({relu_acc - drsn_acc:+.2f} points on {len(split.test)} test spectra)")

# %% [markdown]
# One split is one measurement: a difference of one or two test spectra is noise. RRUFF's processed spectra are
# already baseline-corrected and fairly clean, which leaves little for a denoising non-linearity to remove; the next
# exercise adds noise to see where shrinkage could matter.
#
# ## Exercise 3 -- accuracy under added noise
#
# Gaussian noise with a standard deviation of a fraction of each spectrum's maximum, added to the test spectra only,
# for the CNN and the DRSN of the first split (the networks are not retrained).

# %%
cnn_name, cnn_kwargs = ("cnn", {})
nets = {"CNN": rc.get_or_train(cnn_name, ds, split, prof, model_kwargs=cnn_kwargs or None), "DRSN-CW": drsn}
rng = np.random.default_rng(seed)
X_test, y_test = ds.X[split.test], ds.y[split.test]
curve = []
for level in (0.0, 0.01, 0.02, 0.05, 0.1, 0.2):
    noisy = X_test + rng.normal(size=X_test.shape) * level * np.abs(X_test).max(axis=1, keepdims=True)
    for name, clf in nets.items():
        curve.append({"noise (fraction of max)": level, "network": name,
                      "accuracy %": 100 * np.mean(clf.predict(noisy.astype(np.float32)) == y_test)})
curve = pd.DataFrame(curve)
px.line(curve, x="noise (fraction of max)", y="accuracy %", color="network", markers=True,
        title="Test accuracy under added Gaussian noise (first split)")

# %%
worst = curve[curve["noise (fraction of max)"] == curve["noise (fraction of max)"].max()].set_index("network")
drop = {n: curve[(curve.network == n)]["accuracy %"].iloc[0] - worst.loc[n, "accuracy %"] for n in nets}
print("accuracy lost at the strongest noise: " + ", ".join(f"{n} {d:.1f} points" for n, d in drop.items())
      + f" -> {min(drop, key=drop.get)} degrades more gracefully on this split")
