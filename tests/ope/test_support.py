"""Support diagnostics: effective sample size, max weight, unsupported actions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from promoloop.errors import InputError
from promoloop.ope import BanditLog, check_support, effective_sample_size
from promoloop.warnings import SupportWarning

ESS_CASES = [
    ([1.0, 1.0, 1.0, 1.0], 4.0),  # equal weights: n
    ([2.0, 0.0, 0.0, 0.0], 1.0),  # one weight: 2^2 / 2^2
    ([1.0, 3.0], 16 / 10),  # (1 + 3)^2 / (1 + 9)
    ([0.0, 0.0], 0.0),  # no positive weight: documented as 0
]


@pytest.mark.parametrize(("weights", "expected"), ESS_CASES)
def test_effective_sample_size(weights, expected):
    assert effective_sample_size(weights) == pytest.approx(expected)


# Three actions A, B and C, where C is never logged. Round 12 was logged
# with pscore 1.
LOG = BanditLog(
    action=np.array([0, 1, 0, 1]),
    reward=np.array([1.0, 0.0, 0.0, 1.0]),
    pscore=np.array([0.5, 1.0, 0.25, 0.5]),
    action_names=["A", "B", "C"],
    round_id=np.array([11, 12, 13, 14]),
    strata=np.array(["web", "app", "web", "app"]),
    strata_name="channel",
)


def test_pscore_one_excludes_other_actions():
    # Round 12 logged B with pscore 1; the target puts 0.3 on A there.
    action_dist = np.tile([0.0, 1.0, 0.0], (4, 1))
    action_dist[1] = [0.3, 0.7, 0.0]
    with pytest.warns(SupportWarning, match=r"for 1 of 4 rounds \(channel app: A\)"):
        report = check_support(LOG, action_dist)
    assert report.n_unsupported == 1
    assert report.unsupported_round_ids.tolist() == [12]
    assert report.unsupported_mass.tolist() == [0.0, 0.3, 0.0, 0.0]
    assert report.unsupported_share == pytest.approx(0.3 / 4)
    assert report.unsupported_actions == {"A": 1}
    assert report.unsupported_by_stratum == {"app": {"A": 1}}


def test_never_logged_action_unsupported():
    # Half of the target mass on C, which no round took.
    action_dist = np.tile([0.5, 0.0, 0.5], (4, 1))
    with pytest.warns(SupportWarning):
        report = check_support(LOG, action_dist)
    assert report.never_logged_actions == ("C",)
    assert report.n_unsupported == 4
    assert report.unsupported_actions == {"C": 4, "A": 1}
    # Round 12 (pscore 1 on B) has A and C unsupported; the others only C.
    assert report.unsupported_mass.tolist() == [0.5, 1.0, 0.5, 0.5]
    assert report.unsupported_by_stratum == {
        "app": {"C": 2, "A": 1},
        "web": {"C": 2},
    }
    assert "(channel app: C, A; channel web: C)" in report.message


def test_weights_ess_and_max_weight():
    action_dist = np.tile([1.0, 0.0, 0.0], (4, 1))
    with pytest.warns(SupportWarning):
        report = check_support(LOG, action_dist)
    # Weights 1/0.5 = 2, 0/1 = 0, 1/0.25 = 4, 0/0.5 = 0.
    assert report.max_weight == 4.0
    assert report.ess == pytest.approx((2 + 4) ** 2 / (4 + 16))


def test_supported_target_issues_no_warning():
    action_dist = np.tile([0.0, 1.0, 0.0], (4, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = check_support(LOG, action_dist)
    assert report.n_unsupported == 0
    assert report.message == (
        "target policy puts mass only on supported actions in all 4 rounds"
    )
    assert report.unsupported_summary == ""


def test_warn_false_is_silent():
    action_dist = np.tile([0.0, 0.0, 1.0], (4, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = check_support(LOG, action_dist, warn=False)
    assert report.n_unsupported == 4


def test_known_logging_dist_overrides_inference():
    # The logging policy gave C probability 0.1 in rounds 13 and 14 and 0 in
    # rounds 11 and 12. Without it, C counts as unsupported in all 4 rounds
    # because no round took C.
    logging_dist = np.array(
        [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.25, 0.65, 0.1],
            [0.4, 0.5, 0.1],
        ]
    )
    action_dist = np.tile([0.0, 0.0, 1.0], (4, 1))
    with pytest.warns(SupportWarning):
        report = check_support(LOG, action_dist, logging_dist=logging_dist)
    assert report.logging_dist_known
    assert report.unsupported_round_ids.tolist() == [11, 12]


def test_logging_dist_must_allow_logged_action():
    logging_dist = np.tile([0.0, 0.0, 1.0], (4, 1))
    action_dist = np.tile([1.0, 0.0, 0.0], (4, 1))
    with pytest.raises(InputError, match=r"round 11: logging_dist gives the logged"):
        check_support(LOG, action_dist, logging_dist=logging_dist)


def test_strata_argument_overrides_log_strata():
    action_dist = np.tile([0.0, 0.0, 1.0], (4, 1))
    report = check_support(
        LOG,
        action_dist,
        strata=["x", "x", "y", "y"],
        strata_name="segment",
        warn=False,
    )
    assert report.unsupported_by_stratum == {"x": {"C": 2}, "y": {"C": 2}}
    assert "(segment x: C; segment y: C)" in report.message


def test_strata_length_checked():
    with pytest.raises(InputError, match=r"'strata' has shape \(3,\)"):
        check_support(LOG, np.tile([0.0, 1.0, 0.0], (4, 1)), strata=["a", "b", "c"])


def test_message_lists_first_rounds_only():
    log = BanditLog(
        action=np.zeros(8, dtype=int),
        reward=np.zeros(8),
        pscore=np.ones(8),
        action_names=["A", "B"],
    )
    report = check_support(log, np.tile([0.0, 1.0], (8, 1)), warn=False)
    assert report.message.endswith("rounds 1, 2, 3, 4, 5 and 3 more")
    assert "(B)" in report.message


def test_support_per_position():
    # Action 1 is logged only at position 1; pscore 1 at position 0 excludes
    # action 1 there, but not at position 1.
    log = BanditLog(
        action=np.array([0, 1]),
        reward=np.array([1.0, 1.0]),
        pscore=np.array([1.0, 0.5]),
        position=np.array([0, 1]),
    )
    action_dist = np.zeros((2, 2, 2))
    action_dist[:, 1, :] = 1.0
    report = check_support(log, action_dist, warn=False)
    assert report.unsupported_round_ids.tolist() == [1]
