"""The paper's reported claims, in one place, so chapters can put our measurements beside them.

Source: "RamanCMP: A Raman spectral classification acceleration method based on lightweight model and model
compression techniques", Analytica Chimica Acta 1278 (2023) 341758. These are the paper's numbers, quoted -- never
results of this book. Each claim says how the book checks it (``metric``) and in which direction "better" lies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


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


def claims_table() -> list[dict]:
    return [c.to_dict() for c in CLAIMS]


def verdict(claim: Claim, ours: float, tolerance: float = 0.5) -> str:
    """``beaten`` / ``reproduced`` / ``not reached`` for our number against the paper's, within ``tolerance``."""
    diff = (ours - claim.value) if claim.higher_is_better else (claim.value - ours)
    if diff > tolerance:
        return "beaten"
    if diff >= -tolerance:
        return "reproduced"
    return "not reached"


def judge_claims(rows: list[dict]) -> list[dict]:
    """Each claim beside our number, from one :func:`ramancmp.bench.bench_all` table (its ``rows``).

    "The" channel-converted DRSN and "the" feature depth are picked by
    :func:`ramancmp.compression.experiments.pick_fastest_within` (fastest within 1 point of the DRSN), the same rule
    chapters 7 and 8 use; the distilled student is the (T, alpha) chosen on validation data.
    """
    from ramancmp.compression.experiments import pick_fastest_within
    from ramancmp.config import BOOK_MODELS

    acc = {r["model"]: 100.0 * r["accuracy"]["mean"] for r in rows}
    lat = {r["model"]: r.get("latency_b1_ms") for r in rows}
    cnn, effnet, drsn = (BOOK_MODELS[k][0] for k in ("cnn", "efficientnet", "drsn"))
    claims = {c.key: c for c in CLAIMS}
    out = []

    def add(key: str, ours: float | None, at: str, tolerance: float = 0.5) -> None:
        c = claims[key]
        out.append({"claim": c.statement, "chapter": c.chapter, "paper": c.value, "unit": c.unit,
                    "ours": None if ours is None else round(float(ours), 2), "at": at,
                    "verdict": "not measured" if ours is None else verdict(c, ours, tolerance)})

    light = [m for m in (effnet, drsn) if m in acc]
    classical = [m for m in ("lda", cnn) if m in acc]
    if light and classical:
        best_l, best_c = max(light, key=acc.get), max(classical, key=acc.get)
        add("deep_vs_classical_gap", acc[best_l] - acc[best_c], f"{best_l} vs {best_c}")
    distilled = [r for r in rows if r.get("group") == "distillation" and r.get("distillation")]
    if distilled and effnet in acc:
        add("distillation_loss", acc[distilled[0]["model"]] - acc[effnet], distilled[0]["model"])

    def pick(group: str) -> dict | None:
        cands = [{"row": r, "accuracy": 100.0 * r["accuracy"]["mean"], "latency_ms": r["latency_b1_ms"]}
                 for r in rows if r.get("group") == group and r.get("latency_b1_ms") is not None]
        return pick_fastest_within(cands, acc[drsn])["row"] if cands and drsn in acc else None

    conv = pick("channel_conversion")
    if conv is not None:
        add("channel_conversion_speedup", 100.0 * (1 - conv["latency_b1_ms"] / lat[drsn]), conv["model"], 5.0)
    feat = pick("feature_extraction")
    if feat is not None:
        add("feature_lda_speedup", 100.0 * (1 - feat["latency_b1_ms"] / lat[drsn]), feat["model"], 5.0)
        add("feature_lda_accuracy", 100.0 * feat["accuracy"]["mean"], feat["model"])
    return out
