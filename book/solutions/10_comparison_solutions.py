# %% [markdown]
# # Solutions to chapter 10: The final comparison
#
# Worked solutions to the exercises of [chapter 10](../10_comparison.ipynb). Every number in an answer is computed
# by the code above it, in the profile set below, from the results the chapters saved (`rc.load_rows`) or measured
# here.

# %% tags=["parameters"]
profile = "quick"
seed = 0
data_dir = None

# %%
import itertools

import pandas as pd

from ramancmp import book as rc

prof = rc.RunContext.from_env(profile, seed).profile
ds = rc.load_task("rruff-groups-10")
rows = [r for r in rc.load_rows(["10_comparison"]) if r.accuracy and r.accuracy.sd is not None]
print(f"{len(rows)} rows with mean ± sd over repeated splits")

# %% [markdown]
# ## Exercise 1 -- another seed
#
# `python -m ramancmp book run --profile full --seed 1 --force` reruns everything with other splits and initial
# weights (its results go to `results/seed1/`). Before running it, the table already says which differences cannot
# be trusted: two models whose means differ by less than their sds may swap places with another seed. The pairs of
# the table that are within noise by that rule:

# %%
pairs = [{"a": a.model, "b": b.model, "difference (points)": abs(a.mean() - b.mean()),
          "larger sd (points)": 100 * max(a.accuracy.sd, b.accuracy.sd)}
         for a, b in itertools.combinations(rows, 2)]
pairs = pd.DataFrame(pairs)
within = pairs[pairs["difference (points)"] < pairs["larger sd (points)"]]
print(f"{len(within)} of {len(pairs)} pairs differ by less than the larger of their sds")
within.sort_values("difference (points)").head(10).round(2)

# %% [markdown]
# What another seed does, on the models that are cheap to refit (the networks change in the same way but cost a
# full run):

# %%
reseeded = pd.DataFrame({name: {f"seed {s}": 100 * rc.evaluate(name, ds, seed=s, profile=prof, measure_speed=False,
                                                                progress=False).metrics["accuracy"].mean
                                for s in (seed, seed + 1)} for name in ("lda", "pca_lda", "knn_cosine")}).T
reseeded["change (points)"] = reseeded.iloc[:, 1] - reseeded.iloc[:, 0]
reseeded.round(2)

# %% [markdown]
# ## Exercise 2 -- properties of the method vs properties of the hardware
#
# A speed-up that follows from doing less arithmetic (fewer FLOPs) carries over to any machine *if* the machine runs
# both models at the same efficiency. The efficiency -- FLOPs per second actually achieved -- is the hardware-dependent
# part: it differs between layer types (dense vs depthwise convolutions, elementwise work) and between processors.
# On this machine:

# %%
eff = pd.DataFrame([{"model": r.model, "MFLOPs": r.mflops, "latency b1 (ms)": r.latency_b1_ms,
                     "GFLOP/s at batch 1": r.mflops / r.latency_b1_ms, "% GEMM peak (b256)": r.pct_gemm_peak}
                    for r in rc.load_rows(["10_comparison"]) if r.mflops and r.latency_b1_ms])
eff.sort_values("GFLOP/s at batch 1").round(3)

# %%
lo, hi = eff["GFLOP/s at batch 1"].min(), eff["GFLOP/s at batch 1"].max()
print(f"achieved speed ranges from {lo:.2f} to {hi:.2f} GFLOP/s ({hi / lo:.0f}x) across the book's models on this "
      "machine: a ratio of FLOPs predicts a ratio of latencies only between models this machine runs equally well. "
      "Rerunning `bench all` elsewhere changes these efficiencies, hence the speed-ups; the FLOP and parameter "
      "counts, and the accuracies, stay.")

# %% [markdown]
# ## Exercise 3 -- the ranking on `rruff-species-10`
#
# Every model of `rc.BOOK_MODELS` on the ten most frequent species, same protocol (the networks are trained now, in
# this profile):

# %%
species = rc.load_task("rruff-species-10")
ranking = {}
for name in rc.BOOK_MODELS:
    for label, d in (("rruff-groups-10", ds), ("rruff-species-10", species)):
        r = rc.evaluate(name, d, seed=seed, profile=prof, measure_speed=False, progress=False)
        ranking.setdefault(name, {})[label] = 100 * r.metrics["accuracy"].mean
ranking = pd.DataFrame(ranking).T
ranking["rank on groups"] = ranking["rruff-groups-10"].rank(ascending=False).astype(int)
ranking["rank on species"] = ranking["rruff-species-10"].rank(ascending=False).astype(int)
ranking.round(2)

# %%
order_g = list(ranking.sort_values("rruff-groups-10", ascending=False).index)
order_s = list(ranking.sort_values("rruff-species-10", ascending=False).index)
print(f"ranking on groups: {' > '.join(order_g)}\nranking on species: {' > '.join(order_s)}\n"
      f"{'the same order' if order_g == order_s else 'the order changes'}; best model on both: "
      f"{'yes, ' + order_g[0] if order_g[0] == order_s[0] else 'no'}")
