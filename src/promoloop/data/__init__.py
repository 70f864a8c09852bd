"""Canonical tables, validation, cleaning rules and dataset loaders."""
