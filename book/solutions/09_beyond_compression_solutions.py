# %% [markdown]
# # Solutions to chapter 9: Beyond the paper
#
# Worked solutions to the exercises of [chapter 9](../09_beyond_compression.ipynb). Every number in an answer is
# computed by the code above it, in the profile set below; the networks are loaded from the model store. Timings on
# a busy machine are noisy: compare them, do not quote them.

# %% tags=["parameters"]
profile = "quick"
seed = 0
data_dir = None

# %%
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ramancmp import book as rc

prof = rc.RunContext.from_env(profile, seed).profile
ds = rc.load_task("rruff-groups-10")
L = ds.X.shape[1]
split = rc.make_split(ds.y, ds.groups, kind="sample", seed=seed)  # the split chapter 9 uses
clfs = {key: rc.get_or_train(name, ds, split, prof) for key, name in (("cnn", "cnn"), ("drsn", "drsn_cw"))}
nets = {key: clf.model_.cpu().eval() for key, clf in clfs.items()}
X_cal = ds.X[split.train][:prof.calibration_size]
X_te, y_te = ds.X[split.test], ds.y[split.test]


def accuracy(net, clf):
    return 100 * np.mean(clf.classes_[rc.predict_logits(net, X_te, device="cpu").argmax(1)] == y_te)


# %% [markdown]
# ## Exercise 1 -- the DRSN with its shrinkage units kept in float

# %%
quantized = {label: rc.quantize_int8(nets["drsn"], X_cal, keep_float=keep)
             for label, keep in (("all that can be int8", []), ("shrinkage kept in float", [rc.Shrinkage]))}
# timed together in interleaved rounds (the book's protocol), batch 1, one thread
cmp = rc.compare_speed({"float (reference)": nets["drsn"], **quantized}, length=L, batches=(1,),
                       inputs=ds.X, **prof.timing_with(processes=1))  # int8 networks: timed in this process
rows = [{"int8 version": label, "int8 layers": q.report.n_quantized, "int8 -> float boundaries": q.report.dequantize_ops,
         "latency b1 (ms)": round(cmp.cell(label).median_ms, 3),
         "vs float, b1": rc.describe_speedup(cmp.speedup(label, "float (reference)")),
         "accuracy %": round(accuracy(q, clfs["drsn"]), 2)} for label, q in quantized.items()]
rows.append({"int8 version": "float (reference)", "latency b1 (ms)": round(cmp.cell("float (reference)").median_ms, 3),
             "accuracy %": round(accuracy(nets["drsn"], clfs["drsn"]), 2)})
pd.DataFrame(rows)

# %% [markdown]
# Keeping the shrinkage units in float moves the int8/float boundaries to where each unit starts and ends instead
# of around every elementwise operation inside it; fewer boundaries mean fewer conversions, which is what batch-1
# latency of a small network is made of. Compare the boundary counts and latencies above.
#
# ## Exercise 2 -- pruning without fine-tuning

# %%
pruned = rc.prune_channels(nets["cnn"], (1, 1, L), 0.5)
tuned = [r for r in rc.load_rows(["09_beyond_compression"]) if r.model.startswith("cnn pruned 50%")]
before, after = accuracy(nets["cnn"], clfs["cnn"]), accuracy(pruned, clfs["cnn"])
line = f"CNN float {before:.2f} %, 50 % of channels removed without fine-tuning {after:.2f} %"
if tuned:
    fine = tuned[0].mean()
    recovered = (fine - after) / (before - after) if before != after else float("nan")
    line += f", after fine-tuning (chapter 9) {fine:.2f} %: fine-tuning recovered {100 * recovered:.0f} % of the loss"
print(line)

# %% [markdown]
# ## Exercise 3 -- ONNX Runtime with 1, 2 and 4 threads
#
# Per-spectrum time at several batch sizes; extra threads pay off once a call has enough work to split (large
# batches), and can cost more than they save on a single spectrum.

# %%
# The book's timing protocol (`rc.compare_speed`): the three sessions in interleaved rounds, each batch size, with
# intervals. ONNX Runtime sessions carry their own thread count, so each target is one session.
with tempfile.TemporaryDirectory() as tmp:
    path = rc.export_onnx(nets["cnn"], Path(tmp) / "cnn.onnx", (1, 1, L), dynamo=False)
    sessions = {f"{n} thread(s)": rc.OnnxClassifier(path, threads=n).predict_logits for n in (1, 2, 4)}
    cmp = rc.compare_speed(sessions, length=L, batches=(1, 16, 256), inputs=ds.X, **prof.timing)
timing = pd.DataFrame([{"batch": b, "threads": name,
                        "µs per spectrum [95 %]": f"{1e3 * cmp.cell(name, b).median_ms:.1f} "
                                                  f"[{1e3 * cmp.cell(name, b).lo_ms:.1f}, "
                                                  f"{1e3 * cmp.cell(name, b).hi_ms:.1f}]",
                        "vs 1 thread": "–" if name == "1 thread(s)" else
                        rc.describe_speedup(cmp.speedup(name, "1 thread(s)", b))}
                       for b in (1, 16, 256) for name in sessions])
timing

# %%
gains = {b: max((n for n in sessions if n != "1 thread(s)"), key=lambda n: cmp.speedup(n, "1 thread(s)", b).pct)
         for b in (1, 16, 256)}
print("most threads' best gain over one thread, per batch size: "
      + "; ".join(f"batch {b}: {n}, {rc.describe_speedup(cmp.speedup(n, '1 thread(s)', b))}" for b, n in gains.items()))

# %% [markdown]
# ## Exercise 4 -- why calibrate on training spectra only
#
# Calibration sets the int8 scale of every activation from the ranges it sees. Calibrating on test spectra makes
# the quantised model depend on the test data (a leak, however small): its scales would fit exactly the spectra it
# is then scored on, and the test would no longer measure what a user with new spectra gets. `rc.quantize_int8`'s
# documentation says the same; its calibration spectra here are the first training spectra of the split:

# %%
print(f"calibration spectra: {len(X_cal)}, all from the training part "
      f"({np.isin(ds.groups[split.train][:len(X_cal)], ds.groups[split.test]).sum()} share a sample with the test part)")
