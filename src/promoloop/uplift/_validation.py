"""Validation of the treatment labels, outcomes and propensities the learners take."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import pandas as pd

from promoloop.errors import InputError

OUTCOME_TYPES = ("auto", "binary", "continuous")


def as_labels(treatment, n_rows: int) -> np.ndarray:
    """Return treatment labels as a 1-D array of length ``n_rows``."""
    if isinstance(treatment, pd.Series | pd.Index):
        labels = treatment.to_numpy()
    else:
        labels = np.asarray(treatment)
    if labels.ndim != 1:
        raise InputError(
            f"argument 'treatment' has shape {labels.shape}",
            expected="a 1-D array of treatment labels",
            fix="pass one label per customer",
        )
    if len(labels) != n_rows:
        raise InputError(
            f"arguments have different lengths (X={n_rows}, treatment={len(labels)})",
            expected="one treatment label per row of X",
            fix="align X, treatment and y on the same customers",
        )
    if pd.isna(labels).any():
        raise InputError(
            "argument 'treatment' contains missing labels",
            row=int(np.flatnonzero(pd.isna(labels))[0]),
            expected="a control or arm label in every row",
            fix="drop rows whose treatment is unknown",
        )
    return labels


def resolve_arms(labels: np.ndarray, control, order) -> list:
    """Return the treatment arms (labels other than ``control``) in column order.

    The order is ``order`` when given, else the sorted labels.
    """
    found = np.unique(labels)
    if not (labels == control).any():
        raise InputError(
            f"control label {control!r} does not occur in 'treatment', so there "
            "are no control rows",
            value=control,
            expected=f"one of the labels found: {found.tolist()}",
            fix="set control= to the label of the untreated group",
        )
    arms = [label for label in found.tolist() if label != control]
    if not arms:
        raise InputError(
            "argument 'treatment' contains only the control label "
            f"{control!r}, so there are no treated rows",
            expected="at least one treated row",
            fix="fit on a campaign with treated and control customers",
        )
    if order is None:
        return arms
    ordered = list(order)
    if sorted(map(repr, ordered)) != sorted(map(repr, arms)):
        raise InputError(
            f"argument 'treatments' lists {ordered}",
            expected=f"each treatment arm found in the data once: {arms}",
            fix="list every arm label except the control",
        )
    by_repr = {repr(arm): arm for arm in arms}
    return [by_repr[repr(label)] for label in ordered]


def as_outcome(y, n_rows: int, outcome: str) -> tuple[np.ndarray, bool]:
    """Return ``y`` as floats and whether it is a binary outcome."""
    if outcome not in OUTCOME_TYPES:
        raise InputError(
            f"argument 'outcome' is {outcome!r}",
            expected=f"one of {list(OUTCOME_TYPES)}",
            fix="use 'binary' for 0/1 conversions, 'continuous' for amounts",
        )
    values = y.to_numpy() if isinstance(y, pd.Series) else np.asarray(y)
    if values.ndim != 1 or len(values) != n_rows:
        raise InputError(
            f"arguments have different lengths (X={n_rows}, y={len(values)})"
            if values.ndim == 1
            else f"argument 'y' has shape {values.shape}",
            expected="one outcome per row of X",
            fix="align X, treatment and y on the same customers",
        )
    try:
        values = values.astype(float)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"argument 'y' is not numeric (dtype {values.dtype})",
            expected="0/1 conversions or numeric amounts",
            fix="convert y to a numeric dtype",
        ) from exc
    if not np.isfinite(values).all():
        raise InputError(
            "argument 'y' contains NaN or infinite values",
            row=int(np.flatnonzero(~np.isfinite(values))[0]),
            expected="a finite outcome in every row",
            fix="drop rows without an outcome",
        )
    is_01 = bool(np.isin(values, (0.0, 1.0)).all())
    if outcome == "binary" and not is_01:
        raise InputError(
            "argument 'y' has values other than 0 and 1 with outcome='binary'",
            expected="0/1 outcomes",
            fix="use outcome='continuous' for amounts",
        )
    return values, (is_01 if outcome == "auto" else outcome == "binary")


def arm_propensity(propensity, arm) -> float | None:
    """Return the known propensity of ``arm`` against control, or None.

    ``propensity`` is None (estimate it), one probability for every arm, or
    a mapping from arm label to probability.
    """
    if propensity is None:
        return None
    if isinstance(propensity, Mapping):
        if arm not in propensity:
            raise InputError(
                f"argument 'propensity' has no entry for arm {arm!r}",
                expected="a probability for every treatment arm",
                fix="add the arm to the mapping, or pass propensity=None",
            )
        value = propensity[arm]
    else:
        value = propensity
    if not isinstance(value, numbers.Real) or not 0.0 < float(value) < 1.0:
        raise InputError(
            f"argument 'propensity' for arm {arm!r} is {value!r}",
            expected="a probability strictly between 0 and 1",
            fix="pass the share of the arm among its arm and control customers",
        )
    return float(value)


def check_folds(n_folds, name: str = "n_folds") -> int:
    """Return ``n_folds`` as an int of at least 2."""
    if isinstance(n_folds, bool) or not isinstance(n_folds, numbers.Integral):
        raise InputError(
            f"argument {name!r} is {n_folds!r}",
            expected="an integer of at least 2",
            fix=f"pass e.g. {name}=2",
        )
    if n_folds < 2:
        raise InputError(
            f"argument {name!r} is {n_folds}",
            expected="an integer of at least 2",
            fix=f"pass e.g. {name}=2",
        )
    return int(n_folds)


def check_group_sizes(groups: np.ndarray, minimum: int, context: str) -> None:
    """Raise unless every group label occurs at least ``minimum`` times."""
    labels, counts = np.unique(groups, return_counts=True)
    small = labels[counts < minimum]
    if small.size:
        smallest_count = int(counts[counts < minimum][0])
        raise InputError(
            f"{context}: group {small[0]!r} has {smallest_count} rows",
            expected=f"at least {minimum} rows in each group",
            fix="lower the number of folds or collect more customers per group",
        )
