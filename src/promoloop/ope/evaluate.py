"""Evaluate a target policy on a bandit log with several estimators at once."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from promoloop.errors import InputError, UndefinedMetricError
from promoloop.ope._checks import check_bootstrap_arguments
from promoloop.ope.estimators import (
    DirectMethod,
    InversePropensityScoring,
    OffPolicyEstimator,
    PolicyValueInterval,
    SelfNormalizedInversePropensityScoring,
    prepare_inputs,
)
from promoloop.ope.estimators_dr import (
    DoublyRobust,
    DoublyRobustWithShrinkage,
    SwitchDoublyRobust,
)
from promoloop.ope.logs import BanditLog
from promoloop.ope.support import (
    SupportReport,
    check_support,
    effective_sample_size,
    support_warning_text,
)
from promoloop.warnings import SupportWarning

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EstimateRow:
    """One estimator's result.

    Attributes
    ----------
    name : str
        Estimator label, such as ``"ips"``.
    value : float
        Estimated expected reward per round of the target policy, finite.
    ci_low, ci_high : float
        Percentile bootstrap interval.
    ess : float
        Effective sample size of the weights the estimator applies, after
        clipping, switching or shrinkage. The direct method applies none, so
        its row shows the unclipped weights' value.
    max_weight : float
        Largest weight the estimator applies (unclipped for DM).
    clipped : int
        Rounds whose weight ``max_weight`` clipping lowered; 0 without
        clipping.
    n_rounds : int
    n_unsupported : int
        Rounds where the target policy puts mass on unsupported actions.
    note : str
        Caveats of this estimate, or "".
    """

    name: str
    value: float
    ci_low: float
    ci_high: float
    ess: float
    max_weight: float
    clipped: int
    n_rounds: int
    n_unsupported: int
    note: str


@dataclass(frozen=True, eq=False)
class PolicyEvaluation:
    """Estimates of one target policy on one log.

    Attributes
    ----------
    rows : tuple of EstimateRow
        One row per estimator that is defined on the log.
    support : SupportReport
    skipped : dict of str to str
        Estimators that are undefined on this log, with the reason. They
        have no row, so no value is ever NaN.
    n_bootstrap : int
    alpha : float
    """

    rows: tuple[EstimateRow, ...]
    support: SupportReport
    skipped: dict[str, str] = field(default_factory=dict)
    n_bootstrap: int = 1000
    alpha: float = 0.05

    def __getitem__(self, name: str) -> EstimateRow:
        for row in self.rows:
            if row.name == name:
                return row
        reason = self.skipped.get(name)
        if reason:
            raise KeyError(f"estimator {name!r} was skipped: {reason}")
        names = [row.name for row in self.rows]
        raise KeyError(f"no estimate named {name!r}; the rows are {names}")

    def to_frame(self) -> pd.DataFrame:
        """Return the rows as a table, one row per estimator."""
        columns = list(EstimateRow.__dataclass_fields__)
        return pd.DataFrame([asdict(row) for row in self.rows], columns=columns)

    def __str__(self) -> str:
        lines = [self.to_frame().to_string(index=False), str(self.support)]
        lines += [f"skipped {name}: {reason}" for name, reason in self.skipped.items()]
        return "\n".join(lines)


def default_estimators(with_reward_hat: bool) -> list[OffPolicyEstimator]:
    """Return every estimator that can run: IPS and SNIPS, plus the DM/DR family.

    Parameters
    ----------
    with_reward_hat : bool
        Include DM, DR, switch-DR and DR with shrinkage, which need a reward
        model, with their default parameters.
    """
    estimators: list[OffPolicyEstimator] = [
        InversePropensityScoring(),
        SelfNormalizedInversePropensityScoring(),
    ]
    if with_reward_hat:
        estimators = [DirectMethod(), *estimators]
        estimators += [
            DoublyRobust(),
            SwitchDoublyRobust(),
            DoublyRobustWithShrinkage(),
        ]
    return estimators


def _check_estimators(
    estimators: Sequence[OffPolicyEstimator], has_reward_hat: bool
) -> None:
    names = [estimator.name for estimator in estimators]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(
            f"several estimators are named {duplicates[0]!r}",
            fix="give each estimator its own name, for example "
            "InversePropensityScoring(max_weight=10, name='ips-clipped')",
        )
    if not has_reward_hat:
        needing = [e.name for e in estimators if e.requires_reward_hat]
        if needing:
            raise InputError(
                f"estimators {needing} need 'reward_hat', which is None",
                fix="pass reward_hat=fit_reward_model(log), or leave those "
                "estimators out",
            )


def _notes(
    estimator: OffPolicyEstimator,
    interval: PolicyValueInterval,
    raw_weights: np.ndarray,
    clipped: int,
    log: BanditLog,
    support: SupportReport,
) -> str:
    """Write the caveats of one estimate, joined by "; "."""
    n_rounds = log.n_rounds
    notes = []
    max_weight = getattr(estimator, "max_weight", None)
    if max_weight is not None:
        notes.append(
            f"weights above max_weight={max_weight:g} clipped in {clipped} of "
            f"{n_rounds} rounds"
        )
    if isinstance(estimator, SwitchDoublyRobust):
        switched = int(np.count_nonzero(raw_weights > estimator.tau))
        notes.append(
            f"{switched} of {n_rounds} rounds have weight above "
            f"tau={estimator.tau:g} and use the reward model only"
        )
    if support.n_unsupported:
        where = support.unsupported_summary
        if estimator.requires_reward_hat:
            notes.append(
                f"the reward model alone values the unsupported target mass "
                f"in {support.n_unsupported} of {n_rounds} rounds ({where})"
            )
        else:
            notes.append(
                f"counts no reward for the unsupported target mass in "
                f"{support.n_unsupported} of {n_rounds} rounds ({where}), so "
                "the estimate does not cover those rounds"
            )
    if interval.n_defined < interval.n_bootstrap:
        notes.append(
            f"{interval.n_bootstrap - interval.n_defined} of "
            f"{interval.n_bootstrap} resamples had weights summing to 0 and "
            "were left out of the interval"
        )
    if n_rounds == 1:
        notes.append("one round, so the interval has zero width")
    if not np.any(log.reward):
        notes.append("every logged reward is 0")
    return "; ".join(notes)


def evaluate_policy(
    log: BanditLog,
    action_dist: object,
    reward_hat: object | None = None,
    estimators: Sequence[OffPolicyEstimator] | None = None,
    *,
    logging_dist: object | None = None,
    strata: object | None = None,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    random_state: int | np.random.Generator | None = None,
) -> PolicyEvaluation:
    """Estimate a target policy's value with several estimators and intervals.

    Parameters
    ----------
    log : BanditLog
    action_dist : array-like of float, shape (n_rounds, n_actions, n_positions)
        Target policy's probability of each action at each round and
        position; (n_rounds, n_actions) for one position.
    reward_hat : array-like of float, same shape as action_dist, optional
        Expected reward of each action at each round and position, for
        example from :func:`fit_reward_model`.
    estimators : sequence of OffPolicyEstimator, optional
        Default :func:`default_estimators`: IPS and SNIPS, and DM, DR,
        switch-DR and DR with shrinkage when ``reward_hat`` is given.
    logging_dist : array-like of float, same shape as action_dist, optional
        Logging policy's full distribution, for the support report.
    strata : array-like, shape (n_rounds,), optional
        Segment labels for the support report. Default ``log.strata``.
    n_bootstrap : int, default 1000
        Resamples per interval.
    alpha : float, default 0.05
        One minus the intervals' nominal coverage.
    random_state : int, Generator or None, default None
        Seed of the resampling. Every estimator resamples the same rounds,
        so their intervals are comparable.

    Returns
    -------
    PolicyEvaluation
        An estimator that is undefined on the log, such as SNIPS when every
        weight is 0, is listed in ``skipped`` instead of ``rows``.

    Raises
    ------
    InputError
        On arrays that do not match the log, duplicate estimator names, an
        estimator that needs ``reward_hat`` without one, or invalid
        ``n_bootstrap`` or ``alpha``.

    Warns
    -----
    SupportWarning
        When the target policy puts mass on actions the logging policy
        could not take.
    """
    check_bootstrap_arguments(n_bootstrap, alpha)
    if estimators is None:
        estimators = default_estimators(reward_hat is not None)
    _check_estimators(estimators, reward_hat is not None)

    # Support first: it validates action_dist and names the failing rounds.
    support = check_support(
        log, action_dist, logging_dist=logging_dist, strata=strata, warn=False
    )
    if support.n_unsupported:
        warnings.warn(support_warning_text(support), SupportWarning, stacklevel=2)

    # One seed for all estimators, so they resample the same rounds.
    seed = int(np.random.default_rng(random_state).integers(2**63))
    raw_weights = prepare_inputs(log, action_dist).weight
    rows = []
    skipped = {}
    for estimator in estimators:
        try:
            interval = estimator.estimate_interval(
                log,
                action_dist,
                reward_hat,
                n_bootstrap=n_bootstrap,
                alpha=alpha,
                random_state=seed,
            )
        except UndefinedMetricError as exc:
            logger.info("Skipped estimator %s: %s", estimator.name, exc)
            skipped[estimator.name] = str(exc)
            continue

        weights = estimator.applied_weights(log, action_dist)
        max_weight = getattr(estimator, "max_weight", None)
        clipped = 0 if max_weight is None else int(np.sum(raw_weights > max_weight))
        rows.append(
            EstimateRow(
                name=estimator.name,
                value=interval.value,
                ci_low=interval.low,
                ci_high=interval.high,
                ess=effective_sample_size(weights),
                max_weight=float(weights.max()),
                clipped=clipped,
                n_rounds=log.n_rounds,
                n_unsupported=support.n_unsupported,
                note=_notes(estimator, interval, raw_weights, clipped, log, support),
            )
        )
    return PolicyEvaluation(
        rows=tuple(rows),
        support=support,
        skipped=skipped,
        n_bootstrap=n_bootstrap,
        alpha=alpha,
    )
