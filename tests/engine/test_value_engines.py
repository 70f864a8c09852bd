"""The one Ibis definition of the value inputs gives one table everywhere.

RFM scores, discount shares and BTYD summaries on DuckDB are compared with
independent pandas computations written here and with hand-computed values.
Spark ``local[2]`` is compared with DuckDB on the same inputs. Floating
columns are compared with a relative and absolute tolerance of 1e-9, because
each engine may add up sums in a different order. Integer, boolean and string
columns, the ids and the missing values must match exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from promoloop.benchmarks.synthetic_events import EventGenerator, shop_for_events
from promoloop.engine import Engine
from promoloop.engine.value import (
    DISCOUNT_COLUMNS,
    INPUT_COLUMNS,
    RFM_COLUMNS,
    RFM_DTYPES,
    SUMMARY_COLUMNS,
    SUMMARY_DTYPES,
    btyd_table,
    collect_btyd,
    collect_discount_shares,
    collect_population_discount_share,
    collect_rfm,
)
from promoloop.profiles.behaviour import (
    behaviour_features,
    discount_share_of_value,
    population_discount_share,
)
from promoloop.profiles.btyd import btyd_summary, period_index
from promoloop.profiles.value import discount_sensitivity, quintile_scores, rfm_scores
from tests.profiles.conftest import make_events

TOLERANCE = {"rtol": 1e-9, "atol": 1e-9}
APPROX = {"rel": 1e-9, "abs": 1e-9}
AS_OF = pd.Timestamp("2024-01-31", tz="UTC")
SHOP_AS_OF = pd.Timestamp("2024-03-01", tz="UTC")
EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def assert_same_table(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left, right, check_exact=False, **TOLERANCE)


# Independent pandas computations


def pandas_quintiles(values: pd.Series, higher_is_better: bool) -> pd.Series:
    """Scores from pandas' rank by position on values sorted by customer id."""
    ordered = values.sort_index()
    filled = ordered.fillna(-np.inf if higher_is_better else np.inf)
    rank = filled.rank(method="first", ascending=higher_is_better)
    return np.ceil(5 * rank / len(ordered)).astype("int64")


def pandas_rfm(behaviour: pd.DataFrame) -> pd.DataFrame:
    scores = pd.DataFrame(
        {
            "r_score": pandas_quintiles(behaviour["recency_days"], False),
            "f_score": pandas_quintiles(behaviour["frequency"], True),
            "m_score": pandas_quintiles(behaviour["monetary"], True),
        }
    )
    digits = scores.astype(str)
    scores["rfm_score"] = digits["r_score"] + digits["f_score"] + digits["m_score"]
    scores.index.name = "customer_id"
    return scores.astype(RFM_DTYPES)


def pandas_discount_shares(events: pd.DataFrame) -> pd.DataFrame:
    lines = events[
        events["customer_id"].notna()
        & (events["event_type"] == "purchase")
        & (events["quantity"] > 0)
    ]
    frame = pd.DataFrame(
        {
            "customer_id": lines["customer_id"],
            "discount": lines["discount"],
            "regular": lines["amount"] + lines["discount"],
            "discounted": (lines["discount"] > 0).astype("float64"),
        }
    )
    sums = frame.groupby("customer_id").agg(
        discount=("discount", "sum"),
        regular=("regular", "sum"),
        discounted_line_share=("discounted", "mean"),
    )
    out = pd.DataFrame(index=sums.index)
    out["discount_value_share"] = sums["discount"] / sums["regular"].where(
        sums["regular"] > 0
    )
    out["discounted_line_share"] = sums["discounted_line_share"]
    population = pandas_population_share(events)
    out["discount_sensitivity"] = (
        out["discount_value_share"] / population if population > 0 else np.nan
    )
    return out


def pandas_population_share(events: pd.DataFrame) -> float:
    lines = events[
        events["customer_id"].notna()
        & (events["event_type"] == "purchase")
        & (events["quantity"] > 0)
    ]
    regular = (lines["amount"] + lines["discount"]).sum()
    return lines["discount"].sum() / regular if regular > 0 else np.nan


def pandas_period(timestamps: pd.Series, period: str) -> pd.Series:
    days = (timestamps - EPOCH).dt.floor("D").dt.days.astype("int64")
    return (days + 3) // 7 if period == "W" else days


def pandas_btyd(events: pd.DataFrame, as_of: pd.Timestamp, period: str) -> pd.DataFrame:
    known = events[events["customer_id"].notna()]
    money = known[known["event_type"].isin(["purchase", "return"])]
    net = money["amount"].where(money["event_type"] == "purchase", -money["amount"])
    per_period = (
        pd.DataFrame(
            {
                "customer_id": money["customer_id"],
                "period": pandas_period(money["timestamp"], period),
                "net": net,
            }
        )
        .groupby(["customer_id", "period"])["net"]
        .sum()
        .reset_index()
    )
    # The engine sums exactly; rounding the float sums drops their noise.
    is_occasion = per_period["net"].round(9) > 0
    occasions = per_period[is_occasion].sort_values(["customer_id", "period"])
    as_of_period = pandas_period(pd.Series([as_of]), period).iloc[0]
    rows = []
    for customer, group in occasions.groupby("customer_id"):
        frequency = len(group) - 1
        monetary = group["net"].iloc[1:].mean() if frequency > 0 else np.nan
        refunds = money.loc[
            (money["customer_id"] == customer) & (money["event_type"] == "return"),
            "amount",
        ].sum()
        rows.append(
            {
                "customer_id": customer,
                "frequency": frequency,
                "recency": group["period"].max() - group["period"].min(),
                "T": as_of_period - group["period"].min(),
                "monetary_value": monetary,
                "refund_total": refunds,
                "in_gg_fit": frequency >= 1 and monetary > 0,
                "spend_total": group["net"].sum(),
            }
        )
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    table["customer_id"] = table["customer_id"].astype("str")
    return table.astype(SUMMARY_DTYPES)


# Inputs


def line(customer, event_type, stamp, amount=0.0, **fields) -> dict:
    row = {
        "customer_id": customer,
        "item_id": fields.pop("item_id", "I1"),
        "event_type": event_type,
        "timestamp": stamp,
        "amount": amount,
    }
    row.update(fields)
    return row


def tiny_events() -> pd.DataFrame:
    """Events whose shares and occasions the DuckDB tests compute by hand."""
    return make_events(
        [
            line("A", "purchase", "2024-01-02 09:00", 8.0, discount=2.0),
            line("A", "purchase", "2024-01-02 18:00", 10.0),
            line("A", "purchase", "2024-01-09 10:00", 30.0),
            line("A", "return", "2024-01-09 12:00", 10.0),
            line("A", "return", "2024-01-20 12:00", 4.0),
            line("B", "purchase", "2024-01-05 00:00", 5.0, discount=5.0),
            line("Z", "purchase", "2024-01-06 00:00", 0.0),
            line("Q", "purchase", "2024-01-07 00:00", 0.0, quantity=0.0, discount=3.0),
            line("R", "return", "2024-01-08 00:00", 7.0),
            line("V", "view", "2024-01-08 00:00"),
            line(None, "purchase", "2024-01-08 00:00", 50.0, discount=50.0),
        ]
    )


def edge_events() -> pd.DataFrame:
    """Missing amounts, discounts and quantities, pre-1970 days, week edges."""
    rows = [
        # customer, type, timestamp, quantity, amount, discount
        ("E", "purchase", "2024-01-07 23:59:59.5", 1.0, 10.0, np.nan),
        ("E", "purchase", "2024-01-08 00:00:00.25", 1.0, np.nan, 2.0),
        ("E", "purchase", "2024-01-08 10:00:00", np.nan, 6.0, 1.0),
        ("E", "purchase", "2024-01-15 10:00:00", 2.0, 12.0, 0.0),
        ("E", "return", "2024-01-16 10:00:00", 1.0, np.nan, 0.0),
        ("O", "purchase", "1969-12-28 23:00:00", 1.0, 3.0, 1.0),
        ("O", "purchase", "1969-12-29 01:00:00", 1.0, 4.0, 0.0),
        ("O", "purchase", "1970-01-05 00:00:00", 1.0, 5.0, 0.0),
        ("Z", "purchase", "2024-01-05 10:00:00", 1.0, 0.0, 0.0),
        ("Z", "return", "2024-01-06 10:00:00", 1.0, 2.0, 0.0),
        (None, "purchase", "2024-01-06 12:00:00", 1.0, 3.0, 1.0),
    ]
    columns = ["customer_id", "event_type", "timestamp", "quantity", "amount"]
    frame = pd.DataFrame(rows, columns=[*columns, "discount"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    frame["customer_id"] = frame["customer_id"].astype("str")
    return frame


def shop_events(n_events: int = 30_000, seed: int = 7) -> pd.DataFrame:
    """Canonical events of a small generated shop over 60 days."""
    generator = EventGenerator(shop_for_events(n_events, days=60, seed=seed))
    return pa.concat_tables(table for _, table in generator.days()).to_pandas()


EVENT_CASES = {
    "tiny": (tiny_events, AS_OF),
    "edge": (edge_events, AS_OF),
    "shop": (shop_events, SHOP_AS_OF),
}


def behaviour_frame(recency, frequency, monetary, ids=None) -> pd.DataFrame:
    ids = ids or [f"C{i:03d}" for i in range(len(frequency))]
    frame = pd.DataFrame(
        {
            "recency_days": np.asarray(recency, dtype="float64"),
            "frequency": np.asarray(frequency, dtype="int64"),
            "monetary": np.asarray(monetary, dtype="float64"),
        },
        index=pd.Index(ids, name="customer_id", dtype="str"),
    )
    return frame.sort_index()


def random_behaviour(n: int = 997, seed: int = 3) -> pd.DataFrame:
    """Many ties (few distinct values), missing recency, zero and negative spend."""
    rng = np.random.default_rng(seed)
    recency = rng.integers(0, 12, n).astype("float64")
    recency[rng.random(n) < 0.1] = np.nan
    frequency = rng.integers(0, 4, n)
    monetary = np.round(rng.gamma(1.0, 20.0, n), 0)
    monetary[rng.random(n) < 0.1] = 0.0
    monetary[rng.random(n) < 0.02] = -5.0
    ids = [f"K{value:06d}" for value in rng.permutation(10 * n)[:n]]
    return behaviour_frame(recency, frequency, monetary, ids)


RFM_CASES = {
    "ties": lambda: behaviour_frame([3.0] * 7, [2] * 7, [0.0] * 7),
    "single": lambda: behaviour_frame([np.nan], [0], [0.0]),
    "random": random_behaviour,
}


@pytest.fixture(scope="module")
def duckdb_engine():
    with Engine.duckdb() as engine:
        yield engine


def run_rfm(engine: Engine, behaviour: pd.DataFrame) -> pd.DataFrame:
    table = engine.register_frame("behaviour", behaviour.reset_index())
    return collect_rfm(engine, table)


def register_events(engine: Engine, events: pd.DataFrame):
    return engine.register_frame("events", events[INPUT_COLUMNS])


# RFM on DuckDB


def test_rfm_ties_rank_by_customer_id(duckdb_engine):
    ids = ["e", "a", "d", "b", "c"]
    behaviour = behaviour_frame([3.0] * 5, [2] * 5, [1.0] * 5, ids)

    scores = run_rfm(duckdb_engine, behaviour)

    # Equal values: the smaller id ranks worse, in both directions.
    assert scores["f_score"].to_dict() == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    assert scores["r_score"].to_dict() == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    assert scores.loc["c", "rfm_score"] == "333"


def test_rfm_quintiles_hand_computed(duckdb_engine):
    behaviour = behaviour_frame(
        recency=[1, 2, 3, 4, 5, 6, 7, 8, np.nan, 0],
        frequency=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        monetary=[10, 9, 8, 7, 6, 5, 4, 3, 2, -1],
    )

    scores = run_rfm(duckdb_engine, behaviour)

    # rank r of 10 scores ceil(5 * r / 10)
    assert scores["f_score"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert scores["m_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    # Fewer days is better, and a missing recency ranks worst.
    assert scores["r_score"].tolist() == [5, 4, 4, 3, 3, 2, 2, 1, 1, 5]
    assert scores.loc["C008", "r_score"] == 1
    assert scores.loc["C009", "rfm_score"] == "551"


def test_rfm_single_customer_scores_555(duckdb_engine):
    scores = run_rfm(duckdb_engine, RFM_CASES["single"]())

    assert scores["rfm_score"].tolist() == ["555"]


def test_rfm_three_customers(duckdb_engine):
    behaviour = behaviour_frame([3.0, 2.0, 1.0], [1, 2, 3], [1.0, 2.0, 3.0])

    scores = run_rfm(duckdb_engine, behaviour)

    # ceil(5/3), ceil(10/3), ceil(15/3)
    assert scores["f_score"].tolist() == [2, 4, 5]
    assert scores["r_score"].tolist() == [2, 4, 5]


def test_rfm_columns_and_dtypes(duckdb_engine):
    scores = run_rfm(duckdb_engine, random_behaviour(50))

    assert list(scores.columns) == RFM_COLUMNS
    assert scores.dtypes.astype(str).to_dict() == RFM_DTYPES
    assert scores.index.is_monotonic_increasing


@pytest.mark.parametrize("case", sorted(RFM_CASES))
def test_rfm_matches_pandas_rank_first(duckdb_engine, case):
    behaviour = RFM_CASES[case]()

    pd.testing.assert_frame_equal(
        run_rfm(duckdb_engine, behaviour), pandas_rfm(behaviour), check_dtype=True
    )


def test_rfm_scores_keeps_behaviour_order(duckdb_engine):
    behaviour = random_behaviour(200, seed=5)
    shuffled = behaviour.sample(frac=1.0, random_state=0)

    scores = rfm_scores(shuffled, duckdb_engine)

    assert scores.index.equals(shuffled.index)
    pd.testing.assert_frame_equal(scores.sort_index(), pandas_rfm(behaviour))


def test_rfm_scores_on_shop_behaviour(duckdb_engine):
    events = shop_events()
    behaviour = behaviour_features(events, SHOP_AS_OF, duckdb_engine)

    scores = rfm_scores(behaviour, duckdb_engine)

    assert behaviour["recency_days"].isna().any()  # viewers who never bought
    pd.testing.assert_frame_equal(scores, pandas_rfm(behaviour))


def test_quintile_scores_ties_by_label_then_position(duckdb_engine):
    values = pd.Series([1.0, 1.0, 1.0, 1.0, 1.0], index=["b", "a", "b", "c", "a"])

    scores = quintile_scores(values, engine=duckdb_engine)

    # Order of equal values: a (row 1), a (row 4), b (row 0), b (row 2), c.
    assert scores.tolist() == [3, 1, 4, 5, 2]
    assert scores.index.equals(values.index)


def test_quintile_scores_empty():
    scores = quintile_scores(pd.Series([], dtype="float64"))

    assert scores.empty
    assert scores.dtype == "int64"


# Discount shares on DuckDB


def test_discount_shares_hand_computed(duckdb_engine):
    shares = collect_discount_shares(
        duckdb_engine, register_events(duckdb_engine, tiny_events())
    )
    population = (2.0 + 5.0 + 0.0) / (50.0 + 10.0 + 0.0)

    # Q has only a line of quantity 0, R only a return, V only a view.
    assert shares.index.tolist() == ["A", "B", "Z"]
    assert shares.loc["A", "discount_value_share"] == pytest.approx(2.0 / 50.0)
    assert shares.loc["A", "discounted_line_share"] == pytest.approx(1 / 3)
    assert shares.loc["A", "discount_sensitivity"] == pytest.approx(0.04 / population)
    assert shares.loc["B", "discount_value_share"] == pytest.approx(0.5)
    assert shares.loc["B", "discount_sensitivity"] == pytest.approx(0.5 / population)
    assert np.isnan(shares.loc["Z", "discount_value_share"])  # regular value 0
    assert np.isnan(shares.loc["Z", "discount_sensitivity"])
    assert shares.loc["Z", "discounted_line_share"] == 0.0


def test_discount_shares_missing_fields(duckdb_engine):
    shares = collect_discount_shares(
        duckdb_engine, register_events(duckdb_engine, edge_events())
    )
    e = shares.loc["E"]

    # Lines with a missing amount or discount add nothing to the regular value,
    # and the line with a missing quantity is not a priced line.
    assert e["discount_value_share"] == pytest.approx(2.0 / 12.0)
    assert e["discounted_line_share"] == pytest.approx(1 / 3)


def test_population_share_hand_computed(duckdb_engine):
    table = register_events(duckdb_engine, tiny_events())

    share = collect_population_discount_share(duckdb_engine, table)

    assert share == pytest.approx(7.0 / 60.0)


def test_no_discount_shop_has_no_sensitivity(duckdb_engine):
    events = make_events(
        [line("A", "purchase", "2024-01-02", 8.0), line("B", "purchase", "2024-01-03")]
    )

    shares = collect_discount_shares(
        duckdb_engine, register_events(duckdb_engine, events)
    )
    population = collect_population_discount_share(
        duckdb_engine, register_events(duckdb_engine, events)
    )

    assert population == 0.0
    assert shares.loc["A", "discount_value_share"] == 0.0
    assert shares["discount_sensitivity"].isna().all()


def test_population_share_nan_without_lines(duckdb_engine):
    events = make_events([line("V", "view", "2024-01-02")])
    table = register_events(duckdb_engine, events)

    assert np.isnan(collect_population_discount_share(duckdb_engine, table))
    assert collect_discount_shares(duckdb_engine, table).empty


@pytest.mark.parametrize("case", sorted(EVENT_CASES))
def test_discount_shares_match_pandas(duckdb_engine, case):
    build, _ = EVENT_CASES[case]
    events = build()

    shares = collect_discount_shares(
        duckdb_engine, register_events(duckdb_engine, events)
    )
    expected = pandas_discount_shares(events)

    assert list(shares.columns) == DISCOUNT_COLUMNS
    assert_same_table(shares, expected)
    assert collect_population_discount_share(
        duckdb_engine, register_events(duckdb_engine, events)
    ) == pytest.approx(pandas_population_share(events), **APPROX)


def test_profile_discount_functions_match_pandas(duckdb_engine):
    events = shop_events()
    expected = pandas_discount_shares(events)
    index = pd.Index(["nobody", *expected.index[:5]], dtype="str", name="customer_id")

    shares = discount_share_of_value(events, duckdb_engine)
    population = population_discount_share(events, duckdb_engine)
    sensitivity = discount_sensitivity(events, index, duckdb_engine)

    assert_same_table(
        shares, expected[["discount_value_share", "discounted_line_share"]]
    )
    assert population == pytest.approx(pandas_population_share(events), **APPROX)
    assert sensitivity.index.equals(index)
    assert sensitivity.loc["nobody"].isna().all()
    assert_same_table(
        sensitivity.iloc[1:],
        expected.loc[index[1:], ["discount_value_share", "discount_sensitivity"]],
    )


# BTYD summaries on DuckDB


def test_btyd_hand_computed(duckdb_engine):
    summary = collect_btyd(
        duckdb_engine, register_events(duckdb_engine, tiny_events()), AS_OF
    ).set_index("customer_id")
    a = summary.loc["A"]

    # Z spent 0, R only refunded, Q and V never paid: no occasion.
    assert summary.index.tolist() == ["A", "B"]
    assert a["frequency"] == 1  # Jan 2 (two orders merge) and Jan 9 (net 20)
    assert a["recency"] == 7
    assert a["T"] == 29
    assert a["monetary_value"] == pytest.approx(30.0 - 10.0)
    assert a["spend_total"] == pytest.approx(18.0 + 20.0)
    assert a["refund_total"] == pytest.approx(14.0)
    assert a["in_gg_fit"]
    assert summary.loc["B", "frequency"] == 0
    assert np.isnan(summary.loc["B", "monetary_value"])
    assert not summary.loc["B", "in_gg_fit"]


def test_btyd_weeks_start_on_monday(duckdb_engine):
    table = register_events(duckdb_engine, edge_events())

    weekly = collect_btyd(duckdb_engine, table, AS_OF, "W").set_index("customer_id")

    # E: Sunday Jan 7 and Monday Jan 8 are in two weeks, Jan 15 in a third.
    assert weekly.loc["E", "frequency"] == 2
    assert weekly.loc["E", "recency"] == 2
    # O: Sunday 1969-12-28 is in the week before Monday 1969-12-29.
    assert weekly.loc["O", "frequency"] == 2
    assert weekly.loc["O", "monetary_value"] == pytest.approx((4.0 + 5.0) / 2)


def test_btyd_missing_amount_and_timestamp(duckdb_engine):
    events = edge_events()
    events.loc[len(events)] = ["E", "purchase", pd.NaT, 1.0, 99.0, 0.0]

    daily = collect_btyd(
        duckdb_engine, register_events(duckdb_engine, events), AS_OF, "D"
    ).set_index("customer_id")

    # The line without a timestamp is left out. Jan 8 nets 6 (amount missing).
    assert daily.loc["E", "frequency"] == 2
    assert daily.loc["E", "spend_total"] == pytest.approx(10.0 + 6.0 + 12.0)
    assert daily.loc["E", "refund_total"] == 0.0
    assert "Z" not in daily.index


def test_btyd_empty_input_typed(duckdb_engine):
    events = make_events([line("V", "view", "2024-01-02")])

    summary = collect_btyd(duckdb_engine, register_events(duckdb_engine, events), AS_OF)

    assert summary.empty
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert summary.dtypes.astype(str).to_dict() == {
        "customer_id": summary["customer_id"].dtype.name,
        **SUMMARY_DTYPES,
    }


def test_btyd_rejects_unknown_period(duckdb_engine):
    table = register_events(duckdb_engine, tiny_events())

    with pytest.raises(ValueError, match="invalid period 'M'"):
        btyd_table(table, AS_OF, "M")


@pytest.mark.parametrize("period", ["D", "W"])
@pytest.mark.parametrize("case", sorted(EVENT_CASES))
def test_btyd_matches_pandas(duckdb_engine, case, period):
    build, as_of = EVENT_CASES[case]
    events = build()

    summary = collect_btyd(
        duckdb_engine, register_events(duckdb_engine, events), as_of, period
    )

    assert_same_table(summary, pandas_btyd(events, as_of, period))


def test_btyd_summary_keeps_id_dtype(duckdb_engine):
    events = shop_events()

    summary = btyd_summary(events, SHOP_AS_OF, "W", duckdb_engine)

    assert summary["customer_id"].dtype == events["customer_id"].dtype
    assert_same_table(summary, pandas_btyd(events, SHOP_AS_OF, "W"))


@pytest.mark.parametrize("period", ["D", "W"])
def test_period_index_matches_pandas(duckdb_engine, period):
    stamps = pd.Series(
        pd.to_datetime(
            [
                "1969-12-28 23:59:59.999999",
                "1969-12-29",
                "1970-01-01",
                "1970-01-04 23:00",
                "1970-01-05",
                "2024-01-07 23:59:59",
                "2024-01-08 00:00:01",
            ],
            utc=True,
            format="ISO8601",
        ),
        index=[10, 11, 12, 13, 14, 15, 16],
    )

    periods = period_index(stamps, period, duckdb_engine)

    pd.testing.assert_series_equal(periods, pandas_period(stamps, period))


def test_period_index_rejects_missing_timestamp(duckdb_engine):
    stamps = pd.Series(pd.to_datetime(["2024-01-01", None], utc=True))

    with pytest.raises(ValueError, match="contain 1 missing values"):
        period_index(stamps, "D", duckdb_engine)


# Spark local[2]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(RFM_CASES))
def test_spark_rfm_matches_duckdb(duckdb_engine, spark_engine, case):
    behaviour = RFM_CASES[case]()

    on_spark = run_rfm(spark_engine, behaviour)

    pd.testing.assert_frame_equal(on_spark, run_rfm(duckdb_engine, behaviour))


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(EVENT_CASES))
def test_spark_discount_shares_match_duckdb(duckdb_engine, spark_engine, case):
    build, _ = EVENT_CASES[case]
    events = build()

    on_spark = collect_discount_shares(
        spark_engine, register_events(spark_engine, events)
    )
    on_duckdb = collect_discount_shares(
        duckdb_engine, register_events(duckdb_engine, events)
    )
    population_spark = collect_population_discount_share(
        spark_engine, register_events(spark_engine, events)
    )
    population_duckdb = collect_population_discount_share(
        duckdb_engine, register_events(duckdb_engine, events)
    )

    # The money sums are exact decimals, so even the floats match exactly.
    pd.testing.assert_frame_equal(on_spark, on_duckdb, check_exact=True)
    assert population_spark == population_duckdb


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(EVENT_CASES))
def test_spark_btyd_matches_duckdb(duckdb_engine, spark_engine, case):
    build, as_of = EVENT_CASES[case]
    events = build()
    on_spark = register_events(spark_engine, events)
    on_duckdb = register_events(duckdb_engine, events)

    # The money sums are exact decimals, so even the floats match exactly.
    for period in ("D", "W"):
        pd.testing.assert_frame_equal(
            collect_btyd(spark_engine, on_spark, as_of, period),
            collect_btyd(duckdb_engine, on_duckdb, as_of, period),
            check_exact=True,
        )


@pytest.mark.slow
def test_spark_profile_functions_match_duckdb(duckdb_engine, spark_engine):
    events = shop_events(seed=8)
    behaviour = behaviour_features(events, SHOP_AS_OF, duckdb_engine)

    pd.testing.assert_frame_equal(
        rfm_scores(behaviour, spark_engine), rfm_scores(behaviour, duckdb_engine)
    )
    assert_same_table(
        discount_sensitivity(events, behaviour.index, spark_engine),
        discount_sensitivity(events, behaviour.index, duckdb_engine),
    )
    assert_same_table(
        btyd_summary(events, SHOP_AS_OF, "D", spark_engine),
        btyd_summary(events, SHOP_AS_OF, "D", duckdb_engine),
    )
    pd.testing.assert_series_equal(
        period_index(events["timestamp"], "W", spark_engine),
        period_index(events["timestamp"], "W", duckdb_engine),
    )
