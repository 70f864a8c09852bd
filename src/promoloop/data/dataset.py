"""The canonical tables of one shop, as every loader returns them."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from promoloop.data.report import CleaningReport


@dataclass
class ShopData:
    """A shop's history in canonical tables.

    Attributes
    ----------
    events : DataFrame
        Canonical events table (see :data:`promoloop.data.schema.EVENTS`).
    items : DataFrame
        Canonical items table; only real products, no fees or postage.
    customers : DataFrame
        Canonical customers table; may be empty when the shop has none.
    exposures : DataFrame
        Past campaign exposures (the decision log); may be empty.
    outcomes : DataFrame
        Past redemptions and attributed orders; may be empty.
    report : CleaningReport
        Row counts of every cleaning rule applied while loading.
    inputs : list of dict
        One entry per input file: path, size in bytes and sha256.
    name : str
        Dataset name used in the report.
    """

    events: pd.DataFrame
    items: pd.DataFrame
    customers: pd.DataFrame
    exposures: pd.DataFrame
    outcomes: pd.DataFrame
    report: CleaningReport
    inputs: list[dict] = field(default_factory=list)
    name: str = "shop"
