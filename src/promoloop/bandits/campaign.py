"""A campaign's bandit policy: its actions, its context features and its construction.

A campaign with ``assignment = "bandit"`` chooses among "none" and its
promotions, in the order :func:`campaign_actions` gives, so that a saved
policy state and the decision log agree on what each action code means.
Contextual policies see the same few profile facts in the service and in
batch runs, built by :func:`context_features`.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from promoloop.bandits.base import NO_PROMOTION, BanditPolicy, policy_kinds
from promoloop.errors import InputError

if TYPE_CHECKING:
    from promoloop.targeting.promotions import Campaign, PolicySpec

#: Names of the context features, in column order.
FEATURE_NAMES: tuple[str, ...] = ("known_customer", "log_orders", "log_recency_days")

_CONTEXTUAL_KINDS = frozenset({"linucb", "linear_thompson"})


def campaign_actions(campaign: Campaign) -> list[str]:
    """Return a bandit campaign's actions: "none", then its sorted promotion ids."""
    return [NO_PROMOTION, *sorted(p.promotion_id for p in campaign.promotions)]


def build_policy(spec: PolicySpec, actions: Sequence[str]) -> BanditPolicy:
    """Return a new policy of the spec's kind over these actions, with its priors.

    Parameters
    ----------
    spec : PolicySpec
        Kind, exploration floor and extra parameters.
    actions : sequence of str
        Action names, "none" included.

    Raises
    ------
    InputError
        If a parameter is unknown to the kind or has an invalid value.
    """
    policy_class = policy_kinds()[spec.kind]
    accepted = _parameters(policy_class)
    unknown = sorted(set(spec.params) - set(accepted))
    if unknown:
        raise InputError(
            f"unknown parameter of policy kind {spec.kind}",
            value=", ".join(unknown),
            expected=", ".join(accepted) or "no extra parameters",
            fix="remove it from the policy's params, or choose another kind",
        )
    options = dict(spec.params)
    options["min_probability"] = spec.min_probability
    if spec.kind in _CONTEXTUAL_KINDS:
        return policy_class(list(actions), len(FEATURE_NAMES), **options)
    return policy_class(list(actions), **options)


def _parameters(policy_class: type[BanditPolicy]) -> list[str]:
    """Return the keyword parameters a campaign's params may set for a kind."""
    fixed = {"self", "actions", "n_features", "no_action", "min_probability"}
    signature = inspect.signature(policy_class.__init__)
    return [name for name in signature.parameters if name not in fixed]


def context_features(frequency, recency_days) -> np.ndarray:
    """Return the context matrix of customers from their order count and recency.

    Parameters
    ----------
    frequency : array-like of shape (n_customers,)
        Number of orders; NaN or None for a customer without published facts.
    recency_days : array-like of shape (n_customers,)
        Days since the last order; NaN or None when unknown.

    Returns
    -------
    ndarray of shape (n_customers, 3)
        ``known_customer`` (1 when the order count is known), ``log_orders``
        = log(1 + orders) and ``log_recency_days`` = log(1 + days), with 0
        for unknown values, so the first column separates them from real zeros.
    """
    orders = np.asarray(frequency, dtype=float).reshape(-1)
    recency = np.asarray(recency_days, dtype=float).reshape(-1)
    known = np.isfinite(orders)
    log_orders = np.log1p(np.clip(np.nan_to_num(orders, nan=0.0), 0, None))
    log_recency = np.log1p(np.clip(np.nan_to_num(recency, nan=0.0), 0, None))
    return np.column_stack([known.astype(float), log_orders, log_recency])
