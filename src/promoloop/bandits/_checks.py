"""Input checks of the bandit policies: parameters, decisions, rewards, saved state.

Every check raises InputError naming the argument, the value and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from promoloop.errors import InputError


def checked_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float, raising unless it is finite and > 0 (or >= 0)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InputError(
            f"invalid parameter {name!r}",
            value=value,
            expected=f"a finite number {bound}",
            fix=f"pass {name} {bound}",
        )
    return number


def checked_count(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as an int, raising unless it is an integer >= ``minimum``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or value < minimum
    ):
        raise InputError(
            f"invalid parameter {name!r}",
            value=value,
            expected=f"an integer >= {minimum}",
            fix=f"pass {name} as an integer of at least {minimum}",
        )
    return int(value)


def checked_finite(name: str, value: float) -> float:
    """Return ``value`` as a float, raising unless it is finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number):
        raise InputError(
            f"invalid parameter {name!r}",
            value=value,
            expected="a finite number",
            fix=f"pass {name} as a finite number",
        )
    return number


def checked_seed(value: int) -> int:
    """Return a draws seed as an int, raising unless it is a non-negative integer."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise InputError(
            "invalid parameter 'draws_seed'",
            value=value,
            expected="an integer >= 0",
            fix="pass draws_seed as a non-negative integer",
        )
    return int(value)


def checked_actions(actions: Sequence[str], no_action: str) -> tuple[str, ...]:
    """Return the action names as a tuple, checking names and the no-promotion one."""
    if isinstance(actions, str):
        raise InputError(
            "argument 'actions' is a single string",
            value=actions,
            expected="a sequence of action names",
            fix=f"pass a list such as [{actions!r}, ...]",
        )
    names = tuple(actions)
    for name in names:
        if not isinstance(name, str) or not name:
            raise InputError(
                "invalid action name",
                column="actions",
                value=name,
                expected="non-empty strings",
                fix="name every action with a non-empty string",
            )
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise InputError(
            "duplicate action names",
            column="actions",
            value=duplicates,
            fix="give every action a unique name",
        )
    if no_action not in names:
        raise InputError(
            f"the no-promotion action {no_action!r} is not among the actions",
            column="actions",
            value=list(names),
            fix=f"add {no_action!r} to actions, or set no_action to the name "
            "of the action that sends nothing",
        )
    return names


def checked_floor(min_probability: float, n_actions: int) -> float:
    """Return the exploration floor, raising when the actions cannot all meet it.

    A mask with fewer eligible actions needs less, so a floor that all
    ``n_actions`` can meet holds for every mask.
    """
    floor = checked_positive("min_probability", min_probability, allow_zero=True)
    if floor * n_actions > 1.0:
        raise InputError(
            f"exploration floor min_probability={floor:g} cannot be met by "
            f"{n_actions} eligible actions ({n_actions} x {floor:g} > 1)",
            value=min_probability,
            expected=f"min_probability <= 1 / {n_actions} = {1 / n_actions:.4g}",
            fix=f"lower min_probability to at most {1 / n_actions:.4g}",
        )
    return floor


def row_count(context, eligible) -> int:
    """Return the number of decisions: rows of the context, else of the mask, else 1."""
    for value in (context, eligible):
        if value is not None:
            shape = np.shape(value)
            return 1 if len(shape) <= 1 else shape[0]
    return 1


def check_rows(values: np.ndarray, n_rows: int, argument: str) -> None:
    """Raise unless ``values`` has one row per decision."""
    rows = 1 if values.ndim <= 1 else values.shape[0]
    if rows != n_rows:
        raise InputError(
            f"argument {argument!r} has {rows} rows, but the decisions have {n_rows}",
            column=argument,
            expected=f"{n_rows} rows, one per decision",
            fix="pass context and eligible with one row per decision",
        )


def checked_features(context, n_rows: int, n_features: int) -> np.ndarray:
    """Return the context as a finite (n, n_features) float matrix."""
    features = np.asarray(context, dtype=float)
    if features.ndim == 1:
        features = features[np.newaxis, :]
    if features.ndim != 2 or features.shape[1] != n_features:
        raise InputError(
            "argument 'context' has the wrong shape",
            column="context",
            value=features.shape,
            expected=f"shape (n, {n_features})",
            fix="pass the same features, in the same order, as when the "
            "policy was created",
        )
    check_rows(features, n_rows, "context")
    finite_rows = np.isfinite(features).all(axis=1)
    if not finite_rows.all():
        row = int(np.flatnonzero(~finite_rows)[0])
        raise InputError(
            "non-finite value in 'context'",
            row=row + 1,
            column="context",
            expected="finite floats",
            fix="impute missing features before calling the policy",
        )
    return features


def checked_eligible(
    eligible, n_rows: int, n_actions: int, no_action_code: int
) -> np.ndarray:
    """Return the mask as a (n, k) bool array with the no-promotion column set."""
    if eligible is None:
        return np.ones((n_rows, n_actions), dtype=bool)
    mask = np.asarray(eligible)
    if mask.ndim == 1 and mask.shape[0] == n_actions:
        mask = np.broadcast_to(mask, (n_rows, n_actions))
    if mask.ndim != 2 or mask.shape[1] != n_actions:
        raise InputError(
            "argument 'eligible' has the wrong shape",
            column="eligible",
            value=mask.shape,
            expected=f"shape (n, {n_actions}), one column per action",
            fix="order the columns as policy.actions",
        )
    if mask.dtype != bool:
        if mask.dtype.kind not in "iuf" or not np.isin(mask, (0, 1)).all():
            raise InputError(
                "argument 'eligible' is not boolean",
                column="eligible",
                value=str(mask.dtype),
                expected="bool values (or 0 and 1)",
                fix="pass a boolean mask",
            )
        mask = mask.astype(bool)
    check_rows(mask, n_rows, "eligible")
    mask = mask.copy()
    mask[:, no_action_code] = True
    return mask


def checked_rewards(rewards, n_rows: int) -> np.ndarray:
    """Return the rewards as a finite float vector of length ``n_rows``."""
    try:
        values = np.atleast_1d(np.asarray(rewards, dtype=float))
    except (TypeError, ValueError) as error:
        raise InputError(
            f"argument 'rewards' is not numeric: {error}",
            column="rewards",
            expected="finite floats",
            fix="pass one numeric reward per decision",
        ) from error
    if values.ndim != 1 or len(values) != n_rows:
        raise InputError(
            "arguments 'actions' and 'rewards' differ in length",
            column="rewards",
            value=values.shape,
            expected=f"{n_rows} rewards, one per action",
            fix="pass one reward per decision",
        )
    finite = np.isfinite(values)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise InputError(
            "non-finite reward",
            row=row + 1,
            column="rewards",
            value=float(values[row]),
            expected="finite floats",
            fix="leave decisions without a measured reward out",
        )
    return values


def state_array(
    state: dict[str, Any], key: str, shape: tuple[int, ...], dtype=float
) -> np.ndarray:
    """Read one array of saved state, raising on a missing or misshapen value."""
    if key not in state:
        raise InputError(
            f"policy state lacks {key!r}",
            fix="pass the dict returned by to_dict of the same policy kind",
        )
    try:
        values = np.asarray(state[key], dtype=dtype)
    except (TypeError, ValueError) as error:
        raise InputError(
            f"policy state {key!r} is not numeric: {error}",
            fix="pass the dict returned by to_dict",
        ) from error
    if values.shape != shape or not np.isfinite(values).all():
        raise InputError(
            f"policy state {key!r} does not fit the policy",
            value=values.shape,
            expected=f"finite values of shape {shape}",
            fix="pass the state saved with the same actions and features",
        )
    return values
