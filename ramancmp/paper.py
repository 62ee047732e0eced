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
