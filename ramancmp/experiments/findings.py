"""What the book found, in words generated from its rows and judged claims: the findings box, the short claims table,
and the one-sentence verdicts that conclude each chapter's summary.

Everything here reads the typed results (:class:`~ramancmp.experiments.tables.Row`,
:class:`~ramancmp.experiments.claims.ClaimReading`), never a hand-typed number, so a change of a reading or of a
verdict rule (``claims.py``) flows into the README, chapter 0 and chapter 10 at the next run.

>>> verdict_sentence(rows["cnn"], rows["knn_cosine"])   # doctest: +SKIP
'The CNN does **not** beat the library search: -1.50 [-3.25, +0.25] points, within noise.'
>>> findings_markdown(rows, judged)                     # doctest: +SKIP
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from ramancmp.config import results_dir
from ramancmp.experiments.claims import CLAIMS, TOO_FEW_SPLITS, ClaimReading, pick_best
from ramancmp.experiments.tables import Row, accuracy_text, difference_text, paired, split_gap_text
from ramancmp.fileio import read_json
from ramancmp.metrics.statistics import Speedup, unpaired_difference

__all__ = ["MODEL_WORDS", "VERDICT_SENTENCE", "book_findings", "claim_sentence", "claims_frame", "claims_markdown",
           "findings",
           "findings_markdown", "headline_claims", "load_findings", "model_words", "no_lever_sentence",
           "speedup_sentence", "split_sentence", "verdict_sentence"]

#: The words a sentence uses for the book's registered models (the tables keep the registry names).
MODEL_WORDS = {"lda": "LDA", "pca_lda": "PCA + LDA", "knn_cosine": "the library search",
               "cnn": "the CNN", "efficientnet_small": "the EfficientNet", "drsn_cw": "the DRSN",
               "drsn_paper": "the paper-layout DRSN"}

#: What every generated verdict sentence holds: a word in bold, then (in the same sentence) a number with its 95 %
#: interval "[lo, hi]". tests/test_book_outputs.py requires one in every chapter's summary.
VERDICT_SENTENCE = re.compile(r"\*\*[^*\n]+\*\*[^.\n]*?[−+\-]?\d[\d.,]*\s*(?:%|points|s)?\s*\[[−+\-]?\d[\d.,]*\s*(?:%|)"
                              r",\s*[−+\-]?\d[\d.,]*")


def model_words(name: str) -> str:
    """How a sentence names model ``name`` (:data:`MODEL_WORDS`; other names, e.g. variants, as they are)."""
    return MODEL_WORDS.get(name, name)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def verdict_sentence(a: Row, b: Row, key: str = "accuracy", a_words: str | None = None,
                     b_words: str | None = None) -> str:
    """``"The CNN does **not** beat the library search: -1.50 [-3.25, +0.25] points, within noise."``: ``a`` against
    ``b`` on statistic ``key``, paired on their common splits (:func:`ramancmp.experiments.tables.paired`), in words
    that cannot contradict the interval: **beats** only when the interval lies above 0, **worse** only when it
    lies below."""
    a_words, b_words = a_words or model_words(a.model), b_words or model_words(b.model)
    d = paired(a, b, key)
    text = difference_text(a, b, key)
    if d is None or d.lo is None:
        return f"{_capital(a_words)} and {b_words} cannot be compared here ({text})."
    if d.lo > 0:
        return f"{_capital(a_words)} **beats** {b_words}: {text}."
    if d.hi < 0:
        return f"{_capital(a_words)} is **worse than** {b_words}: {text}."
    return f"{_capital(a_words)} does **not** beat {b_words}: {text}."


def split_sentence(row: Row, words: str | None = None) -> str:
    """Whether the random split inflates ``row``'s accuracy over the by-sample split: random minus by-sample, an
    unpaired corrected interval (the splits differ; :func:`ramancmp.experiments.tables.split_gap_text`)."""
    words = words or model_words(row.model)
    if not row.accuracy or not row.accuracy_random:
        return f"The random split was not measured for {words}."
    d = unpaired_difference(row.accuracy_random.values, row.accuracy.values, row.test_train_ratio or 0.0)
    d = d.clipped(-1.0, 1.0)
    verb = ("**inflates**" if d.lo is not None and d.lo > 0 else "**deflates**" if d.hi is not None and d.hi < 0
            else "does **not** measurably inflate")
    return f"The random split {verb} the accuracy of {words}: {split_gap_text(row)} (random minus by sample)."


def speedup_sentence(s: Speedup | dict | None, subject: str) -> str:
    """``"int8 (cnn, batch 256) is **faster**: 35.2 % [30.1, 40.0] less time per spectrum."``: a speed-up with its
    interval in words that cannot contradict it (faster / slower only when the interval excludes 0)."""
    if s is None:
        return f"{_capital(subject)} was not timed."
    s = Speedup.from_dict(s)
    if s.lo is None or s.hi is None:
        return f"{_capital(subject)} saves {s.pct:.1f} % per spectrum (one reading, no interval)."
    if s.hi < 0:
        return (f"{_capital(subject)} is **slower**: {-s.pct:.1f} % [{-s.hi:.1f}, {-s.lo:.1f}] more time per "
                "spectrum.")
    word = "**faster**" if s.lo > 0 else "**no faster or slower** (within noise)"
    return f"{_capital(subject)} is {word}: {s.pct:+.1f} % [{s.lo:+.1f}, {s.hi:+.1f}] less time per spectrum."


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:g}"


def _ours(c: ClaimReading) -> str:
    """``"-0.32 [-3.29, 2.65] points"``: our number of a claim reading with its 95 % interval and unit."""
    if c.ours is None:
        return "not measured"
    unit = f" {c.unit}" if c.unit else ""
    f = "+.2f" if c.unit in ("points", "s") else ".2f"  # differences signed, levels and savings plain
    return (f"{c.ours:{f}} [{c.lo:{f}}, {c.hi:{f}}]{unit}" if c.has_interval else f"{c.ours:{f}}{unit}")


def claim_sentence(reading: ClaimReading | dict, lead: str | None = None) -> str:
    """``"The paper's claim "…" is **not reached**: ours -0.32 [-3.29, 2.65] points against its 20 points (drsn_cw vs
    cnn)."``: one judged claim reading in a sentence."""
    c = ClaimReading.from_dict(reading)
    lead = lead or f"The paper's claim that {c.claim}"
    verdict = ("**cannot be called** from so few splits (too few splits to call)" if c.verdict == TOO_FEW_SPLITS
               else f"is **{c.verdict}**")
    return (f"{lead} {verdict}: ours {_ours(c)} against the paper's {c.paper_text}"
            + (f" ({c.at})" if c.at else "") + ".")


def headline_claims(judged: list[ClaimReading | dict]) -> list[ClaimReading]:
    """One reading per claim, in the order of :data:`~ramancmp.experiments.claims.CLAIMS`: the readings marked
    closest to the paper's text (a claim judged in several closest parts keeps each), else its first reading."""
    readings = [ClaimReading.from_dict(c) for c in judged]
    out = []
    for claim in CLAIMS:
        mine = [c for c in readings if c.key == claim.key]
        out += [c for c in mine if c.primary] or mine[:1]
    return out


def claims_frame(judged: list[ClaimReading | dict]) -> pd.DataFrame:
    """The short claims table: claim / paper / ours [95 % interval] / verdict, one row per :func:`headline_claims`
    reading (the other readings: :func:`ramancmp.experiments.claims.to_frame`)."""
    return pd.DataFrame([{"claim": c.claim + ("" if c.reading == "as stated" else f" ({c.reading})"),
                          "paper": c.paper_text, "ours [95 % interval]": _ours(c),
                          "verdict": c.verdict} for c in headline_claims(judged)],
                        columns=["claim", "paper", "ours [95 % interval]", "verdict"])


def claims_markdown(judged: list[ClaimReading | dict]) -> str:
    """:func:`claims_frame` as a GitHub-flavoured markdown table."""
    frame = claims_frame(judged)
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _closest(judged: list[ClaimReading], key: str) -> ClaimReading | None:
    mine = [c for c in judged if c.key == key]
    return next((c for c in mine if c.primary), mine[0] if mine else None)


def findings(rows: list[Row | dict], judged: list[ClaimReading | dict]) -> list[str]:
    """The five findings, each a markdown sentence or two with its numbers and 95 % intervals: the library search
    against the networks, the paper's accuracy gap, distillation, the compression speed-ups, known against new
    species. A finding whose rows are missing (a partial run) is left out."""
    rows = [r if isinstance(r, Row) else Row.from_dict(r) for r in rows]
    judged = [ClaimReading.from_dict(c) for c in judged]
    models = {r.model: r for r in rows if r.group == "model" and r.accuracy}
    library = models.get("knn_cosine")
    nets = [r for name, r in models.items() if name in ("cnn", "efficientnet_small", "drsn_cw", "drsn_paper")]
    out = []
    if library is not None and nets and all(r.val_accuracy for r in nets):
        best = pick_best(nets)
        above = [r.model for r in nets if (d := paired(r, library)) is not None and d.lo is not None and d.lo > 0]
        head = (f"{len(above)} of {len(nets)} networks beat the library search" if above
                else "No network beats the library search")
        out.append(f"**{head}.** A 1-nearest-neighbour cosine search of the training spectra "
                   f"reaches {accuracy_text(library)} test accuracy. "
                   + verdict_sentence(best, library, a_words=f"the best network on validation, {best.model},")
                   + f" Networks whose interval against it lies above 0: {', '.join(above) if above else 'none'} "
                     f"of {len(nets)}.")
    gap = _closest(judged, "deep_vs_classical_gap")
    if gap is not None:
        lead = "The paper's \"lightweight networks beat LDA and a plain CNN by more than 20 points\""
        out.append(f"**The paper's main accuracy claim: {gap.verdict}.** " + claim_sentence(gap, lead=lead))
    loss, gain = _closest(judged, "distillation_loss"), _closest(judged, "distillation_gain")
    if loss is not None and gain is not None:
        out.append("**Distillation.** "
                   + claim_sentence(loss, lead="The distilled student minus its teacher")
                   + " " + claim_sentence(gain, lead="The distilled student minus the same CNN trained "
                                                                    "alone"))
    conv, feat = _closest(judged, "channel_conversion_speedup"), _closest(judged, "feature_lda_speedup")
    if conv is not None and feat is not None:
        same_b1 = next((c for c in judged if c.key == conv.key and c.ours is not None
                        and c.reading == conv.reading.replace("batch 256", "batch 1")), None)
        graph = next((c for c in judged if c.key == feat.key and "one graph" in c.reading and "batch 1" in c.reading
                      and c.ours is not None), None)
        out.append("**Speed-ups, by how they are timed.** "
                   + claim_sentence(conv, lead=f"Channel conversion ({conv.reading})")
                   + ("" if same_b1 is None or same_b1 is conv else
                      f" At batch 1 the same conversion saves {_ours(same_b1)} (**{same_b1.verdict}**).")
                   + " " + claim_sentence(feat, lead=f"Features + LDA ({feat.reading})")
                   + ("" if graph is None else f" Counted from spectrum to class ({graph.reading}): {_ours(graph)}, "
                                               f"**{graph.verdict}**."))
    if library is not None and library.accuracy_known_species and library.accuracy_new_species:
        best = pick_best(list(models.values())) if all(r.val_accuracy for r in models.values()) else library
        out.append(f"**Known and new species.** On test spectra of species seen in training the library "
                   f"search scores {accuracy_text(library, 'accuracy_known_species')}, on species absent from "
                   f"training {accuracy_text(library, 'accuracy_new_species')}"
                   + ("" if best is library or not best.accuracy_new_species else
                      f"; the best model on validation ({best.model}): "
                      f"{accuracy_text(best, 'accuracy_known_species')} and "
                      f"{accuracy_text(best, 'accuracy_new_species')}") + ".")
    return out


def findings_markdown(rows: list[Row | dict], judged: list[ClaimReading | dict], heading: str = "What we found",
                      source: str = "") -> str:
    """The findings box and the short claims table, as markdown: a heading, five bullets, the table."""
    bullets = findings(rows, judged)
    parts = [f"**{heading}**" + (f" ({source})" if source else "") + ":", ""]
    parts += [f"{i}. {b}" for i, b in enumerate(bullets, 1)] or ["(no results to summarise)"]
    parts += ["", "**The paper's claims** (the reading closest to the paper's text; every reading in chapter 10):",
              "", claims_markdown(judged)]
    return "\n".join(parts)


def no_lever_sentence(rows: dict[str, Row], library: Row, networks: list[str]) -> str:
    """Chapter 13's conclusion: whether any network (lever) beats the library search, paired, with the nearest one's
    difference and interval."""
    diffs = {n: d for n in networks if (d := paired(rows[n], library)) is not None and d.lo is not None}
    if not diffs:
        return "No network here could be paired with the library search."
    beating = [n for n, d in diffs.items() if d.lo > 0]
    nearest = max(diffs, key=lambda n: diffs[n].lo)
    if beating:
        return (f"**{len(beating)} of {len(diffs)}** networks beat the library search, paired on the same splits: "
                + "; ".join(f"{n}: {difference_text(rows[n], library)}" for n in beating) + ".")
    return (f"**No lever beats the library search**: none of the {len(diffs)} networks has a paired interval above "
            f"0; the nearest, {nearest}, differs by {difference_text(rows[nearest], library)}.")


def book_findings(directory: Path) -> tuple[list[Row], list[ClaimReading], str] | None:
    """Chapter 10's rows and judged claims for a chapter that runs before it (chapter 0): from ``directory`` (the
    run's own results folder) if chapter 10 has run there, else from the committed full-profile results
    (``results/``, whatever ``$RAMANCMP_RESULTS_DIR`` says: the runner points that at the run's own folder);
    ``(rows, claims, where they come from)``, or ``None`` if neither has them."""
    book = results_dir("full", environ={})
    for folder in (Path(directory), book):
        found = load_findings(folder)
        if found is not None:
            where = ("the book's full-profile results, `results/10_comparison.json`"
                     if folder.resolve() == book.resolve() else "this profile's chapter 10")
            return (*found, where)
    return None


def load_findings(directory: Path) -> tuple[list[Row], list[ClaimReading]] | None:
    """Chapter 10's rows and judged claims as stored in a results folder (``10_comparison.json``), or ``None`` if the
    folder has none (chapter 10 has not run in that profile)."""
    path = Path(directory) / "10_comparison.json"
    if not path.exists():
        return None
    metrics: dict[str, Any] = read_json(path, "results file")["metrics"]
    return ([Row.from_dict(r) for r in metrics.get("rows", [])],
            [ClaimReading.from_dict(c) for c in metrics.get("claims", [])])
