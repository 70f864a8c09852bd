"""Targeting: promotions, holdout groups, eligibility, scores and allocation."""
