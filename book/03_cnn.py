# %% [markdown]
# # 3. A plain 1D CNN
#
# > The paper's plain 1D CNN (later the distillation student)
#
# <!-- nav:start -->
#
# [← 2. Baselines](02_baselines.ipynb) | [Contents](../README.md#the-book) | [Next: 4. 1D-EfficientNet →](04_efficientnet.ipynb)
#
# <!-- nav:end -->
#
# The paper's "CNN" is the classic design for spectra introduced by Liu et al. (2017, *Analyst* 142, 4067) for RRUFF
# mineral identification: a LeNet-like stack of convolution → batch normalisation → ReLU → max-pooling stages and a
# small classifier. Convolutions suit spectra because a Raman band is a local pattern that can appear at slightly
# different positions; pooling builds tolerance to such shifts. The head pools the last feature map to 8 bins rather
# than to 1, so the network still knows *roughly where* along the wavenumber axis a pattern was found — a band at
# 1085 cm⁻¹ and one at 700 cm⁻¹ mean different minerals.
#
# This network is also the *student* of the distillation chapter, so it is deliberately small and fast.

# %% [markdown]
# **Learning goals.** After this chapter you can
#
# * build the paper's plain 1D CNN and count its parameters and FLOPs layer by layer
# * read the package's training loop: AdamW, the one-cycle schedule, augmentation, early stopping
# * list every setting a network is trained with, and read training and validation curves
#
# **Prerequisites:** chapters 1 and 2. Background: convolution, back-propagation, the cross-entropy loss.
#
# **Reading** (full entries in [references](references.md)): [Liu2017] (the CNN), [Loshchilov2019] (AdamW), [Smith2019]
# (one-cycle schedule).


# %% tags=["parameters"]
profile = None  # None: the book runner's choice, else "quick"; "full" makes the book's results
seed = None  # None: the book runner's seed, else 0
data_dir = None  # None: the project's data cache (data/raw or $RAMANCMP_DATA_DIR)

# %%
from ramancmp import book as rc

ch = rc.Chapter("03_cnn", profile=profile, seed=seed, data_dir=data_dir)
ds = rc.load_task("rruff-groups-10")
MODEL, MODEL_KWARGS = ("cnn", {})
print(ch, "|", ds.task, len(ds.y), "spectra")

# %% [markdown]
# ## The network in twelve lines
#
# ![The plain 1D CNN: four stages of convolution, batch normalisation, ReLU and max-pooling, then an 8-bin pooling
# head and a linear classifier](figures/cnn.svg)
#
# Each stage is a convolution with "same" padding (the spectrum keeps its length), batch normalisation, ReLU and a
# max-pooling that halves the length. The head averages the last feature map into a few bins along the wavenumber
# axis, flattens them and maps them to one score per group; the diagram gives the shape after every step.

# %%
n_classes, L = len(ds.class_names), ds.X.shape[1]

# %% tags=["from-scratch"]
import torch
from torch import nn


def conv_stage(c_in, c_out, kernel):  # convolution ("same" padding) -> batch norm -> ReLU -> halve the length
    return [nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm1d(c_out), nn.ReLU(),
            nn.MaxPool1d(2)]


cnn_scratch = nn.Sequential(
    *conv_stage(1, 16, 7), *conv_stage(16, 32, 5), *conv_stage(32, 64, 5), *conv_stage(64, 64, 5),
    nn.AdaptiveAvgPool1d(8),  # 8 bins along the wavenumber axis: the head keeps rough band positions
    nn.Flatten(), nn.Dropout(0.2), nn.Linear(64 * 8, n_classes))

# %% [markdown]
# The concise form is the registered model `cnn`, the network every chapter trains. It is the same network: its
# tensors have the same shapes, in the same order, and with the registered network's initial weights copied into
# ours, both give the same scores for the same spectra.

# %%
net = rc.create_model(MODEL, num_classes=n_classes, in_length=L, **MODEL_KWARGS)
same_shapes = ([tuple(t.shape) for t in cnn_scratch.state_dict().values()]
               == [tuple(t.shape) for t in net.state_dict().values()])
cnn_scratch.load_state_dict(dict(zip(cnn_scratch.state_dict(), net.state_dict().values())))
X_all, y_all = torch.as_tensor(ds.X, dtype=torch.float32).unsqueeze(1), torch.as_tensor(ds.y)
with torch.no_grad():
    same_scores = torch.allclose(cnn_scratch.eval()(X_all[:16]), net.eval()(X_all[:16]), atol=1e-5)
print(f"same tensor shapes: {same_shapes}; same scores: {same_scores}")

# %% [markdown]
# ## Training it once, in the open
#
# One by-sample split (the harness's first), AdamW at the package's default learning rate and weight decay with the
# harness's one-cycle schedule (warm up, then anneal to almost zero), no augmentation, no early stopping, ten epochs:
# the loop every deep-learning course starts with. The book's harness does more (below), but nothing different in
# kind. The schedule matters more than it seems: batch normalisation scores a test spectrum with *running* averages of
# the training batches' statistics, and those only describe the network once its weights stop moving fast -- with a
# constant learning rate and two epochs, the same loop scores the validation part near chance.

# %%
split = rc.make_split(ds.y, ds.groups, kind="sample", seed=ch.seed)
train_idx = torch.as_tensor(split.train)
defaults, epochs = rc.TrainConfig(), 10  # the same short look in every profile; the harness trains up to max_epochs
torch.manual_seed(ch.seed)
optimizer = torch.optim.AdamW(cnn_scratch.parameters(), lr=defaults.lr, weight_decay=defaults.weight_decay)
steps_per_epoch = -(-len(train_idx) // ch.profile.batch_size)
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=defaults.lr, total_steps=epochs * steps_per_epoch)
for epoch in range(epochs):
    cnn_scratch.train()
    for batch in train_idx[torch.randperm(len(train_idx))].split(ch.profile.batch_size):
        if len(batch) < 2:  # batch normalisation needs two spectra per batch
            continue
        loss = nn.functional.cross_entropy(cnn_scratch(X_all[batch]), y_all[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    cnn_scratch.eval()
    with torch.no_grad():
        val_accuracy = (cnn_scratch(X_all[split.val]).argmax(1) == y_all[split.val]).float().mean().item()
    print(f"epoch {epoch + 1}: last training batch loss {loss.item():.3f}, validation accuracy "
          f"{100 * val_accuracy:.1f} %")

# %% [markdown]
# ## The architecture, layer by layer
#
# Output shape, parameters and FLOPs (twice the multiply–accumulates, counted by thop and cross-checked in the tests
# against PyTorch's own `FlopCounterMode`) for one spectrum of 1024 points.

# %%
rc.layer_table(net, (1, 1, L), depth=2)

# %%
print(f"{rc.count_params(net)['total']:,} parameters, {rc.count_flops(net, (1, 1, ds.X.shape[1]))['flops'] / 1e6:.2f} "
      "MFLOPs per spectrum")

# %% [markdown]
# ## Training, by the book's harness
#
# The registered `cnn` is handed to the harness, which trains one network per repeated split with the full recipe:
# AdamW with a one-cycle learning-rate schedule, on-the-fly augmentation (a shift of a few wavenumber points,
# intensity scaling, noise), early stopping on the validation part of each by-sample split (the weights of the best
# epoch are restored). One network per repeated split -- of the by-sample splits and of the random splits beside them --
# all trained at once by worker processes on every core (`rc.train_networks`), then only loaded by `rc.evaluate`;
# the curves below show every by-sample repeat (dotted: training, solid: validation).

# %%
trained = rc.train_networks([(MODEL, MODEL_KWARGS)], ds, profile=ch.profile, seed=ch.seed,
                           split_kinds=("sample", "random"))
print(f"{trained} networks trained now, in parallel (the rest were in the model store)")

# %%
# Every setting these networks were trained with in this profile: the training loop's, the augmentation's and the
# architecture's (read from the estimator the model store builds and the network the registry builds).
rc.show_settings("cnn", profile=ch.profile)

# %%
# The training loop every network of the book goes through -- the package's own code, shown, not copied.
rc.show_source(rc.train_model)

# %%
by_sample = rc.evaluate(MODEL, ds, split_kind="sample", seed=ch.seed, profile=ch.profile, model_kwargs=MODEL_KWARGS)
print(by_sample)
rc.plots.curves_figure([{**h, "label": f"split {i}"} for i, h in enumerate(by_sample.histories)],
                    title="CNN: loss and accuracy per epoch")

# %% [markdown]
# ## Results on unseen samples

# %%
random_split = rc.evaluate(MODEL, ds, split_kind="random", seed=ch.seed, profile=ch.profile, model_kwargs=MODEL_KWARGS,
                           measure_speed=False)
row = rc.Row.from_evaluation(by_sample)
row.accuracy_random = rc.Row.from_evaluation(random_split).accuracy
rc.tables.show([row])

# %%
rc.plots.confusion_figure(by_sample.confusion_matrix, ds.class_names, title="CNN: confusion matrix (by-sample splits)")

# %% tags=["remove-input"]
rc.md(f"""
Accuracy on unseen samples {rc.tables.accuracy_text(row)} (95 % interval); by kind of test spectrum:

{rc.tables.species_text([row])}
""")

# %% [markdown]
# ## Compared with the baselines
#
# The same splits (same seeds) as chapter 2, so the rows are directly comparable, pair by pair.

# %%
ch.save({"rows": [row], "complexity": by_sample.complexity, "per_split": by_sample.per_repeat},
        task=ds.task, split="sample", data_sha256=ds.source_sha256)
checkpoint = by_sample.save_checkpoint()  # for `python -m ramancmp predict --model cnn`
compared = rc.load_rows(["02_baselines", "03_cnn"], directory=ch.results_dir)
rc.tables.show(compared)

# %%
base = {r.model: r for r in compared if r.model != row.model}

# %% tags=["remove-input"]
rc.md("Paired on the same splits (CNN minus baseline, 95 % interval):\n\n" + "\n".join(
    f"* vs {name}: {rc.tables.difference_text(row, other)}" for name, other in base.items()))

# %% [markdown]
# ## Summary

# %% tags=["remove-input"]
rc.md(f"""
* A LeNet-like 1D CNN with {row.params:,} parameters learns the ten groups from a few hundred spectra; its batch-1
  latency in this run is {row.latency_b1_ms:.3f} ms per spectrum on one CPU core (the book's timing protocol, as in
  every chapter: the median over interleaved rounds, after training).
* Its curves show how quickly such a small network fits the training spectra; early stopping on the validation part
  of each by-sample split decides when to stop.
* Whether it beats the library search of chapter 2 is the first real question of the book: the paired differences
  above answer it for this run, and "within noise" means this run cannot tell.
""")

# %%
lib = base.get("knn_cosine")

# %% tags=["remove-input"]
rc.md(f"""
**Verdict.**

* {rc.findings.verdict_sentence(row, lib) if lib is not None else "The library search was not measured in this run."}

Next: [chapter 4](04_efficientnet.ipynb) builds the 1D-EfficientNet, the paper's teacher.
""")

# %% [markdown]
# ## Exercises
#
# Marked by kind: ★ explain why, ★★ change something and measure, ★★★ a project (listed under *Projects*,
# longer runs). Worked solutions, computed in the profile they run in: `book/solutions/`.
#
# 1. ★★ Replace the 8-bin adaptive pooling of the head by global average pooling
#    (`rc.evaluate("cnn", ds, profile=ch.profile, model_kwargs={"head_bins": 1})`) and retrain. What happens, and
#    why?
# 2. ★★ Turn augmentation off: `evaluate` also takes a factory, e.g. `lambda n_classes, length:
#    rc.TorchClassifier(model="cnn", train_config=rc.train_config(ch.profile, "cnn").replace(augment=False))`;
#    train the same factory with `augment=True` beside it. How large is the
#    effect of augmentation on unseen samples?
# 3. ★★ Predict the class of one of your own spectra with `python -m ramancmp predict --model cnn FILE` (it uses the
#    CNN this chapter saved).
# 4. ★ In the training loop shown above, where are the best epoch's weights kept, and when are they restored? What
#    would change if early stopping monitored the validation loss (`rc.TrainConfig(monitor="val_loss")`)?
#
# <!-- nav:start -->
#
# [← 2. Baselines](02_baselines.ipynb) | [Contents](../README.md#the-book) | [Next: 4. 1D-EfficientNet →](04_efficientnet.ipynb)
#
# <!-- nav:end -->
