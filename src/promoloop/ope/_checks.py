"""Validation shared by the log, the estimators and the support report.

Rounds of a log are checked value by value, so an invalid round can be named
in the error or dropped and counted. Policy arrays (``action_dist``,
``reward_hat``, a logging distribution) are checked against the log's shape.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from promoloop.errors import InputError
from promoloop.warnings import DataQualityWarning

if TYPE_CHECKING:
    from promoloop.ope.logs import BanditLog

# Tolerance when checking that a policy's probabilities sum to 1, loose
# enough for float32 softmax outputs over a few hundred actions.
PROBABILITY_SUM_TOLERANCE = 1e-5

# Reasons a round is invalid, in the order they are checked. A round with
# several problems is counted under the first one.
INVALID_REASONS = (
    "action_missing",
    "position_missing",
    "pscore_missing",
    "pscore_not_positive",
    "pscore_above_one",
    "reward_missing",
    "reward_not_finite",
    "context_missing",
)


def read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


def integer_codes(values: object, name: str, n_rounds: int | None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InputError(
            f"argument {name!r} has shape {array.shape}",
            expected="a one-dimensional array with one entry per round",
            fix=f"pass {name} as a 1-D array",
        )
    if array.dtype.kind not in "iu":
        raise InputError(
            f"argument {name!r} has dtype {array.dtype}",
            expected="integer codes starting at 0",
            fix=f"map the labels to codes, or build the log with "
            f"BanditLog.from_frame, which maps {name} labels to codes",
        )
    if n_rounds is not None and array.size != n_rounds:
        raise InputError(
            f"argument {name!r} has {array.size} entries but the log has "
            f"{n_rounds} rounds",
            fix=f"pass one {name} per round",
        )
    if array.size and array.min() < 0:
        raise InputError(
            f"argument {name!r} contains the negative code {int(array.min())}",
            expected="integer codes starting at 0",
            fix=f"map {name} labels to codes 0, 1, 2, ...",
        )
    return array.astype(np.int64)


def float_values(values: object, name: str, n_rounds: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.size != n_rounds:
        raise InputError(
            f"argument {name!r} has shape {array.shape}",
            expected=f"a 1-D array with one value per round ({n_rounds},)",
            fix=f"pass one {name} per round",
        )
    if array.dtype.kind not in "biuf":
        raise InputError(
            f"argument {name!r} has dtype {array.dtype}",
            expected="numbers",
            fix=f"convert {name} to a numeric dtype",
        )
    return array.astype(float)


def check_round_labels(values: object, name: str, n_rounds: int) -> np.ndarray:
    """Validate an array of one label per round, such as round ids or strata."""
    array = np.asarray(values)
    if array.ndim != 1 or array.size != n_rounds:
        raise InputError(
            f"argument {name!r} has shape {array.shape}",
            expected=f"one label per round ({n_rounds},)",
            fix=f"pass one {name} label per round; if rows were dropped, "
            "select the same rows with df.iloc[log.source_rows]",
        )
    return array


def invalid_masks(
    *,
    action_missing: np.ndarray,
    position_missing: np.ndarray,
    pscore: np.ndarray,
    reward: np.ndarray,
    context: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Flag the invalid rounds under each reason of ``INVALID_REASONS``."""
    with np.errstate(invalid="ignore"):
        masks = {
            "action_missing": action_missing,
            "position_missing": position_missing,
            "pscore_missing": np.isnan(pscore),
            "pscore_not_positive": pscore <= 0,
            "pscore_above_one": pscore > 1,
            "reward_missing": np.isnan(reward),
            "reward_not_finite": np.isinf(reward),
        }
    if context is None:
        masks["context_missing"] = np.zeros(pscore.size, dtype=bool)
    else:
        masks["context_missing"] = ~np.isfinite(context).all(axis=1)
    return masks


def first_reasons(masks: dict[str, np.ndarray]) -> np.ndarray:
    """Return the first reason each round is invalid, or "" for a valid round."""
    n_rounds = next(iter(masks.values())).size
    reasons = np.full(n_rounds, "", dtype=object)
    for reason in reversed(INVALID_REASONS):
        reasons[masks[reason]] = reason
    return reasons


# Text of the error for each reason: the column key, the problem after
# "round R: ", what the column should contain, and the fix.
_PSCORE_EXPECTED = "the probability, in (0, 1], that the logging policy gave it"
_REASON_TEXT = {
    "action_missing": (
        "action",
        "the logged action is missing",
        "the label of the action the logging policy chose",
        "fill in the logged action",
    ),
    "position_missing": (
        "position",
        "position of logged action {action} is missing",
        "the slot the action was shown in",
        "fill in the position",
    ),
    "pscore_missing": (
        "pscore",
        "pscore of logged action {action} is missing or not a number",
        _PSCORE_EXPECTED,
        "log that probability with each decision",
    ),
    "pscore_not_positive": (
        "pscore",
        "logged action {action} has pscore {pscore:g}; a logged action needs "
        "pscore > 0",
        _PSCORE_EXPECTED,
        "log the probability the logging policy gave the chosen action (a "
        "deterministic rule gives its action pscore 1) instead of 0 or a "
        "rounded value",
    ),
    "pscore_above_one": (
        "pscore",
        "logged action {action} has pscore {pscore:g}; a probability cannot exceed 1",
        "a probability in (0, 1], not a percentage or a weight",
        "pass the probability column, or divide percentages by 100",
    ),
    "reward_missing": (
        "reward",
        "reward of logged action {action} is missing or not a number",
        "the observed reward (0 when the customer did not respond)",
        "fill in the observed reward",
    ),
    "reward_not_finite": (
        "reward",
        "reward of logged action {action} is {reward}",
        "a finite number",
        "fix the reward value",
    ),
    "context_missing": (
        "context",
        "context of logged action {action} is missing or not finite",
        "finite numbers in every context column",
        "impute or encode the context columns",
    ),
}


def invalid_round_error(
    reason: str,
    *,
    round_label: object,
    action_name: str,
    pscore: float,
    reward: float,
    columns: Mapping[str, str],
    source: str,
    row: int | None,
    n_invalid: int,
    can_drop: bool,
    raw_values: Mapping[str, object] | None = None,
) -> InputError:
    """Build the error for one invalid round, naming its column, value and fix.

    ``raw_values`` maps "pscore" and "reward" to the cells as read, so text
    that is not a number can be shown.
    """
    column_key, problem, expected, fix = _REASON_TEXT[reason]
    problem = f"round {round_label}: " + problem.format(
        action=action_name, pscore=pscore, reward=reward
    )
    if n_invalid > 1:
        problem += f" ({n_invalid} invalid rounds in all)"
    if can_drop:
        fix += (
            ", or pass on_invalid='drop' to leave such rounds out and count "
            "them in log.dropped"
        )
    value = None
    if reason in ("pscore_not_positive", "pscore_above_one"):
        value = pscore
    elif reason == "reward_not_finite":
        value = reward
    elif reason in ("pscore_missing", "reward_missing") and raw_values:
        raw = raw_values[column_key]
        value = None if pd.isna(raw) else raw
    return InputError(
        problem,
        file=source,
        row=row,
        column=columns[column_key],
        value=value,
        expected=expected,
        fix=fix,
    )


def context_from_frame(
    df: pd.DataFrame, context: list[str], source: str
) -> np.ndarray | None:
    """Read the context columns as floats, or None without context columns."""
    if not context:
        return None
    for name in context:
        if not (
            pd.api.types.is_numeric_dtype(df[name])
            or pd.api.types.is_bool_dtype(df[name])
        ):
            raise InputError(
                f"context column {name!r} of {source} has dtype {df[name].dtype}",
                file=source,
                column=name,
                expected="numbers",
                fix="one-hot encode categorical features, for example with "
                "pandas.get_dummies, and pass the encoded columns",
            )
    return df[context].to_numpy(dtype=float, na_value=np.nan)


def labels_to_codes(
    labels: pd.Series,
    known: Sequence[object] | None,
    kind: str,
    argument: str,
    source: str,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map labels to codes by their place in ``known``, or in sorted order."""
    if known is None:
        distinct = labels.unique().tolist()
        try:
            known = sorted(distinct)
        except TypeError:
            # Labels of mixed types, such as ints and text, sort as text.
            known = sorted(distinct, key=str)
    names = [str(label) for label in known]
    if len(set(names)) != len(names):
        raise InputError(
            f"argument {argument!r} contains duplicate labels",
            value=names,
            fix=f"list each {kind} once",
        )
    as_text = labels.astype(str).to_numpy(dtype=object)
    codes = pd.Index(names).get_indexer(as_text).astype(np.int64)
    unknown = sorted({str(label) for label in as_text[codes < 0]})
    if unknown:
        raise InputError(
            f"{kind} {unknown[0]!r} in {source} is not in {argument}",
            file=source,
            value=unknown[0],
            expected=f"one of {names}",
            fix=f"add every logged {kind} to {argument}",
        )
    return codes, tuple(names)


def warn_dropped(
    dropped: dict[str, int], labels: np.ndarray, n_rows: int, source: str
) -> None:
    """Issue the DataQualityWarning that lists the dropped rounds by reason."""
    counts = ", ".join(f"{count} {reason}" for reason, count in dropped.items())
    listed = ", ".join(str(label) for label in labels[:5])
    more = f" and {labels.size - 5} more" if labels.size > 5 else ""
    warnings.warn(
        f"dropped {labels.size} of {n_rows} rounds from {source} ({counts}): "
        f"rounds {listed}{more}; log.dropped lists the counts",
        DataQualityWarning,
        stacklevel=3,
    )


def _expected_shape(log: BanditLog) -> str:
    return (
        f"(n_rounds, n_actions, n_positions) = "
        f"({log.n_rounds}, {log.n_actions}, {log.n_positions})"
    )


def check_policy_array(
    log: BanditLog,
    values: object,
    name: str = "action_dist",
    *,
    distribution: bool = True,
) -> np.ndarray:
    """Validate a per-round array over actions and positions against ``log``.

    Parameters
    ----------
    log : BanditLog
    values : array-like of float, shape (n_rounds, n_actions, n_positions)
        Probabilities of a policy (``distribution=True``) or expected rewards.
        Shape (n_rounds, n_actions) is accepted when the log has one position.
    name : str, default "action_dist"
        Argument name used in messages.
    distribution : bool, default True
        Require values in [0, 1] that sum to 1 over actions at each round and
        position.

    Returns
    -------
    ndarray of float, shape (n_rounds, n_actions, n_positions)

    Raises
    ------
    InputError
        When the shape does not match the log, a value is not finite, or a
        distribution has a value outside [0, 1] or does not sum to 1.
    """
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise InputError(
            f"argument {name!r} has dtype {array.dtype}",
            expected="numbers",
            fix=f"convert {name} to a float array",
        )
    array = array.astype(float)
    given_shape = array.shape
    if array.ndim == 2 and log.n_positions == 1:
        array = array[:, :, np.newaxis]
    if array.shape != (log.n_rounds, log.n_actions, log.n_positions):
        raise InputError(
            f"argument {name!r} has shape {given_shape}, which does not match the log",
            expected=_expected_shape(log),
            fix=f"build {name} for the log's rounds and for actions in the order "
            "of log.action_names; if rounds were dropped, select the same rows "
            "with df.iloc[log.source_rows]",
        )
    finite = np.isfinite(array)
    if not finite.all():
        round_index, action_code, _ = np.argwhere(~finite)[0]
        raise InputError(
            f"argument {name!r} is not finite at round {log.round_id[round_index]}, "
            f"action {log.action_names[action_code]}",
            value=float(array[tuple(np.argwhere(~finite)[0])]),
            fix=f"replace NaN and infinite values in {name}",
        )
    if not distribution:
        return array

    outside = (array < 0) | (array > 1)
    if outside.any():
        index = tuple(np.argwhere(outside)[0])
        raise InputError(
            f"argument {name!r} has probability {array[index]:g} at round "
            f"{log.round_id[index[0]]}, action {log.action_names[index[1]]}",
            expected="probabilities in [0, 1]",
            fix=f"pass probabilities in {name}, not scores",
        )
    sums = array.sum(axis=1)
    off = np.abs(sums - 1) > PROBABILITY_SUM_TOLERANCE
    if off.any():
        round_index, position_code = np.argwhere(off)[0]
        raise InputError(
            f"argument {name!r} sums to {sums[round_index, position_code]:.6g} over "
            f"actions at round {log.round_id[round_index]}, position "
            f"{log.position_names[position_code]}",
            expected="a probability distribution over actions at each round "
            "and position",
            fix=f"normalize {name} so that {name}.sum(axis=1) == 1",
        )
    return array


def values_at_logged_position(log: BanditLog, array: np.ndarray) -> np.ndarray:
    """Return ``array[i, :, position[i]]`` for each round i.

    The result has shape (n_rounds, n_actions): each round reads a policy
    array only at the position where its action was shown.
    """
    return array[np.arange(log.n_rounds), :, log.position]


def check_bootstrap_arguments(n_bootstrap: object, alpha: object) -> None:
    """Validate the number of resamples and the interval's alpha."""
    if (
        isinstance(n_bootstrap, bool)
        or not isinstance(n_bootstrap, numbers.Integral)
        or n_bootstrap < 1
    ):
        raise InputError(
            f"argument 'n_bootstrap' is {n_bootstrap!r}",
            expected="a positive int",
            fix="pass n_bootstrap=1000, for example",
        )
    if not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise InputError(
            f"argument 'alpha' is {alpha!r}",
            expected="a number in (0, 1), one minus the interval's coverage",
            fix="pass alpha=0.05 for a 95% interval",
        )


def check_weight_bound(value: object, name: str, *, allow_zero: bool) -> float:
    """Validate a threshold on the weights. An infinite value means no threshold."""
    valid = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if valid:
        value = float(value)
        valid = value >= 0 if allow_zero else value > 0
        valid = valid and not math.isnan(value)
    if not valid:
        bound = "0 or more" if allow_zero else "greater than 0"
        raise InputError(
            f"argument {name!r} is {value!r}",
            expected=f"a number {bound}, or math.inf for no threshold",
            fix=f"pass a positive {name}",
        )
    return value
