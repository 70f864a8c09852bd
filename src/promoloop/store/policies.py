"""Saved versions of bandit policies: write a new version, read the current ones.

``promoloop learn`` saves a version and the service reads the highest
version of each campaign at its next cache refresh, so a new policy is used
without a restart. Versions are never changed once written, which keeps the
``policy_version`` of every logged decision meaningful.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from promoloop.bandits import BanditPolicy, policy_from_dict
from promoloop.store.models import PolicyRecord


@dataclass(frozen=True)
class SavedPolicy:
    """A policy version as stored, with the policy rebuilt from its state."""

    campaign_id: str
    version: int
    policy: BanditPolicy
    reward: str
    window_days: int
    decisions_used: int
    trained_until: dt.datetime | None


def save_policy(
    session: Session,
    campaign_id: str,
    policy: BanditPolicy,
    *,
    reward: str,
    window_days: int,
    decisions_used: int,
    trained_until: dt.datetime | None,
) -> int:
    """Store a new version of a campaign's policy and return its number.

    The version is one more than the campaign's highest. Two concurrent saves
    of the same campaign cannot both succeed: the second violates the primary
    key and its transaction fails.
    """
    latest = session.scalar(
        select(func.max(PolicyRecord.version)).where(
            PolicyRecord.campaign_id == campaign_id
        )
    )
    version = (latest or 0) + 1
    session.add(
        PolicyRecord(
            campaign_id=campaign_id,
            version=version,
            kind=policy.kind,
            state=policy.to_dict(),
            reward=reward,
            window_days=window_days,
            decisions_used=decisions_used,
            trained_until=trained_until,
        )
    )
    session.flush()
    return version


def current_policy_versions(session: Session) -> dict[str, int]:
    """Return the highest policy version of each campaign that has one."""
    rows = session.execute(
        select(PolicyRecord.campaign_id, func.max(PolicyRecord.version)).group_by(
            PolicyRecord.campaign_id
        )
    )
    return {campaign_id: version for campaign_id, version in rows}


def load_policy(
    session: Session, campaign_id: str, version: int | None = None
) -> SavedPolicy | None:
    """Return a campaign's policy version (the highest by default), or None."""
    query = select(PolicyRecord).where(PolicyRecord.campaign_id == campaign_id)
    if version is None:
        query = query.order_by(PolicyRecord.version.desc()).limit(1)
    else:
        query = query.where(PolicyRecord.version == version)
    record = session.scalars(query).first()
    if record is None:
        return None
    return SavedPolicy(
        campaign_id=record.campaign_id,
        version=record.version,
        policy=policy_from_dict(record.state),
        reward=record.reward,
        window_days=record.window_days,
        decisions_used=record.decisions_used,
        trained_until=record.trained_until,
    )
