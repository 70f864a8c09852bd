"""Contract shared by the bandit policies: inputs, probabilities, choices, state.

A policy turns a context (or none) and an eligibility mask into one
probability row per decision, samples the action from exactly that row, and
reports the probability of the action it chose. Subclasses implement the
learning rule and the probabilities before the exploration floor. This
module owns input checks, the floor, sampling and the JSON state format.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, ClassVar

import numpy as np

from promoloop.bandits._checks import (
    check_rows,
    checked_actions,
    checked_eligible,
    checked_features,
    checked_floor,
    checked_rewards,
    row_count,
    state_array,
)
from promoloop.bandits.probabilities import apply_floor, sample_rows
from promoloop.errors import InputError

logger = logging.getLogger(__name__)

NO_PROMOTION = "none"
"""Default name of the action that sends no promotion."""

FORMAT_VERSION = 1
"""Version of the ``to_dict`` layout that ``from_dict`` reads."""

DEFAULT_MIN_PROBABILITY = 0.01
"""Default exploration floor, so every eligible action keeps some chance and
logged decisions support off-policy evaluation of other policies."""

_POLICY_KINDS: dict[str, type[BanditPolicy]] = {}


@dataclass(frozen=True)
class Choice:
    """Actions drawn for a batch of decisions, with what the log needs.

    Attributes
    ----------
    actions : ndarray of str, shape (n,)
        Name of the chosen action of each decision.
    action_codes : ndarray of int, shape (n,)
        Position of each chosen action in ``policy.actions``.
    probability : ndarray of float, shape (n,)
        Probability with which each chosen action was drawn.
    action_probabilities : ndarray of float, shape (n, k)
        Full probability row of each decision, columns in the order of
        ``policy.actions``.
    eligible : ndarray of bool, shape (n, k)
        Eligibility mask the probabilities were computed for, with the
        no-promotion column set.
    """

    actions: np.ndarray
    action_codes: np.ndarray
    probability: np.ndarray
    action_probabilities: np.ndarray
    eligible: np.ndarray

    def __len__(self) -> int:
        return len(self.action_codes)


class BanditPolicy(ABC):
    """Base class of the bandit policies.

    Parameters
    ----------
    actions : sequence of str
        Unique action names. One of them must be ``no_action``.
    no_action : str, default "none"
        Name of the action that sends no promotion. It is eligible in every
        decision, even where the eligibility mask marks it False.
    min_probability : float, default 0.01
        Exploration floor: every eligible action gets at least this
        probability. The rule's probabilities are mixed with the uniform
        distribution over the eligible actions,
        ``p = floor + (1 - k_eligible * floor) * p_rule``. Must satisfy
        ``len(actions) * min_probability <= 1``.

    Raises
    ------
    InputError
        On duplicate or empty action names, a missing ``no_action``, or a
        floor outside [0, 1 / len(actions)].

    Notes
    -----
    Subclasses set ``kind`` (the tag of the saved state) and implement
    ``_params``, ``_state``, ``_load_state``, ``_reset``, ``_update`` and
    ``_rule_probabilities``.
    """

    kind: ClassVar[str] = ""
    contextual: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if kind:
            _POLICY_KINDS[kind] = cls

    def __init__(
        self,
        actions: Sequence[str],
        *,
        no_action: str = NO_PROMOTION,
        min_probability: float = DEFAULT_MIN_PROBABILITY,
    ) -> None:
        self.actions = checked_actions(actions, no_action)
        self.no_action = no_action
        self.min_probability = checked_floor(min_probability, len(self.actions))
        self._names = np.asarray(self.actions)
        self._codes = {name: code for code, name in enumerate(self.actions)}
        self._no_action_code = self._codes[no_action]
        self.reset()

    # ------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------

    @property
    def n_actions(self) -> int:
        """Number of actions."""
        return len(self.actions)

    @property
    def counts_(self) -> np.ndarray:
        """Number of rewards learned per action, in the order of ``actions``."""
        return self._counts.copy()

    def action_codes(self, actions) -> np.ndarray:
        """Convert action names (or codes, passed through) to integer codes.

        Raises
        ------
        InputError
            On a name that is not one of ``actions`` or a code out of range.
        """
        values = np.atleast_1d(np.asarray(actions))
        if values.dtype.kind in "iu":
            bad = (values < 0) | (values >= self.n_actions)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise InputError(
                    "action code out of range",
                    row=row + 1,
                    column="actions",
                    value=int(values[row]),
                    expected=f"a code from 0 to {self.n_actions - 1}",
                    fix="pass action names or codes of this policy's actions",
                )
            return values.astype(np.intp)
        codes = np.empty(len(values), dtype=np.intp)
        for row, name in enumerate(values.tolist()):
            code = self._codes.get(name)
            if code is None:
                raise InputError(
                    "unknown action",
                    row=row + 1,
                    column="actions",
                    value=name,
                    expected=f"one of {list(self.actions)}",
                    fix="add the action to the policy, or leave its rows out",
                )
            codes[row] = code
        return codes

    def action_probabilities(self, context=None, eligible=None) -> np.ndarray:
        """Compute the probability of each action in each decision.

        Parameters
        ----------
        context : array-like of shape (n, d) or (d,), optional
            Features of each decision. Required by contextual policies.
            Context-free policies only read its number of rows.
        eligible : array-like of bool, shape (n, k) or (k,), optional
            Which actions each decision may take, columns in the order of
            ``actions``. A single row of shape (k,) applies to every
            decision, and None makes every action eligible. The
            no-promotion column is always treated as True.

        Returns
        -------
        ndarray of shape (n, k)
            Rows sum to 1, ineligible actions get exactly 0, and eligible
            ones get at least ``min_probability`` (up to float rounding).

        Raises
        ------
        InputError
            On a missing or malformed context, a malformed mask, or row
            counts of context and mask that differ.
        """
        probabilities, _ = self._probabilities(context, eligible)
        return probabilities

    def choose(self, context=None, eligible=None, random_state=None) -> Choice:
        """Draw one action per decision from ``action_probabilities``.

        Parameters
        ----------
        context, eligible
            As in ``action_probabilities``.
        random_state : int, numpy Generator or None, default None
            Source of the draws. None draws fresh entropy.

        Returns
        -------
        Choice
            The chosen actions with the probability each was drawn with.
        """
        probabilities, eligible = self._probabilities(context, eligible)
        rng = np.random.default_rng(random_state)
        codes = sample_rows(probabilities, rng)
        rows = np.arange(len(codes))
        return Choice(
            actions=self._names[codes],
            action_codes=codes,
            probability=probabilities[rows, codes],
            action_probabilities=probabilities,
            eligible=eligible,
        )

    def update(self, actions, rewards, context=None) -> BanditPolicy:
        """Learn from observed rewards, added to those learned before.

        Parameters
        ----------
        actions : array-like of shape (n,)
            Action names (or codes) taken.
        rewards : array-like of float, shape (n,)
            Reward observed after each action.
        context : array-like of shape (n, d), optional
            Features of each decision. Required by contextual policies and
            ignored by context-free ones.

        Returns
        -------
        self

        Raises
        ------
        InputError
            On unknown actions, non-finite or out-of-range rewards, lengths
            that differ, or a missing or malformed context.
        """
        codes = self.action_codes(actions)
        rewards = checked_rewards(rewards, len(codes))
        self._check_reward_values(rewards)
        features = self._checked_context(context, len(codes), required=True)
        if len(codes) == 0:
            return self
        self._counts += np.bincount(codes, minlength=self.n_actions)
        self._update(codes, rewards, features)
        logger.debug("%s learned %d rewards", self.kind, len(codes))
        return self

    def fit(self, actions, rewards, context=None) -> BanditPolicy:
        """Forget what was learned, then ``update`` on the given rewards."""
        self.reset()
        return self.update(actions, rewards, context)

    def reset(self) -> None:
        """Forget every reward learned, returning to the prior."""
        self._counts = np.zeros(len(self.actions), dtype=np.int64)
        self._reset()

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters and learned state as JSON-ready values.

        The dict contains ``kind``, ``format_version``, ``promoloop_version``
        (informational), ``params`` (constructor arguments) and ``state``
        (learned values). ``from_dict`` rebuilds a policy with identical
        probabilities.
        """
        return {
            "kind": self.kind,
            "format_version": FORMAT_VERSION,
            "promoloop_version": _promoloop_version(),
            "params": {
                "actions": list(self.actions),
                "no_action": self.no_action,
                "min_probability": self.min_probability,
                **self._params(),
            },
            "state": {"counts": self._counts.tolist(), **self._state()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BanditPolicy:
        """Rebuild a policy from ``to_dict`` output.

        Called on ``BanditPolicy`` it builds the class named by ``kind``.
        Called on a subclass it also checks that ``kind`` matches.

        Raises
        ------
        InputError
            On an unknown kind, a kind of another class, an unsupported
            format version, or parameters and state that do not fit.
        """
        if not isinstance(data, dict):
            raise InputError(
                "policy state is not a JSON object",
                value=type(data).__name__,
                fix="pass the dict returned by to_dict",
            )
        policy_class = _policy_class(data.get("kind"), cls)
        _check_format_version(data.get("format_version"))
        params = data.get("params")
        state = data.get("state")
        if not isinstance(params, dict) or not isinstance(state, dict):
            raise InputError(
                "policy state lacks its 'params' or 'state' object",
                fix="pass the dict returned by to_dict",
            )
        try:
            policy = policy_class(**params)
        except TypeError as error:
            raise InputError(
                f"invalid parameters for a {policy_class.kind} policy: {error}",
                fix="pass the dict returned by to_dict of the same promoloop version",
            ) from error
        policy._counts = state_array(state, "counts", (policy.n_actions,), int)
        policy._load_state(state)
        return policy

    def to_json(self) -> str:
        """Serialize ``to_dict`` to a JSON string (floats round-trip exactly)."""
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> BanditPolicy:
        """Rebuild a policy from ``to_json`` output (see ``from_dict``)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(
                f"policy state is not valid JSON: {error}",
                fix="pass the string returned by to_json",
            ) from error
        return cls.from_dict(data)

    def __repr__(self) -> str:
        params = ", ".join(f"{key}={value!r}" for key, value in self._params().items())
        return (
            f"{type(self).__name__}(actions={list(self.actions)!r}, "
            f"min_probability={self.min_probability!r}"
            + (f", {params}" if params else "")
            + ")"
        )

    # ------------------------------------------------------------------
    # Subclass hooks
    # ------------------------------------------------------------------

    @abstractmethod
    def _params(self) -> dict[str, Any]:
        """Return the subclass's constructor arguments as JSON-ready values."""

    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """Return the learned values (besides counts) as JSON-ready values."""

    @abstractmethod
    def _load_state(self, state: dict[str, Any]) -> None:
        """Set the learned values from ``_state`` output, checking shapes."""

    @abstractmethod
    def _reset(self) -> None:
        """Set the learned values to the prior."""

    @abstractmethod
    def _update(
        self, codes: np.ndarray, rewards: np.ndarray, context: np.ndarray | None
    ) -> None:
        """Learn from checked rewards (``counts`` are already updated)."""

    @abstractmethod
    def _rule_probabilities(
        self, context: np.ndarray | None, eligible: np.ndarray
    ) -> np.ndarray:
        """Return the rule's probabilities: rows over eligible actions sum to 1."""

    def _check_reward_values(self, rewards: np.ndarray) -> None:
        """Raise on rewards outside the policy's range (any finite by default)."""
        return None

    # ------------------------------------------------------------------
    # Steps
    # ------------------------------------------------------------------

    def _probabilities(self, context, eligible) -> tuple[np.ndarray, np.ndarray]:
        """Return the floored probabilities and the checked eligibility mask."""
        n_rows = row_count(context, eligible)
        features = self._checked_context(context, n_rows, required=False)
        mask = checked_eligible(eligible, n_rows, self.n_actions, self._no_action_code)
        rule = self._rule_probabilities(features, mask)
        return apply_floor(rule, mask, self.min_probability), mask

    def _checked_context(
        self, context, n_rows: int, *, required: bool
    ) -> np.ndarray | None:
        """Return the context as a float matrix, or None for context-free policies.

        Context-free policies ignore the context, but when ``required`` is
        False (a probability call) its row count must match the decisions.
        Contextual policies always need one.
        """
        if not self.contextual:
            if context is not None and not required:
                check_rows(np.asarray(context), n_rows, "context")
            return None
        if context is None:
            raise InputError(
                f"argument 'context' is missing, but {type(self).__name__} "
                "is contextual",
                expected=f"an array of shape (n, {self.n_features})",
                fix="pass the profile features of each decision",
            )
        return checked_features(context, n_rows, self.n_features)


def policy_from_dict(data: dict[str, Any]) -> BanditPolicy:
    """Rebuild any policy from ``to_dict`` output (``BanditPolicy.from_dict``)."""
    return BanditPolicy.from_dict(data)


def policy_from_json(text: str | bytes) -> BanditPolicy:
    """Rebuild any policy from ``to_json`` output (``BanditPolicy.from_json``)."""
    return BanditPolicy.from_json(text)


def policy_kinds() -> dict[str, type[BanditPolicy]]:
    """Return the policy classes by their ``kind`` tag."""
    return dict(_POLICY_KINDS)


def _policy_class(kind: Any, requested: type[BanditPolicy]) -> type[BanditPolicy]:
    policy_class = _POLICY_KINDS.get(kind) if isinstance(kind, str) else None
    if policy_class is None:
        raise InputError(
            "unknown policy kind",
            column="kind",
            value=kind,
            expected=f"one of {sorted(_POLICY_KINDS)}",
            fix="pass state saved by to_dict, or upgrade promoloop if a newer "
            "version saved it",
        )
    if requested is not BanditPolicy and policy_class is not requested:
        raise InputError(
            f"policy state is a {kind!r} policy, not a {requested.kind!r} one",
            column="kind",
            value=kind,
            fix=f"load it with BanditPolicy.from_dict or {policy_class.__name__}"
            ".from_dict",
        )
    return policy_class


def _check_format_version(version: Any) -> None:
    if version != FORMAT_VERSION:
        raise InputError(
            "unsupported policy state format version",
            column="format_version",
            value=version,
            expected=f"version {FORMAT_VERSION}",
            fix="upgrade promoloop to read newer state, or relearn the policy "
            "with this version",
        )


def _promoloop_version() -> str:
    try:
        return metadata.version("promoloop")
    except metadata.PackageNotFoundError:
        return "unknown"
