"""Contract every bandit policy meets: probability rows, draws, learning, state."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from promoloop.bandits import (
    BanditPolicy,
    BernoulliThompson,
    EpsilonGreedy,
    GaussianThompson,
    LinearThompson,
    LinUCB,
    policy_from_dict,
    policy_from_json,
    policy_kinds,
)
from promoloop.errors import InputError

ACTIONS = ["none", "ten_off", "free_shipping", "bundle", "gift"]
N_FEATURES = 3
FLOOR = 0.02

FACTORIES = {
    "epsilon_greedy": lambda **kw: EpsilonGreedy(ACTIONS, epsilon=0.2, **kw),
    "bernoulli_thompson": lambda **kw: BernoulliThompson(ACTIONS, n_draws=500, **kw),
    "gaussian_thompson": lambda **kw: GaussianThompson(ACTIONS, n_draws=500, **kw),
    "linucb": lambda **kw: LinUCB(ACTIONS, N_FEATURES, alpha=0.5, **kw),
    "linear_thompson": lambda **kw: LinearThompson(
        ACTIONS, N_FEATURES, noise_variance=0.25, n_draws=500, **kw
    ),
}


def history(seed: int = 0, n: int = 300):
    """Logged actions, 0/1 rewards and contexts with distinct action rates."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, len(ACTIONS), n)
    context = rng.normal(size=(n, N_FEATURES))
    rates = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    rewards = rng.binomial(1, rates[codes]).astype(float)
    return np.asarray(ACTIONS)[codes], rewards, context


def decisions(seed: int = 1, n: int = 40):
    """Contexts and random eligibility masks of new decisions."""
    rng = np.random.default_rng(seed)
    context = rng.normal(size=(n, N_FEATURES))
    eligible = rng.random((n, len(ACTIONS))) < 0.6
    return context, eligible


@pytest.fixture(params=list(FACTORIES), name="make")
def make_policy(request):
    return FACTORIES[request.param]


@pytest.fixture(name="policy")
def trained_policy(make):
    actions, rewards, context = history()
    return make(min_probability=FLOOR).fit(actions, rewards, context)


def context_for(policy, context):
    return context if policy.contextual else None


def test_registry_lists_every_policy():
    assert set(policy_kinds()) == set(FACTORIES)


def test_rows_sum_to_one(policy):
    context, eligible = decisions()
    probabilities = policy.action_probabilities(context_for(policy, context), eligible)
    assert probabilities.shape == (len(eligible), len(ACTIONS))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_ineligible_actions_get_zero(policy):
    context, eligible = decisions()
    probabilities = policy.action_probabilities(context_for(policy, context), eligible)
    ineligible = ~eligible
    ineligible[:, 0] = False
    assert (probabilities[ineligible] == 0.0).all()


def test_floor_holds_for_eligible_actions(policy):
    context, eligible = decisions()
    probabilities = policy.action_probabilities(context_for(policy, context), eligible)
    eligible[:, 0] = True
    assert (probabilities[eligible] >= FLOOR - 1e-12).all()


def test_no_promotion_always_eligible(policy):
    context, _ = decisions(n=1)
    eligible = np.zeros(len(ACTIONS), dtype=bool)
    eligible[2] = True
    probabilities = policy.action_probabilities(context_for(policy, context), eligible)
    assert probabilities[0, 0] >= FLOOR
    assert probabilities[0, 0] + probabilities[0, 2] == pytest.approx(1.0)


def test_all_eligible_by_default(policy):
    # Context-free policies read only the number of rows of the context.
    context, _ = decisions(n=3)
    default = policy.action_probabilities(context)
    explicit = policy.action_probabilities(
        context, np.ones((3, len(ACTIONS)), dtype=bool)
    )
    assert default.shape == (3, len(ACTIONS))
    np.testing.assert_array_equal(default, explicit)


def test_single_rows_match_batch(policy):
    context, eligible = decisions()
    batch = policy.action_probabilities(context_for(policy, context), eligible)
    for row in range(len(eligible)):
        single = policy.action_probabilities(
            None if context_for(policy, context) is None else context[row],
            eligible[row],
        )
        assert single.shape == (1, len(ACTIONS))
        np.testing.assert_allclose(single[0], batch[row], rtol=0, atol=1e-12)


def test_same_state_same_probabilities(policy):
    context, eligible = decisions()
    first = policy.action_probabilities(context_for(policy, context), eligible)
    second = policy.action_probabilities(context_for(policy, context), eligible)
    np.testing.assert_array_equal(first, second)


def test_choose_follows_stated_probabilities(policy):
    # 4000 draws of one decision: a chi-square test of the chosen actions
    # against the returned row, with a fixed seed so the test is stable.
    n = 4000
    context, _ = decisions(n=1)
    eligible = np.array([True, True, False, True, True])
    rows = np.tile(eligible, (n, 1))
    contexts = np.tile(context, (n, 1))
    choice = policy.choose(context_for(policy, contexts), rows, random_state=7)
    expected = choice.action_probabilities[0]
    np.testing.assert_array_equal(
        choice.action_probabilities, np.tile(expected, (n, 1))
    )
    counts = np.bincount(choice.action_codes, minlength=len(ACTIONS))
    assert counts[2] == 0
    keep = expected > 0
    result = stats.chisquare(counts[keep], n * expected[keep])
    assert result.pvalue > 0.001


def test_choice_logs_probability_of_chosen_action(policy):
    context, eligible = decisions()
    choice = policy.choose(context_for(policy, context), eligible, random_state=3)
    rows = np.arange(len(eligible))
    assert len(choice) == len(eligible)
    np.testing.assert_array_equal(
        choice.probability, choice.action_probabilities[rows, choice.action_codes]
    )
    np.testing.assert_array_equal(
        choice.actions, np.asarray(ACTIONS)[choice.action_codes]
    )
    assert choice.eligible[rows, choice.action_codes].all()
    assert choice.eligible[:, 0].all()


def test_choose_same_seed_same_actions(policy):
    context, eligible = decisions()
    first = policy.choose(context_for(policy, context), eligible, random_state=11)
    second = policy.choose(context_for(policy, context), eligible, random_state=11)
    np.testing.assert_array_equal(first.action_codes, second.action_codes)


def test_json_round_trip_keeps_probabilities(policy):
    context, eligible = decisions()
    text = policy.to_json()
    restored = policy_from_json(text)
    assert type(restored) is type(policy)
    assert restored.to_dict() == policy.to_dict()
    np.testing.assert_array_equal(
        restored.action_probabilities(context_for(policy, context), eligible),
        policy.action_probabilities(context_for(policy, context), eligible),
    )


def test_dict_is_plain_json(policy):
    data = policy.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["kind"] == policy.kind
    assert data["format_version"] == 1
    assert data["params"]["actions"] == ACTIONS
    assert data["params"]["min_probability"] == FLOOR


def test_subclass_from_dict_restores_same_kind(policy):
    restored = type(policy).from_dict(policy.to_dict())
    np.testing.assert_array_equal(restored.counts_, policy.counts_)


def test_restored_policy_keeps_learning(policy):
    actions, rewards, context = history(seed=5, n=50)
    restored = policy_from_dict(policy.to_dict())
    restored.update(actions, rewards, context)
    policy.update(actions, rewards, context)
    new_context, eligible = decisions()
    np.testing.assert_allclose(
        restored.action_probabilities(context_for(policy, new_context), eligible),
        policy.action_probabilities(context_for(policy, new_context), eligible),
        rtol=0,
        atol=1e-12,
    )


def test_two_updates_match_one_fit(make):
    actions, rewards, context = history()
    whole = make().fit(actions, rewards, context)
    parts = make()
    parts.update(actions[:120], rewards[:120], context[:120])
    parts.update(actions[120:], rewards[120:], context[120:])
    new_context, eligible = decisions()
    np.testing.assert_allclose(
        parts.action_probabilities(context_for(whole, new_context), eligible),
        whole.action_probabilities(context_for(whole, new_context), eligible),
        rtol=0,
        atol=1e-9,
    )
    np.testing.assert_array_equal(parts.counts_, whole.counts_)


def test_fit_forgets_earlier_rewards(make):
    actions, rewards, context = history()
    once = make().fit(actions, rewards, context)
    twice = make().fit(actions, rewards, context).fit(actions, rewards, context)
    np.testing.assert_array_equal(twice.counts_, once.counts_)
    new_context, eligible = decisions()
    np.testing.assert_allclose(
        twice.action_probabilities(context_for(once, new_context), eligible),
        once.action_probabilities(context_for(once, new_context), eligible),
        rtol=0,
        atol=1e-12,
    )


def test_counts_per_action(make):
    actions, rewards, context = history()
    policy = make().fit(actions, rewards, context)
    expected = [int((actions == name).sum()) for name in ACTIONS]
    assert policy.counts_.tolist() == expected


def test_update_accepts_codes(make):
    actions, rewards, context = history(n=60)
    codes = np.array([ACTIONS.index(name) for name in actions])
    by_name = make().fit(actions, rewards, context)
    by_code = make().fit(codes, rewards, context)
    assert by_code.to_dict() == by_name.to_dict()


def test_empty_update_changes_nothing(policy):
    before = policy.to_dict()
    policy.update([], [], np.empty((0, N_FEATURES)))
    assert policy.to_dict() == before


def test_unmeetable_floor_names_value_and_fix(make):
    with pytest.raises(InputError, match=r"min_probability=0\.3.*at most 0\.2"):
        make(min_probability=0.3)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"kind": "softmax"}, "unknown policy kind"),
        ({"kind": None}, "unknown policy kind"),
        ({"format_version": 2}, "unsupported policy state format version"),
        ({"format_version": None}, "unsupported policy state format version"),
        ({"params": None}, "lacks its 'params' or 'state'"),
    ],
)
def test_bad_state_header_raises(policy, change, pattern):
    data = {**policy.to_dict(), **change}
    with pytest.raises(InputError, match=pattern):
        BanditPolicy.from_dict(data)


def test_state_of_other_kind_raises(policy):
    other = EpsilonGreedy if not isinstance(policy, EpsilonGreedy) else LinUCB
    with pytest.raises(InputError, match="not a"):
        other.from_dict(policy.to_dict())


def test_state_of_other_actions_raises(policy):
    data = policy.to_dict()
    data["params"]["actions"] = ACTIONS[:-1]
    with pytest.raises(InputError, match="does not fit the policy"):
        policy_from_dict(data)


def test_unknown_parameter_in_state_raises(policy):
    data = policy.to_dict()
    data["params"]["temperature"] = 1.0
    with pytest.raises(InputError, match="invalid parameters"):
        policy_from_dict(data)


def test_invalid_json_raises():
    with pytest.raises(InputError, match="not valid JSON"):
        policy_from_json("{kind: ")


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda p, c: p.update(["coupon"], [1.0], c[:1]), "unknown action"),
        (lambda p, c: p.update([7], [1.0], c[:1]), "action code out of range"),
        (lambda p, c: p.update(["none"], [np.nan], c[:1]), "non-finite reward"),
        (lambda p, c: p.update(["none", "gift"], [1.0], c[:2]), "differ in length"),
        (
            lambda p, c: p.action_probabilities(c[:2], np.ones((2, 4), bool)),
            "'eligible' has the wrong shape",
        ),
        (
            lambda p, c: p.action_probabilities(c[:2], np.ones((3, 5), bool)),
            "has 3 rows, but the decisions have 2",
        ),
        (
            lambda p, c: p.action_probabilities(c[:1], np.full((1, 5), 0.5)),
            "'eligible' is not boolean",
        ),
    ],
)
def test_bad_calls_raise(policy, call, pattern):
    context, _ = decisions()
    with pytest.raises(InputError, match=pattern):
        call(policy, context)


def test_integer_mask_is_accepted(policy):
    context, eligible = decisions(n=4)
    as_bool = policy.action_probabilities(context_for(policy, context), eligible)
    as_int = policy.action_probabilities(
        context_for(policy, context), eligible.astype(int)
    )
    np.testing.assert_array_equal(as_int, as_bool)


@pytest.mark.parametrize(
    ("actions", "pattern"),
    [
        (["ten_off", "gift"], "'none' is not among the actions"),
        (["none", "gift", "gift"], "duplicate action names"),
        (["none", ""], "invalid action name"),
        ("none", "single string"),
    ],
)
def test_bad_actions_raise(actions, pattern):
    with pytest.raises(InputError, match=pattern):
        EpsilonGreedy(actions)


def test_custom_no_action_name():
    policy = EpsilonGreedy(["hold", "ten_off"], no_action="hold", min_probability=0)
    policy.fit(["ten_off"], [1.0])
    probabilities = policy.action_probabilities(eligible=[False, False])
    np.testing.assert_array_equal(probabilities, [[1.0, 0.0]])


def test_one_mask_applies_to_every_row(policy):
    context, eligible = decisions(n=6)
    shared = policy.action_probabilities(context, eligible[0])
    tiled = policy.action_probabilities(context, np.tile(eligible[0], (6, 1)))
    assert shared.shape == (6, len(ACTIONS))
    np.testing.assert_array_equal(shared, tiled)


def test_empty_batch_gives_empty_rows(policy):
    context = np.empty((0, N_FEATURES))
    eligible = np.empty((0, len(ACTIONS)), dtype=bool)
    probabilities = policy.action_probabilities(context, eligible)
    choice = policy.choose(context, eligible, random_state=0)
    assert probabilities.shape == (0, len(ACTIONS))
    assert len(choice) == 0
