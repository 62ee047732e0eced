# %% [markdown]
# # 9. Beyond the paper: int8 quantisation, channel pruning and ONNX Runtime
#
# > int8 quantization, structured pruning, ONNX Runtime
#
# <!-- nav:start -->
#
# [← 8. The DRSN as a feature extractor for LDA](08_feature_extraction.ipynb) | [Contents](../README.md#the-book) | [Next: 10. The final comparison →](10_comparison.ipynb)
#
# <!-- nav:end -->
#
# The paper makes its networks faster by changing *what* they compute (a smaller student, folded channels, a shallow
# cut). Three standard deployment techniques change *how* the same network is computed, and are worth knowing
# before designing a new architecture:
#
# * **Post-training int8 quantisation.** Weights and activations become 8-bit integers with a scale per tensor
#   (per output channel for weights), fixed by running a few hundred *training* spectra through the network
#   ("calibration"). No retraining; one byte per weight instead of four (the summary shows what the stored file
#   saves); integer kernels where they exist.
# * **Structured channel pruning.** Whole convolution channels with the smallest weights are removed, together with
#   every weight that consumed them, and the smaller network is fine-tuned with the book's training loop. Unlike
#   zeroing single weights, this really reduces the arithmetic a dense CPU kernel does.
# * **ONNX export + ONNX Runtime.** The same float network as a framework-neutral graph, run by a separate inference
#   engine (what an instrument vendor would ship), optionally quantised to int8 by ONNX Runtime itself.
#
# All three start from the networks the earlier chapters trained (same split, same checkpoints). Every number below
# is measured by the same code (`ramancmp.metrics`) in this run, with **one** intra-op thread for every runtime: on a
# small machine shared with other work, multi-threaded batch-1 timings of tiny networks measure the operating
# system's scheduler more than the network (see "Threads" below).

# %% [markdown]
# **Learning goals.** After this chapter you can
#
# * quantise a trained network to int8 after training and say which layers stay in float
# * prune whole channels with a dependency graph and fine-tune the smaller network
# * export a network to ONNX and run it with ONNX Runtime, and explain why batch-1 timings use one thread
#
# **Prerequisites:** chapters 3-5 (the networks compressed here). Background: integer arithmetic, what a kernel is.
#
# **Reading** (full entries in [references](references.md)): [Jacob2018] (int8 quantisation), [Fang2023] (structured
# pruning).


# %% tags=["parameters"]
profile = None  # None: the book runner's choice, else "quick"; "full" makes the book's results
seed = None  # None: the book runner's seed, else 0
data_dir = None

# %%
import pandas as pd
import torch

from ramancmp import book as rc

ch = rc.Chapter("09_beyond_compression", profile=profile, seed=seed, data_dir=data_dir)
ds = rc.load_task("rruff-groups-10")
ch

# %% [markdown]
# ## All variants, side by side
#
# For each network (the plain CNN, DRSN-CW and the book's EfficientNet-1D) on the first by-sample split:
# the float model, its int8 version, pruned versions at each of the profile's prune ratios (each fine-tuned), and
# the float and int8 ONNX exports. *Agreement* is the share of test spectra on which a variant predicts the same
# class as the float model; int8 variants keep the float model's parameter count and FLOPs (same operations, one byte
# per weight), so their saving shows in *size*.

# %%
bench = rc.bench_deployment(ds.task, profile=ch.profile, seed=ch.seed, dataset=ds, save=False)  # TIMING_THREADS
rows = bench["rows"]  # one DeploymentVariant (ramancmp.experiments.deployment) per variant
table = rc.deployment_frame(rows)  # its speed-up columns hold rc.tables.Speedup (None for the float model)
cols = ["model", "variant", "accuracy", "agreement", "params", "mflops", "size_kb", "latency_b1_ms",
        "throughput_b256"]
shown = table[cols].assign(accuracy=100 * table["accuracy"], agreement=100 * table["agreement"])
shown.round({"accuracy": 1, "agreement": 1, "mflops": 2, "size_kb": 1, "latency_b1_ms": 3,
             "throughput_b256": 0}).style.hide(axis="index")

# %%
# Every setting of the fine-tune that follows pruning (the pruned networks are trained again with these), and the
# base networks' own settings (trained in chapters 3-5).
print("fine-tune after pruning:", ", ".join(f"{k}={v}" for k, v in bench["fine_tune"].items()))
rc.show_settings(*rc.NETWORKS, profile=ch.profile)

# %%
rc.plots.deployment_figure(rows)

# %% [markdown]
# ## Speed-up of each variant over its float model
#
# Per cent less time per spectrum than the float model at batch 1 and at batch 256 (negative: slower), with the
# 95 % paired bootstrap interval over the interleaved rounds of one run (all variants of a network are timed
# together; see the protocol below).

# %%
print(rc.PROTOCOL_NOTE)

# %% tags=["remove-input"]
ch.timing_label

# %%
base = table[table["variant"] == "float"].set_index("model")
fmt = lambda s: "–" if not isinstance(s, rc.tables.Speedup) else f"{s.pct:.1f} [{s.lo:.1f}, {s.hi:.1f}]"
ratios = table[table["variant"] != "float"].assign(
    speedup_b1_pct=lambda t: t["speedup_b1"].map(fmt), speedup_b256_pct=lambda t: t["speedup_b256"].map(fmt),
    accuracy_change_pts=lambda t: (100 * (t["accuracy"] - t["model"].map(base["accuracy"]))).round(2))
ratios[["model", "variant", "speedup_b1_pct", "speedup_b256_pct", "accuracy_change_pts"]].style.hide(axis="index")

# %% [markdown]
# ## What int8 quantisation actually quantised
#
# PyTorch's FX graph-mode quantisation converts every layer that has an int8 kernel and inserts
# quantise/dequantise pairs around the others. The report counts, for each network, the layers that ran on int8
# tensors, those that stayed in float (EfficientNet's SiLU, the DRSN's soft-thresholding arithmetic and its
# pre-activation batch norms) and the number of int8 -> float boundaries. Every boundary costs a conversion and
# breaks a chain of int8 kernels, which is why int8 helps the plain CNN most.

# %%
split = rc.make_split(ds.y, ds.groups, kind="sample", seed=ch.seed)  # the split bench_deployment used
nets = {}
for name in rc.NETWORKS:  # the stored networks bench_deployment measured (loaded, not retrained)
    nets[name] = rc.get_or_train(name, ds, split, ch.profile).model_.cpu().eval()
reports = {r.model: r.extra["quantization"] for r in rows if r.variant == "int8"}
pd.DataFrame([{"network": key, "int8 layers": r["n_quantized"], "float layers": sum(r["float_modules"].values()),
               "int8->float boundaries": r["dequantize_ops"],
               "float layers by type": ", ".join(f"{k} x{v}" for k, v in r["float_modules"].items()) or "-"}
              for key, r in reports.items()]).style.hide(axis="index")

# %% [markdown]
# ## Threads: why batch-1 timings here use one
#
# The same CNN, float and int8, timed at batch 1 with one thread and with all of torch's threads. Int8 kernels in
# PyTorch open a parallel region for every operation; when the machine is busy, each region can wait for a helper
# thread to be scheduled, which on a tiny network costs more than the arithmetic. Float kernels suffer the same way,
# to a lesser degree. The four (variant, threads) targets are timed in the same interleaved rounds
# (`rc.WithThreads`), so warm-up or order does not favour the count timed first. On a dedicated device, compare the
# two thread counts yourself.

# %%
cnn_q = rc.quantize_int8(nets["cnn"], ds.X[split.train][:ch.profile.calibration_size])
length = ds.X.shape[1]
counts = sorted({1, torch.get_num_threads()})
targets = {(label, n): rc.WithThreads(net, n) for n in counts for label, net in (("float", nets["cnn"]),
                                                                                 ("int8", cnn_q))}
cmp = rc.compare_speed({f"{label}, {n} thread(s)": t for (label, n), t in targets.items()}, length=length,
                       batches=(1,), threads=None, inputs=ds.X[split.test],
                       **ch.profile.timing_with(processes=1))  # int8 networks cannot be saved: one process
thread_rows = []
for label, n in targets:
    c = cmp.cell(f"{label}, {n} thread(s)", 1)
    thread_rows.append({"threads": n, "variant": label, "latency, batch 1 (ms)": round(c.median_ms, 3),
                        "95 % interval (ms)": f"[{c.lo_ms:.3f}, {c.hi_ms:.3f}]"})
pd.DataFrame(thread_rows).style.hide(axis="index")

# %% [markdown]
# ## Pruning: what is removed
#
# Channels per convolution of the DRSN before and after removing half of them. The dependency graph of
# `torch_pruning` keeps coupled layers aligned: a residual add forces the same channels out of both branches, and the
# channel-wise thresholds of each shrinkage unit lose exactly the channels they threshold.

# %%
half = rc.prune_channels(nets["drsn_cw"], (1, 1, length), 0.5)
rc.tables.show(pd.DataFrame({"before": half.pruning_["channels_before"], "after": half.pruning_["channels_after"]})
               .T.rename_axis("channels").reset_index())

# %%
mflops = {"DRSN-CW": rc.count_flops(nets["drsn_cw"], (1, 1, length))["flops"] / 1e6,
          "DRSN-CW, 50 % channels removed": rc.count_flops(half, (1, 1, length))["flops"] / 1e6}
pd.Series(mflops, name="MFLOPs per spectrum").round(2).to_frame()

# %% [markdown]
# ## Shipping without PyTorch
#
# The ONNX files have a symbolic batch dimension, so one file serves a single spectrum and a whole folder
# (`ramancmp.compression.export_onnx`, run with `ramancmp.compression.OnnxClassifier`). Their size on disk and opset, float and int8:

# %%
table[table["runtime"] == "onnxruntime"][["model", "variant", "size_kb", "opset"]].round(1).style.hide(axis="index")

# %% [markdown]
# ## Fastest batch-1 variant of each network

# %%
# The lowest median, and its speed-up over the float model with the interval: a variant whose interval covers 0 is
# not measurably faster, however its median ranks.
best = {}
for model, part in table.groupby("model", sort=False):
    fast = part.sort_values("latency_b1_ms").iloc[0]
    int8_row = part[part["variant"] == "int8"].iloc[0]
    best[model] = {"fastest_b1 (lowest median)": fast["variant"], "its b1 (ms)": round(float(fast["latency_b1_ms"]), 3),
                   "float b1 (ms)": round(float(base.loc[model, "latency_b1_ms"]), 3),
                   "its speed-up over float, b1": rc.describe_speedup(fast["speedup_b1"])
                   if isinstance(fast["speedup_b1"], rc.tables.Speedup) else "(the float model itself)",
                   "int8 over float, b1": rc.describe_speedup(int8_row["speedup_b1"])}
pd.DataFrame(best).T

# %%
ch.save({"rows": rc.deployment_rows(rows), "variants": rows, "best": best, "threads": thread_rows,
         "quantization": reports,
         "fine_tune": bench["fine_tune"], "split_sizes": bench["split_sizes"]},
        task=ds.task, split="sample", data_sha256=ds.source_sha256)

# %% [markdown]
# ## Summary

# %%
int8 = table[table["variant"] == "int8"].set_index("model")
shrink = (base["size_kb"] / int8["size_kb"]).dropna()
onnx = table[table["variant"] == "onnx"].set_index("model")
say = lambda s: rc.describe_speedup(s) if isinstance(s, rc.tables.Speedup) else "not measured"
pruned = table[table["variant"].str.startswith("pruned")]

# %% tags=["remove-input"]
rc.md("\n".join([
    f"* **int8** agrees with the float model on {100 * int8['agreement'].min():.1f}-"
    f"{100 * int8['agreement'].max():.1f} % of the test spectra and shrinks the stored weights "
    f"{shrink.min():.1f}-{shrink.max():.1f}x"
    + (" (less than the 4x of one byte per weight: the file also holds scales, zero points and the layers left "
       "in float)" if shrink.max() < 3.9 else "") + ". Per spectrum against the float model: "
    + "; ".join(f"{m}: batch 1 {say(r['speedup_b1'])}, batch 256 {say(r['speedup_b256'])}"
                for m, r in int8.iterrows()) + ". Whether int8 is faster depends on the batch size and on how "
    "much of the network runs on int8 kernels (the report above: every int8 -> float boundary costs a conversion).",
    "* **Channel pruning** removes FLOPs roughly with the square of the kept fraction; per spectrum at batch 1: "
    + "; ".join(f"{r['model']} {r['variant']}: {say(r['speedup_b1'])}, accuracy {100 * r['accuracy']:.1f} %"
                for _, r in pruned.iterrows()) + ".",
    "* **ONNX Runtime** runs the same float graph: "
    + "; ".join(f"{m}: batch 1 {say(r['speedup_b1'])}, batch 256 {say(r['speedup_b256'])}"
                for m, r in onnx.iterrows()) + " against eager PyTorch (the tests check the logits agree to 1e-4).",
    "* These techniques stack with the paper's: a distilled or channel-converted network can be pruned, quantised "
    "and exported in the same way.",
]))

# %%
int8_b256 = {m: r["speedup_b256"] if isinstance(r["speedup_b256"], rc.tables.Speedup) else None
             for m, r in int8.iterrows()}

# %% tags=["remove-input"]
rc.md(f"""
**Verdict.**

{chr(10).join(f"* {rc.findings.speedup_sentence(s, f'against float, int8 ({m}, batch 256, eager PyTorch)')}"
              for m, s in int8_b256.items())}

Next: [chapter 10](10_comparison.ipynb) puts every model and variant in one table and judges the paper's claims.
""")

# %% [markdown]
# ## Exercises
#
# Marked by kind: ★ explain why, ★★ change something and measure, ★★★ a project (listed under *Projects*,
# longer runs). Worked solutions, computed in the profile they run in: `book/solutions/`.
#
# 1. ★★ Quantise the DRSN with its shrinkage units kept in float (`rc.quantize_int8(nets["drsn_cw"], X_calibration,
#    keep_float=[rc.Shrinkage])`). How many int8 -> float boundaries remain (`.report.dequantize_ops`), and what
#    happens to batch-1 latency?
# 2. ★★ Prune half of the CNN's channels *without* fine-tuning (`rc.prune_channels` alone) and measure its accuracy.
#    How much of the accuracy did fine-tuning recover?
# 3. ★★ Time the ONNX model with 1, 2 and 4 threads (`rc.OnnxClassifier(rc.export_onnx(net, path), threads=n)`). At
#    which batch size do extra threads start to pay off?
# 4. ★ Why must int8 calibration use training spectra, never test spectra?
#
# <!-- nav:start -->
#
# [← 8. The DRSN as a feature extractor for LDA](08_feature_extraction.ipynb) | [Contents](../README.md#the-book) | [Next: 10. The final comparison →](10_comparison.ipynb)
#
# <!-- nav:end -->
