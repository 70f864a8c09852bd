"""Charts of the run report, rendered with matplotlib as embedded PNG images."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import pandas as pd  # noqa: E402


def _to_data_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/png;base64,{encoded}"


def barh(labels, values, title: str, xlabel: str) -> str:
    """Return a horizontal bar chart as a PNG data URI."""
    labels = [str(label) for label in labels]
    height = max(2.0, 0.35 * len(labels) + 1.0)
    figure, axes = plt.subplots(figsize=(7, height))
    axes.barh(labels[::-1], list(values)[::-1], color="#3b6ea8")
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.grid(axis="x", alpha=0.3)
    return _to_data_uri(figure)


def grouped_bars(
    table: pd.DataFrame, index: str, columns: list[str], title: str
) -> str:
    """Return a grouped bar chart of ``columns`` per ``index`` value."""
    figure, axes = plt.subplots(figsize=(7, 3.5))
    table.set_index(index)[columns].plot.bar(ax=axes, rot=20)
    axes.set_title(title)
    axes.grid(axis="y", alpha=0.3)
    return _to_data_uri(figure)


def budget_chart(budget: pd.DataFrame) -> str:
    """Return a bar chart of budget and expected spend per campaign."""
    figure, axes = plt.subplots(figsize=(7, 3.0))
    positions = range(len(budget))
    axes.bar(
        [p - 0.2 for p in positions],
        budget["budget"],
        width=0.4,
        label="budget",
        color="#c9d6e8",
    )
    axes.bar(
        [p + 0.2 for p in positions],
        budget["expected_cost"],
        width=0.4,
        label="expected cost",
        color="#3b6ea8",
    )
    axes.set_xticks(list(positions), budget["campaign_id"].astype(str), rotation=15)
    axes.set_title("Budget and expected cost per campaign")
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    return _to_data_uri(figure)
