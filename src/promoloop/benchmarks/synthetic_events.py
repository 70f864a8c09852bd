"""Seeded synthetic shop: an items table and canonical events, one day at a time.

The shop has the shapes that make behaviour features costly and realistic:

- Item popularity is long-tailed: an item's chance to be picked is
  proportional to ``1 / rank ** zipf_exponent`` (Zipf), with ranks shuffled
  over item ids.
- Customers buy at heterogeneous rates: each known customer's rate of
  purchase orders is drawn from a gamma distribution, and orders arrive as a
  Poisson process, so order counts per customer are gamma-Poisson (negative
  binomial). A share of orders is placed by guests without a customer id.
- Customers repeat purchases: each has a few favourite items (drawn by
  popularity), and a share of their lines comes from them.
- Demand has weekly and yearly seasonality (weekend peak, late-November
  peak) and an evening peak within the day.
- Orders have 1 + Poisson lines, units per line are 1 + Poisson, a share
  of lines has a discount, and a share of lines is returned some days later
  (full refund of the line, same order id).
- Every purchased line is preceded the same day by views and a cart of that
  item. Browse sessions without a purchase add views and abandoned carts,
  part of them anonymous.

Every day draws from its own random stream, derived from ``seed`` and the
day number, so a day's events do not depend on how the days are grouped
into chunks. Returns scheduled for a later day are carried forward. No
reviews are generated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from promoloop.errors import ConfigError
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

SECONDS_PER_DAY = 86_400
MICROSECONDS_PER_SECOND = 1_000_000

# Relative demand by weekday, Monday first; the mean is 1.
WEEKDAY_DEMAND = np.array([0.92, 0.90, 0.93, 0.97, 1.05, 1.15, 1.08])
WEEKDAY_DEMAND = WEEKDAY_DEMAND / WEEKDAY_DEMAND.mean()

# Relative demand by hour of the day (UTC), with an evening peak.
HOUR_DEMAND = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.2, 2.6, 2.8, 3.0]
    + [3.2, 3.1, 3.0, 3.0, 3.2, 3.6, 4.2, 4.8, 5.0, 4.4, 3.2, 1.8]
)
HOUR_SHARE = HOUR_DEMAND / HOUR_DEMAND.sum()

# Day of the year of the yearly demand peak (late November).
YEARLY_PEAK_DAY = 330

CHANNELS = np.array(["web", "app", "store"])
ORDER_CHANNEL_SHARE = np.array([0.55, 0.30, 0.15])
SESSION_CHANNEL_SHARE = np.array([0.65, 0.35, 0.0])

# Event type codes used while a day is assembled.
EVENT_TYPES = np.array(
    [EventType.VIEW, EventType.CART, EventType.PURCHASE, EventType.RETURN]
)
VIEW, CART, PURCHASE, RETURN = range(4)

EVENT_SCHEMA = pa.schema(
    [
        (C.event_id, pa.string()),
        (C.customer_id, pa.string()),
        (C.item_id, pa.string()),
        (C.event_type, pa.string()),
        (C.quantity, pa.float64()),
        (C.amount, pa.float64()),
        (C.discount, pa.float64()),
        (C.timestamp, pa.timestamp("us", tz="UTC")),
        (C.channel, pa.string()),
        (C.order_id, pa.string()),
    ]
)


@dataclass(frozen=True)
class ShopConfig:
    """Size and behaviour of a synthetic shop.

    Rates are per known customer unless stated. :func:`shop_for_events`
    sizes a shop for a target number of events.
    """

    n_customers: int = 10_000
    n_items: int = 5_000
    start: str = "2024-01-01"  # first day, UTC
    days: int = 365
    seed: int = 0

    orders_per_year: float = 3.0  # mean purchase orders per known customer
    rate_shape: float = 0.5  # gamma shape of customer rates; lower is more uneven
    guest_order_share: float = 0.03  # orders placed without a customer id

    zipf_exponent: float = 1.05
    n_categories: int = 40
    n_brands: int = 300
    favourite_items: int = 8  # items each customer tends to buy again
    repeat_share: float = 0.4  # share of a known customer's lines from favourites

    lines_per_order: float = 2.5  # mean lines per order
    extra_units_per_line: float = 0.3  # units per line are 1 + Poisson(this)
    discount_line_share: float = 0.2  # share of lines with a discount
    discount_rate_range: tuple[float, float] = (0.1, 0.4)
    return_share: float = 0.06  # share of purchase lines returned
    return_delay_days: float = 8.0  # mean days from purchase to return (>= 1)

    views_per_line: float = 2.0  # mean views of a bought item beyond the first
    browse_sessions_per_order: float = 1.5  # sessions without a purchase
    views_per_session: float = 3.0  # mean views in a browse session (>= 1)
    session_cart_share: float = 0.3  # browse sessions that end with a cart
    anonymous_session_share: float = 0.3  # browse sessions without customer id

    weekly_amplitude: float = 1.0  # 0 flattens the weekday profile
    yearly_amplitude: float = 0.25  # relative height of the late-November peak

    def validate(self) -> None:
        """Raise ConfigError for a value outside its range."""
        positive = ["n_customers", "n_items", "days", "lines_per_order"]
        positive += ["orders_per_year", "rate_shape", "return_delay_days"]
        positive += ["views_per_session", "favourite_items"]
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(
                    f"{name} must be above 0, got {getattr(self, name)!r}"
                )
        shares = ["guest_order_share", "repeat_share", "discount_line_share"]
        shares += ["return_share", "session_cart_share", "anonymous_session_share"]
        for name in shares:
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(
                    f"{name} must be in [0, 1), got {getattr(self, name)!r}"
                )
        if self.lines_per_order < 1 or self.views_per_session < 1:
            raise ConfigError(
                "lines_per_order and views_per_session must be at least 1, got "
                f"{self.lines_per_order!r} and {self.views_per_session!r}"
            )
        low, high = self.discount_rate_range
        if not 0 <= low <= high < 1:
            raise ConfigError(
                f"discount_rate_range must satisfy 0 <= low <= high < 1, got "
                f"{self.discount_rate_range!r}"
            )

    @property
    def first_day(self) -> pd.Timestamp:
        """Midnight UTC of the first day."""
        return pd.Timestamp(self.start, tz="UTC").normalize()


def events_per_order(config: ShopConfig) -> float:
    """Return the expected number of events that come with one purchase order.

    Counts the order's purchase lines, their carts, views and returns, and
    the browse sessions (views and carts) that accompany each order.
    """
    per_line = 1 + 1 + (1 + config.views_per_line) + config.return_share
    per_session = config.views_per_session + config.session_cart_share
    return config.lines_per_order * per_line + (
        config.browse_sessions_per_order * per_session
    )


def expected_events(config: ShopConfig) -> float:
    """Return the expected number of events of a shop (returns past the end count)."""
    known_orders = config.n_customers * config.orders_per_year * config.days / 365
    all_orders = known_orders / (1 - config.guest_order_share)
    return all_orders * events_per_order(config)


def shop_for_events(n_events: int, **settings: object) -> ShopConfig:
    """Size a shop so that it generates about ``n_events`` events.

    Parameters
    ----------
    n_events : int
        Target number of events; the generated count is random around it.
    **settings
        Other :class:`ShopConfig` fields. ``n_items`` defaults to one item
        per 2,000 events, at least 1,000.

    Returns
    -------
    ShopConfig
    """
    base = ShopConfig(**settings)  # type: ignore[arg-type]
    per_customer = expected_events(replace(base, n_customers=1))
    n_items = settings.get("n_items", max(1_000, n_events // 2_000))
    config = replace(
        base,
        n_customers=max(1, round(n_events / per_customer)),
        n_items=int(n_items),  # type: ignore[call-overload]
    )
    config.validate()
    return config


def generate_items(config: ShopConfig) -> pd.DataFrame:
    """Draw the items table: id, name, category, brand, price and margin rate."""
    rng = _stream(config, "items")
    n = config.n_items
    category = rng.choice(config.n_categories, n, p=_zipf_shares(config.n_categories))
    brand = rng.choice(config.n_brands, n, p=_zipf_shares(config.n_brands))
    # Each category has its own median price; items vary around it.
    category_median = np.exp(rng.normal(np.log(12.0), 0.8, config.n_categories))
    price = np.round(category_median[category] * rng.lognormal(0, 0.5, n), 2)
    ids = _ids("i", np.arange(n))
    return pd.DataFrame(
        {
            C.item_id: ids.to_pandas(),
            C.name: _ids("Item ", np.arange(n)).to_pandas(),
            C.category: _ids("category-", category).to_pandas(),
            C.brand: _ids("brand-", brand).to_pandas(),
            C.price: np.maximum(price, 0.05),
            C.margin_rate: np.round(rng.uniform(0.15, 0.5, n), 3),
        }
    )


class EventGenerator:
    """Generate a shop's events one UTC day at a time.

    Parameters
    ----------
    config : ShopConfig
        The shop; validated on construction.
    """

    def __init__(self, config: ShopConfig) -> None:
        config.validate()
        self.config = config
        items = generate_items(config)
        self._price = items[C.price].to_numpy()
        self._item_cdf = _cdf(_item_popularity(config))

        # Customers: purchase rates and favourite items
        rng = _stream(config, "customers")
        rate_mean = config.orders_per_year / 365
        scale = rate_mean / config.rate_shape
        rates = rng.gamma(config.rate_shape, scale, config.n_customers)
        self._known_orders_per_day = float(rates.sum())
        self._guest_orders_per_day = self._known_orders_per_day * (
            config.guest_order_share / (1 - config.guest_order_share)
        )
        self._customer_cdf = _cdf(rates)
        self._favourites = _draw(
            rng, self._item_cdf, (config.n_customers, config.favourite_items)
        ).astype(np.int32)
        self._season = _seasonality(config)
        self._pending_returns: dict[int, list[dict[str, np.ndarray]]] = {}
        self._next_day = 0

    def days(self) -> Iterator[tuple[pd.Timestamp, pa.Table]]:
        """Yield ``(day, events)`` for every day, in order.

        Each table has the canonical events columns (see
        :data:`EVENT_SCHEMA`) sorted by timestamp, and all its timestamps
        fall on that UTC day.
        """
        while self._next_day < self.config.days:
            day = self._next_day
            self._next_day += 1
            yield self.config.first_day + pd.Timedelta(days=day), self._day(day)

    # One day

    def _day(self, day: int) -> pa.Table:
        rng = _stream(self.config, "day", day)
        orders = self._orders(rng, day)
        lines = self._lines(rng, day, orders)
        self._schedule_returns(rng, day, lines)
        parts = [
            *self._before_purchase(rng, lines),
            lines,
            *self._browse_sessions(rng, day),
            *self._pending_returns.pop(day, []),
        ]
        return self._to_table(day, parts)

    def _orders(self, rng: np.random.Generator, day: int) -> dict[str, np.ndarray]:
        season = self._season[day]
        n_known = rng.poisson(self._known_orders_per_day * season)
        n_guest = rng.poisson(self._guest_orders_per_day * season)
        known = _draw(rng, self._customer_cdf, n_known)
        customer = np.concatenate([known, np.full(n_guest, -1)])
        n = len(customer)
        return {
            "customer": customer,
            "second": _seconds_of_day(rng, n),
            "channel": rng.choice(len(CHANNELS), n, p=ORDER_CHANNEL_SHARE),
        }

    def _lines(
        self, rng: np.random.Generator, day: int, orders: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        config = self.config
        n_orders = len(orders["customer"])
        line_counts = 1 + rng.poisson(config.lines_per_order - 1, n_orders)
        order = np.repeat(np.arange(n_orders), line_counts)
        customer = orders["customer"][order]
        n = len(order)

        # Items: favourites for repeat lines, popularity draws for the rest
        item = _draw(rng, self._item_cdf, n)
        repeat = (customer >= 0) & (rng.random(n) < config.repeat_share)
        slot = rng.integers(0, config.favourite_items, int(repeat.sum()))
        item[repeat] = self._favourites[customer[repeat], slot]

        # Units, regular value and discounts, in cents
        quantity = 1 + rng.poisson(config.extra_units_per_line, n)
        regular = np.round(self._price[item] * quantity, 2)
        low, high = config.discount_rate_range
        rate = rng.uniform(low, high, n) * (rng.random(n) < config.discount_line_share)
        discount = np.round(regular * rate, 2)
        return {
            "type": np.full(n, PURCHASE),
            "customer": customer,
            "item": item,
            "order": order,
            "order_day": np.full(n, day),
            "quantity": quantity.astype("float64"),
            "amount": regular - discount,
            "discount": discount,
            "second": orders["second"][order],
            "channel": orders["channel"][order],
        }

    def _schedule_returns(
        self, rng: np.random.Generator, day: int, lines: dict[str, np.ndarray]
    ) -> None:
        n = len(lines["item"])
        returned = rng.random(n) < self.config.return_share
        delay = rng.geometric(1 / self.config.return_delay_days, n)
        second = _seconds_of_day(rng, n)
        for return_day in np.unique(day + delay[returned]):
            if return_day >= self.config.days:
                continue  # returned after the observation window
            rows = returned & (day + delay == return_day)
            part = {key: values[rows] for key, values in lines.items()}
            part["type"] = np.full(int(rows.sum()), RETURN)
            part["discount"] = np.zeros(int(rows.sum()))
            part["second"] = second[rows]
            self._pending_returns.setdefault(int(return_day), []).append(part)

    def _before_purchase(
        self, rng: np.random.Generator, lines: dict[str, np.ndarray]
    ) -> list[dict[str, np.ndarray]]:
        """Return the views and the cart of each purchased line, earlier that day."""
        n = len(lines["item"])
        # Leads before the purchase: up to 15 min for the cart and up to an
        # hour for views, shortened near midnight to stay on the same day
        carts = _browse_rows(lines, np.arange(n), CART)
        cart_lead = rng.random(n) * np.minimum(900, lines["second"])
        carts["second"] = lines["second"] - cart_lead

        view_counts = 1 + rng.poisson(self.config.views_per_line, n)
        source = np.repeat(np.arange(n), view_counts)
        views = _browse_rows(lines, source, VIEW)
        bought_at = lines["second"][source]
        views["second"] = bought_at - rng.random(len(source)) * np.minimum(
            3_600, bought_at
        )
        return [views, carts]

    def _browse_sessions(
        self, rng: np.random.Generator, day: int
    ) -> list[dict[str, np.ndarray]]:
        """Return views and abandoned carts of sessions that buy nothing."""
        config = self.config
        orders_per_day = self._known_orders_per_day + self._guest_orders_per_day
        mean_sessions = orders_per_day * config.browse_sessions_per_order
        n = rng.poisson(mean_sessions * self._season[day])
        customer = _draw(rng, self._customer_cdf, n)
        customer[rng.random(n) < config.anonymous_session_share] = -1
        sessions = {
            "customer": customer,
            "second": _seconds_of_day(rng, n),
            "channel": rng.choice(len(CHANNELS), n, p=SESSION_CHANNEL_SHARE),
            "item": np.zeros(n, dtype=np.int64),
        }

        # Views: consecutive pages 10 s to 2 min apart, within the day
        view_counts = 1 + rng.poisson(config.views_per_session - 1, n)
        session = np.repeat(np.arange(n), view_counts)
        views = _browse_rows(sessions, session, VIEW)
        views["item"] = _draw(rng, self._item_cdf, len(session))
        step = rng.uniform(10, 120, len(session))
        offset = _within_group_cumsum(step, view_counts)
        views["second"] = np.minimum(
            sessions["second"][session] + offset, SECONDS_PER_DAY - 1
        )

        # Abandoned carts: the last item viewed, a minute after the view
        last_view = np.cumsum(view_counts) - 1
        cart_session = rng.random(n) < config.session_cart_share
        carts = _browse_rows(sessions, np.flatnonzero(cart_session), CART)
        carts["item"] = views["item"][last_view[cart_session]]
        carts["second"] = np.minimum(
            views["second"][last_view[cart_session]] + 60, SECONDS_PER_DAY - 1
        )
        return [views, carts]

    def _to_table(self, day: int, parts: list[dict[str, np.ndarray]]) -> pa.Table:
        columns = {
            key: np.concatenate([part[key] for part in parts])
            for key in ("type", "customer", "item", "order", "order_day")
            + ("quantity", "amount", "discount", "second", "channel")
        }
        microsecond = np.floor(columns["second"] * MICROSECONDS_PER_SECOND)
        order = np.argsort(microsecond, kind="stable")
        columns = {key: values[order] for key, values in columns.items()}

        day_start = self.config.first_day + pd.Timedelta(days=day)
        start_us = day_start.value // 1_000
        timestamp = start_us + microsecond[order].astype("int64")
        has_order = columns["order"] >= 0
        order_id = _ids("o", columns["order_day"], mask=~has_order)
        order_id = pc.binary_join_element_wise(
            order_id, pc.cast(pa.array(columns["order"]), pa.string()), "-"
        )
        position = np.arange(len(timestamp))
        return pa.table(
            {
                C.event_id: _ids(f"e{day}-", position),
                C.customer_id: _ids("c", columns["customer"], columns["customer"] < 0),
                C.item_id: _ids("i", columns["item"]),
                C.event_type: pa.array(EVENT_TYPES[columns["type"]].astype(str)),
                C.quantity: columns["quantity"],
                C.amount: np.round(columns["amount"], 2),
                C.discount: columns["discount"],
                C.timestamp: pa.array(timestamp, pa.timestamp("us", tz="UTC")),
                C.channel: pa.array(CHANNELS[columns["channel"]].astype(str)),
                C.order_id: order_id,
            },
            schema=EVENT_SCHEMA,
        )


# Random streams and draws


def _stream(config: ShopConfig, purpose: str, day: int = 0) -> np.random.Generator:
    purposes = {"items": 0, "customers": 1, "day": 2}
    sequence = np.random.SeedSequence(config.seed, spawn_key=(purposes[purpose], day))
    return np.random.default_rng(sequence)


def _zipf_shares(n: int, exponent: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def _item_popularity(config: ShopConfig) -> np.ndarray:
    """Return each item's Zipf share, with ranks shuffled over item ids."""
    shares = _zipf_shares(config.n_items, config.zipf_exponent)
    rank = _stream(config, "items", 1).permutation(config.n_items)
    return shares[rank]


def _cdf(weights: np.ndarray) -> np.ndarray:
    cumulative = np.cumsum(weights)
    return cumulative / cumulative[-1]


def _draw(rng: np.random.Generator, cdf: np.ndarray, size) -> np.ndarray:
    """Draw indices with probabilities given by a cumulative distribution."""
    index = np.searchsorted(cdf, rng.random(size), side="right")
    return np.minimum(index, len(cdf) - 1).astype(np.int64)


def _seconds_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    hour = rng.choice(24, n, p=HOUR_SHARE)
    return hour * 3_600 + rng.uniform(0, 3_600, n)


def _seasonality(config: ShopConfig) -> np.ndarray:
    """Return each day's demand relative to the mean (weekday times yearly)."""
    dates = pd.date_range(config.first_day, periods=config.days, freq="D")
    weekday = 1 + config.weekly_amplitude * (WEEKDAY_DEMAND[dates.day_of_week] - 1)
    angle = 2 * np.pi * (dates.day_of_year.to_numpy() - YEARLY_PEAK_DAY) / 365.25
    yearly = 1 + config.yearly_amplitude * np.cos(angle)
    return np.asarray(weekday) * yearly


def _within_group_cumsum(values: np.ndarray, group_sizes: np.ndarray) -> np.ndarray:
    """Cumulative sums that restart at each group, groups laid out in order."""
    total = np.cumsum(values)
    starts = np.cumsum(group_sizes) - group_sizes
    before_group = np.repeat(total[starts] - values[starts], group_sizes)
    return total - before_group


def _browse_rows(
    source: dict[str, np.ndarray], index: np.ndarray, event_type: int
) -> dict[str, np.ndarray]:
    """Return view or cart rows that copy customer, item and channel from rows."""
    n = len(index)
    return {
        "type": np.full(n, event_type),
        "customer": source["customer"][index],
        "item": source["item"][index],
        "order": np.full(n, -1),
        "order_day": np.full(n, -1),
        "quantity": np.ones(n),
        "amount": np.zeros(n),
        "discount": np.zeros(n),
        "second": source["second"][index],
        "channel": source["channel"][index],
    }


def _ids(prefix: str, numbers: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Return ``prefix + number`` strings, null where ``mask`` is True."""
    digits = pc.cast(
        pa.array(np.asarray(numbers, dtype=np.int64), mask=mask), pa.string()
    )
    return pc.binary_join_element_wise(prefix, digits, "")
