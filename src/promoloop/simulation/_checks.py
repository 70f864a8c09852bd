"""Input checks of the simulator: numbers, rounds, customer rows and actions.

Every check raises InputError naming the argument, the value and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from promoloop.bandits import _checks as bandit_checks
from promoloop.errors import InputError


def check_number(
    owner: str,
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
) -> None:
    """Raise InputError unless ``value`` is a finite number within the bounds.

    ``low`` is inclusive unless ``open_low``, and ``high`` is exclusive.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    valid = math.isfinite(number)
    if valid and low is not None:
        valid = number > low if open_low else number >= low
    if valid and high is not None:
        valid = number < high
    if not valid:
        parts = []
        if low is not None:
            parts.append(f"> {low:g}" if open_low else f">= {low:g}")
        if high is not None:
            parts.append(f"< {high:g}")
        bounds = " and ".join(parts)
        raise InputError(
            f"invalid parameter {name!r} of {owner!r}",
            value=value,
            expected="a finite number" + (f" {bounds}" if bounds else ""),
            fix=f"pass {name} as a finite number" + (f" {bounds}" if bounds else ""),
        )


def checked_parameter(name: str, value: object, *, high: float | None = None):
    """Return ``value`` as a float, raising unless it is finite, > 0 and <= high."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number <= 0 or (high is not None and number > high):
        bound = "> 0" if high is None else f"in (0, {high:g}]"
        raise InputError(
            f"invalid parameter {name!r}",
            value=value,
            expected=f"a finite number {bound}",
            fix=f"pass {name} {bound}",
        )
    return number


def checked_count(name: str, value: object) -> int:
    """Return ``value`` as an int, raising unless it is an integer >= 0."""
    return bandit_checks.checked_count(name, value, minimum=0)


def checked_round(round_index: object) -> int:
    """Return a 0-based round number as an int, raising unless it is >= 0."""
    if (
        isinstance(round_index, bool)
        or not isinstance(round_index, int | np.integer)
        or round_index < 0
    ):
        raise InputError(
            "invalid parameter 'round_index'",
            value=round_index,
            expected="an integer >= 0",
            fix="pass the 0-based round number",
        )
    return int(round_index)


def checked_rows(customers: object, n_customers: int) -> np.ndarray:
    """Return customer rows as a 1-d int array, raising on rows out of range."""
    rows = np.atleast_1d(np.asarray(customers))
    if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
        raise InputError(
            "argument 'customers' is not a 1-d array of profile rows",
            value=f"dtype {rows.dtype}, shape {rows.shape}",
            fix="pass 0-based row positions, e.g. from sample_customers",
        )
    rows = rows.astype(np.intp)
    bad = (rows < 0) | (rows >= n_customers)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            "customer row out of range",
            row=row + 1,
            column="customers",
            value=int(rows[row]),
            expected=f"a row from 0 to {n_customers - 1}",
            fix="pass 0-based row positions, e.g. from sample_customers",
        )
    return rows


def checked_action_codes(
    actions: object, names: Sequence[str], n: int | None
) -> np.ndarray:
    """Convert action names (or codes) to codes of ``names``, checking length n."""
    values = np.atleast_1d(np.asarray(actions))
    if n is not None and values.shape != (n,):
        raise InputError(
            f"argument 'actions' has shape {values.shape}",
            expected=f"one action per customer, ({n},)",
            fix="pass as many actions as customers",
        )
    if values.dtype.kind in "iu":
        codes = values.astype(np.intp)
        bad = (codes < 0) | (codes >= len(names))
    else:
        codes = pd.Index(names).get_indexer(values.astype(str))
        bad = codes < 0
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            "unknown action",
            row=row + 1,
            column="actions",
            value=values[row].item(),
            expected=f"one of {list(names)} or a code below {len(names)}",
            fix="pass actions of this simulator",
        )
    return codes


def checked_action_dist(
    action_dist: object, n_rows: int, names: Sequence[str]
) -> np.ndarray:
    """Return a policy's probabilities as an (n_rows, k) array, checking each row.

    Shape (n_rows, k, 1), the one-position layout of ``promoloop.ope``, is
    accepted too.
    """
    dist = np.asarray(action_dist, dtype=float)
    if dist.ndim == 3 and dist.shape[2] == 1:
        dist = dist[:, :, 0]
    if dist.shape != (n_rows, len(names)):
        raise InputError(
            f"argument 'action_dist' has shape {dist.shape}",
            expected=f"({n_rows}, {len(names)}): one row per customer, "
            f"columns {list(names)}",
            fix="pass one probability row per customer",
        )
    bad = (dist < 0).any(axis=1) | ~np.isclose(dist.sum(axis=1), 1.0, atol=1e-6)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            "action_dist row is not a probability distribution",
            row=row + 1,
            column="action_dist",
            value=dist[row].tolist(),
            expected="non-negative values that sum to 1",
            fix="normalize each row of the policy's probabilities",
        )
    return dist
