"""BG/NBD and Gamma-Gamma models: log-likelihoods, fits and predictions.

The models follow Fader, Hardie & Lee (2005), "Counting your customers the
easy way: an alternative to the Pareto/NBD model" (BG/NBD), and Fader &
Hardie (2013), "The Gamma-Gamma model of monetary value". They are written
here with ``scipy.special`` and ``scipy.optimize`` because the ``lifetimes``
package, which implemented them, is archived and fails on current pandas.
Parameters are optimised on the log scale, so they stay positive without
constraints, and the objective is the mean negative log-likelihood per
customer, so its gradient norm does not grow with the number of customers.

The fallback order when a fit is not accepted lives in
:mod:`promoloop.profiles.clv_estimate`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1

logger = logging.getLogger(__name__)

# Log-parameters are kept inside these bounds; a fit that ends on a bound has
# run off to 0 or infinity and is not accepted.
LOG_BOUND = 15.0
# Largest gradient norm of the mean negative log-likelihood (per customer, in
# log-parameters) at which a fit counts as converged even when the optimizer
# reports failure: BFGS often reaches the optimum but stops on its own
# tighter gradient test.
GRADIENT_TOLERANCE = 1e-4


@dataclass
class FitResult:
    """Outcome of one optimisation attempt, JSON-serialisable via ``to_dict``."""

    model: str
    period: str
    optimizer: str
    success: bool
    message: str
    gradient_norm: float
    log_likelihood: float
    params: dict[str, float]
    accepted: bool
    n_customers: int
    iterations: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Return the result as a dict of plain Python values."""
        return asdict(self)


def bgnbd_log_likelihood(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Compute each customer's BG/NBD log-likelihood.

    Parameters
    ----------
    params : array of 4 floats
        ``r, alpha, a, b``, all positive.
    x, t_x, T : arrays
        Repeat occasions, recency and age in periods.

    Returns
    -------
    ndarray
        Log-likelihood per customer.
    """
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    # The second term exists only for repeat buyers; log(0) = -inf drops it.
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a)
            - np.log(np.maximum(b + x - 1, 1e-300))
            - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return a1 + a2 + np.logaddexp(a3, a4)


def gamma_gamma_log_likelihood(
    params: np.ndarray, x: np.ndarray, m: np.ndarray
) -> np.ndarray:
    """Compute each customer's Gamma-Gamma log-likelihood of mean spend.

    Parameters
    ----------
    params : array of 3 floats
        ``p, q, v``, all positive.
    x : array
        Repeat occasions (at least 1).
    m : array
        Mean spend of the repeat occasions (above 0).

    Returns
    -------
    ndarray
        Log-likelihood per customer.
    """
    p, q, v = params
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )


def _aggregate(columns: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Collapse identical rows into unique rows and their counts."""
    stacked = np.column_stack(columns)
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return [unique[:, i] for i in range(unique.shape[1])], counts.astype(float)


def _gradient_norm(objective, log_params: np.ndarray) -> float:
    step = 1e-5
    grad = np.empty_like(log_params)
    for i in range(log_params.size):
        shift = np.zeros_like(log_params)
        shift[i] = step
        grad[i] = (objective(log_params + shift) - objective(log_params - shift)) / (
            2 * step
        )
    return float(np.linalg.norm(grad))


def _optimise(
    model: str,
    names: list[str],
    log_likelihood,
    data: list[np.ndarray],
    start: np.ndarray,
    optimizer: str,
    period: str,
) -> FitResult:
    columns, weights = _aggregate(data)
    total = weights.sum()

    def objective(log_params: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            values = log_likelihood(np.exp(log_params), *columns)
        value = -float(np.dot(weights, values)) / total
        return value if np.isfinite(value) else 1e10

    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(names)
    options = {"maxiter": 5000}
    if optimizer == "Nelder-Mead":
        options.update({"xatol": 1e-8, "fatol": 1e-12, "adaptive": True})
    result = minimize(
        objective, np.log(start), method=optimizer, bounds=bounds, options=options
    )
    gradient_norm = _gradient_norm(objective, result.x)
    mean_ll = -float(result.fun)
    on_bound = bool(np.any(np.abs(result.x) > LOG_BOUND - 1e-3))
    accepted = (
        np.isfinite(mean_ll)
        and result.fun < 1e10
        and not on_bound
        and (bool(result.success) or gradient_norm <= GRADIENT_TOLERANCE)
    )
    notes = ["a parameter ended on its bound"] if on_bound else []
    fit = FitResult(
        model=model,
        period=period,
        optimizer=optimizer,
        success=bool(result.success),
        message=str(result.message),
        gradient_norm=gradient_norm,
        log_likelihood=mean_ll * total,
        params=dict(zip(names, np.exp(result.x).tolist(), strict=True)),
        accepted=bool(accepted),
        n_customers=int(total),
        iterations=int(getattr(result, "nit", 0)),
        notes=notes,
    )
    logger.info(
        "%s fit (%s, period %s): success=%s accepted=%s grad=%.3g ll=%.6g",
        model,
        optimizer,
        period,
        fit.success,
        fit.accepted,
        fit.gradient_norm,
        fit.log_likelihood,
    )
    return fit


def fit_bgnbd(
    summary: pd.DataFrame, optimizer: str = "L-BFGS-B", period: str = "D"
) -> FitResult:
    """Fit BG/NBD by maximum likelihood on a BTYD summary.

    Parameters
    ----------
    summary : DataFrame
        Columns ``frequency``, ``recency`` and ``T`` in periods (see
        :func:`promoloop.profiles.btyd.btyd_summary`).
    optimizer : str, default "L-BFGS-B"
        ``scipy.optimize.minimize`` method, e.g. ``"L-BFGS-B"`` or
        ``"Nelder-Mead"``.
    period : str, default "D"
        Label of the time unit, recorded in the result.

    Returns
    -------
    FitResult
        Parameters ``r, alpha, a, b`` and the optimizer's diagnostics. The
        start is ``r = a = b = 1`` and ``alpha`` = mean ``T``, so the start
        scales with the period.
    """
    data = [
        summary["frequency"].to_numpy(float),
        summary["recency"].to_numpy(float),
        summary["T"].to_numpy(float),
    ]
    start = np.array([1.0, max(float(np.mean(data[2])), 1.0), 1.0, 1.0])
    return _optimise(
        "bgnbd",
        ["r", "alpha", "a", "b"],
        bgnbd_log_likelihood,
        data,
        start,
        optimizer,
        period,
    )


def fit_gamma_gamma(
    frequency: np.ndarray, monetary_value: np.ndarray, optimizer: str = "L-BFGS-B"
) -> FitResult:
    """Fit the Gamma-Gamma spend model on repeat buyers.

    Parameters
    ----------
    frequency : array
        Repeat occasions, all at least 1.
    monetary_value : array
        Mean repeat spend, all above 0.
    optimizer : str, default "L-BFGS-B"
        ``scipy.optimize.minimize`` method.

    Returns
    -------
    FitResult
        Parameters ``p, q, v``. A fit with ``q <= 1`` has no finite
        population mean spend and is not accepted.
    """
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    start = np.array([1.0, 2.0, max(float(np.mean(m)), 1e-3)])
    fit = _optimise(
        "gamma_gamma",
        ["p", "q", "v"],
        gamma_gamma_log_likelihood,
        [x, m],
        start,
        optimizer,
        "D",
    )
    if fit.params["q"] <= 1:
        fit.accepted = False
        fit.notes.append("q <= 1, so the population mean spend is infinite")
    return fit


def bgnbd_p_alive(params: dict[str, float], summary: pd.DataFrame) -> np.ndarray:
    """Return the probability that each customer is still active at ``T``.

    Uses the closed form ``1 / (1 + [x > 0] a / (b + x - 1) *
    ((alpha + T) / (alpha + t_x)) ** (r + x))``, computed in logs.
    """
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    x = summary["frequency"].to_numpy(float)
    t_x = summary["recency"].to_numpy(float)
    T = summary["T"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_ratio = (
            np.log(a)
            - np.log(np.maximum(b + x - 1, 1e-300))
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
        odds = np.where(x > 0, np.exp(log_ratio), 0.0)
    return 1.0 / (1.0 + odds)


def bgnbd_expected_purchases(
    params: dict[str, float], summary: pd.DataFrame, horizon: float
) -> np.ndarray:
    """Return each customer's expected purchases in the next ``horizon`` periods.

    The conditional expectation of Fader, Hardie & Lee (2005, eq. 10). The
    hypergeometric term ``2F1(r+x, b+x; a+b+x-1; z)`` overflows for frequent
    buyers, so it is rewritten with Euler's transformation as
    ``(1-z) ** (a-1-r-x) * 2F1(a+b-1-r, a-1; a+b+x-1; z)``, whose parameters
    stay small.
    """
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    x = summary["frequency"].to_numpy(float)
    T = summary["T"].to_numpy(float)
    z = horizon / (alpha + T + horizon)
    # ((alpha+T)/(alpha+T+t))**(r+x) * 2F1(...) equals this after Euler's step.
    tail = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    # XXX: a == 1 exactly gives 0/0 = NaN here, which the caller rejects as a
    # non-finite prediction, so the next fallback step runs.
    scale = (a + b + x - 1) / (a - 1)
    return scale * (1 - tail) * bgnbd_p_alive(params, summary)


def gamma_gamma_expected_spend(
    params: dict[str, float], frequency: np.ndarray, monetary_value: np.ndarray
) -> np.ndarray:
    """Return the conditional mean spend per purchase, ``p(v + x m) / (p x + q - 1)``.

    XXX: assumes ``p x + q > 1``; fits with ``q <= 1`` are rejected upstream.
    """
    p, q, v = (params[k] for k in ("p", "q", "v"))
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    return p * (v + x * m) / (p * x + q - 1)


def gamma_gamma_population_mean(params: dict[str, float]) -> float:
    """Return the population mean spend per purchase, ``p v / (q - 1)``."""
    return params["p"] * params["v"] / (params["q"] - 1)
