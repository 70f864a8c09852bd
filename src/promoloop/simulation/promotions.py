"""Promotions of the simulator: costs, true response rules, drift and features.

A promotion's true response is a shift of the customer's log-odds of buying
within the window, ``max(0, lift + sum_f lift_weights[f] * z_f)``, where
``z_f`` are the response features of ``RESPONSE_FEATURES``: profile values
on a log scale where they are skewed, standardized over the profile table.
The shift is never negative, so a promotion never lowers the chance to buy.
It can still lose money, because the discount is also paid by customers who
would have bought without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from promoloop.errors import InputError
from promoloop.simulation._checks import check_number

NO_PROMOTION = "none"
"""Name of the action that sends nothing, which costs nothing."""

RESPONSE_FEATURES = (
    "order_value",
    "items_per_order",
    "discount_sensitivity",
    "lapse",
    "frequency",
)
"""Standardized profile features that a promotion's response can depend on.

``order_value`` is log ``avg_order_value``, ``items_per_order`` is log
``basket_size``, ``discount_sensitivity`` is taken as it is, ``lapse`` is
``log1p(recency_days / interpurchase_days)`` (how many usual gaps the
customer is overdue) and ``frequency`` is log ``frequency``.
"""

POLICY_FEATURES = (
    "recency_days",
    "frequency",
    "avg_order_value",
    "basket_size",
    "discount_sensitivity",
    "interpurchase_days",
    "p_alive",
)
"""Profile columns the policies see, standardized (log1p first where skewed)."""

_LOG_SCALED = (
    "recency_days",
    "frequency",
    "avg_order_value",
    "basket_size",
    "interpurchase_days",
)

REQUIRED_COLUMNS = (*POLICY_FEATURES, "tenure_days")
"""Profile columns the simulator reads (``consent`` is optional)."""


@dataclass(frozen=True)
class SimulatedPromotion:
    """A promotion with its cost model and its true response rule.

    Parameters
    ----------
    name : str
        Action name, unique among the promotions and not ``"none"``.
    percent_off : float, default 0.0
        Share of the order value given back on an order made with it, in
        [0, 1).
    amount_off : float, default 0.0
        Fixed discount per order made with it, in dollars. It is paid in
        full, even on an order worth less.
    shipping_cost : float, default 0.0
        Delivery cost the shop pays per order made with it (free shipping),
        in dollars.
    message_cost : float, default 0.0
        Cost of sending the promotion, paid whether or not the customer
        buys, in dollars.
    lift : float, default 0.0
        Log-odds shift of buying for a customer at the mean of every
        response feature.
    lift_weights : mapping of str to float, default {}
        Change of the shift per standard deviation of each response feature
        (keys from ``RESPONSE_FEATURES``).
    spend_lift : float, default 0.0
        Relative change of the order value of an order made with it, > -1.

    Raises
    ------
    InputError
        On an empty or reserved name, a negative cost, ``percent_off``
        outside [0, 1), ``spend_lift`` <= -1, a non-finite number or an
        unknown response feature.
    """

    name: str
    percent_off: float = 0.0
    amount_off: float = 0.0
    shipping_cost: float = 0.0
    message_cost: float = 0.0
    lift: float = 0.0
    lift_weights: Mapping[str, float] = field(default_factory=dict)
    spend_lift: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name == NO_PROMOTION:
            raise InputError(
                "invalid promotion name",
                value=self.name,
                expected=f"a non-empty string other than {NO_PROMOTION!r}",
                fix=f"name the promotion; {NO_PROMOTION!r} is added by the simulator",
            )
        for name in ("amount_off", "shipping_cost", "message_cost"):
            check_number(self.name, name, getattr(self, name), low=0.0)
        check_number(self.name, "percent_off", self.percent_off, low=0.0, high=1.0)
        check_number(self.name, "lift", self.lift)
        check_number(self.name, "spend_lift", self.spend_lift, low=-1.0, open_low=True)
        unknown = sorted(set(self.lift_weights) - set(RESPONSE_FEATURES))
        if unknown:
            raise InputError(
                f"promotion {self.name!r} has an unknown response feature",
                column="lift_weights",
                value=unknown[0],
                expected=f"one of {list(RESPONSE_FEATURES)}",
                fix="weight only the features of RESPONSE_FEATURES",
            )
        for feature, weight in self.lift_weights.items():
            check_number(self.name, f"lift_weights[{feature!r}]", weight)
        object.__setattr__(self, "lift_weights", dict(self.lift_weights))

    def log_odds_shift(self, response_features: pd.DataFrame) -> np.ndarray:
        """Compute the shift of each customer's log-odds of buying, >= 0.

        Parameters
        ----------
        response_features : DataFrame
            Output of ``response_features``, one row per customer.
        """
        shift = np.full(len(response_features), self.lift)
        for feature, weight in self.lift_weights.items():
            shift += weight * response_features[feature].to_numpy(dtype=float)
        return np.maximum(shift, 0.0)


@dataclass(frozen=True)
class Drift:
    """Changes of the true response from one round to the next.

    In round t (0-based) promotion a's log-odds shift is multiplied by
    ``effect_factor_per_round[a] ** t``, and every customer's purchase rate
    without a promotion by ``baseline_factor_per_round ** t``.

    Parameters
    ----------
    effect_factor_per_round : mapping of str to float, default {}
        Per-round factor of each promotion's effect, > 0. A factor below 1
        is fatigue: customers who get the same offer again and again learn
        to expect it, so it moves fewer of them. A factor above 1 is a
        season in which the offer matters more. Promotions not listed keep
        their effect.
    baseline_factor_per_round : float, default 1.0
        Per-round factor of the purchase rate without a promotion, > 0. A
        value above 1 is a busy season, in which more customers buy anyway
        and a discount pays less.
    """

    effect_factor_per_round: Mapping[str, float] = field(default_factory=dict)
    baseline_factor_per_round: float = 1.0

    def __post_init__(self) -> None:
        check_number(
            "drift",
            "baseline_factor_per_round",
            self.baseline_factor_per_round,
            low=0.0,
            open_low=True,
        )
        for name, factor in self.effect_factor_per_round.items():
            check_number(
                "drift",
                f"effect_factor_per_round[{name!r}]",
                factor,
                low=0.0,
                open_low=True,
            )
        object.__setattr__(
            self, "effect_factor_per_round", dict(self.effect_factor_per_round)
        )


def default_promotions(message_cost: float = 0.10) -> tuple[SimulatedPromotion, ...]:
    """Return three promotions that move different kinds of customers.

    - ``ten_pct_off``: 10% off the order. It moves discount-sensitive
      customers and those with large orders, who save more.
    - ``five_off``: $5 off the order. It wins back lapsed customers, and it
      moves small orders more because $5 is a larger share of them, but on
      those orders it also costs the largest share of the margin.
    - ``free_shipping``: the shop pays $4 of delivery. It moves customers who
      buy many items per order and frequent customers.

    With the simulator's default 30% margin rate, most customers would buy
    within a week anyway, so each promotion loses money on the average
    customer and pays only on the customers it moves most.
    """
    return (
        SimulatedPromotion(
            "ten_pct_off",
            percent_off=0.10,
            message_cost=message_cost,
            lift=0.8,
            lift_weights={"discount_sensitivity": 0.6, "order_value": 0.3},
        ),
        SimulatedPromotion(
            "five_off",
            amount_off=5.0,
            message_cost=message_cost,
            lift=1.0,
            lift_weights={"lapse": 1.0, "order_value": -0.3},
        ),
        SimulatedPromotion(
            "free_shipping",
            shipping_cost=4.0,
            message_cost=message_cost,
            lift=0.6,
            lift_weights={"items_per_order": 0.6, "frequency": 0.3},
        ),
    )


def seasonal_drift() -> Drift:
    """Return the drift of the benchmark's drifting scenario.

    The 10%-off effect fades by 7% a round because of fatigue, so after 20
    rounds it is a quarter of its start. Free shipping gains 5% a round as a
    holiday season with large delivered orders approaches. The purchase rate
    without a promotion rises by 1% a round, so more customers buy anyway.
    """
    return Drift(
        effect_factor_per_round={"ten_pct_off": 0.93, "free_shipping": 1.05},
        baseline_factor_per_round=1.01,
    )


def checked_promotions(
    promotions: Sequence[SimulatedPromotion],
) -> tuple[SimulatedPromotion, ...]:
    """Return the promotions as a tuple, raising on other types or duplicate names."""
    promotions = tuple(promotions)
    for promotion in promotions:
        if not isinstance(promotion, SimulatedPromotion):
            raise InputError(
                "promotion is not a SimulatedPromotion",
                value=type(promotion).__name__,
                fix="build each promotion with SimulatedPromotion(...)",
            )
    names = [promotion.name for promotion in promotions]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(
            "duplicate promotion name",
            value=duplicates[0],
            fix="give each promotion a distinct name",
        )
    return promotions


def check_drift(drift: Drift, actions: tuple[str, ...]) -> None:
    """Raise unless ``drift`` is a Drift whose promotions are among ``actions``."""
    if not isinstance(drift, Drift):
        raise InputError(
            "argument 'drift' is not a Drift",
            value=type(drift).__name__,
            fix="pass Drift(...) or None",
        )
    unknown = sorted(set(drift.effect_factor_per_round) - set(actions[1:]))
    if unknown:
        raise InputError(
            "drift names an unknown promotion",
            column="effect_factor_per_round",
            value=unknown[0],
            expected=f"one of {list(actions[1:])}",
            fix="give drift factors only for the simulator's promotions",
        )


def checked_profiles(profiles: pd.DataFrame) -> pd.DataFrame:
    """Return the simulator's columns of a profile table, checked and filled.

    A customer with a single order has no purchase gap, so a missing
    ``interpurchase_days`` is set to the customer's ``tenure_days``.

    Raises
    ------
    InputError
        On an empty table, a missing column, or a missing, non-finite or
        out-of-range value in a column other than ``interpurchase_days``.
    """
    if not isinstance(profiles, pd.DataFrame) or profiles.empty:
        raise InputError(
            "argument 'profiles' is not a non-empty DataFrame",
            value=type(profiles).__name__,
            fix="pass the profiles table of a run (profiles.parquet)",
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in profiles.columns]
    if missing:
        raise InputError(
            "the profile table has no column for the simulator",
            column=missing[0],
            expected=f"columns {list(REQUIRED_COLUMNS)}",
            fix="pass the profiles table of a promoloop run",
        )
    table = pd.DataFrame(
        {
            name: pd.to_numeric(profiles[name], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan
            )
            for name in REQUIRED_COLUMNS
        },
        index=profiles.index,
    )
    table["interpurchase_days"] = table["interpurchase_days"].fillna(
        table["tenure_days"]
    )
    positive = ("frequency", "avg_order_value", "basket_size", "interpurchase_days")
    for name in REQUIRED_COLUMNS:
        values = table[name].to_numpy()
        bad = ~np.isfinite(values) | (values < 0)
        if name in positive:
            bad |= values <= 0
        if name == "p_alive":
            bad |= values > 1
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                "invalid profile value for the simulator",
                row=row + 1,
                column=name,
                value=float(values[row]),
                expected="a finite number, > 0 for counts and amounts, in [0, 1] "
                "for p_alive",
                fix="drop or repair the customer's profile",
            )
    consent = profiles["consent"] if "consent" in profiles.columns else True
    consent = pd.Series(consent, index=profiles.index)
    table["consent"] = consent.fillna(True).astype(bool)
    return table


def response_features(table: pd.DataFrame) -> pd.DataFrame:
    """Compute the standardized ``RESPONSE_FEATURES`` of checked profiles."""
    raw = pd.DataFrame(
        {
            "order_value": np.log(table["avg_order_value"]),
            "items_per_order": np.log(table["basket_size"]),
            "discount_sensitivity": table["discount_sensitivity"],
            "lapse": np.log1p(table["recency_days"] / table["interpurchase_days"]),
            "frequency": np.log(table["frequency"]),
        },
        index=table.index,
    )
    return _standardized(raw)


def policy_features(table: pd.DataFrame) -> pd.DataFrame:
    """Compute the standardized ``POLICY_FEATURES`` of checked profiles."""
    raw = table[list(POLICY_FEATURES)].copy()
    for name in _LOG_SCALED:
        raw[name] = np.log1p(raw[name])
    return _standardized(raw)


def _standardized(raw: pd.DataFrame) -> pd.DataFrame:
    """Center each column and divide it by its standard deviation (1 if it is 0)."""
    std = raw.std(ddof=0).replace(0.0, 1.0)
    return (raw - raw.mean()) / std
