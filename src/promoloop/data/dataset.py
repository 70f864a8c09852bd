"""The canonical tables of one shop, as every loader returns them."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field, replace

import pandas as pd

from promoloop.data.report import CleaningReport, RuleAction
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)


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
    extras : dict of str to DataFrame
        Source tables kept as they are for reference, such as the Complete
        Journey campaign descriptions; empty for most loaders.
    """

    events: pd.DataFrame
    items: pd.DataFrame
    customers: pd.DataFrame
    exposures: pd.DataFrame
    outcomes: pd.DataFrame
    report: CleaningReport
    inputs: list[dict] = field(default_factory=list)
    name: str = "shop"
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)


def restrict_to(data: ShopData, as_of: str | pd.Timestamp) -> ShopData:
    """Return the data as it was known at ``as_of``.

    Events, exposures and outcomes with a timestamp after ``as_of`` are
    removed; items and customers are kept. The rows removed per table are
    recorded in a copy of the report (rule ``after_as_of``, 0 when none).

    Parameters
    ----------
    data : ShopData
        Loaded data; it is not changed.
    as_of : str or Timestamp
        Cut-off, inclusive. A value without a time zone is taken as UTC.

    Returns
    -------
    ShopData
        A new ShopData with filtered tables and its own report.

    Raises
    ------
    InputError
        If ``as_of`` is not a date.
    """
    try:
        cutoff = pd.Timestamp(as_of)
    except (TypeError, ValueError):
        raise InputError(
            "invalid as_of date",
            column="as_of",
            value=as_of,
            expected="an ISO 8601 date such as '2011-06-30'",
            fix="correct the as_of setting",
        ) from None
    if pd.isna(cutoff):
        raise InputError(
            "invalid as_of date",
            column="as_of",
            value=as_of,
            expected="an ISO 8601 date such as '2011-06-30'",
            fix="correct the as_of setting",
        )
    cutoff = cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff
    report = copy.deepcopy(data.report)

    tables = {}
    for table in ("events", "exposures", "outcomes"):
        df = getattr(data, table)
        after = (df[C.timestamp] > cutoff).fillna(False).to_numpy(dtype=bool)
        report.add(
            "after_as_of",
            int(after.sum()),
            RuleAction.DROPPED,
            f"timestamp after as_of {cutoff.isoformat()}",
            table=table,
        )
        tables[table] = df[~after].reset_index(drop=True)
    logger.info("restricted %s to rows up to %s", data.name, cutoff)
    return replace(data, report=report, **tables)
