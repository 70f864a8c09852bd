"""Synthetic randomized campaigns with a known treatment effect."""

from __future__ import annotations

import numpy as np


def step_effect_campaign(seed: int, n: int = 20_000):
    """Binary outcome with effect 0.1 * (x0 > 0) on a logistic baseline.

    Returns X of shape (n, 5) drawn from N(0, 1), the 0/1 treatment drawn
    from Bernoulli(0.5), the 0/1 outcome and the true effect per row.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    treatment = rng.binomial(1, 0.5, n)
    # Baseline at most 0.9, so baseline + effect stays a probability.
    baseline = 0.9 / (1.0 + np.exp(-(-1.0 + 0.5 * X[:, 1] - 0.5 * X[:, 2])))
    effect = 0.1 * (X[:, 0] > 0)
    y = rng.binomial(1, baseline + treatment * effect)
    return X, treatment, y, effect


def linear_effect_campaign(seed: int, n: int = 4_000):
    """Continuous outcome with effect 2 * x1 on a linear baseline plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    treatment = rng.binomial(1, 0.5, n)
    effect = 2.0 * X[:, 1]
    y = 3.0 + X[:, 0] - X[:, 2] + treatment * effect + rng.normal(size=n)
    return X, treatment, y, effect


def three_arm_campaign(seed: int, n: int = 1_500):
    """Binary outcome with arms 5 and 20 (discount percent) and control 0.

    Arm 5 raises conversion by 0.05 and arm 20 by 0.25 for every customer,
    plus 0.1 more for customers with x0 > 0.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    treatment = rng.choice([0, 5, 20], size=n)
    lift = np.select(
        [treatment == 5, treatment == 20], [0.05, 0.25 + 0.1 * (X[:, 0] > 0)], 0.0
    )
    baseline = 1.0 / (1.0 + np.exp(-(-1.0 + 0.5 * X[:, 1])))
    y = rng.binomial(1, np.clip(baseline + lift, 0.0, 1.0))
    return X, treatment, y
