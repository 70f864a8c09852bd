"""The message of one offer, rendered with the run's templates.

:func:`promoloop.messaging.render.render_messages` renders a whole decisions
table through pandas, which costs about a millisecond per call. A decision
needs one message, so this module fills the same templates with the same
variables (:func:`~promoloop.messaging.render.offer_context`) directly. A
test checks that both give the same text.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2
import pandas as pd

from promoloop.messaging.render import (
    TEMPLATE_DIR,
    available_locales,
    offer_about_category,
    offer_context,
)
from promoloop.service.api.offer_cache import CustomerFacts, LiveCampaign
from promoloop.targeting.promotions import Promotion, ScopeType

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    autoescape=False,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=False,
)
# The store has no item names, so items are named by their ids.
_NO_NAMES = pd.Series(dtype="string")
_NO_CATEGORIES = pd.Series(dtype="string")


def offer_message(
    campaign: LiveCampaign,
    promotion: Promotion,
    facts: CustomerFacts | None,
    locale: str | None,
    default_locale: str,
) -> str:
    """Render the message of an offer in the customer's language.

    Parameters
    ----------
    campaign : LiveCampaign
        The promotion's campaign: currency and expiry.
    promotion : Promotion
        The offer.
    facts : CustomerFacts or None
        The customer's published facts: featured items and favourite
        category. None for a non-personalized message.
    locale : str or None
        The customer's locale; ``en-GB`` uses the ``en`` template.
    default_locale : str
        Locale for customers without one or with one that has no template.

    Returns
    -------
    str
    """
    template_locale = match_locale(locale) or match_locale(default_locale) or "en"
    context = offer_context(
        promotion,
        campaign.currency,
        campaign.spec.validity.end,
        template_locale,
        _NO_NAMES,
    )
    context["featured"] = featured_items(promotion, facts)
    # The store does not know the items' categories, so only a promotion
    # scoped to the favourite category names it.
    favourite = facts.favourite_category if facts is not None else None
    about = offer_about_category(favourite, promotion, [], _NO_CATEGORIES)
    context["favourite"] = favourite if about else ""
    template = _ENVIRONMENT.get_template(f"{template_locale}.txt.j2")
    return template.render(**context).strip()


def featured_items(promotion: Promotion, facts: CustomerFacts | None) -> list[str]:
    """Return the customer's featured items that the promotion's scope covers.

    The published items were chosen for the run's offer to the customer,
    which may be another promotion. Items are kept for a promotion on
    everything, and for an item scope or a bundle when they are among its
    items. For a category or brand scope none are kept, because the store
    does not know the items' categories and brands.
    """
    if facts is None:
        return []
    scope_type, values = promotion.scope_items()
    if scope_type == ScopeType.ALL:
        return list(facts.featured_item_ids)
    if scope_type == ScopeType.ITEMS:
        in_scope = set(values)
        return [item for item in facts.featured_item_ids if item in in_scope]
    return []


@lru_cache(maxsize=256)
def match_locale(value: str | None) -> str | None:
    """Return the template locale for ``value`` (``en-GB`` gives ``en``), or None."""
    if not value or not value.strip():
        return None
    by_lower = {locale.lower(): locale for locale in available_locales()}
    requested = value.strip().replace("_", "-").lower()
    if requested in by_lower:
        return by_lower[requested]
    return by_lower.get(requested.split("-")[0])
