# %% [markdown]
# # 11. Identification: "not in library", and any RRUFF mineral
#
# > Calibrated probabilities, a "not in library" answer for minerals outside the classes, and the all-species task
#
# <!-- nav:start -->
#
# [← 10. The final comparison](10_comparison.ipynb) | [Contents](../README.md#the-book) | [Next: 12. Preprocessing, wavenumber range, and what the models look at →](12_preprocessing.ipynb)
#
# <!-- nav:end -->
#
# Every model of chapters 2-10 names one of ten groups for *every* spectrum -- also for a mineral that belongs to
# none of them. A spectroscopist's library search does better: when even the most similar reference spectrum is not
# similar enough, the honest answer is "not in library". This chapter builds that answer and measures it, then leaves
# the ten groups behind and asks the question RRUFF itself answers: which of several hundred species is this?
#
# **The open-set rule.** A closed-set model gives each spectrum class scores (logits). *Temperature scaling* divides
# them by one number fitted on the validation part, so that the softmax probabilities are calibrated [Guo2017].
# The *open-set score* of a spectrum is its largest calibrated probability or its largest raw score -- for the
# library search, the cosine similarity of the nearest library spectrum (which one: chosen by validation AUROC). A
# spectrum is accepted when its score is above a *threshold*, chosen so that a set share of the validation
# *unknowns* is rejected (`unknown_rejection=0.95` by default). The unknowns are spectra of RRUFF minerals in none of the ten groups (task `rruff-outside-groups`, which
# includes the documented exclusions such as feldspathoids); their species are halved: the threshold is chosen on one
# half and judged on the other, so the test unknowns are minerals the rule has never been tuned on.
#
# **How it is judged.** AUROC of the score, known test spectra against unknown ones (threshold-free; 1 = perfect
# separation), and, at the chosen threshold, the fraction of unknowns rejected and the accuracy on known spectra,
# where a rejected known spectrum counts as an error.

# %% [markdown]
# **Learning goals.** After this chapter you can
#
# * calibrate a classifier's probabilities with temperature scaling and choose an open-set threshold on validation data
# * measure how well a score separates known spectra from spectra of minerals outside the classes (AUROC, accuracy at a
#   fixed rejection of unknowns)
# * explain why a library search names known species well and what changes when the library holds hundreds of species
#
# **Prerequisites:** chapters 1-3 (data, library search, CNN); chapter 10 for the models compared.
#
# **Reading** (full entries in [references](references.md)): [Guo2017] (temperature scaling), [Hendrycks2017] (the
# maximum-probability rule), [Liu2017] (a CNN for all RRUFF species), [Lafuente2015] (RRUFF).

# %% tags=["parameters"]
profile = None  # None: the book runner's choice, else "quick"; "full" makes the book's results
seed = None  # None: the book runner's seed, else 0
data_dir = None  # None: the project's data cache (data/raw or $RAMANCMP_DATA_DIR)

# %%
import pandas as pd

from ramancmp import book as rc

ch = rc.Chapter("11_identification", profile=profile, seed=seed, data_dir=data_dir)
ds = rc.load_task("rruff-groups-10")
unknown = rc.load_task("rruff-outside-groups")
splits = rc.repeated_splits(ds.y, ds.groups, kind="sample", repeats=ch.profile.repeats, seed=ch.seed)
print(ch)


def pct(entry):
    """'mean ± sd' in percent of a summarize() statistic (a Stat)."""
    return f"{100 * entry.mean:.2f} ± {100 * entry.sd:.2f}"


# %% tags=["remove-input"]
rc.md(f"The known spectra: {len(ds):,} spectra of {ds.n_classes} groups. The unknowns: {len(unknown):,} spectra of "
      f"{unknown.n_classes:,} species outside the groups. Every figure below is a mean ± sd over {len(splits)} "
      "by-sample splits.")

# %% [markdown]
# ## The library search, with "not in library"
#
# Each split is one unit of work for the execution engine: fit the library (training part), the temperature
# (validation part) and the threshold (validation half of the unknown species); test on the test part and on the
# other half of the unknown species.

# %%
ls_rows = rc.identification.library_open_set(ds, unknown, splits)
keys = ("auroc", "known_accuracy", "unknown_rejected", "known_accepted", "closed_set_accuracy")
ls = rc.identification.summarize(ls_rows, keys)[0]
pd.DataFrame(ls_rows)[["split_seed", "score", "temperature", "threshold", *keys]].round(4)

# %%
scores_used = sorted({r["score"] for r in ls_rows})

# %% tags=["remove-input"]
rc.md(f"With forced answers the library search is right on {pct(ls['closed_set_accuracy'])} % of the known test "
      f"spectra. Its open-set score (chosen on validation: {', '.join(scores_used)}) separates known from unknown "
      f"spectra with an AUROC of {pct(ls['auroc'])} %. At the threshold that rejects 95 % of the *validation* "
      f"unknowns it rejects {pct(ls['unknown_rejected'])} % of the *test* unknowns and still names "
      f"{pct(ls['known_accuracy'])} % of the known spectra correctly ({pct(ls['known_accepted'])} % are accepted): "
      "the price of saying \"not in library\" is that some known spectra, of samples unlike any in the library, are "
      "rejected too.")

# %% [markdown]
# ## A network, with the same rule
#
# The book's plain CNN (chapter 3), one stored network per split (trained there, or now if the store does not have
# it), wrapped as it is -- frozen -- in the same open-set classifier. A network's scores are the log-probabilities
# of its softmax; its open-set score is the largest calibrated probability or the largest log-probability.

# %%
net_name, net_kwargs = ("cnn", {})
net_rows, trained = rc.identification.network_open_set(net_name, ds, unknown, splits, ch.profile, model_kwargs=net_kwargs)
cnn = rc.identification.summarize(net_rows, keys)[0]
table = pd.DataFrame([{"model": s["model"], **{k: pct(s[k]) for k in keys}} for s in (ls, cnn)])
print(f"{trained} networks trained now (the rest came from the model store)")
table

# %% tags=["remove-input"]
rc.md(f"The CNN separates known from unknown spectra with an AUROC of {pct(cnn['auroc'])} % (library search: "
      f"{pct(ls['auroc'])} %); at 95 % rejection of validation unknowns it names {pct(cnn['known_accuracy'])} % of "
      f"the known spectra correctly (library search: {pct(ls['known_accuracy'])} %). A softmax network has no notion "
      "of distance to its training data: a spectrum unlike anything it has seen can still land far on one side of a "
      "decision boundary and get a confident answer, while the library search's score *is* a distance.")

# %% [markdown]
# ## Leave one group out
#
# The hard case: a whole group the library has never seen, whose spectra are silicate spectra like most of the
# others. One unit per group (first split): that group is removed from the library, validation and test parts and
# all its spectra are the test unknowns; the threshold still comes from the outside species, never from the held-out
# group.

# %%
logo_rows = rc.identification.leave_one_group_out(ds, unknown, splits[0])
logo = pd.DataFrame(logo_rows)[["held_out", "n_unknown", "auroc", "unknown_rejected", "known_accuracy"]]
logo.round(4)

# %%
worst = logo.sort_values("unknown_rejected").iloc[0]

# %% tags=["remove-input"]
rc.md(f"Held-out groups are rejected at a median rate of {100 * logo['unknown_rejected'].median():.1f} % (AUROC "
      f"median {100 * logo['auroc'].median():.1f} %). The worst is **{worst['held_out']}**: only "
      f"{100 * worst['unknown_rejected']:.1f} % of its {int(worst['n_unknown'])} spectra are rejected (AUROC "
      f"{100 * worst['auroc']:.1f} %) -- its spectra look like those of groups in the library.")

# %% [markdown]
# ## Any RRUFF mineral: the all-species task
#
# Task `rruff-all-species`: every species with usable spectra from at least two samples, by-sample splits as
# everywhere in the book. Two anchors in the same run: the 1-NN cosine library search (top-1 and top-5: is the right
# species among the five most similar species?), and the book's plain CNN trained on the species -- in the spirit of
# Liu et al. (2017) [Liu2017], whose CNN was trained and tested on RRUFF spectra of many more species.
#
# **How the protocols differ.** Liu et al. used RRUFF spectra of many more species, held out spectra (not samples)
# and augmented the training data heavily; a held-out spectrum there often has a sibling spectrum of the same sample
# in training (chapter 1 shows how much that inflates accuracy). Here no sample is on both sides, and a species whose
# samples all fall in the test part cannot be named by any model: we report accuracy also on the test spectra whose
# species is in the training part ("seen"). Our CNN is the book's, not theirs, with the profile's epochs.

# %%
allsp = rc.load_task("rruff-all-species")
all_splits = rc.repeated_splits(allsp.y, allsp.groups, kind="sample", repeats=ch.profile.repeats, seed=ch.seed)
emb_name = f"library search in the {net_name} embedding"
topk_rows, trained_all = rc.identification.all_species_top_k(allsp, all_splits, net_name, ch.profile, model_kwargs=net_kwargs,
                                                       embedding_model=emb_name)
topk_keys = ("top1", "top5", "top1_seen", "top5_seen", "seen_fraction")
topk = {s["model"]: s for s in rc.identification.summarize(topk_rows, topk_keys)}
print(f"{trained_all} networks trained now (the rest came from the model store)")
pd.DataFrame([{"model": m, **{k: pct(s[k]) for k in topk_keys}} for m, s in topk.items()])

# %%
lib, net = topk["library search"], topk[net_name]

# %% tags=["remove-input"]
rc.md(f"{len(allsp):,} spectra of {allsp.n_classes} species. On unseen samples the library search names the species "
      f"of {pct(lib['top1'])} % of the test spectra (top-5: {pct(lib['top5'])} %); on the {pct(lib['seen_fraction'])} "
      f"% whose species is in the training part, {pct(lib['top1_seen'])} % (top-5: {pct(lib['top5_seen'])} %). The "
      f"CNN reaches {pct(net['top1'])} % top-1 ({pct(net['top5'])} % top-5) -- with a few spectra per species, a "
      "network learning several hundred classes from scratch has little to learn from, while the library search "
      "needs only one good reference spectrum.")

# %% [markdown]
# ### A learnt embedding as the library's search space
#
# The library search compares spectra point by point; a network compares what it has learnt to look at. Metric
# learning joins the two: embed every spectrum with a network and search the library *in the embedding*. The
# cheapest embedding is the one the CNN above already learnt, its penultimate layer (the pooled features before the
# classifier), used here on every split with the network trained on that split's training part. Trained with
# cross-entropy rather than a contrastive or triplet loss, it is metric learning's baseline (a supervised contrastive
# loss is the next step, not taken here). The two library searches and the CNN's own answer pair split by split.

# %%
top1 = rc.identification.top_k_rows(topk_rows, all_splits, "top1")
top5 = rc.identification.top_k_rows(topk_rows, all_splits, "top5")

# %% tags=["remove-input"]
rc.md(f"""
Top-1 on the test spectra (95 % intervals over {len(all_splits)} by-sample splits): library search on the spectra
{rc.tables.accuracy_text(top1['library search'])}, in the {net_name}'s embedding
{rc.tables.accuracy_text(top1[emb_name])}, the {net_name}'s own answer {rc.tables.accuracy_text(top1[net_name])}.
Top-5: {rc.tables.accuracy_text(top5['library search'])}, {rc.tables.accuracy_text(top5[emb_name])} and
{rc.tables.accuracy_text(top5[net_name])}.

Embedding search minus the library search on the spectra, paired on the same splits: top-1
{rc.tables.difference_text(top1[emb_name], top1['library search'])}, top-5
{rc.tables.difference_text(top5[emb_name], top5['library search'])}; minus the {net_name}'s own answer: top-1
{rc.tables.difference_text(top1[emb_name], top1[net_name])}.
""")

# %%
metrics = {"open_set": {"library_search": ls, net_name: cnn, "rows": ls_rows + net_rows},
           "leave_one_group_out": logo_rows, "all_species": {"summary": topk, "rows": topk_rows}}
ch.save(metrics, task=ds.task, split="sample", data_sha256=ds.source_sha256)

# %% [markdown]
# ## Summary
#
# * A calibrated score and a threshold chosen on validation unknowns turn a closed-set classifier into one that can
#   answer "not in library"; judged on unknown species it was never tuned on, and on whole held-out groups.
# * The library search's score, the cosine similarity of the nearest reference spectrum, is a natural open-set
#   score; a softmax network's confidence is not (compare the AUROCs above).
# * On the all-species task the library search is the anchor any model must beat; a species with samples only in
#   the test part cannot be named by anyone, which sets a ceiling on by-sample accuracy.
# * `python -m ramancmp predict` uses exactly this rule (library search by default, no training needed).

# %%
ratio = len(splits[0].test) / len(splits[0].train)
auroc_rows = {name: rc.Row(model=name, accuracy=s["auroc"], seeds=list(range(len(s["auroc"].values))),
                           test_train_ratio=ratio) for name, s in (("library", ls), (net_name, cnn))}
net_words = f"as an open-set score (AUROC, in points), the softmax confidence of {net_name}"
lib_words = "the library search's cosine similarity"

# %% tags=["remove-input"]
rc.md(f"""
**Verdict.**

* {rc.findings.verdict_sentence(auroc_rows[net_name], auroc_rows["library"], a_words=net_words, b_words=lib_words)}

Next: [chapter 12](12_preprocessing.ipynb) measures each preprocessing step and the wavenumber range.
""")

# %% [markdown]
# ## Exercises
#
# Marked by kind: ★ explain why, ★★ change something and measure, ★★★ a project (listed under *Projects*,
# longer runs). Worked solutions, computed in the profile they run in: `book/solutions/`.
#
# 1. ★★ Use the largest calibrated probability instead of the similarity for the library search
#    (`rc.OpenSetClassifier(rc.LibrarySearch(), score="max_proba")`). Does it separate known from unknown spectra
#    better or worse, and why? (Hint: what happens to the probability when two groups have similar spectra?)
# 2. ★★ Choose the threshold that rejects nine in ten, and ninety-nine in a hundred, validation unknowns. Plot known
#    accuracy against unknown rejection: where would you put the threshold for a field instrument?
# 3. ★ Which outside minerals are accepted most often, and as which group? Are they chemically related to that group?
# 4. ★ Compare how often held-out groups and outside species are rejected. Which is harder to reject, why, and what
#    does it mean for a library that misses a group?
# 5. ★★ On the all-species task, how does top-1 accuracy depend on the number of training samples of the species?
#
# <!-- nav:start -->
#
# [← 10. The final comparison](10_comparison.ipynb) | [Contents](../README.md#the-book) | [Next: 12. Preprocessing, wavenumber range, and what the models look at →](12_preprocessing.ipynb)
#
# <!-- nav:end -->
