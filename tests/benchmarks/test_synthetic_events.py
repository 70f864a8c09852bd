"""The synthetic shop: shapes, reproducibility and chunked Parquet writing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from promoloop.benchmarks.synthetic_dataset import (
    cached_shop,
    open_shop,
    read_events,
    read_items,
    write_shop,
)
from promoloop.benchmarks.synthetic_events import (
    EventGenerator,
    ShopConfig,
    expected_events,
    generate_items,
    shop_for_events,
)
from promoloop.data.schema import EVENTS, ITEMS, conform
from promoloop.errors import ConfigError, InputError
from promoloop.vocabulary import Columns as C


def generate(config: ShopConfig) -> pd.DataFrame:
    tables = [table for _, table in EventGenerator(config).days()]
    return pa.concat_tables(tables).to_pandas()


@pytest.fixture(scope="module")
def year() -> tuple[ShopConfig, pd.DataFrame]:
    """About 150,000 events over a year."""
    config = shop_for_events(150_000, seed=5)
    return config, generate(config)


def purchases_of(events: pd.DataFrame) -> pd.DataFrame:
    return events[events[C.event_type] == "purchase"]


# Shapes


def test_event_count_near_expected(year):
    config, events = year

    assert len(events) == pytest.approx(expected_events(config), rel=0.1)
    assert set(events[C.event_type]) == {"view", "cart", "purchase", "return"}


def test_popularity_is_zipf_like(year):
    config, events = year
    counts = purchases_of(events)[C.item_id].value_counts().to_numpy()
    top = counts[:200]
    rank = np.arange(1, len(top) + 1)

    slope = np.polyfit(np.log(rank), np.log(top), 1)[0]
    top_share = counts[: len(counts) // 100].sum() / counts.sum()

    # Favourites are popularity draws too, so the slope stays near -exponent
    assert slope == pytest.approx(-config.zipf_exponent, abs=0.25)
    assert top_share > 0.15  # the top 1% of items sell over 15% of lines


def test_repeat_buyers_and_repeat_items(year):
    _, events = year
    known = purchases_of(events).dropna(subset=[C.customer_id])
    orders = known.groupby(C.customer_id)[C.order_id].nunique()
    orders_per_item = known.groupby([C.customer_id, C.item_id])[C.order_id].nunique()

    assert (orders >= 2).mean() > 0.3
    assert (orders_per_item >= 2).sum() > 1_000


def test_purchase_rates_are_overdispersed(year):
    config, events = year
    known = purchases_of(events).dropna(subset=[C.customer_id])
    orders = known.groupby(C.customer_id)[C.order_id].nunique()
    orders = orders.reindex([f"c{i}" for i in range(config.n_customers)], fill_value=0)

    # Poisson counts have variance = mean; gamma-Poisson counts far more
    assert orders.mean() == pytest.approx(config.orders_per_year, rel=0.15)
    assert orders.var() > 2 * orders.mean()


def test_returns_share_close_to_setting(year):
    config, events = year
    end = config.first_day + pd.Timedelta(days=config.days)
    # Purchases early enough that nearly every return falls in the window
    lines = purchases_of(events)
    early = lines[lines[C.timestamp] < end - pd.Timedelta(days=60)]
    returns = events[events[C.event_type] == "return"]
    early_returns = returns[returns[C.order_id].isin(early[C.order_id])]

    share = len(early_returns) / len(early)

    assert share == pytest.approx(config.return_share, abs=0.01)


def test_returns_follow_their_purchase(year):
    _, events = year
    lines = purchases_of(events)[[C.order_id, C.item_id, C.timestamp, C.amount]]
    returns = events[events[C.event_type] == "return"]
    matched = returns.merge(lines, on=[C.order_id, C.item_id], suffixes=("", "_bought"))

    assert matched[C.order_id].nunique() == returns[C.order_id].nunique()
    assert (matched[C.timestamp] > matched[f"{C.timestamp}_bought"]).all()
    assert (returns[C.amount] >= 0).all()


def test_views_and_carts_precede_purchases(year):
    _, events = year
    lines = purchases_of(events).dropna(subset=[C.customer_id]).head(2_000)
    key = [C.customer_id, C.item_id]
    for kind in ("view", "cart"):
        before = events[events[C.event_type] == kind][[*key, C.timestamp]]
        pairs = lines[[*key, C.timestamp, C.order_id]].merge(
            before, on=key, suffixes=("", "_before")
        )
        earlier_same_day = (pairs[f"{C.timestamp}_before"] <= pairs[C.timestamp]) & (
            pairs[f"{C.timestamp}_before"].dt.date == pairs[C.timestamp].dt.date
        )
        covered = pairs[earlier_same_day].drop_duplicates([*key, C.order_id])

        assert len(covered) == len(lines.drop_duplicates([*key, C.order_id])), kind


def test_weekly_and_yearly_seasonality(year):
    _, events = year
    orders = purchases_of(events).drop_duplicates(C.order_id)
    by_weekday = orders[C.timestamp].dt.day_of_week.value_counts()
    by_month = orders[C.timestamp].dt.month.value_counts()

    assert by_weekday[5] > 1.15 * by_weekday[1]  # Saturday above Tuesday
    assert by_month[11] > 1.3 * by_month[5]  # November above May


def test_discounts_and_anonymous_lines(year):
    config, events = year
    lines = purchases_of(events)
    regular = lines[C.amount] + lines[C.discount]
    discounted = lines[C.discount] > 0
    rate = lines.loc[discounted, C.discount] / regular[discounted]

    assert discounted.mean() == pytest.approx(config.discount_line_share, abs=0.02)
    assert rate.between(0.09, 0.41).all()
    assert lines[C.customer_id].isna().mean() == pytest.approx(
        config.guest_order_share, abs=0.01
    )
    assert events.loc[events[C.event_type] == "view", C.customer_id].isna().any()


def test_events_and_items_conform_to_schema(year):
    config, events = year
    items = generate_items(config)

    conformed = conform(events, EVENTS, source="synthetic")
    conform(items, ITEMS, source="synthetic")

    assert list(events.columns) == EVENTS.names
    assert events[C.event_id].is_unique
    assert set(purchases_of(events)[C.item_id]) <= set(items[C.item_id])
    assert conformed[C.timestamp].dt.tz is not None
    assert (items[C.price] > 0).all()


# Reproducibility and chunks


def test_same_seed_same_events():
    config = shop_for_events(20_000, days=30, seed=1)

    pd.testing.assert_frame_equal(generate(config), generate(config))


def test_other_seed_other_events():
    first = generate(shop_for_events(20_000, days=30, seed=1))
    second = generate(shop_for_events(20_000, days=30, seed=2))

    assert not first[[C.customer_id, C.item_id]].equals(
        second[[C.customer_id, C.item_id]]
    )


def test_chunked_writing_equals_one_chunk(tmp_path):
    # Returns take 8 days on average, so many cross one-day chunk borders
    config = shop_for_events(40_000, days=40, seed=3)
    daily = write_shop(config, tmp_path / "daily", chunk_days=1)
    whole = write_shop(config, tmp_path / "whole", chunk_days=40)
    uneven = write_shop(config, tmp_path / "uneven", chunk_days=7)

    one_chunk = read_events(whole.root)
    pd.testing.assert_frame_equal(read_events(daily.root), one_chunk)
    pd.testing.assert_frame_equal(read_events(uneven.root), one_chunk)
    pd.testing.assert_frame_equal(one_chunk, generate(config))
    assert daily.n_events == len(one_chunk)
    assert daily.event_counts == whole.event_counts


def test_partitions_are_days(tmp_path):
    config = shop_for_events(10_000, days=5, seed=4)
    shop = write_shop(config, tmp_path / "shop", chunk_days=2)
    folders = sorted(p.name for p in shop.events_path.iterdir())
    first = pd.read_parquet(shop.events_path / "date=2024-01-01")

    assert folders == [f"date=2024-01-0{day}" for day in range(1, 6)]
    assert (first[C.timestamp].dt.date == pd.Timestamp("2024-01-01").date()).all()
    assert len(read_items(shop.root)) == config.n_items


def test_cached_shop_reuses_or_rewrites(tmp_path):
    config = shop_for_events(5_000, days=5, seed=4)
    written = cached_shop(config, tmp_path)
    stamp = written.events_path.stat().st_mtime_ns

    reused = cached_shop(config, tmp_path)
    other = cached_shop(shop_for_events(5_000, days=5, seed=9), tmp_path)

    assert reused == written
    assert open_shop(tmp_path) == other
    assert reused.events_path.stat().st_mtime_ns == stamp or other.config.seed == 9
    assert other.config.seed == 9


# Invalid settings


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n_customers": 0}, "n_customers must be above 0"),
        ({"return_share": 1.0}, r"return_share must be in \[0, 1\)"),
        ({"lines_per_order": 0.5}, "lines_per_order and views_per_session"),
        ({"discount_rate_range": (0.5, 0.2)}, "discount_rate_range must satisfy"),
    ],
)
def test_invalid_config_raises(settings, message):
    with pytest.raises(ConfigError, match=message):
        EventGenerator(ShopConfig(**settings))


def test_write_shop_rejects_existing_shop(tmp_path):
    config = shop_for_events(2_000, days=3, seed=1)
    write_shop(config, tmp_path)

    with pytest.raises(InputError, match="already contains a synthetic shop"):
        write_shop(config, tmp_path)
    assert write_shop(config, tmp_path, overwrite=True).n_events > 0


def test_write_shop_rejects_zero_chunk_days(tmp_path):
    with pytest.raises(InputError, match="chunk_days must be at least 1"):
        write_shop(ShopConfig(days=2), tmp_path, chunk_days=0)
