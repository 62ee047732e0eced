# %% [markdown]
# # Solutions to chapter 6: Knowledge distillation
#
# Worked solutions to the exercises of [chapter 6](../06_distillation.ipynb). Every number in an answer is computed
# by the code above it, in the profile set below; teachers the chapters trained are loaded from the model store.

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
TEACHER, TEACHER_KWARGS = ("efficientnet_small", {})
STUDENT, STUDENT_KWARGS = ("cnn", {})

# %% [markdown]
# ## Exercise 1 -- α = 0
#
# With α = 0 the loss is (1 − α)·CE = the plain cross-entropy: the teacher's term is multiplied by zero. The student
# is built with the same seed, sees the same batches and the same augmentation, so it should match "cnn alone" --
# unless something else in the distilled path differs (the teacher's forward pass on each batch runs without
# gradients and draws no random numbers).

# %%
exp = rc.distillation_experiment(ds, profile=prof, seed=seed, grid=[(4.0, 0.0)])
alone, zero = exp["student_alone"], exp["distilled"]
same = all(np.array_equal(a["confusion_matrix"], b["confusion_matrix"])
           for a, b in zip(alone.per_repeat, zero.per_repeat))
print(f"cnn alone {100 * alone.metrics['accuracy'].mean:.2f} %, distilled with alpha = 0 "
      f"{100 * zero.metrics['accuracy'].mean:.2f} %: the test predictions are "
      f"{'identical on every split' if same else 'not identical'}")

# %% [markdown]
# If they were not identical, the reason would be numerical: the distillation path computes the cross-entropy
# inside `distillation_loss` in another order of operations, and floating-point rounding differences grow over
# training; the training *procedure* is the same.
#
# ## Exercise 2 -- the teacher's soft targets for a pyroxene spectrum

# %%
teacher = exp["teacher"]
split = teacher.last_split
pyroxene = ds.class_names.index("pyroxene")
i = int(next(j for j in split.test if ds.y[j] == pyroxene))
logits = rc.predict_logits(teacher.estimator.model_, ds.X[i:i + 1], device="cpu")[0]
rc.plots.soft_targets_figure(ds.class_names, logits, (1, 2, 4, 8), true_class=pyroxene,
                             title=f"Soft targets for a pyroxene spectrum ({ds.meta.iloc[i]['mineral']}, "
                                   f"{ds.meta.iloc[i]['rruff_id']})")

# %%
p8 = pd.Series(rc.soft_targets(logits, 8.0), index=ds.class_names).sort_values(ascending=False)
print(f"At T = 8 the teacher gives {ds.meta.iloc[i]['mineral']} (pyroxene): "
      + ", ".join(f"{c} {100 * p:.1f} %" for c, p in p8.head(4).items()))

# %% [markdown]
# Mineralogically, pyroxenes are single-chain silicates; their closest relatives are the amphiboles (double
# chains), which share the Si–O–Si bending and stretching bands of chain silicates near 650–700 and 1000 cm⁻¹.
# If amphibole is the runner-up above, the teacher has learnt a sensible similarity -- exactly the information a
# one-hot label cannot give the student. Check the top classes printed above against this expectation.
#
# ## Exercise 3 -- a narrower student
#
# Each split's stored teacher (trained on that split's training part only), a student at two smaller widths, the
# first (T, α) of the profile's grid; evaluated through `rc.evaluate` with a factory that hands out the teachers in
# split order.

# %%
splits = rc.repeated_splits(ds.y, ds.groups, "sample", repeats=prof.repeats, seed=seed)
teachers = [rc.get_or_train(TEACHER, ds, s, prof, model_kwargs=TEACHER_KWARGS or None) for s in splits]
T, alpha = prof.distillation_grid[0]


def narrow_student(channels):
    stored = iter(teachers)
    return lambda n_classes, length: rc.DistilledClassifier(
        teacher=next(stored), model=STUDENT, model_kwargs={**STUDENT_KWARGS, "channels": channels}, temperature=T,
        alpha=alpha, train_config=rc.train_config(prof, STUDENT, seed=seed, device="cpu"))


widths = {"(16, 32, 64, 64) (the book's)": None, "(8, 16, 32, 32)": (8, 16, 32, 32), "(4, 8, 16, 16)": (4, 8, 16, 16)}
rows = []
for label, channels in widths.items():
    if channels is None:
        r = exp["student_alone"]  # reference: the book's width, trained alone (no distillation)
        label += ", alone"
    else:
        with rc.num_threads(1):
            r = rc.evaluate(narrow_student(channels), ds, seed=seed, profile=prof, progress=False)
    rows.append({"student channels": label, "accuracy %": 100 * r.metrics["accuracy"].mean,
                 "sd": 100 * r.metrics["accuracy"].sd, "params": r.complexity["params"],
                 "MFLOPs": r.complexity["flops"] / 1e6})
narrow = pd.DataFrame(rows)
narrow.round(3)

# %%
print("accuracy by width: " + "; ".join(f"{r['student channels']}: {r['accuracy %']:.2f} ± {r['sd']:.2f} % "
                                         f"({r['params']:,} parameters)" for r in rows)
      + ". Accuracy starts to drop where the gap to the wider student exceeds the sds.")
