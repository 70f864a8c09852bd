"""Validation of the arrays and parameters the uplift metrics take."""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from promoloop.errors import InputError


def _to_float_array(values: object, name: str) -> np.ndarray:
    if isinstance(values, pd.Series | pd.Index):
        try:
            return values.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"argument {name!r} is not numeric (dtype {values.dtype})",
                expected="numbers",
                fix=f"convert {name} to a numeric dtype",
            ) from exc
    array = np.asarray(values)
    if array.ndim != 1:
        raise InputError(
            f"argument {name!r} has shape {array.shape}",
            expected="a one-dimensional array",
            fix=f"pass {name} as a 1-D array or Series",
        )
    if array.dtype.kind not in "biufO":
        raise InputError(
            f"argument {name!r} is not numeric (dtype {array.dtype})",
            expected="numbers",
            fix=f"convert {name} to a numeric dtype",
        )
    try:
        return array.astype(float)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"argument {name!r} contains values that are not numbers",
            expected="numbers",
            fix=f"convert {name} to a numeric dtype",
        ) from exc


def check_arrays(
    y: object, treatment: object, score: object | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Convert and validate outcome, treatment flag and score.

    Returns
    -------
    y : ndarray of float
    treatment : ndarray of bool
    score : ndarray of float or None
        None when no score was given.

    Raises
    ------
    InputError
        When an argument is not a 1-D numeric array, lengths differ, the
        input is empty, a value is NaN or infinite, or treatment contains a value
        other than 0 and 1.
    """
    named = {"y": y, "treatment": treatment}
    if score is not None:
        named["score"] = score
    arrays = {name: _to_float_array(values, name) for name, values in named.items()}

    # Same length, at least one customer.
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise InputError(
            f"arguments have different lengths ({listed})",
            expected="one value per customer in every argument",
            fix="align the arrays on the same customers",
        )
    if lengths["y"] == 0:
        raise InputError(
            "no customers: the arguments are empty",
            expected="at least one customer",
        )

    # No missing or infinite values.
    for name, array in arrays.items():
        n_nan = int(np.isnan(array).sum())
        if n_nan:
            raise InputError(
                f"argument {name!r} contains {n_nan} NaN values",
                expected="a value for every customer",
                fix=f"drop or fill the customers with a missing {name}",
            )
        n_inf = int(np.isinf(array).sum())
        if n_inf:
            raise InputError(
                f"argument {name!r} contains {n_inf} infinite values",
                expected="finite numbers",
                fix=f"drop or clip the customers with an infinite {name}",
            )

    # Treatment is a 0/1 flag.
    flags = arrays["treatment"]
    invalid = np.unique(flags[(flags != 0) & (flags != 1)])
    if invalid.size:
        raise InputError(
            f"argument 'treatment' contains {invalid.size} values other than 0 "
            f"and 1: {invalid[:5].tolist()}",
            expected="1 for treated and 0 for control customers",
            fix="encode the treatment flag as 0/1",
        )
    return arrays["y"], flags == 1, arrays.get("score")


def check_binary_outcome(y: np.ndarray, metric: str) -> None:
    """Raise InputError unless every outcome is 0 or 1."""
    invalid = np.unique(y[(y != 0) & (y != 1)])
    if invalid.size:
        raise InputError(
            f"argument 'y' of normalized {metric} contains values other than 0 "
            f"and 1: {invalid[:5].tolist()}",
            expected="a binary outcome, because the perfect model is defined "
            "only for responders and non-responders",
            fix="pass normalize=False for a non-binary outcome",
        )


def slice_size(k: object, n: int, population_name: str) -> int:
    """Turn ``k`` (count or share) into a number of customers out of ``n``.

    An int is a count in [1, n] and a float a share in (0, 1], rounded up.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Real):
        raise InputError(
            f"k={k!r} is invalid",
            expected="an int count or a float share in (0, 1]",
        )
    if isinstance(k, numbers.Integral):
        if not 1 <= k <= n:
            raise InputError(
                f"k={k} is outside [1, {n}], the size of {population_name}",
                expected=f"a count between 1 and {n}",
                fix="lower k or pass a share as a float",
            )
        return int(k)
    if not 0 < k <= 1:
        raise InputError(
            f"k={k} is outside (0, 1]",
            expected="a share of customers in (0, 1]",
            fix="pass a count as an int",
        )
    # Rounding first keeps 10 * 0.3 (3.0000000000000004 in binary) at 3.
    return max(1, math.ceil(round(n * float(k), 9)))
