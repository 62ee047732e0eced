"""The characteristic Raman bands of the book's ten mineral groups, from ``data/bands.csv``.

One row per band: ``group`` (as in ``data/mineral_groups.csv``), ``low_cm1`` and ``high_cm1`` (a position is a range
with equal ends), ``assignment`` (the vibration) and ``source`` (a key of ``book/references.md``). The table is read
by :func:`load_bands`, which checks it and names the file and row of any problem, and drawn over the class means in
chapter 1 (:func:`ramancmp.plots.bands_figure`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ramancmp import config as _config

__all__ = ["BANDS_CSV", "BANDS_COLUMNS", "load_bands"]

BANDS_CSV = _config.PROJECT_ROOT / "data" / "bands.csv"
BANDS_COLUMNS = ("group", "low_cm1", "high_cm1", "assignment", "source")


def load_bands(path: str | Path | None = None, *, grid: tuple[float, float] | None = None) -> pd.DataFrame:
    """The band table as a DataFrame (columns :data:`BANDS_COLUMNS`, positions as floats), in file order.

    With ``grid=(start, stop)`` a boolean column ``on_grid`` says whether the band overlaps that range (the book's
    grid drops the others). Raises ``ValueError`` naming the file (and the row) for a missing column, an empty
    field, a position that is not a positive number, or ``low_cm1 > high_cm1``.
    """
    path = Path(path or BANDS_CSV)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the band table ({exc})") from exc
    missing = [c for c in BANDS_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    table = table[list(BANDS_COLUMNS)].apply(lambda s: s.str.strip())
    for i, row in table.iterrows():
        empty = [c for c in BANDS_COLUMNS if not row[c]]
        if empty:
            raise ValueError(f"{path}, row {i + 2}: empty {empty}")
    for col in ("low_cm1", "high_cm1"):
        values = pd.to_numeric(table[col], errors="coerce")
        bad = values.isna() | (values <= 0)
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise ValueError(f"{path}, row {i + 2}: {col} {table[col].iloc[i]!r} is not a positive number (cm⁻¹)")
        table[col] = values.astype(float)
    reversed_ = table["low_cm1"] > table["high_cm1"]
    if reversed_.any():
        i = int(reversed_.to_numpy().nonzero()[0][0])
        raise ValueError(f"{path}, row {i + 2}: low_cm1 {table['low_cm1'].iloc[i]:g} > high_cm1 "
                         f"{table['high_cm1'].iloc[i]:g}")
    if grid is not None:
        start, stop = grid
        table["on_grid"] = (table["high_cm1"] >= start) & (table["low_cm1"] <= stop)
    return table.reset_index(drop=True)
