"""Curated labels, never silently: the samples whose label the RRUFF archive itself puts in doubt.

:func:`curation_table` reads every sample's ``##STATUS=`` and ``##DESCRIPTION=`` header and flags it by documented
rules; ``data/curation.csv`` is that table, committed so that a reader can see (and argue with) every flag, and
``python -m ramancmp data curation --check`` (and ``tests/test_curation.py``) checks that it still agrees with the
archive. Nothing is dropped from a task by this table: the book reports results *with and without* the flagged
spectra (:func:`ramancmp.experiments.curated_evaluation.evaluate_curated`).

Flags (one row per sample and flag; a sample can carry several):

``unconfirmed``
    STATUS says the identification is ``not yet confirmed`` (or is just ``unconfirmed``).
``mixture``
    DESCRIPTION mentions a mixture or an intergrowth with another phase (:data:`MIXTURE_PATTERN`), or the crystals sit
    *on* another mineral of the archive (``... crystals on orthoclase``: the substrate may be in the laser spot).
``likely_mislabelled``
    Hand-checked samples (:data:`HAND_CHECKED`), each with the reason written out.

:data:`HAND_CLEARED` lists samples a rule matches wrongly, with the reason they are not flagged.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ramancmp import config
from ramancmp.data.rruff import load_archive
from ramancmp.data.tasks import mineral_groups, resolve_source

__all__ = ["COLUMNS", "CURATION_CSV", "FLAGS", "HAND_CHECKED", "HAND_CLEARED", "MIXTURE_PATTERN", "UNCONFIRMED_PATTERN",
           "check_curation", "curation_table", "flagged_samples", "flag_header", "read_curation", "write_curation"]

CURATION_CSV = config.PROJECT_ROOT / "data" / "curation.csv"
FLAGS = ("unconfirmed", "mixture", "likely_mislabelled")
COLUMNS = ["rruff_id", "species", "group", "flag", "reason", "field", "source_text", "n_spectra"]

#: STATUS text of a sample whose identification RRUFF has not confirmed.
UNCONFIRMED_PATTERN = re.compile(r"not yet confirmed|^\s*unconfirmed\s*$", re.IGNORECASE)
#: DESCRIPTION text of a sample measured as (or with) a mixture or an intergrowth with another phase. Not matched:
#: "intergrown clusters" / "intergrowths." of the mineral with itself.
MIXTURE_PATTERN = re.compile(r"\b(?:mixture|(?:inter)?mixed with|intermixed|admixture|intergrown with|"
                             r"intergrowths? with|with (?:minor )?intergrown \w+)", re.IGNORECASE)
#: "<crystals> on <word>": flagged when the word is the name of another mineral of the archive.
_ON = re.compile(r"\b(?:on|over)\s+(?:an?\s+|the\s+)?([A-Za-z][A-Za-z\-]+)")

#: Hand-checked samples: (species as in the header, reason). Kept few and explained; each one was looked at.
HAND_CHECKED: dict[str, tuple[str, str]] = {
    "R080085": ("Kamphaugite-(Y)",
                "RRUFF describes the measured orange spheres as a mixture of stellerite (a zeolite) and a thin "
                "amorphous coating only assumed to be kamphaugite-(Y), and the identification is not confirmed; the "
                "nearest spectra of other samples to its 532 nm spectrum (cosine) are heulandite-Ca, stilbite-Ca and "
                "stellerite: a zeolite spectrum labelled carbonate"),
    "R110174": ("Sabinaite",
                "brown platy crystals on orthoclase, and the nearest spectra of other samples to its usable (780 nm) "
                "spectrum (cosine) are feldspars (rubicline, albite), not carbonates: the K-feldspar substrate was "
                "measured, a feldspar spectrum labelled carbonate"),
}
#: Samples a rule matches although their own label is not in doubt: {rruff_id: (flag, reason)}.
HAND_CLEARED: dict[str, tuple[str, str]] = {
    "R141210": ("mixture", "the mixture named is the matrix around the marsturite grains, not the measured crystal"),
}


def flag_header(header: dict[str, str], species: str, minerals: set[str]) -> list[tuple[str, str, str, str]]:
    """The automatic flags of one sample's header: ``[(flag, reason, field, source_text)]`` (empty if none).

    ``minerals`` are the lower-case mineral names of the archive (for the "on <other mineral>" rule).
    """
    out = []
    status = header.get("STATUS", "").strip()
    description = header.get("DESCRIPTION", "").strip()
    if UNCONFIRMED_PATTERN.search(status):
        out.append(("unconfirmed", "RRUFF has not confirmed the identification", "STATUS", status))
    reasons = [f"the description mentions {m.group(0).strip().lower()!r}"
               for m in MIXTURE_PATTERN.finditer(description)]
    own = species.strip().lower()
    substrates = sorted({m.group(1).lower() for m in _ON.finditer(description)} & (minerals - {own}))
    reasons += [f"grown on another mineral ({s}), which may be in the laser spot" for s in substrates]
    if reasons:
        out.append(("mixture", "; ".join(dict.fromkeys(reasons)), "DESCRIPTION", description))
    return out


def curation_table(source: str | Path | None = None) -> pd.DataFrame:
    """The curation table (columns :data:`COLUMNS`) built from the headers of ``source`` (default: the data cache's
    archive): the automatic flags of :func:`flag_header` minus :data:`HAND_CLEARED`, plus :data:`HAND_CHECKED`.

    ``rruff_id`` is the sample ID (the unit of the by-sample split, ``dataset.groups``) and ``species`` the name its
    spectra are filed under (a sample filed under two names has its flags per name); ``n_spectra`` counts the
    archive's spectra of that pair. Sorted by ID, species and flag, so the CSV is the same on every machine.
    """
    contents = load_archive(resolve_source(source))
    # a sample can be filed under two names (RRUFF renamed it, or split it between related species: 58 samples of the
    # 2019 archive), each with its own STATUS (16 differ); a flag belongs to the spectra of one (sample, name) pair
    samples: dict[tuple[str, str], dict[str, str]] = {}
    counts: dict[tuple[str, str], int] = {}
    for s in sorted(contents.spectra, key=lambda s: s.source):
        if not s.sample_id:
            continue
        key = (s.sample_id, s.mineral)
        samples.setdefault(key, s.header)
        counts[key] = counts.get(key, 0) + 1
    minerals = {m.strip().lower() for _, m in samples if m.strip()}
    groups = mineral_groups()
    rows = []
    for (sid, species), header in samples.items():
        for flag, reason, field, text in flag_header(header, species, minerals):
            if HAND_CLEARED.get(sid, (None,))[0] == flag:
                continue
            rows.append((sid, species, flag, reason, field, text))
    for sid, (species, reason) in HAND_CHECKED.items():
        if (sid, species) not in samples:
            continue  # another archive without this sample: nothing to flag
        rows.append((sid, species, "likely_mislabelled", f"hand-checked: {reason}", "DESCRIPTION",
                     samples[(sid, species)].get("DESCRIPTION", "").strip()))
    table = pd.DataFrame(rows, columns=["rruff_id", "species", "flag", "reason", "field", "source_text"])
    table.insert(2, "group", table["species"].map(groups).fillna(""))
    table["n_spectra"] = [counts[(sid, sp)] for sid, sp in zip(table["rruff_id"], table["species"])]
    table["n_spectra"] = table["n_spectra"].astype(int)
    order = {f: i for i, f in enumerate(FLAGS)}
    table = table.sort_values(["rruff_id", "species", "flag"],
                              key=lambda c: c.map(order) if c.name == "flag" else c)
    return table[COLUMNS].reset_index(drop=True)


def write_curation(table: pd.DataFrame, path: str | Path = CURATION_CSV) -> Path:
    path = Path(path)
    table.to_csv(path, index=False, lineterminator="\n")
    return path


def read_curation(path: str | Path = CURATION_CSV) -> pd.DataFrame:
    """The committed table; a clear error naming the file when it is missing or lacks columns or has unknown flags."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no curation table; write it with `python -m ramancmp data curation`")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    bad = sorted(set(table["flag"]) - set(FLAGS))
    if bad:
        raise ValueError(f"{path}: unknown flag(s) {bad}; allowed: {list(FLAGS)}")
    table["n_spectra"] = table["n_spectra"].astype(int)
    return table[COLUMNS]


def check_curation(path: str | Path = CURATION_CSV, source: str | Path | None = None) -> list[str]:
    """Differences between the committed table and the one built from the archive's headers (empty: they agree)."""
    committed = read_curation(path)
    built = curation_table(source)
    key = ["rruff_id", "species", "flag"]
    a = committed.set_index(key)
    b = built.astype({c: str for c in COLUMNS if c != "n_spectra"}).set_index(key)
    problems = [f"{i[0]} {i[1]} {i[2]}: in {Path(path).name} but not produced by the archive's headers"
                for i in a.index.difference(b.index)]
    problems += [f"{i[0]} {i[1]} {i[2]}: flagged by the archive's headers but missing from {Path(path).name}"
                 for i in b.index.difference(a.index)]
    for i in a.index.intersection(b.index):
        for col in (c for c in COLUMNS if c not in key):
            if a.at[i, col] != b.at[i, col]:
                problems.append(f"{i[0]} {i[1]} {i[2]}: {col} is {a.at[i, col]!r} in {Path(path).name}, "
                                f"{b.at[i, col]!r} from the archive")
    return problems


def flagged_samples(table: pd.DataFrame | None = None, flags: tuple[str, ...] = FLAGS) -> set[tuple[str, str]]:
    """``(sample ID, species)`` pairs carrying any of ``flags`` (default: every flag) in ``table`` (default: the
    committed table). A pair, because one sample can be filed under two names with different statuses."""
    table = read_curation() if table is None else table
    unknown = sorted(set(flags) - set(FLAGS))
    if unknown:
        raise ValueError(f"unknown flag(s) {unknown}; choose from {list(FLAGS)}")
    chosen = table[table["flag"].isin(flags)]
    return set(zip(chosen["rruff_id"].astype(str), chosen["species"].astype(str)))
