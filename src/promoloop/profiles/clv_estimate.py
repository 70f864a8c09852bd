"""Customer lifetime value from BG/NBD and Gamma-Gamma, with documented fallbacks.

BG/NBD fits are tried in this order, and the first accepted fit is used:

a. L-BFGS-B on the configured period (days by default);
b. L-BFGS-B on weeks, because near-daily buyers with long tenure make the
   daily likelihood flat and badly scaled;
c. Nelder-Mead on weeks from the same start, because it needs no gradient;
d. no model: the baseline CLV (historical purchase rate and spend per
   occasion, extrapolated over the horizon) on every row, with
   ``clv_method="baseline"`` and a :class:`~promoloop.warnings.ConvergenceWarning`.

No penalizer is ever added, because a penalty biases every parameter. A fit is
accepted when the optimizer succeeds or its final gradient norm is below
:data:`~promoloop.profiles.clv.GRADIENT_TOLERANCE`, no parameter ends on its
bound, and all predictions are finite.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from promoloop.profiles import clv
from promoloop.profiles.btyd import PERIOD_DAYS
from promoloop.vocabulary import Columns as C
from promoloop.warnings import ConvergenceWarning

logger = logging.getLogger(__name__)

NEAR_DAILY_RATIO = 0.5
NEAR_DAILY_ADVICE_SHARE = 0.2
# Relative difference of the median expected purchases between the daily and
# the weekly fit above which the result is flagged as unstable.
PERIOD_AGREEMENT_TOLERANCE = 0.05

VALUE_COLUMNS = [
    "p_alive",
    "expected_purchases",
    "expected_spend",
    "expected_spend_is_population_mean",
    "clv",
    "clv_method",
]


def discount_factor(horizon_days: float, annual_rate: float) -> float:
    """Return the discount factor applied to the value of the whole horizon.

    NOTE: purchases are assumed to spread evenly over the horizon, so the
    total is discounted at the horizon's midpoint: ``(1 + rate) ** -(H/2/365)``.
    """
    return float((1.0 + annual_rate) ** (-(horizon_days / 2.0) / 365.0))


def near_daily_share(daily: pd.DataFrame) -> float:
    """Return the share of customers with ``frequency / T`` above 0.5 in days."""
    aged = daily[daily["T"] > 0]
    if aged.empty:
        return 0.0
    return float((aged["frequency"] / aged["T"] > NEAR_DAILY_RATIO).mean())


def _fit_predict(summary: pd.DataFrame, period: str, optimizer: str, horizon_days):
    fit = clv.fit_bgnbd(summary, optimizer=optimizer, period=period)
    if not fit.accepted:
        return fit, None
    horizon = horizon_days / PERIOD_DAYS[period]
    with np.errstate(all="ignore"):
        p_alive = clv.bgnbd_p_alive(fit.params, summary)
        expected = clv.bgnbd_expected_purchases(fit.params, summary, horizon)
    finite = np.isfinite(p_alive).all() and np.isfinite(expected).all()
    if not finite or (expected < -1e-9).any():
        fit.accepted = False
        fit.notes.append("predictions were not finite and non-negative")
        return fit, None
    return fit, (p_alive, np.clip(expected, 0.0, None))


def _baseline_purchases(daily: pd.DataFrame, horizon_days: float) -> np.ndarray:
    rate = (daily["frequency"].to_numpy(float) + 1) / (daily["T"].to_numpy(float) + 1)
    return rate * horizon_days


def _spend(summaries: dict[str, pd.DataFrame], diagnostics: dict):
    daily = summaries["D"]
    occasions = daily["frequency"].to_numpy(float) + 1
    mean_occasion = daily["spend_total"].to_numpy(float) / occasions
    fit_rows = daily[daily["in_gg_fit"]]
    population_flag = ~daily["in_gg_fit"].to_numpy(bool)

    # Gamma-Gamma needs a few repeat buyers with positive spend
    if len(fit_rows) >= 3:
        fit = clv.fit_gamma_gamma(fit_rows["frequency"], fit_rows["monetary_value"])
        diagnostics["gamma_gamma"] = fit.to_dict()
        if fit.accepted:
            population = clv.gamma_gamma_population_mean(fit.params)
            diagnostics["population_mean_spend"] = population
            spend = np.full(len(daily), population)
            inside = daily["in_gg_fit"].to_numpy(bool)
            spend[inside] = clv.gamma_gamma_expected_spend(
                fit.params,
                daily.loc[inside, "frequency"],
                daily.loc[inside, "monetary_value"],
            )
            return spend, population_flag, "gamma_gamma"
    else:
        diagnostics["gamma_gamma"] = {
            "accepted": False,
            "notes": [f"only {len(fit_rows)} repeat buyers; at least 3 needed"],
        }

    # No accepted spend model: each customer's own mean spend per occasion
    diagnostics["population_mean_spend"] = float(
        daily["spend_total"].sum() / occasions.sum()
    )
    warnings.warn(
        "the Gamma-Gamma spend model was not fitted or not accepted; expected "
        "spend is each customer's mean spend per purchase occasion",
        ConvergenceWarning,
        stacklevel=3,
    )
    return mean_occasion, np.zeros(len(daily), dtype=bool), "customer_mean"


def estimate_clv(
    summaries: dict[str, pd.DataFrame],
    horizon_days: float = 365,
    annual_discount_rate: float = 0.1,
    first_period: str = "D",
) -> tuple[pd.DataFrame, dict]:
    """Predict activity, purchases, spend and CLV of every summarised customer.

    Parameters
    ----------
    summaries : dict of str to DataFrame
        BTYD summaries keyed by period, ``"D"`` and ``"W"``, of the same
        customers in the same order (see
        :func:`promoloop.profiles.btyd.btyd_summary`), each with an extra
        ``spend_total`` column (net spend of all occasions).
    horizon_days : float, default 365
        Prediction horizon in days.
    annual_discount_rate : float, default 0.1
        Yearly rate used by :func:`discount_factor`.
    first_period : {"D", "W"}, default "D"
        Period of the first BG/NBD attempt; with ``"W"`` the weekly step is
        not repeated.

    Returns
    -------
    values : DataFrame
        Indexed like ``summaries["D"]`` by ``customer_id``, with the columns
        of :data:`VALUE_COLUMNS`. ``p_alive`` is missing under the baseline
        method because no model estimates it.
    diagnostics : dict
        JSON-serialisable: every fit attempt, the method used, the
        near-daily-buyer share, advice, the daily-weekly agreement and the
        population mean spend per purchase.

    Warns
    -----
    ConvergenceWarning
        When a fallback step was used, or no spend model was accepted.
    """
    daily = summaries["D"]
    share = near_daily_share(daily)
    diagnostics: dict = {
        "near_daily_buyer_share": share,
        "near_daily_ratio": NEAR_DAILY_RATIO,
        "attempts": [],
    }
    if share > NEAR_DAILY_ADVICE_SHARE:
        diagnostics["advice"] = (
            f"{share:.0%} of customers buy on more than half of their days; "
            "BG/NBD assumes occasional buying, so use a coarser period "
            "(value.period = W)"
        )
        logger.warning(diagnostics["advice"])

    # BG/NBD: the documented fallback order
    steps = [(first_period, "L-BFGS-B")]
    if first_period == "D":
        steps.append(("W", "L-BFGS-B"))
    steps.append(("W", "Nelder-Mead"))
    chosen = None
    for period, optimizer in steps:
        fit, prediction = _fit_predict(
            summaries[period], period, optimizer, horizon_days
        )
        diagnostics["attempts"].append(fit.to_dict())
        if prediction is not None:
            chosen = (fit, prediction)
            break
        logger.warning(
            "BG/NBD fit not accepted (period %s, %s): %s, gradient norm %.3g",
            period,
            optimizer,
            fit.message,
            fit.gradient_norm,
        )

    # Expected spend per purchase
    spend, population_flag, spend_method = _spend(summaries, diagnostics)
    diagnostics["spend_method"] = spend_method
    factor = discount_factor(horizon_days, annual_discount_rate)
    diagnostics["discount_factor"] = factor

    if chosen is None:
        warnings.warn(
            "no BG/NBD fit was accepted (daily and weekly L-BFGS-B, weekly "
            "Nelder-Mead); CLV uses the baseline of historical purchase rate "
            "times the horizon",
            ConvergenceWarning,
            stacklevel=2,
        )
        purchases = _baseline_purchases(daily, horizon_days)
        p_alive = np.full(len(daily), np.nan)
        method = "baseline"
        diagnostics["bgnbd"] = None
    else:
        fit, (p_alive, purchases) = chosen
        if len(diagnostics["attempts"]) > 1:
            warnings.warn(
                f"the first BG/NBD fit was not accepted; the fallback with "
                f"period {fit.period} and {fit.optimizer} was used",
                ConvergenceWarning,
                stacklevel=2,
            )
        method = "bgnbd_gg"
        diagnostics["bgnbd"] = fit.to_dict()
        _compare_periods(summaries, fit, purchases, horizon_days, diagnostics)

    diagnostics["clv_method"] = method
    values = pd.DataFrame(
        {
            "p_alive": p_alive,
            "expected_purchases": purchases,
            "expected_spend": spend,
            "expected_spend_is_population_mean": population_flag,
        },
        index=pd.Index(daily[C.customer_id], name=C.customer_id),
    )
    values["clv"] = values["expected_purchases"] * values["expected_spend"] * factor
    values["clv_method"] = method
    return values[VALUE_COLUMNS], diagnostics


def _compare_periods(summaries, fit, purchases, horizon_days, diagnostics) -> None:
    """Fit the other period and compare median expected purchases."""
    other = "W" if fit.period == "D" else "D"
    other_fit, prediction = _fit_predict(
        summaries[other], other, "L-BFGS-B", horizon_days
    )
    if prediction is None:
        diagnostics["period_agreement"] = {"period": other, "accepted": False}
        return
    median = float(np.median(purchases))
    other_median = float(np.median(prediction[1]))
    difference = abs(median - other_median) / max(abs(median), 1e-12)
    diagnostics["period_agreement"] = {
        "period": other,
        "accepted": True,
        "median_expected_purchases": median,
        "other_median_expected_purchases": other_median,
        "relative_difference": difference,
        "unstable": bool(difference > PERIOD_AGREEMENT_TOLERANCE),
    }
    if difference > PERIOD_AGREEMENT_TOLERANCE:
        logger.warning(
            "daily and weekly BG/NBD fits differ by %.1f%% in median expected "
            "purchases; the CLV is flagged as unstable",
            100 * difference,
        )
