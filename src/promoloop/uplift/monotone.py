"""Effects made non-decreasing across treatment arms ordered by discount depth."""

from __future__ import annotations

import numpy as np


def isotonic_across_arms(effects: np.ndarray) -> np.ndarray:
    """Project each customer's effects onto non-decreasing sequences over arms.

    Row by row this is the least-squares isotonic regression with equal
    weights over the arm columns (what ``sklearn.isotonic.isotonic_regression``
    returns for one row), computed with the min-max formula

    .. math:: \\hat\\tau_i = \\max_{j \\le i} \\min_{k \\ge i}
        \\frac{1}{k - j + 1} \\sum_{l=j}^{k} \\tau_l

    for all customers at once. Isotonic regression is chosen over a cumulative
    maximum because it does not bias effects upwards: a violating pair is
    replaced by its mean, so the row's mean effect is unchanged.

    Parameters
    ----------
    effects : ndarray of shape (n_samples, n_arms)
        Effects with arms as columns, shallowest discount first.

    Returns
    -------
    ndarray of shape (n_samples, n_arms)
        Non-decreasing along each row.
    """
    # Hand-written because scikit-learn's isotonic regression fits one
    # sequence per call, which would loop over customers. Memory is
    # n_samples * n_arms**2 floats, small for the few arms of a campaign.
    effects = np.asarray(effects, dtype=float)
    n_arms = effects.shape[1]
    if n_arms < 2:
        return effects.copy()

    # Mean of every block j..k of arms, +inf where the block is empty (k < j).
    sums = np.concatenate(
        [np.zeros((effects.shape[0], 1)), np.cumsum(effects, axis=1)], axis=1
    )
    start = np.arange(n_arms)[:, None]
    end = np.arange(n_arms)[None, :]
    lengths = (end - start + 1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = (sums[:, None, 1:] - sums[:, :-1, None]) / lengths
    means = np.where(end >= start, means, np.inf)

    # Minimum over block ends k >= i, then maximum over block starts j <= i.
    suffix_min = np.minimum.accumulate(means[:, :, ::-1], axis=2)[:, :, ::-1]
    suffix_min = np.where(end >= start, suffix_min, -np.inf)
    return suffix_min.max(axis=1)
