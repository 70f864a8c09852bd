"""Counts of rows kept, repaired and dropped by each cleaning rule."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum

import pandas as pd


class RuleAction(StrEnum):
    """Action a cleaning rule took on the rows it matched."""

    DROPPED = "dropped"
    REPAIRED = "repaired"
    RECLASSIFIED = "reclassified"
    FLAGGED = "flagged"
    KEPT = "kept"


@dataclass
class RuleCount:
    """One cleaning rule applied to one table."""

    rule: str
    table: str
    rows: int
    action: RuleAction
    description: str


@dataclass
class CleaningReport:
    """Every cleaning rule applied during loading, with its row count.

    Rules are recorded even when they matched no row, so a report shows what
    was checked, not only what was found.
    """

    source: str
    rows_read: dict[str, int] = field(default_factory=dict)
    rules: list[RuleCount] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        rule: str,
        rows: int,
        action: RuleAction,
        description: str,
        table: str = "events",
    ) -> None:
        """Record that ``rule`` matched ``rows`` rows of ``table``."""
        self.rules.append(RuleCount(rule, table, int(rows), action, description))

    def count(self, rule: str) -> int:
        """Return the rows matched by ``rule`` (0 when it was never recorded)."""
        return sum(r.rows for r in self.rules if r.rule == rule)

    def to_frame(self) -> pd.DataFrame:
        """Return the rule counts as a table."""
        columns = ["rule", "table", "rows", "action", "description"]
        return pd.DataFrame([asdict(r) for r in self.rules], columns=columns)

    def to_dict(self) -> dict:
        """Return a JSON-ready summary for the manifest."""
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rules": [{**asdict(r), "action": str(r.action)} for r in self.rules],
            "notes": self.notes,
        }
