"""Small interaction tables shared by the recommender tests."""

from __future__ import annotations

import pandas as pd
import pytest

from promoloop.vocabulary import Columns as C

START = pd.Timestamp("2024-01-01", tz="UTC")


def taste_groups() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return interactions and items of two disjoint taste groups.

    Customers a0..a5 buy only items A0..A4 (category "a", brand "x"), and
    customers b0..b5 only B0..B4 (category "b", brand "y"). Each customer
    leaves out one item of their group, spread over 60 days.
    """
    rows = []
    for group in ("a", "b"):
        for c in range(6):
            customer = f"{group}{c}"
            for i in range(5):
                if i == c % 5:
                    continue
                day = (c * 5 + i * 7) % 60
                rows.append((customer, f"{group.upper()}{i}", 1.0, day))
    interactions = pd.DataFrame(rows, columns=[C.customer_id, C.item_id, C.weight, "d"])
    interactions[C.timestamp] = START + pd.to_timedelta(interactions.pop("d"), unit="D")
    items = pd.DataFrame(
        {
            C.item_id: [f"{g}{i}" for g in "AB" for i in range(5)],
            C.category: ["a"] * 5 + ["b"] * 5,
            C.brand: ["x"] * 5 + ["y"] * 5,
        }
    )
    return interactions, items


@pytest.fixture
def groups() -> tuple[pd.DataFrame, pd.DataFrame]:
    return taste_groups()
