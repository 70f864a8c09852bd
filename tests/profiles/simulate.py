"""Draw synthetic customers from known BG/NBD and Gamma-Gamma parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_bgnbd_times(n, r, alpha, a, b, seed, max_age=365.0):
    """Return (customer index, purchase time in days, age T) from BG/NBD.

    Each customer's first purchase is at time 0 and they are observed for T
    days, drawn uniformly from [30, max_age].
    """
    rng = np.random.default_rng(seed)
    rate = rng.gamma(r, 1 / alpha, n)
    dropout = rng.beta(a, b, n)
    age = rng.uniform(30, max_age, n)
    customers, times = [np.arange(n)], [np.zeros(n)]
    clock = np.zeros(n)
    # BG/NBD has no dropout chance at the first purchase, only after repeats.
    alive = np.ones(n, dtype=bool)
    while alive.any():
        clock = clock + rng.exponential(1 / rate)
        buys = alive & (clock <= age)
        customers.append(np.flatnonzero(buys))
        times.append(clock[buys])
        alive = buys & (rng.random(n) >= dropout)
    return np.concatenate(customers), np.concatenate(times), age


def simulate_bgnbd_summary(n, r, alpha, a, b, seed):
    """Return a summary [frequency, recency, T] in days drawn from BG/NBD."""
    customer, time, age = simulate_bgnbd_times(n, r, alpha, a, b, seed)
    repeat = customer[time > 0]
    frequency = np.bincount(repeat, minlength=n)
    recency = np.zeros(n)
    np.maximum.at(recency, customer, time)
    return pd.DataFrame({"frequency": frequency, "recency": recency, "T": age})


def simulate_gamma_gamma(n, p, q, v, seed, mean_repeats=10):
    """Return (frequency, mean repeat spend) drawn from Gamma-Gamma."""
    rng = np.random.default_rng(seed)
    frequency = 1 + rng.poisson(mean_repeats - 1, n)
    nu = rng.gamma(q, 1 / v, n)
    # Mean of x Gamma(p, 1/nu) draws is Gamma(p x, 1/(nu x)).
    mean_spend = rng.gamma(p * frequency, 1 / (nu * frequency))
    return frequency, mean_spend
