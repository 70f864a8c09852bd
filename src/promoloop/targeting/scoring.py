r"""Targeting score of each eligible (customer, promotion) pair.

Until uplift models trained on past campaigns exist, the score is a
transparent ESTIMATE built from the customer's profile and purchase history,
and every row says so with ``score_source = "profile_estimate"``.

For customer :math:`c` and promotion :math:`p` with validity window of
:math:`D` days left at the decision date:

- ``orders_in_window`` :math:`n = E[\text{purchases}] \cdot D / H`, with
  :math:`H` the horizon of ``expected_purchases`` (``config.value.horizon_days``).
  BG/NBD's expectation already folds in the chance that the customer is
  still active.
- ``scope_share`` :math:`f`: share of the customer's past orders that contain
  the promotion's scope (for a bundle, all of its items). A customer without
  orders gets their share of category or brand interest instead.
- ``p_base`` :math:`= 1 - e^{-n f}`: chance of buying in scope anyway, as a
  Poisson process of in-scope orders.
- ``basket_value`` :math:`b`: regular value (paid + discount) spent in scope
  per in-scope order, the customer's own mean when they have one, else the
  shop's mean. Scope ``all`` uses ``avg_order_value``, a bundle the sum of
  its item prices. Incremental orders must reach ``min_spend`` :math:`m`, so
  they are worth :math:`b' = \max(b, m)`.
- ``qualify_share`` :math:`q`: share of the customer's in-scope orders that
  reach ``min_spend`` (the shop's share when they have none).
- ``discount_given`` :math:`g`: percent_off gives :math:`v/100 \cdot b'`,
  the other kinds give their value :math:`v`. ``discount_depth``
  :math:`d = g / b'`.
- ``uplift_probability`` :math:`\Delta p = a (1 - p_0) R (1 - e^{-E s d})`
  with :math:`a` = ``p_alive``, :math:`s` = ``discount_sensitivity`` (1.0 =
  population average, missing taken as 1.0), and the named constants
  :math:`R` = ``config.targeting.uplift_max_response`` and :math:`E` =
  ``config.targeting.uplift_elasticity``. Deeper discounts and more
  sensitive customers convert more non-buyers, with diminishing returns.
- ``gross_incremental_margin`` :math:`= \Delta p \cdot b' \cdot r`, with
  :math:`r` the mean margin rate of the scope's items.
- ``subsidy_cost`` :math:`= p_0 q (g_0 + h)`: discounts paid to customers
  who would have bought anyway, with :math:`g_0` the discount on their usual
  basket and :math:`h` the redemption handling cost. This is the main reason
  coupons lose money.
- ``incremental_discount`` :math:`= \Delta p (g + h)`.
- ``expected_cost`` :math:`=` subsidy + incremental discount +
  ``message_cost``: what the campaign budget pays.
- ``expected_incremental_margin`` :math:`=` gross incremental margin minus
  the discounts, and ``score`` = gross incremental margin minus
  ``expected_cost``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from promoloop.config import TargetingConfig
from promoloop.targeting.promotions import (
    Promotion,
    PromotionKind,
    PromotionPlan,
    ScopeType,
)
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

logger = logging.getLogger(__name__)

PROFILE_ESTIMATE = "profile_estimate"
SCORE_SOURCE = "score_source"

#: Columns of the scored pairs table, in order, after the three ids.
SCORE_PARTS = [
    "window_days",
    "orders_in_window",
    "scope_share",
    "p_base",
    "qualify_share",
    "basket_value",
    "discount_given",
    "discount_depth",
    "uplift_probability",
    "expected_redemptions",
    "margin_rate",
    "gross_incremental_margin",
    "subsidy_cost",
    "incremental_discount",
    "message_cost",
    "expected_cost",
    "expected_incremental_margin",
    C.score,
]


def score_pairs(
    pairs: pd.DataFrame,
    profiles: pd.DataFrame,
    interest: pd.DataFrame | None,
    events: pd.DataFrame,
    items: pd.DataFrame,
    plan: PromotionPlan,
    config: TargetingConfig,
    as_of: pd.Timestamp,
    horizon_days: int = 365,
) -> pd.DataFrame:
    """Estimate the incremental margin and cost of each (customer, promotion) pair.

    Parameters
    ----------
    pairs : DataFrame
        Pairs to score with ``customer_id``, ``campaign_id`` and
        ``promotion_id``; other columns are kept.
    profiles : DataFrame
        One row per customer with ``avg_order_value``, ``expected_purchases``,
        ``p_alive`` and ``discount_sensitivity``.
    interest : DataFrame or None
        Long table [customer_id, dimension, value, score], used for customers
        without past orders.
    events : DataFrame
        Canonical events; purchase lines give the in-scope history.
    items : DataFrame
        Canonical items with ``category``, ``brand``, ``price`` and
        ``margin_rate`` (missing rates take ``config.default_margin_rate``).
    plan : PromotionPlan
        The promotions of the pairs.
    config : TargetingConfig
        Margin default and the uplift constants.
    as_of : Timestamp
        Decision date; the window left runs from it to the validity end.
    horizon_days : int, default 365
        Horizon of the profiles' ``expected_purchases`` in days.

    Returns
    -------
    DataFrame
        ``pairs`` with the columns of :data:`SCORE_PARTS` and
        ``score_source``.
    """
    history = _PurchaseHistory(events, items)
    profile = profiles.set_index(C.customer_id)
    parts = []
    for promotion_id, group in pairs.groupby(C.promotion_id, sort=False):
        campaign, promotion = plan.promotion(str(promotion_id))
        start = max(pd.Timestamp(as_of).date(), campaign.validity.start)
        window_days = max((campaign.validity.end - start).days + 1, 0)
        scored = _score_promotion(
            group,
            promotion,
            window_days,
            profile,
            interest,
            history,
            items,
            config,
            horizon_days,
        )
        parts.append(scored)
    if not parts:
        empty = pairs.copy()
        for column in SCORE_PARTS:
            empty[column] = pd.Series(dtype=float)
        empty[SCORE_SOURCE] = pd.Series(dtype="string")
        return empty
    out = pd.concat(parts).loc[pairs.index]
    out[SCORE_SOURCE] = PROFILE_ESTIMATE
    return out


class _PurchaseHistory:
    """Purchase lines with each line's regular value and item attributes."""

    def __init__(self, events: pd.DataFrame, items: pd.DataFrame) -> None:
        purchases = events[
            (events[C.event_type] == EventType.PURCHASE) & events[C.customer_id].notna()
        ]
        lines = purchases[[C.customer_id, C.order_id, C.item_id]].copy()
        lines["value"] = (
            purchases[C.amount].fillna(0) + purchases[C.discount].fillna(0)
        ).to_numpy()
        attributes = items.set_index(C.item_id)
        for column in (C.category, C.brand):
            lines[column] = lines[C.item_id].map(attributes[column])
        self.lines = lines
        self.orders_per_customer = lines.groupby(C.customer_id)[C.order_id].nunique()

    def scope_orders(self, promotion: Promotion) -> pd.DataFrame:
        """Return one row per past order containing the scope, with its value."""
        scope_type, values = promotion.scope_items()
        lines = self.lines
        if scope_type == ScopeType.CATEGORIES:
            lines = lines[lines[C.category].isin(values)]
        elif scope_type == ScopeType.BRANDS:
            lines = lines[lines[C.brand].isin(values)]
        elif scope_type == ScopeType.ITEMS:
            lines = lines[lines[C.item_id].isin(values)]
        orders = lines.groupby([C.customer_id, C.order_id]).agg(
            value=("value", "sum"), distinct_items=(C.item_id, "nunique")
        )
        if promotion.kind == PromotionKind.BUNDLE:
            # A bundle is bought only when one order contains all its items.
            orders = orders[orders["distinct_items"] >= len(set(values))]
        return orders.reset_index()


def _score_promotion(
    pairs: pd.DataFrame,
    promotion: Promotion,
    window_days: int,
    profile: pd.DataFrame,
    interest: pd.DataFrame | None,
    history: _PurchaseHistory,
    items: pd.DataFrame,
    config: TargetingConfig,
    horizon_days: int,
) -> pd.DataFrame:
    out = pairs.copy()
    customers = out[C.customer_id]

    def from_profile(column: str, default: float) -> np.ndarray:
        if column not in profile.columns:
            return np.full(len(out), default)
        values = pd.to_numeric(customers.map(profile[column]), errors="coerce")
        return values.fillna(default).to_numpy(dtype=float)

    # Purchase rate in the window and the share of orders in scope.
    expected_purchases = from_profile("expected_purchases", 0.0)
    orders_in_window = np.clip(expected_purchases, 0, None) * window_days / horizon_days
    scope_orders = history.scope_orders(promotion)
    scope_orders["qualifies"] = scope_orders["value"] >= promotion.min_spend
    per_customer = scope_orders.groupby(C.customer_id).agg(
        orders=(C.order_id, "nunique"),
        value=("value", "mean"),
        qualifying=("qualifies", "mean"),
    )
    all_orders = customers.map(history.orders_per_customer).fillna(0).to_numpy()
    in_scope = customers.map(per_customer["orders"]).fillna(0).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(all_orders > 0, in_scope / all_orders, np.nan)
    share = np.where(
        np.isnan(share), _interest_share(customers, interest, promotion), share
    )
    p_base = 1.0 - np.exp(-orders_in_window * share)

    # Basket value in scope, and the share of baskets reaching min_spend.
    basket = _basket_value(promotion, customers, per_customer, scope_orders, items)
    if promotion.scope_items()[0] == ScopeType.ALL and "avg_order_value" in profile:
        average = pd.to_numeric(customers.map(profile["avg_order_value"]))
        basket = np.where(average.notna(), average.to_numpy(dtype=float), basket)
    shop_qualify = float(scope_orders["qualifies"].mean()) if len(scope_orders) else 0
    qualify = customers.map(per_customer["qualifying"]).fillna(shop_qualify)
    qualify = qualify.to_numpy(dtype=float)
    incremental_basket = np.maximum(basket, promotion.min_spend)

    # Discount given per redemption and its depth.
    discount_base, discount_incremental = _discounts(
        promotion, basket, incremental_basket
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(
            incremental_basket > 0, discount_incremental / incremental_basket, 0.0
        )

    # Uplift in the chance of buying: the documented response curve.
    p_alive = np.clip(from_profile("p_alive", 1.0), 0, 1)
    sensitivity = np.clip(from_profile("discount_sensitivity", 1.0), 0, None)
    response = 1.0 - np.exp(-config.uplift_elasticity * sensitivity * depth)
    uplift = p_alive * (1.0 - p_base) * config.uplift_max_response * response

    # Margin, subsidy and cost.
    margin_rate = _margin_rate(promotion, items, config.default_margin_rate)
    handling = promotion.cost.redemption_cost
    gross = uplift * incremental_basket * margin_rate
    subsidy = p_base * qualify * (discount_base + handling)
    incremental_discount = uplift * (discount_incremental + handling)
    message_cost = promotion.cost.message_cost
    expected_cost = subsidy + incremental_discount + message_cost

    out["window_days"] = float(window_days)
    out["orders_in_window"] = orders_in_window
    out["scope_share"] = share
    out["p_base"] = p_base
    out["qualify_share"] = qualify
    out["basket_value"] = basket
    out["discount_given"] = discount_incremental
    out["discount_depth"] = depth
    out["uplift_probability"] = uplift
    out["expected_redemptions"] = p_base * qualify + uplift
    out["margin_rate"] = margin_rate
    out["gross_incremental_margin"] = gross
    out["subsidy_cost"] = subsidy
    out["incremental_discount"] = incremental_discount
    out["message_cost"] = message_cost
    out["expected_cost"] = expected_cost
    out["expected_incremental_margin"] = gross - subsidy - incremental_discount
    out[C.score] = gross - expected_cost
    return out


def _interest_share(customers, interest, promotion: Promotion) -> np.ndarray:
    """Share of a customer's category or brand interest that is in scope."""
    scope_type, values = promotion.scope_items()
    dimension = {ScopeType.CATEGORIES: "category", ScopeType.BRANDS: "brand"}
    if scope_type == ScopeType.ALL:
        return np.ones(len(customers))
    if interest is None or interest.empty or scope_type not in dimension:
        return np.zeros(len(customers))
    rows = interest[interest["dimension"] == dimension[scope_type]]
    positive = rows[C.score].clip(lower=0)
    total = positive.groupby(rows[C.customer_id]).sum()
    inside = positive[rows["value"].isin(values)].groupby(rows[C.customer_id]).sum()
    share = (inside / total).where(total > 0)
    return customers.map(share).fillna(0.0).to_numpy(dtype=float)


def _basket_value(promotion, customers, per_customer, scope_orders, items):
    if promotion.kind == PromotionKind.BUNDLE:
        prices = items.set_index(C.item_id)[C.price].reindex(promotion.items)
        # NOTE: a bundle item without a catalog price counts as 0, so its
        # basket value is understated rather than guessed.
        return np.full(len(customers), float(prices.fillna(0).sum()))
    shop_mean = float(scope_orders["value"].mean()) if len(scope_orders) else 0.0
    return customers.map(per_customer["value"]).fillna(shop_mean).to_numpy(dtype=float)


def _discounts(promotion: Promotion, basket, incremental_basket):
    """Return the discount on a usual basket and on an incremental one."""
    if promotion.kind == PromotionKind.PERCENT_OFF:
        rate = promotion.value / 100.0
        return rate * basket, rate * incremental_basket
    value = np.full(len(basket), promotion.value)
    return value, value


def _margin_rate(promotion: Promotion, items: pd.DataFrame, default: float) -> float:
    scope_type, values = promotion.scope_items()
    selected = items
    if scope_type == ScopeType.CATEGORIES:
        selected = items[items[C.category].isin(values)]
    elif scope_type == ScopeType.BRANDS:
        selected = items[items[C.brand].isin(values)]
    elif scope_type == ScopeType.ITEMS:
        selected = items[items[C.item_id].isin(values)]
    if C.margin_rate not in selected.columns or selected.empty:
        return default
    return float(pd.to_numeric(selected[C.margin_rate]).fillna(default).mean())
