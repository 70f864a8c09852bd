"""Simulated customers whose responses to promotions are known exactly.

Real campaign logs never show what a promotion that was not sent would have
done, so they cannot tell how far a policy is from the best one. The
simulator draws customers, with replacement, from the fitted profiles of a
run. Each promotion has a true response rule of the profile, which gives the
probability of buying within the window with and without the promotion. The
order margin net of the promotion's cost is known too. Every (customer, action)
pair therefore has an exact expected reward, and every policy an exact value.

Typical use::

    sim = PromotionSimulator.from_run("run")
    customers = sim.sample_customers(500, random_state=0)
    choice = policy.choose(sim.features(customers), sim.eligible(customers))
    rewards = sim.sample_reward(customers, choice.action_codes, random_state=1)
    truth = sim.expected_reward(customers, choice.action_codes, incremental=True)

``default_promotions`` gives 10% off, $5 off and free shipping, which move
different customers and lose money on many. ``Drift`` makes effects change
from round to round, and ``seasonal_drift`` is the benchmark's example.
"""

from promoloop.simulation.promotions import (
    NO_PROMOTION,
    POLICY_FEATURES,
    REQUIRED_COLUMNS,
    RESPONSE_FEATURES,
    Drift,
    SimulatedPromotion,
    default_promotions,
    seasonal_drift,
)
from promoloop.simulation.simulator import PromotionSimulator

__all__ = [
    "NO_PROMOTION",
    "POLICY_FEATURES",
    "REQUIRED_COLUMNS",
    "RESPONSE_FEATURES",
    "Drift",
    "PromotionSimulator",
    "SimulatedPromotion",
    "default_promotions",
    "seasonal_drift",
]
