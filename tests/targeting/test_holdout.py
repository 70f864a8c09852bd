"""Deterministic holdout groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from promoloop.errors import ConfigError
from promoloop.targeting.holdout import assign_holdout

IDS = pd.Series([f"cust-{i}" for i in range(100_000)])


def test_holdout_same_inputs_same_groups():
    first = assign_holdout(IDS[:1000], "spring", 0.1)
    second = assign_holdout(IDS[:1000].sample(frac=1, random_state=3), "spring", 0.1)
    assert first.equals(second.sort_index())


def test_holdout_share_within_binomial_tolerance():
    held = assign_holdout(IDS, "spring", 0.1)
    standard_error = np.sqrt(0.1 * 0.9 / len(IDS))
    assert abs(held.mean() - 0.1) < 4 * standard_error


def test_holdout_campaigns_independent():
    a = assign_holdout(IDS, "spring", 0.5).to_numpy()
    b = assign_holdout(IDS, "summer", 0.5).to_numpy()
    both = (a & b).mean()
    # Independent halves overlap on a quarter of the customers.
    assert abs(both - 0.25) < 4 * np.sqrt(0.25 * 0.75 / len(IDS))


def test_holdout_salt_changes_groups():
    plain = assign_holdout(IDS[:2000], "spring", 0.5)
    salted = assign_holdout(IDS[:2000], "spring", 0.5, salt="rerun")
    assert (plain != salted).mean() > 0.4


def test_holdout_larger_share_contains_smaller():
    small = assign_holdout(IDS[:5000], "spring", 0.05)
    large = assign_holdout(IDS[:5000], "spring", 0.2)
    assert not (small & ~large).any()


def test_holdout_zero_share_holds_nobody():
    assert not assign_holdout(IDS[:1000], "spring", 0.0).any()


def test_holdout_missing_id_not_held():
    held = assign_holdout(pd.Series(["a", None, "b"]), "spring", 0.99)
    assert not held.iloc[1]


def test_holdout_list_input():
    held = assign_holdout(["a", "b", "c"], "spring", 0.5)
    assert list(held.index) == [0, 1, 2]
    assert held.dtype == bool


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5])
def test_holdout_bad_share_raises(share):
    with pytest.raises(ConfigError, match=r"holdout share .* outside \[0, 1\)"):
        assign_holdout(IDS[:10], "spring", share)
