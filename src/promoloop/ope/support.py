"""Support and overlap diagnostics of a target policy on a bandit log.

Importance-weighted estimates need the logging policy to give a positive
probability to every action the target policy may choose (positivity). This
module reports where that fails, and how concentrated the weights are.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np

from promoloop.errors import InputError
from promoloop.ope._checks import (
    check_policy_array,
    check_round_labels,
    values_at_logged_position,
)
from promoloop.ope.logs import BanditLog
from promoloop.warnings import SupportWarning

# A logged pscore this close to 1 means the logging policy was deterministic
# in that round, so every other action had probability 0.
_DETERMINISTIC_TOLERANCE = 1e-9

# Number of round labels listed in a message.
_ROUNDS_SHOWN = 5


def effective_sample_size(weights: object) -> float:
    """Compute the effective sample size of importance weights.

    .. math:: n_{eff} = \\frac{(\\sum_i w_i)^2}{\\sum_i w_i^2}

    Parameters
    ----------
    weights : array-like of float, shape (n_rounds,)
        Non-negative, finite importance weights.

    Returns
    -------
    float
        Between 1 and ``n_rounds`` when a weight is positive, equal to
        ``n_rounds`` for equal weights, and 0 when every weight is 0.
    """
    weights = np.asarray(weights, dtype=float)
    total_square = float(np.sum(weights**2))
    if total_square == 0:
        return 0.0
    return float(np.sum(weights) ** 2 / total_square)


@dataclass(frozen=True, eq=False)
class SupportReport:
    """Support diagnostics of a target policy on a log.

    Attributes
    ----------
    n_rounds : int
    ess : float
        Effective sample size of the unclipped importance weights.
    max_weight : float
        Largest unclipped importance weight.
    unsupported_mass : ndarray of float, shape (n_rounds,)
        Target probability, per round, of actions the logging policy could
        not take at that round and position.
    unsupported_round_ids : ndarray, shape (n_unsupported,)
        Labels (``log.round_id``) of the rounds with unsupported mass.
    unsupported_actions : dict of str to int
        Number of rounds in which the target policy puts mass on each
        unsupported action.
    unsupported_by_stratum : dict of str to dict of str to int
        The same counts per stratum; empty without strata.
    never_logged_actions : tuple of str
        Actions that no round of the log took.
    strata_name : str or None
        What the strata are, such as ``"segment"``.
    logging_dist_known : bool
        True when the full logging distribution was given. Otherwise support
        is inferred from the log: a logged pscore of 1 excludes every other
        action in that round, and a never-logged action is unsupported in
        every round.
    """

    n_rounds: int
    ess: float
    max_weight: float
    unsupported_mass: np.ndarray
    unsupported_round_ids: np.ndarray
    unsupported_actions: dict[str, int]
    unsupported_by_stratum: dict[str, dict[str, int]]
    never_logged_actions: tuple[str, ...]
    strata_name: str | None
    logging_dist_known: bool

    @property
    def n_unsupported(self) -> int:
        """Number of rounds where the target policy puts mass on unsupported actions."""
        return int(np.count_nonzero(self.unsupported_mass > 0))

    @property
    def unsupported_share(self) -> float:
        """Mean unsupported target mass per round, between 0 and 1."""
        return float(np.mean(self.unsupported_mass))

    @property
    def unsupported_summary(self) -> str:
        """Unsupported actions per stratum, such as ``"segment vip: FREESHIP"``.

        Without strata, the unsupported actions; "" when there are none.
        """
        if not self.unsupported_by_stratum:
            return ", ".join(self.unsupported_actions)
        return "; ".join(
            f"{self.strata_name} {stratum}: {', '.join(actions)}"
            for stratum, actions in self.unsupported_by_stratum.items()
        )

    @property
    def message(self) -> str:
        """One-sentence summary, naming strata and actions when support fails."""
        if self.n_unsupported == 0:
            return (
                "target policy puts mass only on supported actions in all "
                f"{self.n_rounds} rounds"
            )
        listed = ", ".join(
            str(label) for label in self.unsupported_round_ids[:_ROUNDS_SHOWN]
        )
        if self.n_unsupported > _ROUNDS_SHOWN:
            listed += f" and {self.n_unsupported - _ROUNDS_SHOWN} more"
        return (
            "target policy puts mass on unsupported actions for "
            f"{self.n_unsupported} of {self.n_rounds} rounds "
            f"({self.unsupported_summary}); rounds {listed}"
        )

    def __str__(self) -> str:
        return (
            f"{self.message}. Effective sample size {self.ess:.2f} of "
            f"{self.n_rounds} rounds, max weight {self.max_weight:g}"
        )


def _supported_actions(
    log: BanditLog, logging_dist: object | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Flag, per round, the actions the logging policy could take there.

    Returns a boolean array of shape (n_rounds, n_actions) and the names of
    the actions never logged.
    """
    rounds = np.arange(log.n_rounds)
    logged_counts = np.bincount(log.action, minlength=log.n_actions)
    never_logged = tuple(
        log.action_names[code] for code in np.flatnonzero(logged_counts == 0)
    )
    if logging_dist is not None:
        logging = values_at_logged_position(
            log, check_policy_array(log, logging_dist, "logging_dist")
        )
        impossible = logging[rounds, log.action] == 0
        if impossible.any():
            index = int(np.flatnonzero(impossible)[0])
            raise InputError(
                f"round {log.round_id[index]}: logging_dist gives the logged "
                f"action {log.action_names[log.action[index]]} probability 0, "
                f"but its pscore is {log.pscore[index]:g}",
                expected="a logging distribution that matches the logged pscore",
                fix="pass the logging policy's distribution for the same "
                "rounds, actions and positions as the log",
            )
        return logging > 0, never_logged

    supported = np.ones((log.n_rounds, log.n_actions), dtype=bool)
    supported[:, logged_counts == 0] = False
    deterministic = log.pscore >= 1 - _DETERMINISTIC_TOLERANCE
    supported[deterministic, :] = False
    supported[rounds[deterministic], log.action[deterministic]] = True
    return supported, never_logged


def _count_by_stratum(
    unsupported: np.ndarray, strata: np.ndarray, action_names: tuple[str, ...]
) -> dict[str, dict[str, int]]:
    """Count rounds per stratum and action, largest strata first."""
    counts: dict[str, Counter] = {}
    for round_index, action_code in np.argwhere(unsupported):
        stratum = str(strata[round_index])
        counts.setdefault(stratum, Counter())[action_names[action_code]] += 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1].total(), item[0]))
    return {stratum: dict(actions.most_common()) for stratum, actions in ordered}


def check_support(
    log: BanditLog,
    action_dist: object,
    *,
    logging_dist: object | None = None,
    strata: object | None = None,
    strata_name: str | None = None,
    warn: bool = True,
) -> SupportReport:
    """Report effective sample size, max weight and unsupported target mass.

    Parameters
    ----------
    log : BanditLog
    action_dist : array-like of float, shape (n_rounds, n_actions, n_positions)
        Target policy's probabilities; (n_rounds, n_actions) for one position.
    logging_dist : array-like of float, same shape as action_dist, optional
        Logging policy's full distribution. When it is unknown (the default),
        support is inferred from the log: a round logged with pscore 1 could
        take no other action, and an action that no round took is
        unsupported everywhere.
    strata : array-like, shape (n_rounds,), optional
        Segment label per round used to group the report. Default
        ``log.strata``.
    strata_name : str, optional
        What the strata are, such as ``"segment"``. Default
        ``log.strata_name``.
    warn : bool, default True
        Issue a ``SupportWarning`` when the target policy puts mass on
        unsupported actions.

    Returns
    -------
    SupportReport

    Raises
    ------
    InputError
        When an array does not match the log, or ``logging_dist`` gives a
        logged action probability 0.
    """
    target = values_at_logged_position(log, check_policy_array(log, action_dist))
    rounds = np.arange(log.n_rounds)
    with np.errstate(over="ignore"):
        weights = target[rounds, log.action] / log.pscore
    if not np.isfinite(weights).all():
        index = int(np.flatnonzero(~np.isfinite(weights))[0])
        raise InputError(
            f"round {log.round_id[index]}: the importance weight overflows "
            f"because pscore is {log.pscore[index]:g}",
            fix="check that pscore is the logged probability of the action",
        )

    # Target mass on actions outside the logging policy's support.
    supported, never_logged = _supported_actions(log, logging_dist)
    unsupported = (target > 0) & ~supported
    unsupported_mass = np.where(unsupported, target, 0.0).sum(axis=1)
    action_counts = unsupported.sum(axis=0)
    unsupported_actions = {
        log.action_names[code]: int(action_counts[code])
        for code in np.argsort(-action_counts, kind="stable")
        if action_counts[code] > 0
    }

    # Group by stratum when labels are given.
    if strata is None:
        strata = log.strata
        strata_name = strata_name or log.strata_name
    by_stratum: dict[str, dict[str, int]] = {}
    if strata is not None:
        strata = check_round_labels(strata, "strata", log.n_rounds)
        by_stratum = _count_by_stratum(unsupported, strata, log.action_names)

    report = SupportReport(
        n_rounds=log.n_rounds,
        ess=effective_sample_size(weights),
        max_weight=float(weights.max()),
        unsupported_mass=unsupported_mass,
        unsupported_round_ids=log.round_id[unsupported_mass > 0],
        unsupported_actions=unsupported_actions,
        unsupported_by_stratum=by_stratum,
        never_logged_actions=never_logged,
        strata_name=(strata_name or "stratum") if strata is not None else None,
        logging_dist_known=logging_dist is not None,
    )
    if warn and report.n_unsupported:
        warnings.warn(support_warning_text(report), SupportWarning, stacklevel=2)
    return report


def support_warning_text(report: SupportReport) -> str:
    """Return the ``SupportWarning`` message for a report with unsupported rounds."""
    return (
        f"{report.message}. IPS and SNIPS count no reward for that mass; use a "
        "DR estimate with a reward model for those rounds, or restrict the "
        "target policy to actions the logging policy could take"
    )
