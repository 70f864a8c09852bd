"""Offer messages per locale, rendered from the facts of each decision."""
