"""Bundle offer candidates: item pairs that sell together more than by chance."""

from __future__ import annotations

import pandas as pd

from promoloop.mining.rules import ITEM_SEPARATOR
from promoloop.vocabulary import Columns as C

BUNDLE_COLUMNS = [
    "item_a",
    "item_b",
    "name_a",
    "name_b",
    "support",
    "confidence",
    "lift",
    "count",
]


def bundle_candidates(
    rules: pd.DataFrame, items: pd.DataFrame, n: int = 5, min_lift: float = 1.0
) -> pd.DataFrame:
    """Pick the item pairs with the highest lift as bundle candidates.

    Parameters
    ----------
    rules : DataFrame
        Output of :func:`promoloop.mining.rules.association_rules`; its
        support and count floors decide what "enough support" means.
    items : DataFrame
        Canonical items; ``name`` labels the pair when present.
    n : int, default 5
        Number of pairs returned.
    min_lift : float, default 1.0
        Pairs need a lift above this, i.e. bought together more often than
        if they were independent.

    Returns
    -------
    DataFrame
        One row per unordered pair with single-item sides: ``item_a`` and
        ``item_b`` (in sorted order), their names, ``support``, the higher
        ``confidence`` of the two directions, ``lift`` and ``count``; sorted
        by descending lift, then count.

    Raises
    ------
    ValueError
        If ``n`` is below 1.
    """
    if n < 1:
        raise ValueError(f"invalid n {n!r}; expected an int >= 1. Fix: pass n=5")
    single = ~(
        rules["antecedents"].str.contains(ITEM_SEPARATOR, regex=False)
        | rules["consequents"].str.contains(ITEM_SEPARATOR, regex=False)
    )
    pairs = rules[single & (rules["lift"] > min_lift)]
    first = pairs[["antecedents", "consequents"]].min(axis=1)
    second = pairs[["antecedents", "consequents"]].max(axis=1)
    pairs = pairs.assign(item_a=first, item_b=second)

    # A->B and B->A share support, lift and count; keep the stronger direction
    pairs = pairs.sort_values("confidence", ascending=False)
    pairs = pairs.drop_duplicates(["item_a", "item_b"])
    pairs = pairs.sort_values(
        ["lift", "count", "item_a", "item_b"],
        ascending=[False, False, True, True],
        ignore_index=True,
    ).head(n)

    names = items.drop_duplicates(C.item_id).set_index(C.item_id)
    name = names[C.name] if C.name in names.columns else pd.Series(dtype="str")
    pairs["name_a"] = pairs["item_a"].map(name).astype("str")
    pairs["name_b"] = pairs["item_b"].map(name).astype("str")
    return pairs[BUNDLE_COLUMNS]
