"""Persistent store of the offer service: SQLite by default, PostgreSQL in production.

The public interface:

- :class:`Store`: the database URL, engine, sessions and migrations.
- :mod:`~promoloop.store.models`: the tables as SQLAlchemy models.
- :func:`reserve_budget`, :func:`release_budget`: atomic budget reservations.
- :func:`create_api_key`, :func:`verify_api_key`, :func:`revoke_api_key`.
- :func:`publish_run`: a run folder of ``promoloop run`` as the current model
  version.
- :func:`current_version`, :func:`get_scores`, :func:`get_customer_facts`,
  :func:`load_campaign`: reads for serving decisions.
- :func:`delete_customer`, :func:`is_deleted`: erasure.

Importing this package opens no connection; see ``docs/store.md``.
"""

from promoloop.store.budget import release_budget, reserve_budget
from promoloop.store.database import Store, resolve_database_url
from promoloop.store.erase import delete_customer, is_deleted
from promoloop.store.keys import (
    NewApiKey,
    create_api_key,
    list_api_keys,
    revoke_api_key,
    verify_api_key,
)
from promoloop.store.models import CampaignStatus, FeedbackKind, Role
from promoloop.store.publish import PublishResult, publish_run
from promoloop.store.queries import (
    current_version,
    get_customer_facts,
    get_scores,
    load_campaign,
)

__all__ = [
    "CampaignStatus",
    "FeedbackKind",
    "NewApiKey",
    "PublishResult",
    "Role",
    "Store",
    "create_api_key",
    "current_version",
    "delete_customer",
    "get_customer_facts",
    "get_scores",
    "is_deleted",
    "list_api_keys",
    "load_campaign",
    "publish_run",
    "release_budget",
    "reserve_budget",
    "resolve_database_url",
    "revoke_api_key",
    "verify_api_key",
]
