"""Canonical string ids."""

from __future__ import annotations

import pandas as pd


def canonical_id(values: pd.Series) -> pd.Series:
    """Turn ids into canonical strings.

    Integers written as floats (``"17850.0"``, which pandas produces when an
    integer column has blanks) become ``"17850"``; surrounding spaces are
    removed; blanks become missing. Other strings are kept as they are, so
    ``"C-0042"`` stays ``"C-0042"``.
    """
    text = values.astype("string").str.strip()
    text = text.mask(text == "")
    return text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
