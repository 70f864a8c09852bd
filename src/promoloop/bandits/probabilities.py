"""Probability rows of the bandit rules: floor, greedy ties, Thompson wins, draws.

Every function takes and returns plain numpy arrays of shape (n, k), one row
per decision and one column per action, so they run in the request path
without pandas.
"""

from __future__ import annotations

import numpy as np

# Relative tolerance under which two scores count as tied for the maximum.
_TIE_TOLERANCE = 1e-12


def apply_floor(
    rule: np.ndarray, eligible: np.ndarray, min_probability: float
) -> np.ndarray:
    """Mix rule probabilities with the uniform distribution over eligible actions.

    Each eligible action gets ``min_probability`` plus its share of the rest,
    ``(1 - k_eligible * min_probability) * rule``. Rows are renormalized to
    remove rounding, and ineligible actions stay exactly 0.
    """
    rule = np.where(eligible, rule, 0.0)
    n_eligible = eligible.sum(axis=1, keepdims=True)
    probabilities = (
        min_probability * eligible + (1.0 - n_eligible * min_probability) * rule
    )
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def argmax_probabilities(scores: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Turn scores into the greedy rule: all mass on the best eligible action.

    Actions tied for the maximum (within a relative 1e-12) share it equally,
    so equal estimates give a deterministic, symmetric row.
    """
    masked = np.where(eligible, scores, -np.inf)
    best = masked.max(axis=1, keepdims=True)
    tolerance = _TIE_TOLERANCE * np.maximum(1.0, np.abs(best))
    top = eligible & (masked >= best - tolerance)
    return top / top.sum(axis=1, keepdims=True)


def win_frequencies(draws: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Estimate each action's chance to be best from draws shared by all rows.

    Parameters
    ----------
    draws : ndarray of shape (n_draws, k)
        Posterior draws of each action's expected reward.
    eligible : ndarray of bool, shape (n, k)

    Returns
    -------
    ndarray of shape (n, k)
        Share of draws in which each eligible action has the largest value
        among the row's eligible actions.
    """
    n_draws, n_actions = draws.shape
    if len(eligible) == 0:
        return np.empty((0, n_actions))
    if (eligible == eligible[0]).all():
        # One mask for every row (always so for a single decision): skip the
        # grouping, which costs more than the rest for one row.
        patterns, inverse = eligible[:1], np.zeros(len(eligible), dtype=np.intp)
    else:
        patterns, inverse = np.unique(eligible, axis=0, return_inverse=True)
    frequencies = np.empty((len(patterns), n_actions))
    for index, pattern in enumerate(patterns):
        winners = np.where(pattern, draws, -np.inf).argmax(axis=1)
        frequencies[index] = np.bincount(winners, minlength=n_actions) / n_draws
    return frequencies[inverse.reshape(-1)]


def row_win_frequencies(
    means: np.ndarray,
    scales: np.ndarray,
    normals: np.ndarray,
    eligible: np.ndarray,
    max_chunk_values: int = 4_000_000,
) -> np.ndarray:
    """Estimate each action's chance to be best from per-row normal posteriors.

    Row i's draw d of action a is ``means[i, a] + scales[i, a] * normals[d, a]``.
    The same standard normals serve every row, so a row's frequencies do not
    depend on which other rows share the call.

    Parameters
    ----------
    means, scales : ndarray of shape (n, k)
        Posterior mean and standard deviation of each action's reward.
    normals : ndarray of shape (n_draws, k)
        Standard normal draws.
    eligible : ndarray of bool, shape (n, k)
    max_chunk_values : int, default 4_000_000
        Rows are processed in chunks of at most this many draws in total,
        which bounds memory at about 32 bytes per value.
    """
    n_rows, n_actions = means.shape
    n_draws = normals.shape[0]
    chunk = max(1, max_chunk_values // (n_draws * n_actions))
    frequencies = np.empty((n_rows, n_actions))
    for start in range(0, n_rows, chunk):
        rows = slice(start, start + chunk)
        draws = means[rows, None, :] + scales[rows, None, :] * normals[None, :, :]
        draws = np.where(eligible[rows, None, :], draws, -np.inf)
        winners = draws.argmax(axis=2)
        size = winners.shape[0]
        offsets = n_actions * np.arange(size)[:, None]
        counts = np.bincount((winners + offsets).ravel(), minlength=size * n_actions)
        frequencies[rows] = counts.reshape(size, n_actions) / n_draws
    return frequencies


def sample_rows(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one column per row with the row's probabilities (inverse CDF).

    The cumulative sum is set to infinity from each row's last positive
    column on, so rounding can never select a zero-probability column.
    """
    n_rows, n_actions = probabilities.shape
    cumulative = np.cumsum(probabilities, axis=1)
    last_positive = n_actions - 1 - (probabilities[:, ::-1] > 0).argmax(axis=1)
    cumulative[np.arange(n_actions) >= last_positive[:, None]] = np.inf
    uniforms = rng.random(n_rows)
    return (cumulative > uniforms[:, None]).argmax(axis=1)
