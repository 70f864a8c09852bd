"""Value inputs as Ibis expressions, for any engine.

This is the one definition of the per-customer tables that the value profile
is built from:

- RFM quintile scores (:func:`rfm_table`),
- discount shares of the regular value bought (:func:`discount_share_table`),
- purchase-occasion summaries for the buy-till-you-die (BTYD) models
  (:func:`btyd_table`).

The ``*_table`` functions build expressions, and the ``collect_*`` functions
run them on an :class:`Engine` and return the pandas tables that
:mod:`promoloop.profiles.value` and :mod:`promoloop.profiles.btyd` document.
The BG/NBD and Gamma-Gamma fits stay in Python, on the collected summary.
"""

from __future__ import annotations

import ibis
import pandas as pd

from promoloop.engine.ages import utc_literal
from promoloop.engine.backends import Engine
from promoloop.engine.events import is_event
from promoloop.engine.money import EXACT_MONEY
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

# RFM

RFM_INPUT_COLUMNS = [C.customer_id, "recency_days", "frequency", "monetary"]
RFM_COLUMNS = ["r_score", "f_score", "m_score", "rfm_score"]
RFM_DTYPES = {
    "r_score": "int64",
    "f_score": "int64",
    "m_score": "int64",
    "rfm_score": "str",
}

# Discount shares

DISCOUNT_COLUMNS = [
    "discount_value_share",
    "discounted_line_share",
    "discount_sensitivity",
]

# BTYD summaries

# Days per period of the BTYD summaries.
PERIOD_DAYS = {"D": 1, "W": 7}

SUMMARY_COLUMNS = [
    C.customer_id,
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "refund_total",
    "in_gg_fit",
    "spend_total",
]

SUMMARY_DTYPES = {
    "frequency": "int64",
    "recency": "float64",
    "T": "float64",
    "monetary_value": "float64",
    "refund_total": "float64",
    "in_gg_fit": "bool",
    "spend_total": "float64",
}

# Columns of the events table that the discount shares and summaries read.
INPUT_COLUMNS = [
    C.customer_id,
    C.event_type,
    C.timestamp,
    C.quantity,
    C.amount,
    C.discount,
]

_EPOCH = ibis.date(1970, 1, 1)


def quintile_score(
    value: ibis.Column,
    tie_breakers: list[ibis.Column],
    higher_is_better: bool = True,
) -> ibis.Value:
    """Build the expression of a 1 to 5 score by quintile of rank, 5 best.

    Rows are ranked from worst (rank 1) to best (rank n, the number of
    rows), and the score is ``ceil(5 * rank / n)``. Missing values rank
    worst. Equal values are ranked by ``tie_breakers`` in ascending order,
    the smaller key ranking worse, so every quintile gets its share of rows
    even when many values are equal.

    Parameters
    ----------
    value : ibis.Column
        Numeric column of one table.
    tie_breakers : list of ibis.Column
        Columns of the same table that order equal values; they should
        identify a row (e.g. ``customer_id``) for the scores to be
        deterministic.
    higher_is_better : bool, default True
        False for recency, where fewer days is better.

    Returns
    -------
    ibis.Value
        Integer column from 1 to 5.

    Notes
    -----
    The rank is a window over the whole table. Spark computes such a window
    in one task, so the sort of all customers runs on a single core.
    """
    worst = float("-inf") if higher_is_better else float("inf")
    filled = value.cast("float64").fill_null(worst)
    key = filled.asc() if higher_is_better else filled.desc()
    rank = ibis.row_number().over(ibis.window(order_by=[key, *tie_breakers])) + 1
    # `filled` has no nulls, so its count is the number of rows.
    rows = filled.count().over(ibis.window())
    return (5 * rank / rows).ceil().cast("int64")


def rfm_table(behaviour: ibis.Table) -> ibis.Table:
    """Build the expression of every customer's RFM scores.

    Parameters
    ----------
    behaviour : ibis.Table
        Behaviour features with at least :data:`RFM_INPUT_COLUMNS`, one row
        per customer.

    Returns
    -------
    ibis.Table
        ``customer_id`` and :data:`RFM_COLUMNS`, in no particular order:
        the quintile scores (:func:`quintile_score`) of ``recency_days``
        (fewer days is better), ``frequency`` and ``monetary``, and
        ``rfm_score``, the three digits joined (e.g. ``"545"``). Equal
        values rank by ascending ``customer_id``.
    """
    customer = behaviour[C.customer_id]
    scores = behaviour.select(
        C.customer_id,
        r_score=quintile_score(behaviour.recency_days, [customer], False),
        f_score=quintile_score(behaviour.frequency, [customer]),
        m_score=quintile_score(behaviour.monetary, [customer]),
    )
    digits = [scores[name].cast("string") for name in RFM_COLUMNS[:3]]
    return scores.mutate(rfm_score=digits[0].concat(*digits[1:]))


def _discount_sums(events: ibis.Table) -> ibis.Table:
    """Sum discount and regular value (amount + discount) per known customer.

    Only purchase lines with quantity above 0 count, because lines of
    quantity 0 (voids, adjustments) have no price. A line with a missing
    amount or discount adds nothing to the regular value, and a missing
    discount counts as not discounted. The sums are exact decimals.
    """
    lines = events.filter(
        events[C.customer_id].notnull()
        & is_event(events, EventType.PURCHASE)
        & (events[C.quantity] > 0)
    )
    amount = lines[C.amount].cast(EXACT_MONEY)
    discount = lines[C.discount].cast(EXACT_MONEY)
    return lines.group_by(C.customer_id).aggregate(
        discount=discount.sum(),
        regular=(amount + discount).sum(),
        lines=lines.count(),
        discounted_lines=lines.count(where=lines[C.discount] > 0),
    )


def _share(discount: ibis.Value, regular: ibis.Value) -> ibis.Value:
    """Return discount over regular value, null unless the regular value is above 0."""
    share = discount.cast("float64").fill_null(0.0) / regular.cast("float64")
    return ibis.ifelse(regular > 0, share, ibis.null()).cast("float64")


def population_discount_share(events: ibis.Table) -> ibis.Scalar:
    """Build the expression of total discount over total regular value.

    Parameters
    ----------
    events : ibis.Table
        Canonical events table (at least :data:`INPUT_COLUMNS`).

    Returns
    -------
    ibis.Scalar
        Float over the lines of all known customers that
        :func:`discount_share_table` selects; null when their regular value
        is 0.
    """
    sums = _discount_sums(events)
    return _share(sums.discount.sum(), sums.regular.sum())


def discount_share_table(events: ibis.Table) -> ibis.Table:
    """Build the expression of each customer's discount shares.

    Parameters
    ----------
    events : ibis.Table
        Canonical events table (at least :data:`INPUT_COLUMNS`).

    Returns
    -------
    ibis.Table
        One row per known customer with a purchase line of quantity above
        0, in no particular order, with ``customer_id`` and:

        - ``discount_value_share``: total discount over total regular value
          (``amount + discount``); null when the regular value is 0.
        - ``discounted_line_share``: share of the lines with a discount
          above 0.
        - ``discount_sensitivity``: ``discount_value_share`` over
          :func:`population_discount_share`, so 1 is average. Null when
          either is null or the population share is not above 0: a shop
          that never discounted cannot show who responds to discounts.

        The money sums are exact (amounts rounded to 9 decimal places), so
        every engine returns the same floats.
    """
    sums = _discount_sums(events)
    population = sums.aggregate(
        population_share=_share(sums.discount.sum(), sums.regular.sum())
    )
    joined = sums.cross_join(population)
    share = _share(joined.discount, joined.regular)
    sensitivity = ibis.ifelse(
        joined.population_share > 0, share / joined.population_share, ibis.null()
    )
    return joined.select(
        C.customer_id,
        discount_value_share=share,
        discounted_line_share=(joined.discounted_lines / joined.lines).cast("float64"),
        discount_sensitivity=sensitivity.cast("float64"),
    )


def check_period(period: str) -> None:
    """Raise ``ValueError`` unless ``period`` is a key of :data:`PERIOD_DAYS`."""
    if period not in PERIOD_DAYS:
        raise ValueError(
            f"invalid period {period!r}; expected 'D' (day) or 'W' (week). "
            "Fix: set value.period to D or W"
        )


def period_number(timestamp: ibis.Value, period: str) -> ibis.Value:
    """Build the expression of each timestamp's calendar period number.

    Parameters
    ----------
    timestamp : ibis.Value
        Timestamps; their calendar day is the UTC date, because both engines
        run with the session time zone set to UTC.
    period : {"D", "W"}
        Day, or week starting on Monday.

    Returns
    -------
    ibis.Value
        Integer periods counted from 1970-01-01 (period 0). Two timestamps
        share a number when they fall in the same calendar day (or week).

    Raises
    ------
    ValueError
        If ``period`` is not ``"D"`` or ``"W"``.
    """
    check_period(period)
    days = timestamp.date().delta(_EPOCH, unit="day").cast("int64")
    if period == "W":
        # 1970-01-01 was a Thursday, so shifting by 3 days starts weeks on Monday.
        return (days + 3) // 7
    return days


def btyd_table(events: ibis.Table, as_of: pd.Timestamp, period: str) -> ibis.Table:
    """Build the expression of each customer's purchase-occasion summary.

    A purchase occasion is a period in which the customer's net spend
    (purchase amounts minus refunded amounts of that period) is above 0.

    Parameters
    ----------
    events : ibis.Table
        Canonical events table (at least :data:`INPUT_COLUMNS`).
    as_of : Timestamp
        Observation end. A timezone-naive value is taken as UTC.
    period : {"D", "W"}
        Time unit of ``recency`` and ``T`` (:func:`period_number`).

    Returns
    -------
    ibis.Table
        Columns :data:`SUMMARY_COLUMNS`, one row per known customer with at
        least one occasion, in no particular order. The columns are defined
        in :func:`promoloop.profiles.btyd.btyd_summary`. Only
        ``monetary_value`` can be null.

    Raises
    ------
    ValueError
        If ``period`` is not ``"D"`` or ``"W"``.

    Notes
    -----
    Amounts are summed as exact decimals (see :mod:`promoloop.engine.money`).
    In floating point, a purchase and its full refund in one period can
    leave a remainder of about 1e-15 whose sign depends on the summation
    order, and the period would be an occasion on one engine and not on
    another.

    Lines without a timestamp belong to no period and are left out. A
    missing amount adds nothing to a period's net spend or to the refunds.
    ``monetary_value`` sums the occasions after the first one directly,
    rather than subtracting the first from the total.
    """
    check_period(period)
    known = events.filter(
        events[C.customer_id].notnull() & events[C.timestamp].notnull()
    )
    is_purchase = is_event(known, EventType.PURCHASE)
    is_return = is_event(known, EventType.RETURN)

    # Net spend per customer and period: purchases add, refunds subtract
    money = known.filter(is_purchase | is_return)
    amount = money[C.amount].cast(EXACT_MONEY)
    signed = ibis.ifelse(is_purchase, amount, -amount)
    per_period = money.group_by(
        C.customer_id, period=period_number(money[C.timestamp], period)
    ).aggregate(net=signed.sum())
    occasions = per_period.filter(per_period.net > 0)

    # Totals per customer. The first occasion is left out of the mean spend.
    occasions = occasions.mutate(
        first_period=occasions.period.min().over(group_by=C.customer_id)
    )
    is_repeat = occasions.period > occasions.first_period
    totals = occasions.group_by(C.customer_id).aggregate(
        occasions=occasions.count(),
        first_period=occasions.period.min(),
        last_period=occasions.period.max(),
        repeat_spend=occasions.net.sum(where=is_repeat),
        spend_total=occasions.net.sum(),
    )

    # Refunds are reported apart and never become a negative purchase
    refunds = (
        known.filter(is_return)
        .group_by(C.customer_id)
        .aggregate(refund_total=known[C.amount].cast(EXACT_MONEY).sum())
    )
    joined = totals.left_join(refunds, C.customer_id).drop(f"{C.customer_id}_right")
    return joined.select(C.customer_id, **_summary_columns(joined, as_of, period))


def _summary_columns(totals: ibis.Table, as_of: pd.Timestamp, period: str) -> dict:
    """Return the summary expressions built from the per-customer totals."""
    as_of_value = utc_literal(as_of)
    as_of_period = period_number(as_of_value, period)
    frequency = (totals.occasions - 1).cast("int64")
    repeats = ibis.ifelse(frequency > 0, frequency, ibis.null()).cast("float64")
    monetary_value = totals.repeat_spend.cast("float64") / repeats
    return {
        "frequency": frequency,
        "recency": (totals.last_period - totals.first_period).cast("float64"),
        "T": (as_of_period - totals.first_period).cast("float64"),
        "monetary_value": monetary_value.cast("float64"),
        "refund_total": totals.refund_total.cast("float64").fill_null(0.0),
        "in_gg_fit": ((frequency >= 1) & (monetary_value > 0)).fill_null(False),
        "spend_total": totals.spend_total.cast("float64"),
    }


# Collection to pandas


def collect_rfm(engine: Engine, behaviour: ibis.Table) -> pd.DataFrame:
    """Run :func:`rfm_table` on an engine and return a pandas table.

    Parameters
    ----------
    engine : Engine
        Engine on which ``behaviour`` is registered.
    behaviour : ibis.Table
        Behaviour features registered on ``engine``.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` in ascending order, with the columns of
        :data:`RFM_COLUMNS` typed as :data:`RFM_DTYPES`.
    """
    table = engine.to_pandas(rfm_table(behaviour))
    table = table.set_index(C.customer_id).sort_index()
    return table.astype(RFM_DTYPES)[RFM_COLUMNS]


def collect_discount_shares(engine: Engine, events: ibis.Table) -> pd.DataFrame:
    """Run :func:`discount_share_table` on an engine and return a pandas table.

    Parameters
    ----------
    engine : Engine
        Engine on which ``events`` is registered.
    events : ibis.Table
        Canonical events table registered on ``engine``.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` in ascending order, with the float
        columns of :data:`DISCOUNT_COLUMNS` (missing values are ``nan``).
    """
    table = engine.to_pandas(discount_share_table(events))
    table = table.set_index(C.customer_id).sort_index()
    return table.astype("float64")[DISCOUNT_COLUMNS]


def collect_population_discount_share(engine: Engine, events: ibis.Table) -> float:
    """Run :func:`population_discount_share` on an engine.

    Returns
    -------
    float
        The share, or ``nan`` when the regular value is 0.
    """
    result = engine.to_pandas(population_discount_share(events).as_table())
    share = result.iloc[0, 0]
    return float("nan") if pd.isna(share) else float(share)


def collect_btyd(
    engine: Engine, events: ibis.Table, as_of: pd.Timestamp, period: str = "D"
) -> pd.DataFrame:
    """Run :func:`btyd_table` on an engine and return a pandas table.

    Parameters
    ----------
    engine : Engine
        Engine on which ``events`` is registered.
    events : ibis.Table
        Canonical events table registered on ``engine``.
    as_of : Timestamp
        Observation end.
    period : {"D", "W"}, default "D"
        Time unit of ``recency`` and ``T``.

    Returns
    -------
    DataFrame
        Columns :data:`SUMMARY_COLUMNS` typed as :data:`SUMMARY_DTYPES`, one
        row per customer, sorted by ``customer_id``, with a default index.

    Raises
    ------
    ValueError
        If ``period`` is not ``"D"`` or ``"W"``.
    """
    table = engine.to_pandas(btyd_table(events, as_of, period))
    table = table.sort_values(C.customer_id, ignore_index=True)
    return table.astype(SUMMARY_DTYPES)[SUMMARY_COLUMNS]
