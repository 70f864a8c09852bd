"""Invalid inputs raise errors that name the argument and the problem."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from promoloop.errors import InputError
from promoloop.evaluation.uplift_metrics import (
    average_treatment_effect,
    bootstrap_interval,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
)

Y = [1, 0, 1, 0]
T = [1, 1, 0, 0]
S = [0.4, 0.3, 0.2, 0.1]

BAD_ARRAYS = [
    (([], [], []), InputError, r"no customers"),
    ((Y, T[:3], S), InputError, r"different lengths \(y=4, treatment=3, score=4\)"),
    ((Y, [0, 1, 2, 2], S), InputError, r"'treatment' contains 1 values other than 0"),
    (([1, np.nan, np.nan, 0], T, S), InputError, r"'y' contains 2 NaN values"),
    ((Y, T, [0.4, np.nan, 0.2, 0.1]), InputError, r"'score' contains 1 NaN values"),
    ((Y, [1, np.nan, 0, 0], S), InputError, r"'treatment' contains 1 NaN values"),
    ((Y, T, [np.inf, 0.3, 0.2, 0.1]), InputError, r"'score' contains 1 infinite"),
    ((Y, T, ["a", "b", "c", "d"]), InputError, r"'score' is not numeric"),
    ((Y, T, [[0.4, 0.3], [0.2, 0.1]]), InputError, r"'score' has shape \(2, 2\)"),
]


@pytest.mark.parametrize(("args", "error", "message"), BAD_ARRAYS)
@pytest.mark.parametrize("metric", [qini_curve, qini_coefficient, uplift_at_k])
def test_bad_arrays_rejected(metric, args, error, message):
    with pytest.raises(error, match=message):
        metric(*args)


def test_average_effect_rejects_nan():
    with pytest.raises(InputError, match=r"'y' contains 1 NaN values"):
        average_treatment_effect([1, np.nan], [1, 0])


BAD_PARAMETERS = [
    (functools.partial(uplift_at_k, k=0), InputError, r"k=0 is outside \[1, 4\]"),
    (functools.partial(uplift_at_k, k=5), InputError, r"k=5 is outside \[1, 4\]"),
    (functools.partial(uplift_at_k, k=1.5), InputError, r"k=1.5 is outside \(0, 1\]"),
    (functools.partial(uplift_at_k, k=0.0), InputError, r"k=0.0 is outside"),
    (functools.partial(uplift_at_k, k=True), InputError, r"k=True is invalid"),
    (functools.partial(uplift_at_k, k="30%"), InputError, r"k='30%' is invalid"),
    (
        functools.partial(uplift_at_k, k=3, strategy="by_group"),
        InputError,
        r"k=3 is outside \[1, 2\], the size of the treated group",
    ),
    (functools.partial(uplift_at_k, strategy="first"), ValueError, r"strategy='first'"),
    (functools.partial(uplift_at_k, errors="ignore"), ValueError, r"errors='ignore'"),
    (
        functools.partial(qini_coefficient, errors="nan"),
        ValueError,
        r"errors='nan' is invalid",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_PARAMETERS)
def test_bad_parameters_rejected(call, error, message):
    with pytest.raises(error, match=message):
        call(Y, T, S)


def test_normalized_qini_rejects_nonbinary_outcome():
    revenue = [12.5, 0.0, 3.0, 0.0]
    with pytest.raises(InputError, match=r"'y' of normalized qini_coefficient"):
        qini_coefficient(revenue, T, S)
    # The unnormalized area is defined for any numeric outcome.
    assert qini_coefficient(revenue, T, S, normalize=False).defined


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_boot": 0}, r"n_boot=0 is invalid"),
        ({"n_boot": 2.5}, r"n_boot=2.5 is invalid"),
        ({"alpha": 1.0}, r"alpha=1.0 is outside \(0, 1\)"),
        ({"alpha": 0}, r"alpha=0 is outside"),
    ],
)
def test_bootstrap_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_interval(qini_coefficient, Y, T, S, **kwargs)
