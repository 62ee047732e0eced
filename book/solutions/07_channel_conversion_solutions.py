# %% [markdown]
# # Solutions to chapter 7: Channel conversion
#
# Worked solutions to the exercises of [chapter 7](../07_channel_conversion.ipynb). Every number in an answer is
# computed by the code above it, in the profile set below; networks the chapters trained are loaded from the store.

# %% tags=["parameters"]
profile = "quick"
seed = 0
data_dir = None

# %%
import pandas as pd

from ramancmp import book as rc

prof = rc.RunContext.from_env(profile, seed).profile
ds = rc.load_task("rruff-groups-10")
L, K = ds.X.shape[1], len(ds.class_names)
DRSN, DRSN_KWARGS = ("drsn_cw", {})


def timed(networks):
    """Untrained networks (time does not depend on the weights' values), ``label -> (name, kwargs)``, timed at
    batch 1 in interleaved rounds by the book's protocol: a :class:`SpeedComparison` with medians, intervals and
    speed-ups (``.speedup(a, b)``: % less time than b, with its 95 % interval)."""
    nets = {label: rc.create_model(name, num_classes=K, in_length=L, **kwargs).eval()
            for label, (name, kwargs) in networks.items()}
    return rc.compare_speed(nets, length=L, batches=(1,), inputs=ds.X, **prof.timing)


def ms(cmp, label):
    c = cmp.cell(label)
    return f"{c.median_ms:.3f} ms [{c.lo_ms:.3f}, {c.hi_ms:.3f}]"


def layers(name, **kwargs):
    net = rc.create_model(name, num_classes=K, in_length=L, **kwargs)
    return sum(type(m).__name__ in ("Conv1d", "Linear", "BatchNorm1d") for m in net.modules())


# %% [markdown]
# ## Exercise 1 -- why folding cannot reduce the number of layers
#
# Folding changes the *shape* of the input (k channels of L/k points), not the network: every convolution, batch
# norm and threshold branch still runs, once per call. At batch 1 each layer has a fixed cost (dispatch, memory
# allocation, a kernel launch) that does not shrink with the sequence length. Counted and timed:

# %%
folded = {"k": 4, "fold_mode": "interleaved"}
cmp = timed({"DRSN-CW": (DRSN, DRSN_KWARGS), "folded k=4": ("drsn_folded", folded)})
print(f"conv/linear/BN layers: DRSN-CW {layers(DRSN, **DRSN_KWARGS)}, folded k=4 {layers('drsn_folded', **folded)}; "
      f"batch-1 latency {ms(cmp, 'DRSN-CW')} vs {ms(cmp, 'folded k=4')}: folded "
      f"{rc.describe_speedup(cmp.speedup('folded k=4', 'DRSN-CW'))}")

# %% [markdown]
# What reduces per-layer overhead: fewer layers (fusing batch norm into the preceding convolution, as ONNX Runtime
# does in chapter 9; a shallower network), or a runtime with less per-operator cost (ONNX Runtime, a compiled
# graph), or larger batches, which spread the fixed cost over many spectra.
#
# ## Exercise 2 -- k = 16, and the stem's view of a band
#
# Interleaved folding puts k neighbouring grid points into the channels of one position, so the stem's kernel of
# `stem_kernel` positions sees `stem_kernel`·k neighbouring points, and its stride moves `stem_stride`·k points.
# What that means on the book's grid:

# %%
step = ds.grid[1] - ds.grid[0]
cfg = rc.create_model(DRSN, num_classes=K, in_length=L, **DRSN_KWARGS).config
view = pd.DataFrame([{"k": k, "stem window (cm-1)": cfg.stem_kernel * k * step,
                      "stem step (cm-1)": cfg.stem_stride * k * step,
                      "positions after the stem": L // k // cfg.stem_stride} for k in (1, 2, 4, 8, 16)])
view.round(1)

# %%
k16 = rc.evaluate("drsn_folded", ds, seed=seed, profile=prof, progress=False, model_kwargs={"k": 16},
                  measure_speed=False)
base = rc.evaluate(DRSN, ds, seed=seed, profile=prof, progress=False, model_kwargs=DRSN_KWARGS or None,
                   measure_speed=False)
cmp = timed({"DRSN-CW": (DRSN, DRSN_KWARGS), "k=16": ("drsn_folded", {"k": 16})})
print(f"k=16: {100 * k16.metrics['accuracy'].mean:.2f} ± {100 * k16.metrics['accuracy'].sd:.2f} % vs DRSN-CW "
      f"{100 * base.metrics['accuracy'].mean:.2f} %; batch-1 latency {ms(cmp, 'k=16')} vs {ms(cmp, 'DRSN-CW')} "
      f"({rc.describe_speedup(cmp.speedup('k=16', 'DRSN-CW'))})")

# %% [markdown]
# Raman bands of minerals are typically a few to about 20 cm⁻¹ wide. The stem's *window* always covers a band (it
# only grows with k); what degrades is the *step*: once it is several band widths (the table's last rows), two bands
# closer than one step fall into the same position after the stem and can only be told apart through the channels,
# and only a handful of positions are left for the stages that follow.
#
# ## Exercise 3 -- contiguous vs interleaved
#
# Contiguous folding puts distant parts of the spectrum (e.g. 150–400 and 400–660 cm⁻¹) side by side as channels of
# one position: the first convolution mixes unrelated wavenumbers, and a band near a window edge is cut in two.
# Interleaved folding keeps neighbouring wavenumbers together (the figures of the chapter).

# %%
layouts = {mode: rc.evaluate("drsn_folded", ds, seed=seed, profile=prof, progress=False, measure_speed=False,
                             model_kwargs={"k": 4, "fold_mode": mode}) for mode in ("interleaved", "contiguous")}
for mode, r in layouts.items():
    print(f"k=4 {mode}: {100 * r.metrics['accuracy'].mean:.2f} ± {100 * r.metrics['accuracy'].sd:.2f} %")

# %% [markdown]
# ## Exercise 4 -- against a full-resolution baseline
#
# With a stride-2 stem, the DRSN keeps 512 positions in its first stage, and folding has much more work to remove.
# Speed is measured on untrained networks (the weights do not change the time); accuracy would need the training of
# the chapter.

# %%
full_res = {"stem_stride": 2, "stem_kernel": 7}
ks = (2, 4, 8)
cmp = timed({"full-resolution DRSN-CW": (DRSN, {**DRSN_KWARGS, **full_res}),
             **{f"fold k={k} (interleaved)": ("drsn_folded", {"k": k, **full_res}) for k in ks},
             "book DRSN-CW": (DRSN, DRSN_KWARGS),
             **{f"book fold k={k}": ("drsn_folded", {"k": k}) for k in ks}})
paper = next(c for c in rc.claims.claims_table() if c["key"] == "channel_conversion_speedup")["value"]
print(f"full-resolution DRSN-CW: {ms(cmp, 'full-resolution DRSN-CW')} at batch 1; the paper's claim: {paper:g} %")
speedups = pd.DataFrame([{"variant": f"fold k={k} (interleaved)",
                          "latency b1": ms(cmp, f"fold k={k} (interleaved)"),
                          **cmp.speedup(f"fold k={k} (interleaved)", "full-resolution DRSN-CW").to_dict(),
                          "k": k} for k in ks]).rename(columns={"pct": "speed-up %", "lo": "lo %", "hi": "hi %"})
speedups.round(2)

# %%
best = speedups.loc[speedups["speed-up %"].idxmax()]
k_best = int(best["k"])
book_speedup = cmp.speedup(f"book fold k={k_best}", "book DRSN-CW")
print(f"best: {best['variant']} cuts batch-1 latency by {best['speed-up %']:.1f} % [{best['lo %']:.1f}, "
      f"{best['hi %']:.1f}] against the full-resolution baseline ({best['speed-up %'] - paper:+.1f} points from the "
      f"paper's {paper:g} %); the same fold against the book's stride-8 DRSN: {rc.describe_speedup(book_speedup)}. "
      + ("The longer the sequence the baseline keeps, the more folding saves."
         if best["lo %"] > book_speedup.hi else
         "Here the two savings are not apart beyond their intervals."))
