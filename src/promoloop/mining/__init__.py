"""Data mining on baskets: association rules and bundle candidates."""

from promoloop.mining.bundles import bundle_candidates
from promoloop.mining.rules import association_rules

__all__ = ["association_rules", "bundle_candidates"]
