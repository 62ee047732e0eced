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

ctx = rc.RunContext.from_env(profile, seed)
prof = ctx.profile
ds = rc.load_task("rruff-groups-10")
# chapter 10's rows as the run of THIS profile saved them (never another profile's results beside numbers made now)
rows = [r for r in rc.load_rows(["10_comparison"], directory=ctx.results_dir) if r.accuracy and r.accuracy.sd is not None]
print(f"{len(rows)} rows with mean ± sd over repeated splits")

# %% [markdown]
# ## Exercise 1 -- another seed
#
# `python -m ramancmp book run --profile full --seed 1 --force` reruns everything with other splits and initial
# weights (its results go to `results/seed1/`). Before running it, the table already says which differences cannot
# be trusted, by the book's own rule: the difference of two models *paired on the same splits*, with its corrected
# resampled t interval (`rc.tables.paired`); when the interval contains 0 the pair is within noise, and another seed
# may swap the two. The pairs of the table that are within noise by that rule:

# %%
pairs = []
for a, b in itertools.combinations(rows, 2):
    d = rc.tables.paired(a, b)
    if d is not None:
        pairs.append({"a": a.model, "b": b.model, "a - b (points)": 100 * d.mean, "95 % interval":
                      f"[{100 * d.lo:+.2f}, {100 * d.hi:+.2f}]", "within noise": bool(d.within_noise)})
pairs = pd.DataFrame(pairs, columns=["a", "b", "a - b (points)", "95 % interval", "within noise"])
within = pairs[pairs["within noise"].astype(bool)]
print(f"{len(within)} of {len(pairs)} pairs of chapter 10's rows (profile {prof.name}) are within noise: their order "
      "is not a result, and another seed may reverse it")
within.reindex(within["a - b (points)"].abs().sort_values().index).head(10).round(2)

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
task_rows = {label: {name: rc.Row.from_evaluation(rc.evaluate(name, d, seed=seed, profile=prof, measure_speed=False,
                                                                progress=False)) for name in rc.BOOK_MODELS}
             for label, d in (("rruff-groups-10", ds), ("rruff-species-10", species))}
ranking = pd.DataFrame({label: {name: r.mean() for name, r in by_name.items()} for label, by_name in task_rows.items()})
ranking.round(2)

# %% [markdown]
# The book's rules decide the answer: the best model is chosen on *validation* accuracy (`rc.claims.pick_best`), and
# two models are ordered only when their difference, paired on the same splits, is outside noise. A ranking "holds"
# when no pair is ordered one way on one task and the other way on the other, outside noise on both.

# %%
best = {label: rc.claims.pick_best(list(by_name.values())).model for label, by_name in task_rows.items()}
flips = []
for a, b in itertools.combinations(rc.BOOK_MODELS, 2):
    d = {label: rc.tables.paired(by_name[a], by_name[b]) for label, by_name in task_rows.items()}
    if all(x is not None and not x.within_noise for x in d.values()) and \
            (d["rruff-groups-10"].mean > 0) != (d["rruff-species-10"].mean > 0):
        flips.append(f"{a} vs {b}")
n_noise = {label: sum(bool(getattr(rc.tables.paired(by_name[a], by_name[b]), "within_noise", False))
                      for a, b in itertools.combinations(rc.BOOK_MODELS, 2)) for label, by_name in task_rows.items()}
n_pairs = len(list(itertools.combinations(rc.BOOK_MODELS, 2)))
print(f"best on validation: {best['rruff-groups-10']} on groups, {best['rruff-species-10']} on species. "
      f"Pairs within noise: {n_noise['rruff-groups-10']} of {n_pairs} on groups, {n_noise['rruff-species-10']} of "
      f"{n_pairs} on species. "
      + (f"Outside noise on both tasks, the order reverses for {', '.join(flips)}: the ranking does not hold."
         if flips else "No pair is ordered one way on one task and the other way on the other outside noise on both: "
         "as far as these splits can tell, the ranking holds."))
