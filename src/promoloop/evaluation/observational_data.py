"""Campaign windows, pre-campaign covariates and window outcomes per customer.

The observational estimates compare customers of one campaign on what they
did before it started. Every array here is indexed by the customer codes of
one :class:`PurchaseHistory`, built once from the purchase events, so each
campaign costs a few vectorized passes over the events in its windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

#: Pre-campaign behaviour covariates, in the order of the covariate table.
BEHAVIOUR_COVARIATES = [
    "pre_spend",
    "pre_orders",
    "pre_distinct_items",
    "pre_discount_share",
    "days_since_last_purchase",
    "log_pre_spend",
    "log_pre_orders",
    "log_pre_distinct_items",
]
#: Covariates of exposure to campaigns that started before this one.
EARLIER_CAMPAIGN_COVARIATES = ["earlier_campaigns", "any_earlier_campaign"]
#: Outcome columns, measured over the campaign window.
OUTCOMES = ["spend_per_customer", "orders_per_customer"]
#: Level of a demographic band whose value is unknown.
MISSING_BAND = "(missing)"
_NOT_BANDS = (C.customer_id, C.locale, C.consent)
_NS_PER_DAY = 86_400 * 10**9


@dataclass
class PurchaseHistory:
    """Purchase lines as integer-coded arrays sorted by time.

    Attributes
    ----------
    customer_ids : ndarray of str
        Customer id of each code: ``customer_ids[code]``.
    customer, item, order : ndarray of int
        Codes of each line.
    opens_order : ndarray of bool
        True on the first line (in time order) of each order, so counting
        these lines counts orders.
    time : ndarray of int64
        Nanoseconds since the epoch (UTC), sorted ascending.
    amount, discount : ndarray of float
        Paid amount and discount of each line.
    """

    customer_ids: np.ndarray
    customer: np.ndarray
    item: np.ndarray
    order: np.ndarray
    opens_order: np.ndarray
    time: np.ndarray
    amount: np.ndarray
    discount: np.ndarray

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    def first_time(self) -> pd.Timestamp | None:
        """Return the first purchase's timestamp, or None without purchases."""
        return pd.Timestamp(int(self.time[0]), tz="UTC") if len(self.time) else None

    def lines(self, start: pd.Timestamp, end: pd.Timestamp) -> slice:
        """Return the slice of lines with start <= time < end."""
        low, high = np.searchsorted(self.time, [start.value, end.value], side="left")
        return slice(int(low), int(high))

    def codes_of(self, ids) -> np.ndarray:
        """Return the code of each id, -1 for ids without purchases."""
        index = pd.Index(self.customer_ids)
        return index.get_indexer(pd.Index(pd.Series(ids, dtype="string")))


def purchase_history(events: pd.DataFrame) -> PurchaseHistory:
    """Build the coded purchase history from a canonical events table.

    Only purchase events with a customer id count, so returns and views
    leave the covariates and outcomes unchanged.
    """
    purchases = events[
        (events[C.event_type] == EventType.PURCHASE.value)
        & events[C.customer_id].notna()
    ]
    time = purchases[C.timestamp].to_numpy(dtype="datetime64[ns]").view("int64")
    order = np.argsort(time, kind="stable")
    customer, customer_ids = pd.factorize(purchases[C.customer_id], sort=True)
    order_codes = pd.factorize(purchases[C.order_id])[0][order]
    opens_order = np.zeros(len(order_codes), dtype=bool)
    opens_order[np.unique(order_codes, return_index=True)[1]] = True
    return PurchaseHistory(
        customer_ids=np.asarray(customer_ids, dtype=object),
        customer=customer[order],
        item=pd.factorize(purchases[C.item_id])[0][order],
        order=order_codes,
        opens_order=opens_order,
        time=time[order],
        amount=purchases[C.amount].to_numpy(dtype=float)[order],
        discount=purchases[C.discount].fillna(0.0).to_numpy(dtype=float)[order],
    )


def campaign_windows(
    exposures: pd.DataFrame,
    descriptions: pd.DataFrame | None = None,
    *,
    window_days: int = 28,
) -> pd.DataFrame:
    """Return each campaign's window: start (inclusive) and end (exclusive), UTC.

    With ``descriptions`` (columns ``campaign_id``, ``start_date`` and
    ``end_date``, as in The Complete Journey) the window runs from the start
    date to the end of the end date. A campaign missing there starts at its
    first exposure and lasts ``window_days`` days.

    Returns
    -------
    DataFrame
        ``campaign_id``, ``promotion_id`` (the most frequent one of the
        campaign's exposures), ``start``, ``end`` and ``window_source``.
    """
    exposed = exposures.groupby(C.campaign_id, observed=True).agg(
        first_exposure=(C.timestamp, "min"),
        promotion_id=(C.promotion_id, _most_frequent),
    )
    windows = pd.DataFrame(
        {
            C.campaign_id: exposed.index.astype("string"),
            C.promotion_id: exposed["promotion_id"].astype("string").to_numpy(),
            "start": exposed["first_exposure"].to_numpy(),
            "end": (
                exposed["first_exposure"] + pd.Timedelta(days=window_days)
            ).to_numpy(),
            "window_source": f"first exposure + {window_days} days",
        }
    ).reset_index(drop=True)
    if descriptions is None or descriptions.empty:
        return windows
    return _with_described_windows(windows, descriptions)


def _most_frequent(values: pd.Series):
    counts = values.value_counts()
    return counts.index[0] if len(counts) else pd.NA


def _with_described_windows(windows, descriptions) -> pd.DataFrame:
    missing = [
        c for c in ("campaign_id", "start_date", "end_date") if c not in descriptions
    ]
    if missing:
        raise InputError(
            f"campaign descriptions lack the columns {missing}",
            expected="campaign_id, start_date and end_date",
            fix="rename the columns of the campaign descriptions",
        )
    described = pd.DataFrame(
        {
            C.campaign_id: descriptions["campaign_id"].astype("string"),
            "start": _utc(descriptions["start_date"]),
            "end": _utc(descriptions["end_date"]).dt.normalize() + pd.Timedelta(days=1),
        }
    )
    if "campaign_type" in descriptions:
        described[C.promotion_id] = descriptions["campaign_type"].astype("string")
    merged = windows.merge(
        described, on=C.campaign_id, how="outer", suffixes=("", "_described")
    )
    has_dates = merged["start_described"].notna()
    for column in ("start", "end"):
        merged[column] = merged[f"{column}_described"].where(has_dates, merged[column])
    if "promotion_id_described" in merged:
        merged[C.promotion_id] = merged[C.promotion_id].fillna(
            merged["promotion_id_described"]
        )
    merged["window_source"] = merged["window_source"].where(
        ~has_dates, "campaign descriptions"
    )
    columns = [C.campaign_id, C.promotion_id, "start", "end", "window_source"]
    return merged[columns].sort_values(["start", C.campaign_id], ignore_index=True)


def _utc(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values)
    if stamps.dt.tz is None:
        return stamps.dt.tz_localize("UTC")
    return stamps.dt.tz_convert("UTC")


def behaviour_covariates(
    history: PurchaseHistory, pre_start: pd.Timestamp, start: pd.Timestamp
) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the pre-period covariates of every customer, and who was active.

    Parameters
    ----------
    history : PurchaseHistory
    pre_start, start : Timestamp
        The pre-period, start inclusive and end exclusive.

    Returns
    -------
    covariates : DataFrame, shape (n_customers, 8)
        The :data:`BEHAVIOUR_COVARIATES`, row i for customer code i. The
        discount share is discount / (amount + discount), 0 without regular
        value. Days since the last purchase is NaN for inactive customers.
    active : ndarray of bool
        True for customers with a purchase in the pre-period.
    """
    window = history.lines(pre_start, start)
    customer = history.customer[window]
    n = history.n_customers
    spend = np.bincount(customer, history.amount[window], minlength=n)
    discount = np.bincount(customer, history.discount[window], minlength=n)
    orders = _orders_per_customer(history, window)
    items = _distinct_per_customer(customer, history.item[window], n)
    active = np.bincount(customer, minlength=n) > 0

    # Lines are sorted by time, so a customer's last line in reversed order
    # comes first and np.unique's first index finds it.
    last = np.full(n, np.nan)
    reversed_customers = customer[::-1]
    codes, first = np.unique(reversed_customers, return_index=True)
    last_time = history.time[window][::-1][first]
    last[codes] = (start.value - last_time) / _NS_PER_DAY

    regular = spend + discount
    share = np.divide(discount, regular, out=np.zeros(n), where=regular > 0)
    covariates = pd.DataFrame(
        {
            "pre_spend": spend,
            "pre_orders": orders,
            "pre_distinct_items": items,
            "pre_discount_share": share,
            "days_since_last_purchase": last,
            "log_pre_spend": np.log1p(spend),
            "log_pre_orders": np.log1p(orders),
            "log_pre_distinct_items": np.log1p(items),
        }
    )
    return covariates, active


def window_outcomes(
    history: PurchaseHistory, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Return spend and orders of every customer in [start, end), 0 for none."""
    window = history.lines(start, end)
    customer = history.customer[window]
    n = history.n_customers
    return pd.DataFrame(
        {
            "spend_per_customer": np.bincount(
                customer, history.amount[window], minlength=n
            ),
            "orders_per_customer": _orders_per_customer(history, window),
        }
    )


def _orders_per_customer(history: PurchaseHistory, window: slice) -> np.ndarray:
    """Count the orders opened in ``window`` per customer code."""
    opened = history.customer[window][history.opens_order[window]]
    return np.bincount(opened, minlength=history.n_customers).astype(float)


def _distinct_per_customer(customer: np.ndarray, values: np.ndarray, n: int):
    """Count the distinct values per customer code."""
    if not len(customer):
        return np.zeros(n)
    # Sorting the (customer, value) keys and keeping the changes took 5 ms on
    # 340,000 lines against 146 ms for np.unique (numpy 2.4, hash-based).
    base = int(values.max()) + 1
    pairs = np.sort(customer.astype(np.int64) * base + values)
    distinct = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]
    return np.bincount(distinct // base, minlength=n).astype(float)


def demographic_dummies(
    customers: pd.DataFrame | None, history: PurchaseHistory
) -> pd.DataFrame:
    """One-hot demographic bands per customer code, a missing value as its own level.

    Bands are the columns of the customers table other than id, locale and
    consent. Customers absent from the table get the missing level.
    Columns are named ``band=value``. Without bands the table has no columns.
    """
    index = pd.RangeIndex(history.n_customers)
    if customers is None or customers.empty:
        return pd.DataFrame(index=index)
    bands = [c for c in customers.columns if c not in _NOT_BANDS]
    if not bands:
        return pd.DataFrame(index=index)
    table = customers.drop_duplicates(C.customer_id).set_index(
        customers[C.customer_id].drop_duplicates().astype("string")
    )[bands]
    aligned = table.reindex(pd.Index(history.customer_ids, dtype="string"))
    text = aligned.astype("string").fillna(MISSING_BAND)
    dummies = pd.get_dummies(text, prefix_sep="=", dtype=float)
    return dummies.set_axis(index, axis=0)


def earlier_campaign_covariates(
    exposures: pd.DataFrame,
    windows: pd.DataFrame,
    history: PurchaseHistory,
    campaign_id: str,
    start: pd.Timestamp,
) -> pd.DataFrame:
    """Count each customer's exposures to other campaigns started before ``start``."""
    starts = windows.set_index(C.campaign_id)["start"]
    exposure_start = exposures[C.campaign_id].map(starts)
    earlier = exposures[
        (exposures[C.campaign_id] != campaign_id) & (exposure_start < start)
    ]
    pairs = earlier.drop_duplicates([C.customer_id, C.campaign_id])
    codes = history.codes_of(pairs[C.customer_id])
    counts = np.bincount(codes[codes >= 0], minlength=history.n_customers)
    return pd.DataFrame(
        {
            "earlier_campaigns": counts.astype(float),
            "any_earlier_campaign": (counts > 0).astype(float),
        }
    )
