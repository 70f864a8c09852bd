"""Column names and categorical values shared by every stage.

Every table that crosses a stage boundary uses these names, so a column is
called the same thing in the loaders, the profiles, the recommenders, the
targeting step and the run folder.
"""

from enum import StrEnum


class Columns:
    """Canonical column names."""

    # Identifiers
    event_id = "event_id"
    customer_id = "customer_id"
    item_id = "item_id"
    order_id = "order_id"
    promotion_id = "promotion_id"
    campaign_id = "campaign_id"
    decision_id = "decision_id"

    # Events
    event_type = "event_type"
    quantity = "quantity"
    amount = "amount"
    discount = "discount"
    timestamp = "timestamp"
    channel = "channel"

    # Items
    name = "name"
    category = "category"
    brand = "brand"
    price = "price"
    margin_rate = "margin_rate"

    # Customers
    locale = "locale"
    consent = "consent"

    # Exposures and outcomes
    eligible = "eligible"
    probability = "probability"
    holdout = "holdout"
    policy_version = "policy_version"
    revenue = "revenue"
    margin = "margin"

    # Recommendations and scores
    rank = "rank"
    score = "score"
    strategy = "strategy"
    weight = "weight"


class EventType(StrEnum):
    """Kinds of behaviour event."""

    VIEW = "view"
    CART = "cart"
    PURCHASE = "purchase"
    RETURN = "return"
    REVIEW = "review"


class RecommendationStrategy(StrEnum):
    """Which path produced a customer's recommendation list."""

    PERSONALIZED = "personalized"
    FALLBACK_POPULAR = "fallback_popular"
    FEATURES_ONLY = "features_only"
