"""Rewards of logged decisions: windows, attribution, returns, invalid rows."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from promoloop.bandits import compute_rewards
from promoloop.errors import InputError
from promoloop.warnings import DataQualityWarning


def make_decisions():
    """Build decisions: c1 gets ten_off on Jan 1 and none on Jan 10, c2 gets
    free shipping on Jan 1.
    """
    return pd.DataFrame(
        {
            "decision_id": ["d1", "d2", "d3"],
            "customer_id": ["c1", "c1", "c2"],
            "action": ["ten_off", "none", "free_shipping"],
            "decided_at": [
                "2024-01-01T00:00:00Z",
                "2024-01-10T00:00:00Z",
                "2024-01-01T00:00:00Z",
            ],
            "cost": [5.0, 0.0, 3.0],
            "probability": [0.5, 0.25, 0.5],
        }
    )


def make_outcomes():
    """Orders and returns around the decisions of make_decisions (window 14 days).

    d1 (c1, Jan 1 to Jan 15, cut short by d2 on Jan 10): order 100 on Jan 3
    and a return of 40 on Jan 5, both inside. The order of Dec 30 comes
    before any decision.
    d2 (c1, Jan 10 to Jan 24): order 50 on Jan 12, which is also inside d1's
    window but belongs to the later decision. The order of Jan 25 is after
    the window.
    d3 (c2, Jan 1 to Jan 15): order 60 on Jan 2 returned in full on Jan 8.
    The return of 20 on Jan 20 is outside the window.
    c3 has no decision.
    """
    return pd.DataFrame(
        {
            "customer_id": ["c1", "c1", "c1", "c1", "c1", "c2", "c2", "c2", "c3"],
            "at": [
                "2023-12-30",
                "2024-01-03",
                "2024-01-05",
                "2024-01-12",
                "2024-01-25",
                "2024-01-02",
                "2024-01-08",
                "2024-01-20",
                "2024-01-02",
            ],
            "kind": [
                "order",
                "order",
                "return",
                "order",
                "order",
                "order",
                "return",
                "return",
                "order",
            ],
            "amount": [10.0, 100.0, 40.0, 50.0, 70.0, 60.0, 60.0, 20.0, 30.0],
            "margin": [3.0, 30.0, 12.0, 20.0, 25.0, 10.0, 10.0, 6.0, 9.0],
        }
    )


def rewards_of(result):
    return dict(zip(result["decision_id"], result["reward"], strict=True))


def test_conversion_by_hand():
    result = compute_rewards(make_decisions(), make_outcomes(), kind="conversion")
    # d1 ordered 100 and returned 40: still a conversion. d3 returned all.
    assert rewards_of(result) == {"d1": 1.0, "d2": 1.0, "d3": 0.0}


def test_revenue_by_hand():
    result = compute_rewards(make_decisions(), make_outcomes(), kind="revenue")
    assert rewards_of(result) == {"d1": 100.0 - 40.0, "d2": 50.0, "d3": 60.0 - 60.0}


def test_margin_by_hand():
    result = compute_rewards(make_decisions(), make_outcomes(), kind="margin")
    # d1: margin 30 - returned 12 - cost 5. d2: 20, no cost. d3 did not
    # convert, so its cost of 3 is not charged: 10 - 10.
    assert rewards_of(result) == {"d1": 30.0 - 12.0 - 5.0, "d2": 20.0, "d3": 0.0}


def test_return_without_margin_counts_its_amount():
    outcomes = make_outcomes()
    outcomes.loc[2, "margin"] = np.nan
    result = compute_rewards(make_decisions(), outcomes, kind="margin")
    assert rewards_of(result)["d1"] == 30.0 - 40.0 - 5.0


def test_return_inside_window_only_counts():
    # Without the Jan 5 return, d1's revenue is the full order. The Jan 20
    # return of c2 falls outside d3's window, so moving it changes nothing.
    outcomes = make_outcomes().drop(index=[2, 7])
    result = compute_rewards(make_decisions(), outcomes, kind="revenue")
    assert rewards_of(result) == {"d1": 100.0, "d2": 50.0, "d3": 0.0}


def test_partial_return_keeps_conversion():
    outcomes = make_outcomes()
    outcomes.loc[6, "amount"] = 59.0
    result = compute_rewards(make_decisions(), outcomes, kind="conversion")
    assert rewards_of(result)["d3"] == 1.0


def test_outcomes_are_counted_once():
    # Jan 12 is inside both d1's and d2's windows, but only d2 gets it.
    result = compute_rewards(make_decisions(), make_outcomes(), kind="revenue")
    assert result["reward"].sum() == 60.0 + 50.0 + 0.0


def test_window_includes_start_excludes_end():
    decisions = make_decisions().iloc[[2]]
    outcomes = pd.DataFrame(
        {
            "customer_id": ["c2", "c2"],
            "at": ["2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z"],
            "kind": ["order", "order"],
            "amount": [7.0, 11.0],
        }
    )
    result = compute_rewards(decisions, outcomes, kind="revenue", window_days=14)
    assert rewards_of(result) == {"d3": 7.0}


def test_shorter_window_drops_later_outcomes():
    result = compute_rewards(
        make_decisions(), make_outcomes(), kind="revenue", window_days=3
    )
    # d1: Jan 1 to Jan 4 holds only the order (return on Jan 5). d3: Jan 1
    # to Jan 4 holds only the order.
    assert rewards_of(result) == {"d1": 100.0, "d2": 50.0, "d3": 60.0}


def test_same_time_decisions_go_to_later_row():
    decisions = pd.DataFrame(
        {
            "decision_id": ["first", "second"],
            "customer_id": ["c1", "c1"],
            "action": ["none", "ten_off"],
            "decided_at": ["2024-01-01T00:00:00Z"] * 2,
        }
    )
    outcomes = make_outcomes().iloc[[1]]
    result = compute_rewards(decisions, outcomes, kind="revenue")
    assert rewards_of(result) == {"first": 0.0, "second": 100.0}


def test_as_of_leaves_pending_decisions_out():
    result = compute_rewards(
        make_decisions(), make_outcomes(), kind="revenue", as_of="2024-01-20"
    )
    # d2's window ends on Jan 24, after the cutoff.
    assert list(result["decision_id"]) == ["d1", "d3"]
    assert result.attrs["pending_decisions"] == 1


def test_output_keeps_decision_columns_and_order():
    decisions = make_decisions().set_index(pd.Index([30, 10, 20]))
    result = compute_rewards(decisions, make_outcomes())
    assert list(result.index) == [30, 10, 20]
    assert list(result.columns) == [*decisions.columns, "reward"]
    assert list(result["probability"]) == [0.5, 0.25, 0.5]
    assert str(result["decided_at"].dt.tz) == "UTC"


def test_naive_and_offset_times_are_utc():
    decisions = make_decisions()
    decisions["decided_at"] = [
        pd.Timestamp("2024-01-01 00:00"),
        pd.Timestamp("2024-01-10 01:00", tz="Europe/Paris"),
        pd.Timestamp("2024-01-01 00:00"),
    ]
    result = compute_rewards(decisions, make_outcomes(), kind="revenue")
    assert result["decided_at"].iloc[1] == pd.Timestamp("2024-01-10", tz="UTC")
    assert rewards_of(result) == {"d1": 60.0, "d2": 50.0, "d3": 0.0}


def test_integer_and_string_customer_ids_match():
    decisions = make_decisions().assign(customer_id=[1, 1, 2])
    outcomes = make_outcomes().assign(customer_id=["1"] * 5 + ["2"] * 3 + ["3"])
    result = compute_rewards(decisions, outcomes, kind="revenue")
    assert rewards_of(result) == {"d1": 60.0, "d2": 50.0, "d3": 0.0}


def test_no_outcomes_give_zero_rewards():
    outcomes = make_outcomes().iloc[:0]
    result = compute_rewards(make_decisions(), outcomes, kind="margin")
    assert rewards_of(result) == {"d1": 0.0, "d2": 0.0, "d3": 0.0}


def test_no_decisions_give_empty_result():
    result = compute_rewards(make_decisions().iloc[:0], make_outcomes())
    assert len(result) == 0
    assert "reward" in result.columns


INVALID_ROWS = [
    ("decisions", 1, "customer_id", None, "missing customer_id"),
    ("decisions", 2, "decided_at", "yesterday", "unparseable decided_at"),
    ("decisions", 2, "decided_at", None, "missing decided_at"),
    ("decisions", 1, "decision_id", "d1", "duplicate decision_id"),
    ("decisions", 0, "action", None, "missing action"),
    ("outcomes", 3, "customer_id", None, "missing customer_id"),
    ("outcomes", 3, "at", "2024-13-45", "unparseable at"),
    ("outcomes", 3, "kind", "refund", "unknown outcome kind"),
    ("outcomes", 3, "amount", -5.0, "negative amount"),
    ("outcomes", 3, "amount", "fifty", "non-numeric amount"),
    ("outcomes", 3, "amount", None, "missing amount"),
]


def with_invalid_value(table, row, column, value):
    decisions, outcomes = make_decisions(), make_outcomes()
    frame = decisions if table == "decisions" else outcomes
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value
    return decisions, outcomes


@pytest.mark.parametrize(("table", "row", "column", "value", "problem"), INVALID_ROWS)
def test_invalid_row_raises_with_location(table, row, column, value, problem):
    decisions, outcomes = with_invalid_value(table, row, column, value)
    with pytest.raises(InputError) as raised:
        compute_rewards(decisions, outcomes, kind="revenue")
    error = raised.value
    assert error.problem.startswith(problem)
    assert error.file == table
    assert error.row == row + 1
    assert error.column == column
    if value is not None and problem != "duplicate decision_id":
        assert error.value == value
    assert "on_invalid='drop'" in str(error)


@pytest.mark.parametrize(("table", "row", "column", "value", "problem"), INVALID_ROWS)
def test_invalid_row_dropped_and_counted(table, row, column, value, problem):
    decisions, outcomes = with_invalid_value(table, row, column, value)
    with pytest.warns(DataQualityWarning, match=f"1 {problem}"):
        result = compute_rewards(decisions, outcomes, kind="revenue", on_invalid="drop")
    assert result.attrs["invalid_rows"] == {table: {problem: 1}}
    expected_rows = 2 if table == "decisions" else 3
    assert len(result) == expected_rows


def test_dropped_order_changes_reward():
    # Row 3 is d2's only order, so without it d2 earns nothing.
    decisions, outcomes = with_invalid_value("outcomes", 3, "kind", "refund")
    with pytest.warns(DataQualityWarning):
        result = compute_rewards(decisions, outcomes, kind="revenue", on_invalid="drop")
    assert rewards_of(result) == {"d1": 60.0, "d2": 0.0, "d3": 0.0}


def test_drop_warning_points_at_caller():
    decisions, outcomes = with_invalid_value("outcomes", 3, "kind", "refund")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compute_rewards(decisions, outcomes, on_invalid="drop")
    assert caught[0].filename == __file__


def test_margin_reward_needs_order_margin():
    outcomes = make_outcomes()
    outcomes.loc[3, "margin"] = np.nan
    with pytest.raises(InputError, match="missing margin on an order.*row 4"):
        compute_rewards(make_decisions(), outcomes, kind="margin")


def test_margin_reward_rejects_negative_cost():
    decisions = make_decisions()
    decisions.loc[0, "cost"] = -5.0
    with pytest.raises(InputError, match="negative cost.*row 1"):
        compute_rewards(decisions, make_outcomes(), kind="margin")


@pytest.mark.parametrize(
    ("drop_from", "column", "kind"),
    [
        ("decisions", "decided_at", "conversion"),
        ("decisions", "cost", "margin"),
        ("outcomes", "kind", "revenue"),
        ("outcomes", "margin", "margin"),
    ],
)
def test_missing_column_raises(drop_from, column, kind):
    decisions, outcomes = make_decisions(), make_outcomes()
    if drop_from == "decisions":
        decisions = decisions.drop(columns=column)
    else:
        outcomes = outcomes.drop(columns=column)
    with pytest.raises(InputError, match=f"missing required column '{column}'"):
        compute_rewards(decisions, outcomes, kind=kind)


def test_cost_and_margin_optional_for_other_kinds():
    decisions = make_decisions().drop(columns="cost")
    outcomes = make_outcomes().drop(columns="margin")
    result = compute_rewards(decisions, outcomes, kind="revenue")
    assert rewards_of(result) == {"d1": 60.0, "d2": 50.0, "d3": 0.0}


@pytest.mark.parametrize(
    ("argument", "value", "pattern"),
    [
        ("kind", "profit", "invalid argument 'kind'"),
        ("window_days", 0, "invalid argument 'window_days'"),
        ("window_days", "two weeks", "invalid argument 'window_days'"),
        ("on_invalid", "skip", "invalid argument 'on_invalid'"),
        ("as_of", "soon", "invalid argument 'as_of'"),
    ],
)
def test_bad_arguments_raise(argument, value, pattern):
    with pytest.raises(InputError, match=pattern):
        compute_rewards(make_decisions(), make_outcomes(), **{argument: value})


def test_float_customer_ids_match_integers():
    # A customer_id column with a blank is read as floats (1.0), while the
    # outcomes carry integers.
    decisions = make_decisions().assign(customer_id=[1.0, 1.0, np.nan])
    outcomes = make_outcomes().assign(customer_id=[1] * 5 + [2] * 3 + [3])
    with pytest.warns(DataQualityWarning, match="1 missing customer_id"):
        result = compute_rewards(decisions, outcomes, kind="revenue", on_invalid="drop")
    assert rewards_of(result) == {"d1": 60.0, "d2": 50.0}


def test_blank_customer_id_is_missing():
    decisions = make_decisions().assign(customer_id=["c1", "c1", "  "])
    with pytest.raises(InputError, match="missing customer_id.*row 3"):
        compute_rewards(decisions, make_outcomes())


def test_outcome_kind_ignores_case_and_spaces():
    outcomes = make_outcomes()
    outcomes.loc[1, "kind"] = " Order "
    result = compute_rewards(make_decisions(), outcomes, kind="revenue")
    assert rewards_of(result)["d1"] == 60.0
