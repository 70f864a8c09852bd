"""Logged bandit feedback: one validated row per logged decision.

A round is one logged decision: the action the logging policy chose, the
position it was shown in, the probability (``pscore``) the logging policy
gave that action at that position, and the reward observed. Rounds are
validated once, here, so the estimators can divide by ``pscore`` safely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from promoloop.errors import InputError
from promoloop.ope._checks import (
    INVALID_REASONS,
    check_round_labels,
    context_from_frame,
    first_reasons,
    float_values,
    integer_codes,
    invalid_masks,
    invalid_round_error,
    labels_to_codes,
    read_only,
    warn_dropped,
)

OnInvalid = Literal["raise", "drop"]


@dataclass(frozen=True, eq=False)
class BanditLog:
    """Logged bandit feedback: one row per round, validated.

    Parameters
    ----------
    action : array-like of int, shape (n_rounds,)
        Code of the logged action, an index into ``action_names``.
    reward : array-like of float, shape (n_rounds,)
        Observed reward, finite.
    pscore : array-like of float, shape (n_rounds,)
        Probability, in (0, 1], that the logging policy gave the logged action
        at the logged position.
    position : array-like of int, shape (n_rounds,), optional
        Code of the slot the action was shown in, an index into
        ``position_names``. Default all 0 (one slot).
    context : array-like of float, shape (n_rounds, n_features), optional
        Features the reward model may use, finite.
    action_names : sequence of str, optional
        Label of each action code. Its length is ``n_actions``, so actions
        that were never logged can be included. Default ``"0"`` up to the
        largest logged code.
    position_names : sequence of str, optional
        Label of each position code. Default ``"0"`` up to the largest code.
    round_id : array-like, shape (n_rounds,), optional
        Label of each round in messages. Default 1, 2, ..., n_rounds.
    strata : array-like of str, shape (n_rounds,), optional
        Segment of each round, such as a customer segment, used by the
        support report.
    strata_name : str, default "stratum"
        What ``strata`` is, such as ``"segment"``.
    source : str, default "bandit log"
        Name of the data, such as a file path, used in messages.
    source_rows : array-like of int, shape (n_rounds,), optional
        0-based position of each round in the source table, so
        ``df.iloc[log.source_rows]`` selects the rounds kept. Default
        0, 1, ..., n_rounds - 1.
    dropped : mapping of str to int, optional
        Number of source rows left out for each reason of ``INVALID_REASONS``.

    Raises
    ------
    InputError
        When an array has the wrong shape or dtype, the log is empty, a code
        is outside its names, or a round has a missing or non-finite value or
        a pscore outside (0, 1]. The message names the round.
    """

    action: np.ndarray
    reward: np.ndarray
    pscore: np.ndarray
    position: np.ndarray | None = None
    context: np.ndarray | None = None
    action_names: Sequence[str] | None = None
    position_names: Sequence[str] | None = None
    round_id: np.ndarray | None = None
    strata: np.ndarray | None = None
    strata_name: str = "stratum"
    source: str = "bandit log"
    source_rows: np.ndarray | None = None
    dropped: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Codes and numbers, one per round.
        if np.size(self.action) == 0:
            raise InputError(
                f"the log {self.source!r} has no rounds",
                fix="pass a log with at least one logged decision",
            )
        action = integer_codes(self.action, "action", None)
        n_rounds = action.size
        reward = float_values(self.reward, "reward", n_rounds)
        pscore = float_values(self.pscore, "pscore", n_rounds)
        if self.position is None:
            position = np.zeros(n_rounds, dtype=np.int64)
        else:
            position = integer_codes(self.position, "position", n_rounds)
        context = self._checked_context(n_rounds)

        # Names of the codes; their lengths fix n_actions and n_positions.
        action_names = self._checked_names(self.action_names, action, "action")
        position_names = self._checked_names(self.position_names, position, "position")

        # Labels of the rounds.
        round_id = (
            np.arange(1, n_rounds + 1)
            if self.round_id is None
            else check_round_labels(self.round_id, "round_id", n_rounds)
        )
        strata = None
        if self.strata is not None:
            strata = check_round_labels(self.strata, "strata", n_rounds).astype(str)
        source_rows = (
            np.arange(n_rounds)
            if self.source_rows is None
            else integer_codes(self.source_rows, "source_rows", n_rounds)
        )

        for name, value in (
            ("action", action),
            ("reward", reward),
            ("pscore", pscore),
            ("position", position),
            ("context", context),
            ("round_id", round_id),
            ("strata", strata),
            ("source_rows", source_rows),
        ):
            object.__setattr__(self, name, None if value is None else read_only(value))
        object.__setattr__(self, "action_names", action_names)
        object.__setattr__(self, "position_names", position_names)
        object.__setattr__(self, "dropped", dict(self.dropped))

        # Values every estimator relies on.
        masks = invalid_masks(
            action_missing=np.zeros(n_rounds, dtype=bool),
            position_missing=np.zeros(n_rounds, dtype=bool),
            pscore=pscore,
            reward=reward,
            context=context,
        )
        reasons = first_reasons(masks)
        invalid = np.flatnonzero(reasons != "")
        if invalid.size:
            first = invalid[0]
            raise invalid_round_error(
                reasons[first],
                round_label=round_id[first],
                action_name=action_names[action[first]],
                pscore=float(pscore[first]),
                reward=float(reward[first]),
                columns={"pscore": "pscore", "reward": "reward", "context": "context"},
                source=self.source,
                row=None,
                n_invalid=invalid.size,
                can_drop=False,
            )

    def _checked_context(self, n_rounds: int) -> np.ndarray | None:
        if self.context is None:
            return None
        context = np.asarray(self.context)
        if context.ndim != 2 or context.shape[0] != n_rounds:
            raise InputError(
                f"argument 'context' has shape {context.shape}",
                expected=f"(n_rounds, n_features) with n_rounds = {n_rounds}",
                fix="pass one row of features per round; reshape a single "
                "feature with context.reshape(-1, 1)",
            )
        if context.dtype.kind not in "biuf":
            raise InputError(
                f"argument 'context' has dtype {context.dtype}",
                expected="numbers",
                fix="one-hot encode categorical features before building the log",
            )
        return context.astype(float)

    @staticmethod
    def _checked_names(
        names: Sequence[str] | None, codes: np.ndarray, kind: str
    ) -> tuple[str, ...]:
        if names is None:
            return tuple(str(code) for code in range(int(codes.max()) + 1))
        names = tuple(str(name) for name in names)
        if len(set(names)) != len(names):
            raise InputError(
                f"argument '{kind}_names' contains duplicate labels",
                value=names,
                fix=f"give each {kind} code a distinct label",
            )
        if codes.max() >= len(names):
            raise InputError(
                f"{kind} code {int(codes.max())} has no label in '{kind}_names', "
                f"which has {len(names)} labels",
                fix=f"list a label for every {kind} code",
            )
        return names

    def __repr__(self) -> str:
        return (
            f"BanditLog(source={self.source!r}, n_rounds={self.n_rounds}, "
            f"n_actions={self.n_actions}, n_positions={self.n_positions}, "
            f"dropped={self.dropped!r})"
        )

    @property
    def n_rounds(self) -> int:
        """Number of rounds."""
        return int(self.action.size)

    @property
    def n_actions(self) -> int:
        """Number of actions, logged or not."""
        return len(self.action_names)

    @property
    def n_positions(self) -> int:
        """Number of positions."""
        return len(self.position_names)

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        action: str,
        reward: str,
        pscore: str,
        position: str | None = None,
        round_id: str | None = None,
        context: Sequence[str] | None = None,
        strata: str | None = None,
        actions: Sequence[object] | None = None,
        positions: Sequence[object] | None = None,
        source: str = "data frame",
        on_invalid: OnInvalid = "raise",
    ) -> BanditLog:
        """Build a log from a table of logged decisions, validating each round.

        Parameters
        ----------
        df : DataFrame
            One row per round.
        action, reward, pscore : str
            Columns of the logged action label, the observed reward and the
            logging policy's probability of the logged action.
        position : str, optional
            Column of the position label. Default one position.
        round_id : str, optional
            Column of the round label used in messages. Default the 1-based
            row number.
        context : sequence of str, optional
            Numeric feature columns for the reward model.
        strata : str, optional
            Column of segment labels for the support report.
        actions : sequence, optional
            Every action label in code order, including actions never logged.
            Default the sorted distinct logged labels. Pass it whenever the
            target policy may choose an action absent from the log.
        positions : sequence, optional
            Every position label in code order. Default the sorted distinct
            logged labels.
        source : str, default "data frame"
            Name of the data, such as its file path, used in messages.
        on_invalid : {"raise", "drop"}, default "raise"
            What to do with a round whose action, position, context or reward
            is missing or whose pscore is missing or outside (0, 1]. "drop"
            leaves such rounds out, counts them by reason in ``log.dropped``
            and issues a ``DataQualityWarning``.

        Returns
        -------
        BanditLog

        Raises
        ------
        InputError
            When a column is missing or not numeric, an action or position
            label is not in ``actions`` or ``positions``, ``on_invalid`` is
            "raise" and a round is invalid, or no valid round is left. The
            message names the source, round, column, value and the fix.
        """
        if on_invalid not in ("raise", "drop"):
            raise InputError(
                f"on_invalid={on_invalid!r} is not an option",
                expected="'raise' or 'drop'",
                fix="pass on_invalid='raise' or on_invalid='drop'",
            )
        context = list(context or [])
        columns = {"action": action, "reward": reward, "pscore": pscore}
        optional = {"position": position, "round_id": round_id, "strata": strata}
        columns.update({key: name for key, name in optional.items() if name})
        needed = list(columns.values()) + context
        missing = [name for name in needed if name not in df.columns]
        if missing:
            raise InputError(
                f"{source} has no column {missing[0]!r}",
                file=source,
                column=missing[0],
                expected=f"columns {needed}",
                fix=f"pass the right column names; the table has {list(df.columns)}",
            )
        columns["context"] = ", ".join(context)

        # Numbers, with text that is not a number read as missing.
        pscore_values = pd.to_numeric(df[pscore], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
        reward_values = pd.to_numeric(df[reward], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
        context_values = context_from_frame(df, context, source)

        # Invalid rounds: raise on the first one, or drop them all.
        masks = invalid_masks(
            action_missing=df[action].isna().to_numpy(),
            position_missing=(
                df[position].isna().to_numpy()
                if position
                else np.zeros(len(df), dtype=bool)
            ),
            pscore=pscore_values,
            reward=reward_values,
            context=context_values,
        )
        reasons = first_reasons(masks)
        invalid = np.flatnonzero(reasons != "")
        labels = df[round_id].to_numpy() if round_id else np.arange(1, len(df) + 1)
        if invalid.size and on_invalid == "raise":
            first = invalid[0]
            raise invalid_round_error(
                reasons[first],
                round_label=labels[first],
                action_name=str(df[action].iloc[first]),
                pscore=float(pscore_values[first]),
                reward=float(reward_values[first]),
                columns=columns,
                source=source,
                row=int(first) + 1,
                n_invalid=invalid.size,
                can_drop=True,
                raw_values={
                    "pscore": df[pscore].iloc[first],
                    "reward": df[reward].iloc[first],
                },
            )
        keep = reasons == ""
        dropped = {
            reason: int(np.sum(reasons == reason))
            for reason in INVALID_REASONS
            if np.any(reasons == reason)
        }
        if invalid.size:
            warn_dropped(dropped, labels[invalid], len(df), source)
        if not keep.any():
            raise InputError(
                f"no valid round is left in {source} after dropping "
                f"{invalid.size} invalid rounds ({dropped})",
                file=source,
                fix="check the pscore and reward columns",
            )

        # Labels to codes.
        action_codes, action_names = labels_to_codes(
            df[action][keep], actions, "action", "actions", source
        )
        if position:
            position_codes, position_names = labels_to_codes(
                df[position][keep], positions, "position", "positions", source
            )
        else:
            position_codes, position_names = None, None

        return cls(
            action=action_codes,
            reward=reward_values[keep],
            pscore=pscore_values[keep],
            position=position_codes,
            context=None if context_values is None else context_values[keep],
            action_names=action_names,
            position_names=position_names,
            round_id=labels[keep],
            strata=df[strata].to_numpy()[keep] if strata else None,
            strata_name=strata or "stratum",
            source=source,
            source_rows=np.flatnonzero(keep),
            dropped=dropped,
        )


def deterministic_action_dist(log: BanditLog, target_action: object) -> np.ndarray:
    """Build the action_dist of a policy that plays one given action per round.

    Parameters
    ----------
    log : BanditLog
    target_action : array-like, shape (n_rounds,)
        Label of the action the policy chooses in each round, as in
        ``log.action_names``. It is compared as text, so item ids 3 and "3"
        are the same action.

    Returns
    -------
    ndarray of float, shape (n_rounds, n_actions, n_positions)
        1 for the chosen action and 0 elsewhere, at every position.

    Raises
    ------
    InputError
        When ``target_action`` has the wrong length or a label is not an
        action of the log.
    """
    labels = np.asarray(target_action).astype(str)
    if labels.shape != (log.n_rounds,):
        raise InputError(
            f"argument 'target_action' has shape {labels.shape}",
            expected=f"one action label per round ({log.n_rounds},)",
            fix="pass one label per round; if rounds were dropped, select the "
            "same rows with df.iloc[log.source_rows]",
        )
    codes = pd.Index(log.action_names).get_indexer(labels)
    unknown = sorted({str(label) for label in labels[codes < 0]})
    if unknown:
        raise InputError(
            f"target action {unknown[0]!r} is not an action of the log",
            value=unknown[0],
            expected=f"one of {list(log.action_names)}",
            fix="pass every action the target policy may choose in "
            "BanditLog.from_frame(..., actions=...)",
        )
    action_dist = np.zeros((log.n_rounds, log.n_actions, log.n_positions))
    action_dist[np.arange(log.n_rounds), codes, :] = 1.0
    return action_dist
