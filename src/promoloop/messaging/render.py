"""Offer messages in the customer's language, written only from decision facts.

Each message states the offer's terms (from the promotion), its expiry (the
campaign's validity end), the featured items' names and, when the offer is
about it, the customer's favourite category. Templates live in
``messaging/templates/<locale>.txt.j2``.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from promoloop.targeting.promotions import (
    Currency,
    Promotion,
    PromotionKind,
    PromotionPlan,
    ScopeType,
)
from promoloop.vocabulary import Columns as C
from promoloop.warnings import LocaleFallbackWarning

logger = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).parent / "templates"
FEATURED_ITEMS = "featured_items"
FAVOURITE_CATEGORY = "favourite_category"

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    autoescape=False,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=False,
)

_SCOPE_ALL = {"en": "everything", "zh-CN": "全场商品"}


def available_locales() -> list[str]:
    """Return the locales that have a message template, e.g. ``["en", "zh-CN"]``."""
    return sorted(p.name.removesuffix(".txt.j2") for p in TEMPLATE_DIR.glob("*.txt.j2"))


def format_money(amount: float, currency: Currency) -> str:
    """Format an amount with the currency symbol, e.g. ``$2`` or ``£1,234.50``.

    Whole amounts are written without decimals.
    """
    if float(amount).is_integer():
        return f"{currency.symbol}{amount:,.0f}"
    return f"{currency.symbol}{amount:,.2f}"


def format_number(value: float) -> str:
    """Format a percentage or count without a needless ``.0``."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"


def render_messages(
    decisions_table: pd.DataFrame,
    plan: PromotionPlan,
    items: pd.DataFrame,
    profiles: pd.DataFrame | None = None,
    default_locale: str = "en",
) -> pd.Series:
    """Write one message per decision row that carries an offer.

    Parameters
    ----------
    decisions_table : DataFrame
        The decisions table with ``customer_id``, ``promotion_id`` (missing for
        no offer), ``featured_items`` (list of item ids) and ``locale``.
    plan : PromotionPlan
        The plan the promotions come from; gives terms, expiry and currency.
    items : DataFrame
        Canonical items; ``name`` is shown for featured and bundle items.
    profiles : DataFrame or None, default None
        Gives ``favourite_category`` per customer when present.
    default_locale : str, default "en"
        Locale for customers without one or with one that has no template.

    Returns
    -------
    Series of str
        Message per row, index of ``decisions_table``; the empty string for
        rows without an offer.

    Raises
    ------
    KeyError
        If a row's promotion is not in ``plan``.
    ValueError
        If ``default_locale`` has no template.

    Warns
    -----
    LocaleFallbackWarning
        When customers have a locale without a template. The warning gives
        their count and the locales.
    """
    locales = available_locales()
    if default_locale not in locales:
        raise ValueError(
            f"default_locale {default_locale!r} has no message template; expected "
            f"one of {locales}. Fix: set messaging.default_locale"
        )
    messages = pd.Series("", index=decisions_table.index, dtype="string")
    offers = decisions_table[decisions_table[C.promotion_id].notna()]
    if offers.empty:
        return messages

    # Resolve each customer's locale, counting the unknown ones.
    requested = offers.get(C.locale, pd.Series(pd.NA, index=offers.index))
    resolved = requested.astype(object).map(lambda value: _match_locale(value, locales))
    unknown = requested.notna() & resolved.isna()
    if unknown.any():
        names = sorted(requested[unknown].astype(str).unique())
        warnings.warn(
            f"{int(unknown.sum())} message(s) have a locale without a template "
            f"({', '.join(names)}); wrote them in {default_locale!r}. Add a "
            "template to messaging/templates to support them",
            LocaleFallbackWarning,
            stacklevel=2,
        )
    resolved = resolved.fillna(default_locale)

    # Names for item ids and each customer's favourite category.
    names = items.set_index(C.item_id)[C.name] if C.name in items else pd.Series()
    categories = (
        items.set_index(C.item_id)[C.category] if C.category in items else pd.Series()
    )
    favourites = pd.Series(dtype=object)
    if profiles is not None and FAVOURITE_CATEGORY in profiles.columns:
        favourites = profiles.set_index(profiles[C.customer_id].astype("string"))[
            FAVOURITE_CATEGORY
        ]

    # NOTE: one template call per offer row; a few thousand rows take well
    # under a second, and Jinja2 has no batch rendering.
    for index, row in offers.iterrows():
        campaign, promotion = plan.promotion(str(row[C.promotion_id]))
        locale = resolved.at[index]
        featured = row.get(FEATURED_ITEMS)
        is_list = isinstance(featured, list | tuple | np.ndarray)
        featured = list(featured) if is_list else []
        favourite = favourites.get(str(row[C.customer_id]))
        if not offer_about_category(favourite, promotion, featured, categories):
            favourite = None
        context = offer_context(
            promotion,
            plan.currency_of(campaign.campaign_id),
            campaign.validity.end,
            locale,
            names,
        )
        context["featured"] = [_name(item, names) for item in featured]
        context["favourite"] = favourite if isinstance(favourite, str) else ""
        template = _ENVIRONMENT.get_template(f"{locale}.txt.j2")
        messages.at[index] = template.render(**context).strip()
    return messages


def offer_about_category(
    category: object, promotion: Promotion, items: list, categories: pd.Series
) -> bool:
    """Return whether an offer is about a category, such as a favourite one.

    Messages name the customer's favourite category only for such offers, so
    that a message never gives a reason unrelated to its offer.

    Parameters
    ----------
    category : object
        The category; anything but a non-empty string gives False.
    promotion : Promotion
        The offer. It is about the category when it is scoped to it.
    items : list
        Featured item ids. The offer is about the category when one of them,
        or of the promotion's own items, is in it.
    categories : Series
        Category by item id; empty when the categories are not known, and
        then only the promotion's scope decides.

    Returns
    -------
    bool
    """
    if not isinstance(category, str) or not category:
        return False
    scope_type, scope_values = promotion.scope_items()
    if scope_type == ScopeType.CATEGORIES:
        return category in scope_values
    candidates = list(items)
    if scope_type == ScopeType.ITEMS:
        candidates += scope_values
    return any(categories.get(item) == category for item in candidates)


def offer_context(
    promotion: Promotion,
    currency: Currency,
    expiry: dt.date,
    locale: str,
    names: pd.Series,
) -> dict:
    """Return the template variables that state a promotion's terms.

    Parameters
    ----------
    promotion : Promotion
        The offer.
    currency : Currency
        Currency of money amounts.
    expiry : date
        Last valid day.
    locale : str
        Locale of the template, for the scope and date wording.
    names : Series
        Item names by item id.

    Returns
    -------
    dict
        ``kind``, ``percent``, ``amount``, ``min_spend``, ``scope``,
        ``bundle`` and ``expiry``.
    """
    scope_type, values = promotion.scope_items()
    if scope_type == ScopeType.ALL:
        scope = _SCOPE_ALL.get(locale, _SCOPE_ALL["en"])
    elif scope_type == ScopeType.ITEMS:
        scope = _join([_name(v, names) for v in values], locale)
    else:
        scope = _join(values, locale)
    money = promotion.kind != PromotionKind.PERCENT_OFF
    return {
        "kind": promotion.kind.value,
        "percent": "" if money else format_number(promotion.value),
        "amount": format_money(promotion.value, currency) if money else "",
        "min_spend": (
            format_money(promotion.min_spend, currency) if promotion.min_spend else ""
        ),
        "scope": scope,
        "bundle": [_name(item, names) for item in promotion.items],
        "expiry": _format_date(expiry, locale),
    }


def _match_locale(value, locales: list[str]) -> str | None:
    """Match ``en-GB`` to ``en`` and ``zh_cn`` to ``zh-CN``; None when no match."""
    if not isinstance(value, str) or not value.strip():
        return None
    wanted = value.strip().replace("_", "-").lower()
    by_lower = {locale.lower(): locale for locale in locales}
    if wanted in by_lower:
        return by_lower[wanted]
    language = wanted.split("-")[0]
    if language in by_lower:
        return by_lower[language]
    return None


def _name(item_id, names: pd.Series) -> str:
    name = names.get(item_id)
    return str(name) if isinstance(name, str) and name else str(item_id)


def _join(values: list[str], locale: str) -> str:
    if locale.startswith("zh"):
        return "、".join(values)
    if len(values) <= 2:
        return " and ".join(values)
    return ", ".join(values[:-1]) + " and " + values[-1]


def _format_date(day: dt.date, locale: str) -> str:
    if locale.startswith("zh"):
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {day:%B %Y}"
