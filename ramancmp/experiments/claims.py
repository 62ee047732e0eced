"""The paper's claims, quoted in one place, and the one place where the book judges them against its own rows.

Source: "RamanCMP: A Raman spectral classification acceleration method based on lightweight model and model
compression techniques", Analytica Chimica Acta 1278 (2023) 341758. These are the paper's numbers, quoted -- never
results of this book. Each claim says how the book checks it (``metric``) and in which direction "better" lies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ramancmp.config import BOOK_MODELS
from ramancmp.experiments.tables import Row, speedup

__all__ = ["ACCURACY_TOLERANCE", "CLAIMS", "PAPER", "PICK_TOLERANCE_POINTS", "SPEEDUP_TOLERANCE", "Claim", "claim",
           "claims_table", "judge_claims", "pick_best", "pick_fastest_within", "verdict"]


@dataclass(frozen=True)
class Claim:
    key: str
    chapter: str  # the chapter that tests it
    statement: str  # the paper's claim in words
    value: float  # the paper's number
    unit: str  # "points", "%", "spectra", ...
    higher_is_better: bool
    how_we_measure: str

    def to_dict(self) -> dict:
        return asdict(self)


PAPER = {
    "title": "RamanCMP: A Raman spectral classification acceleration method based on lightweight model and model "
             "compression techniques",
    "journal": "Analytica Chimica Acta 1278 (2023) 341758",
    "n_spectra": 723,
    "n_classes": 10,
}

CLAIMS: list[Claim] = [
    Claim("deep_vs_classical_gap", "05_drsn",
          "1D-EfficientNet and 1D-DRSN beat LDA and a plain CNN by more than 20 accuracy points", 20.0, "points", True,
          "best of EfficientNet/DRSN minus best of LDA/CNN, mean test accuracy, by-sample split"),
    Claim("distillation_loss", "06_distillation",
          "a CNN student distilled from 1D-EfficientNet loses 2.07 points against its teacher", -2.07, "points", True,
          "distilled student minus teacher, mean test accuracy (closer to 0 or positive is better)"),
    Claim("channel_conversion_speedup", "07_channel_conversion",
          "'channel conversion' cuts the DRSN's inference time by 60 %", 60.0, "%", True,
          "1 - latency(converted) / latency(DRSN) at batch 1, median, same run"),
    Claim("feature_lda_speedup", "08_feature_extraction",
          "DRSN as feature extractor + LDA cuts inference time by 93 %", 93.0, "%", True,
          "1 - latency(features + LDA) / latency(DRSN) at batch 1, median, same run"),
    Claim("feature_lda_accuracy", "08_feature_extraction",
          "DRSN features + LDA reach 94.48 % accuracy", 94.48, "%", True,
          "mean test accuracy of the DRSN-features + LDA pipeline, by-sample split"),
]


#: The picking rule's tolerance: "the" variant is the fastest within this many points of the baseline's validation
#: accuracy. Fixed before any result was seen.
PICK_TOLERANCE_POINTS = 1.0
#: How far (absolute) our number may lie from the paper's and still count as "reproduced": accuracy claims (points
#: or %) and speed-up claims (% less latency).
ACCURACY_TOLERANCE = 0.5
SPEEDUP_TOLERANCE = 5.0


def claim(key: str) -> Claim:
    """The claim with this key (a clear error naming the known keys otherwise)."""
    for c in CLAIMS:
        if c.key == key:
            return c
    raise KeyError(f"no claim {key!r}; known: {[c.key for c in CLAIMS]}")


def claims_table() -> list[dict]:
    return [c.to_dict() for c in CLAIMS]


def verdict(claim: Claim, ours: float, tolerance: float = ACCURACY_TOLERANCE) -> str:
    """``beaten`` / ``reproduced`` / ``not reached`` for our number against the paper's, within ``tolerance``."""
    diff = (ours - claim.value) if claim.higher_is_better else (claim.value - ours)
    if diff > tolerance:
        return "beaten"
    if diff >= -tolerance:
        return "reproduced"
    return "not reached"


def pick_fastest_within(candidates: list[Row], baseline: Row, points: float = PICK_TOLERANCE_POINTS) -> Row:
    """The book's rule for "the" compressed variant: the fastest candidate (batch-1 latency) whose mean VALIDATION
    accuracy is at most ``points`` below the baseline's on the same splits; the candidate with the best validation
    accuracy if none qualifies.

    The rule is fixed before looking at results and never reads test accuracy: the picked row's test accuracy is then
    an honest estimate. Rows without validation accuracy cannot be picked from (a clear error, not a silent test pick).
    """
    timed = [c for c in candidates if c.latency_b1_ms is not None and c.accuracy]
    if not timed:
        raise ValueError("no timed candidates to pick from")
    missing = [c.model for c in timed + [baseline] if not c.val_accuracy]
    if missing:
        raise ValueError(f"picking needs validation accuracy of the same splits; rows without it: {missing}")
    close = [c for c in timed if c.mean("val_accuracy") >= baseline.mean("val_accuracy") - points]
    return (min(close, key=lambda c: c.latency_b1_ms) if close
            else max(timed, key=lambda c: c.mean("val_accuracy")))


def pick_best(rows: list[Row]) -> Row:
    """The row with the best mean validation accuracy (test accuracy never picks); rows without it are skipped."""
    usable = [r for r in rows if r.val_accuracy]
    if not usable:
        raise ValueError(f"no row with validation accuracy among {[r.model for r in rows]}")
    return max(usable, key=lambda r: r.mean("val_accuracy"))


NO_VALIDATION = "no validation accuracy in these rows (an older run): rerun the book"
NO_PICK = Row(model="(no pick)")  # sentinel: candidates exist but cannot be picked from without validation accuracy


def judge_claims(rows: list[Row], keys: list[str] | None = None) -> list[dict]:
    """Each claim (or those in ``keys``) beside our number, computed from one table of :class:`Row` -- the only
    place the book computes its verdicts (chapters 5-8 show their claims from their own rows, chapter 10 and the
    README from ``bench all``).

    "The" channel-converted DRSN and "the" feature depth are picked by :func:`pick_fastest_within` (fastest within
    1 point of the DRSN's validation accuracy), the best of each pair of models by :func:`pick_best` (validation);
    the distilled student is the (T, alpha) chosen on validation data (``extra["chosen"]``). Rows without validation
    accuracy (results of an older run) cannot be picked from: such a claim is reported as "not measured".
    """
    by_name = {r.model: r for r in rows}
    cnn, effnet, drsn = (BOOK_MODELS[k][0] for k in ("cnn", "efficientnet", "drsn"))
    claims = {c.key: c for c in CLAIMS}
    wanted = set(keys) if keys is not None else set(claims)
    out = []

    def add(key: str, ours: float | None, at: str, tolerance: float = ACCURACY_TOLERANCE) -> None:
        if key not in wanted:
            return
        c = claims[key]
        out.append({"key": key, "claim": c.statement, "chapter": c.chapter, "paper": c.value, "unit": c.unit,
                    "ours": None if ours is None else round(float(ours), 2), "at": at,
                    "verdict": "not measured" if ours is None else verdict(c, ours, tolerance)})

    def model_row(name: str) -> Row | None:
        r = by_name.get(name)
        return r if r is not None and r.group == "model" and r.accuracy else None

    light = [r for r in (model_row(effnet), model_row(drsn)) if r]
    classical = [r for r in (model_row("lda"), model_row(cnn)) if r]
    if light and classical and all(r.val_accuracy for r in light + classical):
        best_l, best_c = pick_best(light), pick_best(classical)  # "best" chosen on validation, judged on test
        add("deep_vs_classical_gap", best_l.mean() - best_c.mean(), f"{best_l.model} vs {best_c.model}")
    elif light and classical:
        add("deep_vs_classical_gap", None, NO_VALIDATION)
    distilled = [r for r in rows if r.group == "distillation" and r.extra.get("chosen")]
    teacher = model_row(effnet) or next((r for r in rows if r.group == "distillation" and r.model == effnet), None)
    if distilled and teacher is not None:
        add("distillation_loss", distilled[0].mean() - teacher.mean(), distilled[0].model)
    base = next((r for r in rows if r.model == drsn and r.latency_b1_ms is not None), None)

    def pick(group: str) -> Row | None:
        cands = [r for r in rows if r.group == group and r.model != drsn and r.latency_b1_ms is not None]
        if not cands or base is None:
            return None
        if not all(r.val_accuracy for r in cands + [base]):
            return NO_PICK
        return pick_fastest_within(cands, base)

    conv = pick("channel_conversion")
    if conv is NO_PICK:
        add("channel_conversion_speedup", None, NO_VALIDATION)
    elif conv is not None:
        add("channel_conversion_speedup", speedup(conv.latency_b1_ms, base.latency_b1_ms), conv.model,
            SPEEDUP_TOLERANCE)
    feat = pick("feature_extraction")
    if feat is NO_PICK:
        add("feature_lda_speedup", None, NO_VALIDATION)
        add("feature_lda_accuracy", None, NO_VALIDATION)
    elif feat is not None:
        add("feature_lda_speedup", speedup(feat.latency_b1_ms, base.latency_b1_ms), feat.model, SPEEDUP_TOLERANCE)
        add("feature_lda_accuracy", feat.mean(), feat.model)
    return out
