"""Rewards of logged decisions from the orders and returns that followed them.

Each outcome row (an order or a return) belongs to at most one decision: the
latest decision of the same customer made at or before the outcome, and only
when the outcome falls inside that decision's window
``[decided_at, decided_at + window_days)``. A later decision therefore cuts
an earlier decision's window short, and no outcome counts twice. When two
decisions of a customer share a timestamp, the later row of ``decisions``
gets the outcomes.
"""

from __future__ import annotations

import logging
import warnings
from typing import Literal

import numpy as np
import pandas as pd

from promoloop.data.ids import canonical_id
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C
from promoloop.warnings import DataQualityWarning

logger = logging.getLogger(__name__)

REWARD_KINDS = ("conversion", "revenue", "margin")
"""Reward definitions that ``compute_rewards`` accepts."""

ACTION = "action"
DECIDED_AT = "decided_at"
COST = "cost"
AT = "at"
KIND = "kind"
REWARD = "reward"
ORDER = "order"
RETURN = "return"

# Amounts closer than this count as equal when a return cancels an order.
_AMOUNT_TOLERANCE = 1e-9


def compute_rewards(
    decisions: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    kind: Literal["conversion", "revenue", "margin"] = "conversion",
    window_days: float = 14,
    as_of=None,
    on_invalid: Literal["raise", "drop"] = "raise",
) -> pd.DataFrame:
    """Compute one reward per decision from the outcomes in its window.

    Rewards by ``kind``, over the outcomes attributed to the decision (see
    the module docstring):

    - ``"conversion"``: 1 if the customer ordered and the returns did not
      cancel the orders, else 0. Returns cancel the orders when their amount
      is positive and at least the ordered amount, so a fully returned
      order is no conversion.
    - ``"revenue"``: ordered amount minus returned amount.
    - ``"margin"``: order margin minus returned margin, minus the decision's
      ``cost`` when the decision converted (by the rule above). A return
      without a margin takes its amount as margin. A fully returned order
      refunds what the customer paid, so its promotion cost nothing.

    NOTE: outcomes carry no order id, so a return inside the window counts
    against the decision even when it returns an order placed before the
    decision.

    Parameters
    ----------
    decisions : DataFrame
        One row per decision with ``decision_id`` (unique), ``customer_id``,
        ``action`` and ``decided_at``. For ``kind="margin"`` it also needs
        ``cost``, the promotion's expected cost (0 for no promotion). Naive
        timestamps are read as UTC, and strings must be ISO 8601. Other
        columns are kept in the output.
    outcomes : DataFrame
        One row per order or return: ``customer_id``, ``at`` (timestamp),
        ``kind`` (``"order"`` or ``"return"``, in any case), ``amount``
        (>= 0) and, for
        ``kind="margin"``, ``margin`` (required on orders).
    kind : {"conversion", "revenue", "margin"}, default "conversion"
        Reward definition.
    window_days : float, default 14
        Length of each decision's attribution window in days.
    as_of : timestamp or str, optional
        Time up to which outcomes are known. Decisions whose window ends
        after it are left out, because their rewards are not final yet.
        None keeps every decision.
    on_invalid : {"raise", "drop"}, default "raise"
        What to do with invalid rows: raise an InputError naming the first
        one, or drop them, counted by reason in a DataQualityWarning.

    Returns
    -------
    DataFrame
        The valid (and, with ``as_of``, complete) decisions in their input
        order and index, ``decided_at`` as UTC timestamps, plus a float
        ``reward`` column. ``attrs["invalid_rows"]`` contains the dropped row
        counts by table and reason, and ``attrs["pending_decisions"]`` the
        number of decisions left out by ``as_of``.

    Raises
    ------
    InputError
        On an invalid argument or missing column, and with
        ``on_invalid="raise"`` on the first invalid row (missing id,
        duplicate decision_id, missing or unparseable time, unknown outcome
        kind, missing or negative amount or cost, missing order margin).
    """
    # Arguments and columns.
    _check_choice("kind", kind, REWARD_KINDS)
    _check_choice("on_invalid", on_invalid, ("raise", "drop"))
    window = _window(window_days)
    cutoff = None if as_of is None else _timestamp_argument(as_of)
    needs_margin = kind == "margin"
    _require_columns(
        decisions,
        [C.decision_id, C.customer_id, ACTION, DECIDED_AT]
        + ([COST] if needs_margin else []),
        "decisions",
    )
    _require_columns(
        outcomes,
        [C.customer_id, AT, KIND, C.amount] + ([C.margin] if needs_margin else []),
        "outcomes",
    )

    # Valid rows.
    invalid_rows: dict[str, dict[str, int]] = {}
    decided, problems = _parsed_decisions(decisions, needs_margin)
    valid_decisions = _valid_rows(
        decisions, problems, "decisions", on_invalid, invalid_rows
    )
    decided = decided[valid_decisions]
    events, problems = _parsed_outcomes(outcomes, needs_margin)
    events = events[
        _valid_rows(outcomes, problems, "outcomes", on_invalid, invalid_rows)
    ]

    # Attribution and reward.
    totals = _attributed_totals(decided, events, window)
    reward = _reward(kind, totals, decided)

    # Output: input rows with parsed times, minus pending decisions.
    result = decisions[valid_decisions].copy()
    result[DECIDED_AT] = decided[DECIDED_AT].to_numpy()
    result[REWARD] = reward.to_numpy(dtype=float)
    pending = 0
    if cutoff is not None:
        final = (result[DECIDED_AT] + window <= cutoff).to_numpy()
        pending = int((~final).sum())
        result = result[final]
    logger.info(
        "computed %s rewards of %d decisions (%d pending)", kind, len(result), pending
    )
    result.attrs["invalid_rows"] = invalid_rows
    result.attrs["pending_decisions"] = pending
    return result


def _parsed_decisions(
    decisions: pd.DataFrame, needs_margin: bool
) -> tuple[pd.DataFrame, list[tuple]]:
    """Return the parsed key columns of decisions and their invalid-row checks."""
    times, missing_time, bad_time = _parsed_times(decisions[DECIDED_AT])
    ids = decisions[C.decision_id]
    customers = canonical_id(decisions[C.customer_id])
    parsed = pd.DataFrame(
        {
            C.decision_id: ids,
            C.customer_id: customers,
            DECIDED_AT: times,
        },
        index=decisions.index,
    )
    problems = [
        ("missing decision_id", C.decision_id, ids.isna(), "give every decision an id"),
        (
            "duplicate decision_id",
            C.decision_id,
            ids.notna() & ids.duplicated(keep="first"),
            "keep one row per decision",
        ),
        (
            "missing customer_id",
            C.customer_id,
            customers.isna(),
            "fill the customer of every decision",
        ),
        (
            "missing action",
            ACTION,
            decisions[ACTION].isna(),
            "fill the action of every decision",
        ),
        ("missing decided_at", DECIDED_AT, missing_time, "fill the decision time"),
        (
            "unparseable decided_at",
            DECIDED_AT,
            bad_time,
            "write times in ISO 8601, e.g. 2024-03-01T12:00:00Z",
        ),
    ]
    if needs_margin:
        cost, missing_cost, bad_cost = _parsed_numbers(decisions[COST])
        parsed[COST] = cost
        problems += [
            ("missing cost", COST, missing_cost, "fill the cost, 0 for no promotion"),
            ("non-numeric cost", COST, bad_cost, "write the cost as a number"),
            ("negative cost", COST, cost < 0, "write costs as amounts >= 0"),
        ]
    return parsed, problems


def _parsed_outcomes(
    outcomes: pd.DataFrame, needs_margin: bool
) -> tuple[pd.DataFrame, list[tuple]]:
    """Return the parsed outcome columns and their invalid-row checks."""
    times, missing_time, bad_time = _parsed_times(outcomes[AT])
    kinds = outcomes[KIND].astype("string").str.strip().str.lower()
    amount, missing_amount, bad_amount = _parsed_numbers(outcomes[C.amount])
    customers = canonical_id(outcomes[C.customer_id])
    parsed = pd.DataFrame(
        {
            C.customer_id: customers,
            AT: times,
            KIND: kinds,
            C.amount: amount,
        },
        index=outcomes.index,
    )
    problems = [
        (
            "missing customer_id",
            C.customer_id,
            customers.isna(),
            "fill the customer of every outcome",
        ),
        ("missing at", AT, missing_time, "fill the time of every outcome"),
        (
            "unparseable at",
            AT,
            bad_time,
            "write times in ISO 8601, e.g. 2024-03-01T12:00:00Z",
        ),
        (
            "unknown outcome kind",
            KIND,
            ~kinds.isin([ORDER, RETURN]).fillna(False),
            "mark each outcome 'order' or 'return'",
        ),
        ("missing amount", C.amount, missing_amount, "fill the amount"),
        ("non-numeric amount", C.amount, bad_amount, "write the amount as a number"),
        (
            "negative amount",
            C.amount,
            amount < 0,
            "write returns as kind 'return' with a positive amount",
        ),
    ]
    if needs_margin:
        margin, missing_margin, bad_margin = _parsed_numbers(outcomes[C.margin])
        parsed[C.margin] = margin
        problems += [
            (
                "missing margin on an order",
                C.margin,
                missing_margin & (kinds == ORDER).fillna(False),
                "fill the margin of every order",
            ),
            ("non-numeric margin", C.margin, bad_margin, "write margin as a number"),
        ]
    return parsed, problems


def _valid_rows(
    table_rows: pd.DataFrame,
    problems: list[tuple],
    table: str,
    on_invalid: str,
    invalid_rows: dict[str, dict[str, int]],
) -> np.ndarray:
    """Return the mask of valid rows, or raise on the first invalid one.

    With ``on_invalid="drop"`` invalid rows are left out of the mask and
    counted by reason into ``invalid_rows[table]``. A row that fails several
    checks is counted once, under its first.
    """
    dropped = np.zeros(len(table_rows), dtype=bool)
    counts: dict[str, int] = {}
    for problem, column, bad, fix in problems:
        bad = np.asarray(pd.Series(bad).fillna(False), dtype=bool) & ~dropped
        if not bad.any():
            continue
        if on_invalid == "raise":
            position = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{problem} ({int(bad.sum())} rows)",
                file=table,
                row=position + 1,
                column=column,
                value=_value_at(table_rows, column, position),
                fix=f"{fix}, or pass on_invalid='drop' to leave such rows out",
            )
        counts[problem] = int(bad.sum())
        dropped |= bad
    if counts:
        invalid_rows[table] = counts
        listed = ", ".join(f"{count} {problem}" for problem, count in counts.items())
        warnings.warn(
            f"dropped {int(dropped.sum())} invalid rows of {table}: {listed}. "
            "Pass on_invalid='raise' to locate them",
            DataQualityWarning,
            stacklevel=3,
        )
        logger.warning("dropped invalid rows of %s: %s", table, counts)
    return ~dropped


def _attributed_totals(
    decided: pd.DataFrame, events: pd.DataFrame, window: pd.Timedelta
) -> pd.DataFrame:
    """Sum each decision's in-window orders and returns, one row per decision.

    Columns: ``orders`` (count), ``ordered_amount``, ``returned_amount``,
    ``ordered_margin`` and ``returned_margin`` (present only when
    ``events`` has a margin column), indexed by the position in ``decided``.
    """
    # Latest decision at or before each outcome, by customer. The position
    # breaks ties of equal times in favour of the later decision row.
    right = decided[[C.customer_id, DECIDED_AT]].assign(
        _position=np.arange(len(decided)),
        **{C.customer_id: decided[C.customer_id].astype(str)},
    )
    right = right.sort_values([DECIDED_AT, "_position"], kind="stable")
    left = events.assign(**{C.customer_id: events[C.customer_id].astype(str)})
    left = left.sort_values(AT, kind="stable")
    matched = pd.merge_asof(
        left,
        right,
        left_on=AT,
        right_on=DECIDED_AT,
        by=C.customer_id,
        direction="backward",
        allow_exact_matches=True,
    )
    matched = matched[matched["_position"].notna()]
    matched = matched[matched[AT] < matched[DECIDED_AT] + window]

    # Sums per decision.
    is_order = (matched[KIND] == ORDER).to_numpy()
    parts = {
        "orders": is_order.astype(float),
        "ordered_amount": np.where(is_order, matched[C.amount], 0.0),
        "returned_amount": np.where(is_order, 0.0, matched[C.amount]),
    }
    if C.margin in matched.columns:
        returned_margin = matched[C.margin].fillna(matched[C.amount])
        parts["ordered_margin"] = np.where(is_order, matched[C.margin], 0.0)
        parts["returned_margin"] = np.where(is_order, 0.0, returned_margin)
    sums = (
        pd.DataFrame(parts).groupby(matched["_position"].astype(int).to_numpy()).sum()
    )
    return sums.reindex(np.arange(len(decided)), fill_value=0.0)


def _reward(kind: str, totals: pd.DataFrame, decided: pd.DataFrame) -> pd.Series:
    """Turn per-decision sums into the reward of ``kind`` (see compute_rewards)."""
    ordered = totals["ordered_amount"]
    returned = totals["returned_amount"]
    cancelled = (returned > 0) & (returned >= ordered - _AMOUNT_TOLERANCE)
    converted = (totals["orders"] > 0) & ~cancelled
    if kind == "conversion":
        return converted.astype(float)
    if kind == "revenue":
        return ordered - returned
    cost = decided[COST].to_numpy(dtype=float)
    return totals["ordered_margin"] - totals["returned_margin"] - cost * converted


def _parsed_times(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Return UTC timestamps with masks of missing and of unparseable values."""
    missing = values.isna()
    if pd.api.types.is_datetime64_any_dtype(values):
        times = pd.to_datetime(values, utc=True)
    else:
        times = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    times = times.dt.as_unit("ns")
    return times, missing, times.isna() & ~missing


def _parsed_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Return floats with masks of missing and of non-numeric values."""
    missing = values.isna()
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    return numbers, missing, numbers.isna() & ~missing


def _value_at(table_rows: pd.DataFrame, column: str, position: int):
    """Return the input value for an error message, None when it is missing."""
    value = table_rows[column].iloc[position]
    return None if pd.isna(value) else value


def _require_columns(df: pd.DataFrame, columns: list[str], argument: str) -> None:
    for column in columns:
        if column not in df.columns:
            raise InputError(
                f"missing required column {column!r} in {argument}",
                column=column,
                expected=f"columns {columns}",
                fix=f"add the column {column!r} to {argument}",
            )


def _check_choice(name: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(
            f"invalid argument {name!r}",
            value=value,
            expected=f"one of {list(allowed)}",
            fix=f"pass {name} as one of {list(allowed)}",
        )


def _window(window_days: float) -> pd.Timedelta:
    try:
        days = float(window_days)
    except (TypeError, ValueError):
        days = float("nan")
    if not np.isfinite(days) or days <= 0:
        raise InputError(
            "invalid argument 'window_days'",
            value=window_days,
            expected="a number of days > 0",
            fix="pass window_days such as 14",
        )
    return pd.Timedelta(days=days)


def _timestamp_argument(value) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise InputError(
            "invalid argument 'as_of'",
            value=value,
            expected="a timestamp",
            fix="pass as_of as an ISO 8601 time, e.g. 2024-03-01T00:00:00Z",
        ) from error
    if stamp is pd.NaT:
        raise InputError(
            "invalid argument 'as_of'",
            value=value,
            expected="a timestamp",
            fix="pass as_of as an ISO 8601 time, or None",
        )
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
