"""Customers with known responses to promotions, drawn from real profiles.

Without a promotion, customer i buys within the window with probability

    p0_i = p_alive_i * (1 - exp(-window_days * frequency_i / tenure_i))

(``tenure_i`` is at least the window), the chance of at least one order if
the customer keeps buying at their past rate. With promotion a the log-odds
rise by the promotion's shift (see ``promoloop.simulation.promotions``):
``logit(p_ia) = logit(p0_i) + shift_ia``. An order made with action a is
worth ``avg_order_value_i * (1 + spend_lift_a)`` on average, and its margin
net of the promotion is

    order_margin_ia = value_ia * (margin_rate - percent_off_a)
                      - amount_off_a - shipping_cost_a.

The reward is the margin net of every cost, so its expectation is exact:

    E[reward_ia] = p_ia * order_margin_ia - message_cost_a.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from promoloop.errors import InputError
from promoloop.simulation._checks import (
    checked_action_codes,
    checked_action_dist,
    checked_count,
    checked_parameter,
    checked_round,
    checked_rows,
)
from promoloop.simulation.promotions import (
    NO_PROMOTION,
    POLICY_FEATURES,
    Drift,
    SimulatedPromotion,
    check_drift,
    checked_profiles,
    checked_promotions,
    default_promotions,
    policy_features,
    response_features,
)
from promoloop.vocabulary import Columns as C

# Bounds of the no-promotion probability, so its log-odds stay finite.
_MIN_PROBABILITY = 1e-6


class PromotionSimulator:
    """Customers drawn from fitted profiles, with exact expected rewards.

    Parameters
    ----------
    profiles : DataFrame
        Profile table of a run (``profiles.parquet``), one row per customer,
        with the columns of ``REQUIRED_COLUMNS`` and optionally ``consent``
        and ``customer_id``.
    promotions : sequence of SimulatedPromotion, optional
        Promotions besides ``"none"``. Default ``default_promotions()``.
    margin_rate : float, default 0.3
        Margin on the order value before any discount, in (0, 1].
    window_days : float, default 7.0
        Days after the decision in which a purchase counts.
    order_value_shape : float, default 4.0
        Shape of the Gamma distribution (mean 1) that scales a sampled
        order's value. The order value's coefficient of variation is
        ``1 / sqrt(order_value_shape)``.
    drift : Drift, optional
        How the response changes from round to round. Default none.

    Attributes
    ----------
    actions : tuple of str
        ``"none"`` first, then the promotions in the order given.
    customer_ids : ndarray
        Id of each profile row (the ``customer_id`` column, or the index).
    feature_names : tuple of str
        Columns of ``features()``.
    profile_table : DataFrame
        The checked profile columns the simulator reads, in dollars and
        days as in the run, one row per customer.

    Raises
    ------
    InputError
        On an invalid profile table, duplicate promotion names, drift of an
        unknown promotion, or parameters out of range.

    Notes
    -----
    Customers are identified by their row in ``profiles`` (0-based), and
    every method takes such row indices as ``customers``; None means every
    profile row in order.
    """

    def __init__(
        self,
        profiles: pd.DataFrame,
        promotions: Sequence[SimulatedPromotion] | None = None,
        *,
        margin_rate: float = 0.3,
        window_days: float = 7.0,
        order_value_shape: float = 4.0,
        drift: Drift | None = None,
    ) -> None:
        table = checked_profiles(profiles)
        self.promotions = checked_promotions(
            default_promotions() if promotions is None else promotions
        )
        names = [promotion.name for promotion in self.promotions]
        self.actions = (NO_PROMOTION, *names)
        self.no_action = NO_PROMOTION
        self.margin_rate = checked_parameter("margin_rate", margin_rate, high=1.0)
        self.window_days = checked_parameter("window_days", window_days)
        self.order_value_shape = checked_parameter(
            "order_value_shape", order_value_shape
        )
        self.drift = Drift() if drift is None else drift
        check_drift(self.drift, self.actions)
        self.feature_names = POLICY_FEATURES
        self.profile_table = table
        if C.customer_id in profiles.columns:
            self.customer_ids = profiles[C.customer_id].to_numpy()
        else:
            self.customer_ids = profiles.index.to_numpy()

        # Per customer: features, purchase rate and the chance of being active.
        self._features = policy_features(table).to_numpy(dtype=float)
        tenure = np.maximum(table["tenure_days"].to_numpy(), self.window_days)
        self._rate = table["frequency"].to_numpy() / tenure
        self._p_alive = table["p_alive"].to_numpy()
        self._order_value_base = table["avg_order_value"].to_numpy()

        # Per customer and action: log-odds shift, order value and eligibility.
        response = response_features(table)
        self._shift = np.column_stack(
            [np.zeros(len(table))]
            + [promotion.log_odds_shift(response) for promotion in self.promotions]
        )
        spend_lift = np.array([0.0] + [p.spend_lift for p in self.promotions])
        self._order_value = self._order_value_base[:, None] * (1.0 + spend_lift)
        self._eligible = np.ones_like(self._shift, dtype=bool)
        self._eligible[:, 1:] = table["consent"].to_numpy()[:, None]

        # Per action: costs.
        self._percent_off = np.array([0.0] + [p.percent_off for p in self.promotions])
        self._fixed_cost = np.array(
            [0.0] + [p.amount_off + p.shipping_cost for p in self.promotions]
        )
        self._message_cost = np.array([0.0] + [p.message_cost for p in self.promotions])
        self._effect_factor = np.array(
            [1.0]
            + [
                self.drift.effect_factor_per_round.get(p.name, 1.0)
                for p in self.promotions
            ]
        )

    @classmethod
    def from_run(cls, run_dir: str | Path, **kwargs) -> PromotionSimulator:
        """Build a simulator from the ``profiles.parquet`` of a run folder.

        Keyword arguments are passed to the constructor.

        Raises
        ------
        InputError
            When the folder has no ``profiles.parquet``.
        """
        path = Path(run_dir) / "profiles.parquet"
        if not path.is_file():
            raise InputError(
                "run folder has no profiles.parquet",
                file=str(path),
                fix="pass the folder of a finished run, e.g. from "
                "'promoloop run --dataset complete-journey --out DIR'",
            )
        return cls(pd.read_parquet(path), **kwargs)

    # ------------------------------------------------------------------
    # Customers and what the policies see
    # ------------------------------------------------------------------

    @property
    def n_customers(self) -> int:
        """Number of profile rows customers are drawn from."""
        return len(self._rate)

    @property
    def n_actions(self) -> int:
        """Number of actions, ``"none"`` included."""
        return len(self.actions)

    @property
    def mean_order_margin(self) -> float:
        """Mean order value times the margin rate: a reward scale, in dollars.

        It uses only the profile table, so a shop has it before any
        campaign, and it suits the prior scale of a bandit policy.
        """
        return float(self.margin_rate * self._order_value_base.mean())

    def sample_customers(self, n: int, random_state=None) -> np.ndarray:
        """Draw ``n`` profile rows uniformly with replacement.

        Parameters
        ----------
        n : int
            Number of customers, >= 0.
        random_state : int, numpy Generator or None, default None
            Source of the draws.

        Returns
        -------
        ndarray of int, shape (n,)
        """
        n = checked_count("n", n)
        rng = np.random.default_rng(random_state)
        return rng.integers(0, self.n_customers, size=int(n))

    def features(self, customers=None) -> np.ndarray:
        """Return the policies' context: standardized profile features.

        Skewed columns are log1p-transformed first, and every column is
        standardized over the whole profile table, so a customer's row is
        the same in every round.

        Returns
        -------
        ndarray of float, shape (n, len(feature_names))
        """
        return self._features[self._rows(customers)].copy()

    def eligible(self, customers=None) -> np.ndarray:
        """Return which actions each customer may get, shape (n, n_actions).

        ``"none"`` is always eligible. Promotions need the customer's
        consent to be contacted.
        """
        return self._eligible[self._rows(customers)].copy()

    # ------------------------------------------------------------------
    # True response
    # ------------------------------------------------------------------

    def purchase_probability(
        self, customers=None, *, round_index: int = 0
    ) -> np.ndarray:
        """Return each customer's chance to buy within the window, per action.

        Returns
        -------
        ndarray of float, shape (n, n_actions)
        """
        rows = self._rows(customers)
        round_index = checked_round(round_index)
        baseline_factor = self.drift.baseline_factor_per_round**round_index
        rate = self._rate[rows] * baseline_factor
        no_promotion = self._p_alive[rows] * -np.expm1(-self.window_days * rate)
        no_promotion = np.clip(no_promotion, _MIN_PROBABILITY, 1 - _MIN_PROBABILITY)
        shift = self._shift[rows] * self._effect_factor**round_index
        return expit(logit(no_promotion)[:, None] + shift)

    def order_margin(self, customers=None) -> np.ndarray:
        """Return the expected margin of one order, net of the promotion, (n, k).

        It is the order value times the margin rate, minus the discount and
        the delivery the shop pays, and can be negative.
        """
        value = self._order_value[self._rows(customers)]
        return value * (self.margin_rate - self._percent_off) - self._fixed_cost

    def expected_reward(
        self,
        customers=None,
        actions=None,
        *,
        round_index: int = 0,
        incremental: bool = False,
    ) -> np.ndarray:
        """Return the exact expected margin net of every cost.

        Parameters
        ----------
        customers : array-like of int, optional
            Profile rows. Default every row.
        actions : array-like of str or int, shape (n,), optional
            One action per customer (names or codes). Default every action.
        round_index : int, default 0
            Round (0-based) whose drift applies.
        incremental : bool, default False
            Subtract the expected reward of ``"none"`` for the same
            customer, giving the true incremental margin.

        Returns
        -------
        ndarray of float
            Shape (n, n_actions) without ``actions``, else (n,).
        """
        rows = self._rows(customers)
        probability = self.purchase_probability(rows, round_index=round_index)
        rewards = probability * self.order_margin(rows) - self._message_cost
        if incremental:
            rewards = rewards - rewards[:, :1]
        if actions is None:
            return rewards
        codes = self.action_codes(actions, len(rows))
        return rewards[np.arange(len(rows)), codes]

    def sample_reward(
        self, customers, actions, *, round_index: int = 0, random_state=None
    ) -> np.ndarray:
        """Draw each customer's reward for the action taken.

        The customer buys with ``purchase_probability``. A purchase's order
        value is the expected value times a Gamma draw of mean 1, and the
        reward is its margin net of the promotion, minus the message cost.

        Parameters
        ----------
        customers : array-like of int, shape (n,)
        actions : array-like of str or int, shape (n,)
        round_index : int, default 0
        random_state : int, numpy Generator or None, default None
            Source of the draws; the same seed gives the same rewards.

        Returns
        -------
        ndarray of float, shape (n,)
        """
        rows = self._rows(customers)
        codes = self.action_codes(actions, len(rows))
        index = np.arange(len(rows))
        probability = self.purchase_probability(rows, round_index=round_index)
        rng = np.random.default_rng(random_state)
        buys = rng.random(len(rows)) < probability[index, codes]
        shape = self.order_value_shape
        value = self._order_value[rows, codes] * rng.gamma(shape, 1 / shape, len(rows))
        margin = value * (self.margin_rate - self._percent_off[codes])
        margin -= self._fixed_cost[codes]
        return np.where(buys, margin, 0.0) - self._message_cost[codes]

    def best_actions(self, customers=None, *, round_index: int = 0) -> np.ndarray:
        """Return the code of each customer's best eligible action (the oracle)."""
        rows = self._rows(customers)
        rewards = self.expected_reward(rows, round_index=round_index)
        return np.where(self._eligible[rows], rewards, -np.inf).argmax(axis=1)

    def true_policy_value(
        self,
        action_dist,
        customers=None,
        *,
        round_index: int = 0,
        incremental: bool = False,
    ) -> float:
        """Return a policy's exact expected reward per customer.

        Parameters
        ----------
        action_dist : array-like of float, shape (n, n_actions)
            The policy's probability of each action for each customer. Shape
            (n, n_actions, 1), as in ``promoloop.ope``, is accepted too.
        customers : array-like of int, shape (n,), optional
            Profile rows of the rows of ``action_dist``. Default every row,
            which gives the value over customers drawn uniformly from the
            profiles.
        round_index : int, default 0
        incremental : bool, default False
            Value relative to sending nothing to anyone.

        Returns
        -------
        float
            ``mean_i sum_a action_dist[i, a] * expected_reward[i, a]``.

        Raises
        ------
        InputError
            When the shape does not match or a row is not a distribution.
        """
        rows = self._rows(customers)
        dist = checked_action_dist(action_dist, len(rows), self.actions)
        rewards = self.expected_reward(
            rows, round_index=round_index, incremental=incremental
        )
        return float(np.mean(np.sum(dist * rewards, axis=1)))

    def action_codes(self, actions, n: int | None = None) -> np.ndarray:
        """Convert action names (or codes) to codes, checking the length ``n``.

        Raises
        ------
        InputError
            On an unknown name, a code out of range, or a length other than
            ``n``.
        """
        return checked_action_codes(actions, self.actions, n)

    def _rows(self, customers) -> np.ndarray:
        if customers is None:
            return np.arange(self.n_customers)
        return checked_rows(customers, self.n_customers)
