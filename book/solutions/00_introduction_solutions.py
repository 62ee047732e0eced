# %% [markdown]
# # Solutions to chapter 0: Introduction
#
# Worked solutions to the exercises of [chapter 0](../00_introduction.ipynb), to hand out separately. Every number
# in an answer is computed by the code above it, in the profile set below (`quick`: minutes, what the tests run;
# `full`: the book's settings).

# %% tags=["parameters"]
profile = "quick"
seed = 0
data_dir = None

# %%
import pandas as pd

from ramancmp import book as rc

prof = rc.RunContext.from_env(profile, seed).profile
ds = rc.load_task("rruff-groups-10")

# %% [markdown]
# ## Exercise 1 -- which claims depend on the hardware?
#
# A claim about *time* (a speed-up in %) depends on the processor, the number of threads, the runtime and on how
# small the baseline already is; a claim about *accuracy* depends on the data, the task definition and the split,
# but not on the machine. The paper's claims, sorted by that criterion:

# %%
claims = pd.DataFrame(rc.claims.claims_table())
# A claim depends on the hardware when what it measures is a time: a latency, a training or inference time, seconds.
claims["depends on hardware"] = (claims["how_we_measure"].str.contains(r"latency|\btime\b", regex=True)
                                 | claims["unit"].eq("s"))
claims[["statement", "value", "unit", "depends on hardware"]]

# %%
hw = claims[claims["depends on hardware"]]
print(f"{len(hw)} of {len(claims)} claims are timings (hardware-dependent): {'; '.join(hw['statement'])}")

# %% [markdown]
# ## Exercise 2 -- why can a random split overstate accuracy?
#
# Spectra of one sample are near-copies (same crystal, same impurities). A random split puts some of them in the
# training part and others in the test part, so a test spectrum can be recognised by finding its own sample rather
# than by recognising the mineral. The library search shows it directly (chapter 1 measures it in detail):

# %%
acc = {kind: rc.evaluate("knn_cosine", ds, split_kind=kind, seed=seed, profile=prof, measure_speed=False,
                         progress=False).metrics["accuracy"] for kind in ("random", "sample")}
print(f"1-NN cosine: random split {100 * acc['random'].mean:.2f} ± {100 * acc['random'].sd:.2f} %, "
      f"by-sample split {100 * acc['sample'].mean:.2f} ± {100 * acc['sample'].sd:.2f} %")

# %% [markdown]
# ## Exercise 3 -- our counts beside the paper's 723
#
# `python -m ramancmp data summary --task rruff-groups-10` prints the same summary as:

# %%
print(rc.format_summary(ds.summary))
n_paper = rc.claims.PAPER["n_spectra"]
print(f"\nours: {len(ds.y)} spectra in {len(ds.class_names)} classes; the paper: {n_paper} spectra in "
      f"{rc.claims.PAPER['n_classes']} categories ({len(ds.y) - n_paper:+d}). The paper does not list its spectra, "
      "so the two tasks share the idea (10 mineral categories from RRUFF), not the data.")
