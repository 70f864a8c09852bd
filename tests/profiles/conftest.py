"""Helpers that build small canonical tables for the profile tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from promoloop.vocabulary import Columns as C

AS_OF = pd.Timestamp("2024-01-31", tz="UTC")


def make_events(rows: list[dict]) -> pd.DataFrame:
    """Build a canonical events table from partial rows.

    Each row needs ``customer_id``, ``item_id``, ``event_type`` and
    ``timestamp``; quantity defaults to 1, amount and discount to 0 and
    order_id to one order per customer and timestamp.
    """
    frame = pd.DataFrame(rows)
    frame[C.timestamp] = pd.to_datetime(frame[C.timestamp], utc=True)
    for column, default in ((C.quantity, 1.0), (C.amount, 0.0), (C.discount, 0.0)):
        if column not in frame:
            frame[column] = default
        frame[column] = frame[column].astype("float64").fillna(default)
    if C.order_id not in frame:
        frame[C.order_id] = (
            frame[C.customer_id].astype("str") + "@" + frame[C.timestamp].astype("str")
        )
    frame[C.event_id] = np.arange(len(frame)).astype(str)
    frame[C.channel] = pd.NA
    for column in (C.customer_id, C.item_id, C.event_type, C.order_id, C.channel):
        frame[column] = frame[column].astype("str")
    return frame


@pytest.fixture
def as_of() -> pd.Timestamp:
    """Observation end of the synthetic tables."""
    return AS_OF
