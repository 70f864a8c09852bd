"""BanditLog: building from a table, validation, and dropping invalid rounds."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from promoloop.errors import InputError
from promoloop.ope import (
    BanditLog,
    InversePropensityScoring,
    deterministic_action_dist,
)
from promoloop.warnings import DataQualityWarning


def offers_frame(changes: dict | None = None) -> pd.DataFrame:
    """Build four valid rounds, then set each (column, row) in ``changes``."""
    df = pd.DataFrame(
        {
            "round": [101, 102, 103, 104],
            "offer": ["OFF10", "FREESHIP", "OFF10", "OFF20"],
            "slot": [1, 3, 3, 1],
            "pscore": [0.5, 0.25, 0.5, 1.0],
            "redeemed": [1, 0, 0, 1],
            "age": [30.0, 41.0, 25.0, 52.0],
            "segment": ["new", "new", "regular", "vip"],
        }
    )
    df["pscore"] = df["pscore"].astype(object)
    df["redeemed"] = df["redeemed"].astype(object)
    for (column, row), value in (changes or {}).items():
        df.loc[row, column] = value
    return df


def read(df: pd.DataFrame, **kwargs) -> BanditLog:
    options = {
        "action": "offer",
        "reward": "redeemed",
        "pscore": "pscore",
        "round_id": "round",
        "source": "offers.csv",
    }
    return BanditLog.from_frame(df, **(options | kwargs))


def test_from_frame_maps_labels_to_codes():
    log = read(offers_frame(), position="slot", context=["age"], strata="segment")
    assert log.action_names == ("FREESHIP", "OFF10", "OFF20")
    assert log.action.tolist() == [1, 0, 1, 2]
    assert log.position_names == ("1", "3")
    assert log.position.tolist() == [0, 1, 1, 0]
    assert log.reward.tolist() == [1.0, 0.0, 0.0, 1.0]
    assert log.pscore.tolist() == [0.5, 0.25, 0.5, 1.0]
    assert log.context.tolist() == [[30.0], [41.0], [25.0], [52.0]]
    assert log.round_id.tolist() == [101, 102, 103, 104]
    assert log.strata.tolist() == ["new", "new", "regular", "vip"]
    assert log.strata_name == "segment"
    assert log.dropped == {}
    assert (log.n_rounds, log.n_actions, log.n_positions) == (4, 3, 2)


def test_from_frame_keeps_never_logged_actions():
    log = read(offers_frame(), actions=["OFF10", "OFF20", "FREESHIP", "BOGO"])
    assert log.action_names == ("OFF10", "OFF20", "FREESHIP", "BOGO")
    assert log.action.tolist() == [0, 2, 0, 1]
    assert log.n_actions == 4


def test_default_round_label_is_row_number():
    log = BanditLog.from_frame(
        offers_frame(), action="offer", reward="redeemed", pscore="pscore"
    )
    assert log.round_id.tolist() == [1, 2, 3, 4]
    assert log.position.tolist() == [0, 0, 0, 0]


def test_log_arrays_are_read_only():
    log = read(offers_frame())
    with pytest.raises(ValueError, match="read-only"):
        log.pscore[0] = 0.9
    with pytest.raises(AttributeError):
        log.source = "other"


# (column, row, value, reason counted in log.dropped, message pattern)
INVALID_ROUNDS = [
    (
        "pscore",
        1,
        0.0,
        "pscore_not_positive",
        r"^round 102: logged action FREESHIP has pscore 0; a logged action needs "
        r"pscore > 0; at file offers.csv, row 2, column 'pscore'; value 0.0\. "
        r"Expected .*\. Fix: log the probability .* on_invalid='drop'",
    ),
    (
        "pscore",
        1,
        -0.2,
        "pscore_not_positive",
        r"round 102: logged action FREESHIP has pscore -0.2; a logged action needs",
    ),
    (
        "pscore",
        2,
        np.nan,
        "pscore_missing",
        r"round 103: pscore of logged action OFF10 is missing or not a number",
    ),
    (
        "pscore",
        2,
        "n/a",
        "pscore_missing",
        r"round 103: pscore of logged action OFF10 is missing or not a number; "
        r".*value 'n/a'",
    ),
    (
        "pscore",
        0,
        50.0,
        "pscore_above_one",
        r"round 101: logged action OFF10 has pscore 50; a probability cannot exceed "
        r"1.*divide percentages by 100",
    ),
    (
        "redeemed",
        3,
        None,
        "reward_missing",
        r"round 104: reward of logged action OFF20 is missing.*column 'redeemed'",
    ),
    (
        "redeemed",
        3,
        np.inf,
        "reward_not_finite",
        r"round 104: reward of logged action OFF20 is inf",
    ),
    ("offer", 0, None, "action_missing", r"round 101: the logged action is missing"),
    (
        "slot",
        1,
        np.nan,
        "position_missing",
        r"round 102: position of logged action FREESHIP is missing.*column 'slot'",
    ),
    (
        "age",
        2,
        np.nan,
        "context_missing",
        r"round 103: context of logged action OFF10 is missing or not finite",
    ),
]


@pytest.mark.parametrize(
    ("column", "row", "value", "reason", "message"), INVALID_ROUNDS
)
def test_invalid_round_raises_by_default(column, row, value, reason, message):
    df = offers_frame({(column, row): value})
    with pytest.raises(InputError, match=message):
        read(df, position="slot", context=["age"])


@pytest.mark.parametrize(
    ("column", "row", "value", "reason", "message"), INVALID_ROUNDS
)
def test_invalid_round_dropped_and_counted(column, row, value, reason, message):
    df = offers_frame({(column, row): value})
    with pytest.warns(DataQualityWarning, match=rf"dropped 1 of 4 rounds.*1 {reason}"):
        log = read(df, position="slot", context=["age"], on_invalid="drop")
    assert log.dropped == {reason: 1}
    assert log.n_rounds == 3
    assert row not in log.source_rows.tolist()
    assert len(log.round_id) == 3


def test_drop_counts_each_reason():
    df = offers_frame({("pscore", 0): 0.0, ("pscore", 1): 0.0, ("redeemed", 2): np.nan})
    with pytest.warns(DataQualityWarning, match=r"rounds 101, 102, 103"):
        log = read(df, on_invalid="drop")
    assert log.dropped == {"pscore_not_positive": 2, "reward_missing": 1}
    assert log.source_rows.tolist() == [3]
    assert log.round_id.tolist() == [104]


def test_error_counts_all_invalid_rounds():
    df = offers_frame({("pscore", 0): 0.0, ("pscore", 3): 1.5})
    with pytest.raises(InputError, match=r"round 101: .*\(2 invalid rounds in all\)"):
        read(df)


def test_no_valid_round_left():
    df = offers_frame({("pscore", row): 0.0 for row in range(4)})
    with (
        pytest.warns(DataQualityWarning),
        pytest.raises(InputError, match=r"no valid round is left in offers.csv"),
    ):
        read(df, on_invalid="drop")


def test_valid_log_issues_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read(offers_frame(), on_invalid="drop")


BAD_FRAMES = [
    ({"pscore": "propensity"}, r"offers.csv has no column 'propensity'"),
    ({"context": ["age", "income"]}, r"no column 'income'"),
    ({"on_invalid": "skip"}, r"on_invalid='skip' is not an option"),
    ({"actions": ["OFF10", "OFF20"]}, r"action 'FREESHIP' in offers.csv is not in"),
    ({"actions": ["OFF10", "OFF10", "OFF20"]}, r"'actions' contains duplicate labels"),
    ({"position": "slot", "positions": [1, 2]}, r"position '3' .* is not in positions"),
    ({"context": ["segment"]}, r"context column 'segment' .* one-hot encode"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_FRAMES)
def test_bad_frame_arguments(kwargs, message):
    with pytest.raises(InputError, match=message):
        read(offers_frame(), **kwargs)


BAD_ARRAYS = [
    ({"action": []}, r"the log 'bandit log' has no rounds"),
    ({"action": [0.0, 1.0]}, r"'action' has dtype float64.*integer codes"),
    ({"action": [0, -1]}, r"'action' contains the negative code -1"),
    ({"action": [[0, 1]]}, r"'action' has shape \(1, 2\)"),
    ({"reward": [1.0]}, r"'reward' has shape \(1,\)"),
    ({"pscore": ["a", "b"]}, r"'pscore' has dtype <U1"),
    ({"pscore": [0.5, 0.0]}, r"round 2: logged action 1 has pscore 0"),
    ({"reward": [np.nan, 1.0]}, r"round 1: reward of logged action 0 is missing"),
    ({"position": [0]}, r"'position' has 1 entries but the log has 2 rounds"),
    ({"context": [1.0, 2.0]}, r"'context' has shape \(2,\).*reshape\(-1, 1\)"),
    ({"action_names": ["A"]}, r"action code 1 has no label in 'action_names'"),
    ({"action_names": ["A", "A"]}, r"'action_names' contains duplicate labels"),
    ({"round_id": [1, 2, 3]}, r"'round_id' has shape \(3,\)"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_ARRAYS)
def test_direct_construction_validates(changes, message):
    arrays = {"action": [0, 1], "reward": [1.0, 0.0], "pscore": [0.5, 0.5]}
    with pytest.raises(InputError, match=message):
        BanditLog(**(arrays | changes))


def test_deterministic_action_dist_one_hot():
    log = read(offers_frame(), position="slot")
    action_dist = deterministic_action_dist(
        log, ["OFF20", "OFF20", "FREESHIP", "OFF10"]
    )
    assert action_dist.shape == (4, 3, 2)
    # Codes: FREESHIP 0, OFF10 1, OFF20 2; the same choice at both positions.
    assert action_dist[:, :, 0].tolist() == [
        [0.0, 0.0, 1.0],
        [0.0, 0.0, 1.0],
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
    ]
    assert np.array_equal(action_dist[:, :, 0], action_dist[:, :, 1])


def test_deterministic_action_dist_rejects_unknown_action():
    log = read(offers_frame())
    with pytest.raises(InputError, match=r"target action 'BOGO' is not an action"):
        deterministic_action_dist(log, ["BOGO", "OFF10", "OFF10", "OFF10"])
    with pytest.raises(InputError, match=r"'target_action' has shape \(2,\)"):
        deterministic_action_dist(log, ["OFF10", "OFF10"])


# Policy arrays for a log of 2 rounds, 2 actions, 1 position.
BAD_ACTION_DISTS = [
    ([[0.5, 0.5]], r"'action_dist' has shape \(1, 2\).*= \(2, 2, 1\)"),
    (np.full((2, 2, 2), 0.5), r"'action_dist' has shape \(2, 2, 2\)"),
    ([[0.5, np.nan], [0.5, 0.5]], r"'action_dist' is not finite at round 1, action 1"),
    ([[1.5, -0.5], [0.5, 0.5]], r"'action_dist' has probability 1.5 at round 1"),
    ([[0.5, 0.4], [0.5, 0.5]], r"'action_dist' sums to 0.9 over actions at round 1"),
    ([["a", "b"], ["c", "d"]], r"'action_dist' has dtype <U1"),
]


@pytest.mark.parametrize(("action_dist", "message"), BAD_ACTION_DISTS)
def test_bad_action_dist_rejected(action_dist, message):
    log = BanditLog(action=[0, 1], reward=[1.0, 0.0], pscore=[0.5, 0.5])
    with pytest.raises(InputError, match=message):
        InversePropensityScoring().estimate_policy_value(log, action_dist)


def test_2d_action_dist_needs_one_position():
    log = BanditLog(
        action=[0, 1], reward=[1.0, 0.0], pscore=[0.5, 0.5], position=[0, 1]
    )
    with pytest.raises(InputError, match=r"shape \(2, 2\).*= \(2, 2, 2\)"):
        InversePropensityScoring().estimate_policy_value(log, [[1, 0], [0, 1]])
