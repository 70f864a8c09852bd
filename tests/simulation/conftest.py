"""Profile tables for the simulator tests: a hand-checked toy and a synthetic shop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def toy_profiles() -> pd.DataFrame:
    """Three customers whose expected rewards are computed by hand in the tests."""
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "recency_days": [5.0, 30.0, 2.0],
            "frequency": [7, 14, 35],
            "avg_order_value": [20.0, 50.0, 10.0],
            "basket_size": [4.0, 8.0, 2.0],
            # Mean 1 and population standard deviation sqrt(2/3), so the
            # standardized values are -sqrt(1.5), 0 and sqrt(1.5).
            "discount_sensitivity": [0.0, 1.0, 2.0],
            "interpurchase_days": [10.0, 5.0, np.nan],
            "p_alive": [1.0, 0.5, 0.9],
            "tenure_days": [70.0, 70.0, 350.0],
            "consent": [True, True, False],
        }
    )


def synthetic_profiles(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Profiles with the spread of a grocery shop's customers, for loop runs."""
    rng = np.random.default_rng(seed)
    frequency = rng.integers(1, 120, n)
    interpurchase = 350.0 / frequency * rng.lognormal(0.0, 0.3, n)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "recency_days": interpurchase * rng.exponential(1.0, n),
            "frequency": frequency,
            "avg_order_value": rng.lognormal(3.3, 0.5, n),
            "basket_size": rng.lognormal(2.2, 0.5, n),
            "discount_sensitivity": rng.gamma(6.0, 1 / 6, n),
            "interpurchase_days": interpurchase,
            "p_alive": rng.beta(8.0, 1.0, n),
            "tenure_days": rng.uniform(200.0, 365.0, n),
        }
    )


@pytest.fixture
def shop_profiles() -> pd.DataFrame:
    """300 synthetic customers."""
    return synthetic_profiles()
