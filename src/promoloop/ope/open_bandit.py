"""Open Bandit Dataset logs, and the BTS-from-random evaluation protocol.

The Open Bandit Dataset (Saito, Aihara, Matsutani and Narita, "Open Bandit
Dataset and Pipeline", arXiv:2008.07146) logs two behaviour policies that
ran on the ZOZOTOWN fashion site during the same week: a uniform random
policy and Bernoulli Thompson sampling (BTS). Each campaign (all, men, women)
has one file per policy, ``{policy}/{campaign}/{campaign}.csv``, with one row
per impression: the item shown (``item_id``), its position (1 left, 2 center,
3 right), the ``click`` and the ``propensity_score`` of that item at that
position. The first column is an unnamed row index.

The protocol estimates the BTS policy's click rate from the random log and
compares each estimate with the BTS log's own click rate, which is the
on-policy value of BTS over the same week.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from promoloop.errors import InputError
from promoloop.ope.logs import BanditLog

POLICIES = ("random", "bts")
_AFFINITY_PREFIX = "user-item_affinity_"
CAMPAIGNS = ("all", "men", "women")
POSITIONS = (1, 2, 3)

ITEM = "item_id"
POSITION = "position"
CLICK = "click"
PSCORE = "propensity_score"
REQUIRED_COLUMNS = (ITEM, POSITION, CLICK, PSCORE)
USER_FEATURE_PREFIX = "user_feature_"

# pandas names the unnamed first column of the files this way.
_INDEX_COLUMN = "Unnamed: 0"


@dataclass(frozen=True)
class OnPolicyValue:
    """Click rate of a log with its Wilson score interval.

    Attributes
    ----------
    value : float
        Mean click per round.
    low, high : float
        Wilson score interval at the requested confidence level.
    n_rounds : int
    n_clicks : int
    """

    value: float
    low: float
    high: float
    n_rounds: int
    n_clicks: int


@dataclass(frozen=True, eq=False)
class OpenBanditCampaign:
    """One campaign's random log, BTS target policy and on-policy truth.

    Attributes
    ----------
    campaign : str
        "all", "men" or "women".
    random_log : BanditLog
        The random policy's log, with the one-hot user features as context.
    bts_log : BanditLog
        The BTS policy's log, with the same item and position codes.
    target_dist : ndarray of float, shape (n_items, n_positions)
        BTS's probability of each item at each position, from
        :func:`position_distribution` on ``bts_log``.
    truth : OnPolicyValue
        The BTS log's click rate.
    """

    campaign: str
    random_log: BanditLog
    bts_log: BanditLog
    target_dist: np.ndarray
    truth: OnPolicyValue

    def action_dist(self) -> np.ndarray:
        """Return ``target_dist`` repeated for every round of the random log.

        The result has shape (n_rounds, n_items, n_positions) and is a
        read-only view, so it costs no memory per round.
        """
        shape = (self.random_log.n_rounds, *self.target_dist.shape)
        return np.broadcast_to(self.target_dist, shape)


def resolve_data_dir(data_dir: str | Path) -> Path:
    """Return the folder that contains ``random/`` and ``bts/``.

    ``data_dir`` may be that folder or its parent, which contains
    ``open-bandit/``.

    Raises
    ------
    InputError
        When neither ``data_dir`` nor ``data_dir/open-bandit`` is a folder.
    """
    data_dir = Path(data_dir)
    nested = data_dir / "open-bandit"
    if not (data_dir / "random").is_dir() and nested.is_dir():
        return nested
    if not data_dir.is_dir():
        raise InputError(
            f"Open Bandit data folder {data_dir} not found",
            file=str(data_dir),
            expected="a folder with random/ and bts/ subfolders",
            fix="pass --data-dir pointing at the Open Bandit Dataset folder",
        )
    return data_dir


def log_path(data_dir: str | Path, policy: str, campaign: str) -> Path:
    """Return the path of one policy's log of one campaign."""
    return Path(data_dir) / policy / campaign / f"{campaign}.csv"


def _first_bad_row(
    frame: pd.DataFrame, column: str, bad: np.ndarray, path: Path, expected: str
) -> InputError:
    row = int(np.flatnonzero(bad)[0])
    raw = frame[column].iloc[row]
    if isinstance(raw, np.generic):
        raw = raw.item()
    return InputError(
        f"invalid {column} in {int(bad.sum())} of {len(frame)} rows",
        file=str(path),
        row=row + 1,
        column=column,
        value=None if pd.isna(raw) else raw,
        expected=expected,
        fix=f"correct the {column} values of the file, or restore the original file",
    )


def read_log_file(path: str | Path) -> pd.DataFrame:
    """Read one Open Bandit log file and validate the columns the protocol uses.

    Parameters
    ----------
    path : str or Path
        A ``{policy}/{campaign}/{campaign}.csv`` file.

    Returns
    -------
    DataFrame
        One row per impression, with the unnamed index column removed,
        ``item_id``, ``position`` and ``click`` as integers and
        ``propensity_score`` as float.

    Raises
    ------
    InputError
        When the file is missing, unreadable or empty, or a required column
        is missing. Also when a row has an invalid value. Valid rows have a
        non-negative integer item id, position 1, 2 or 3, click 0 or 1, and
        a propensity score in (0, 1]. The message names the file, the
        1-based data row, the column and the value.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "Open Bandit log file not found",
            file=str(path),
            expected="the layout {random,bts}/{campaign}/{campaign}.csv",
            fix="pass --data-dir pointing at the folder with random/ and bts/, "
            "or restore the missing file",
        )
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise InputError(
            f"cannot read the Open Bandit log file: {error}",
            file=str(path),
            fix="check that the file is a comma-separated table with a header",
        ) from None
    frame = frame.drop(columns=[_INDEX_COLUMN], errors="ignore")
    if frame.empty:
        raise InputError(
            "Open Bandit log file has no rows",
            file=str(path),
            fix="restore the original file, which has one row per impression",
        )
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise InputError(
            f"Open Bandit log file has no column {missing[0]!r}",
            file=str(path),
            column=missing[0],
            expected=f"columns {list(REQUIRED_COLUMNS)}",
            fix=f"restore the original file; it has the columns {list(frame.columns)}",
        )

    # Each check reads the column as numbers, with text read as missing.
    item = pd.to_numeric(frame[ITEM], errors="coerce").to_numpy(float, na_value=np.nan)
    bad = ~(np.isfinite(item) & (item >= 0) & (item == np.round(item)))
    if bad.any():
        raise _first_bad_row(frame, ITEM, bad, path, "item ids 0, 1, 2, ...")
    position = pd.to_numeric(frame[POSITION], errors="coerce").to_numpy(
        float, na_value=np.nan
    )
    bad = ~np.isin(position, POSITIONS)
    if bad.any():
        raise _first_bad_row(frame, POSITION, bad, path, "position 1, 2 or 3")
    click = pd.to_numeric(frame[CLICK], errors="coerce").to_numpy(
        float, na_value=np.nan
    )
    bad = ~np.isin(click, (0, 1))
    if bad.any():
        raise _first_bad_row(frame, CLICK, bad, path, "click 0 or 1")
    pscore = pd.to_numeric(frame[PSCORE], errors="coerce").to_numpy(
        float, na_value=np.nan
    )
    with np.errstate(invalid="ignore"):
        bad = ~((pscore > 0) & (pscore <= 1))
    if bad.any():
        raise _first_bad_row(
            frame,
            PSCORE,
            bad,
            path,
            "the probability, in (0, 1], that the logging policy showed the "
            "item at the position",
        )
    return frame.assign(
        **{
            ITEM: item.astype(np.int64),
            POSITION: position.astype(np.int64),
            CLICK: click.astype(np.int64),
            PSCORE: pscore,
        }
    )


def user_features(frame: pd.DataFrame) -> pd.DataFrame:
    """One-hot encode the ``user_feature_*`` columns into float columns.

    The features are hashed categories, so each distinct value gets its own
    column. A missing value gets no column. Returns an empty table when the
    file has no user feature columns.
    """
    columns = [c for c in frame.columns if c.startswith(USER_FEATURE_PREFIX)]
    encoded = pd.get_dummies(frame[columns].astype("string"), dtype=float)
    return encoded.reset_index(drop=True)


def to_bandit_log(
    frame: pd.DataFrame, path: Path, n_items: int, with_context: bool
) -> BanditLog:
    """Build a BanditLog from a validated log file.

    Items are coded 0 to ``n_items - 1`` and positions 1, 2, 3 as codes
    0, 1, 2, so both policies' logs share their codes.
    """
    round_labels = np.arange(1, len(frame) + 1)
    table = pd.DataFrame(
        {
            "round": round_labels,
            ITEM: frame[ITEM].to_numpy(),
            POSITION: frame[POSITION].to_numpy(),
            CLICK: frame[CLICK].to_numpy(),
            PSCORE: frame[PSCORE].to_numpy(),
        }
    )
    context = None
    if with_context:
        encoded = user_features(frame)
        table = pd.concat([table, encoded], axis=1)
        context = list(encoded.columns) or None
    return BanditLog.from_frame(
        table,
        action=ITEM,
        reward=CLICK,
        pscore=PSCORE,
        position=POSITION,
        round_id="round",
        context=context,
        actions=list(range(n_items)),
        positions=list(POSITIONS),
        source=str(path),
    )


def position_distribution(log: BanditLog) -> np.ndarray:
    """Describe a context-free policy by its mean logged propensity per position.

    For each item ``a`` and position ``k``, the mean ``pscore`` of the rounds
    that logged ``a`` at ``k``, normalized to sum to 1 over items at each
    position. Items never logged at a position get probability 0 there.

    BTS in the Open Bandit Dataset ignores the user. Its probability of an
    item at a position depends only on its Beta posteriors, which changed
    during the week, so one item's logged propensities at one position vary
    across the file. Each logged propensity is that probability at a moment
    the item was shown. Their mean gives one distribution per position, the
    form a context-free target policy takes, and the random log's rounds
    can be weighted by it because BTS ran during the same week.

    NOTE: the description leaves out two things. First, BTS changed over
    the week. The on-policy click rate also reflects how those changes
    lined up with changes in the click rates, which a fixed distribution
    cannot. Second, an item is logged more often when its probability is
    high, so the mean logged propensity leans toward those moments. It
    overstates the items whose probability varied most, and normalizing per
    position removes only the overall scale of that bias.

    Parameters
    ----------
    log : BanditLog
        A log of the policy to describe.

    Returns
    -------
    ndarray of float, shape (n_actions, n_positions)

    Raises
    ------
    InputError
        When a position has no logged round.
    """
    cell = log.action * log.n_positions + log.position
    n_cells = log.n_actions * log.n_positions
    totals = np.bincount(cell, weights=log.pscore, minlength=n_cells)
    counts = np.bincount(cell, minlength=n_cells)
    with np.errstate(invalid="ignore"):
        means = np.where(counts > 0, totals / np.maximum(counts, 1), 0.0)
    means = means.reshape(log.n_actions, log.n_positions)
    sums = means.sum(axis=0)
    empty = np.flatnonzero(sums == 0)
    if empty.size:
        raise InputError(
            f"the log has no round at position {log.position_names[empty[0]]}",
            file=log.source,
            column=POSITION,
            expected=f"rounds at every position {list(log.position_names)}",
            fix="use a log that covers every position",
        )
    return means / sums


def on_policy_value(log: BanditLog, alpha: float = 0.05) -> OnPolicyValue:
    """Return a log's click rate with its Wilson score interval.

    The interval treats the rounds as independent Bernoulli trials with one
    click rate, so it leaves out that the policy changed during the log.
    """
    n_clicks = int(log.reward.sum())
    interval = binomtest(n_clicks, log.n_rounds).proportion_ci(
        confidence_level=1 - alpha, method="wilson"
    )
    return OnPolicyValue(
        value=n_clicks / log.n_rounds,
        low=float(interval.low),
        high=float(interval.high),
        n_rounds=log.n_rounds,
        n_clicks=n_clicks,
    )


def load_campaign(
    data_dir: str | Path, campaign: str, *, alpha: float = 0.05
) -> OpenBanditCampaign:
    """Read one campaign's two logs and build the protocol's inputs.

    Parameters
    ----------
    data_dir : str or Path
        Folder with ``random/`` and ``bts/``, or its parent, which contains
        ``open-bandit/``.
    campaign : {"all", "men", "women"}
    alpha : float, default 0.05
        One minus the confidence level of the truth's interval.

    Returns
    -------
    OpenBanditCampaign

    Raises
    ------
    InputError
        On an unknown campaign, or a missing or invalid file (see
        :func:`read_log_file`).
    """
    if campaign not in CAMPAIGNS:
        raise InputError(
            f"unknown Open Bandit campaign {campaign!r}",
            value=campaign,
            expected=f"one of {list(CAMPAIGNS)}",
            fix="pass --campaigns with names from all, men and women",
        )
    data_dir = resolve_data_dir(data_dir)
    paths = {policy: log_path(data_dir, policy, campaign) for policy in POLICIES}
    frames = {policy: read_log_file(path) for policy, path in paths.items()}

    n_items = _item_count(frames, paths)
    random_log = to_bandit_log(frames["random"], paths["random"], n_items, True)
    bts_log = to_bandit_log(frames["bts"], paths["bts"], n_items, False)
    return OpenBanditCampaign(
        campaign=campaign,
        random_log=random_log,
        bts_log=bts_log,
        target_dist=position_distribution(bts_log),
        truth=on_policy_value(bts_log, alpha),
    )


def _item_count(frames: dict[str, pd.DataFrame], paths: dict[str, Path]) -> int:
    """Return the number of items both logs code from 0.

    A log file has one ``user-item_affinity_<k>`` column per item, which
    fixes the item count. An item id outside it is an error, because one
    stray large id would make every array that many items wide. Without
    those columns, the count is one more than the largest item id.
    """
    counts = {
        policy: sum(str(c).startswith(_AFFINITY_PREFIX) for c in frame.columns)
        for policy, frame in frames.items()
    }
    if not any(counts.values()):
        return 1 + max(int(frame[ITEM].max()) for frame in frames.values())
    n_items = max(counts.values())
    for policy, frame in frames.items():
        beyond = np.flatnonzero(frame[ITEM].to_numpy() >= n_items)
        if beyond.size:
            row = int(beyond[0])
            raise InputError(
                f"item id beyond the file's {n_items} items "
                f"({_AFFINITY_PREFIX}0 to {n_items - 1})",
                file=str(paths[policy]),
                row=row + 1,
                column=ITEM,
                value=int(frame[ITEM].iloc[row]),
                fix="correct the item id, or restore the file from the dataset",
            )
    return n_items
