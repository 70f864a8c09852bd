"""Example promotions files shipped with the package."""
