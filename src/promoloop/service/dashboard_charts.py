"""Charts of the dashboard pages, rendered with matplotlib as PNG data URIs.

The service renders pages in a thread pool, so each chart is drawn on its own
:class:`matplotlib.figure.Figure` and saved through the Agg canvas. pyplot is
not used: its registry of open figures is shared by all threads.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BAR_COLOUR = "#3b6ea8"
MARKER_COLOUR = "#d9822b"
ZERO_COLOUR = "#888888"


@dataclass(frozen=True)
class BudgetBar:
    """One campaign's bar of the budget chart, both shares in percent."""

    label: str
    used_percent: float
    elapsed_percent: float | None


@dataclass(frozen=True)
class LiftPoint:
    """One estimated lift with its confidence interval, in the metric's unit."""

    label: str
    estimate: float
    ci_low: float
    ci_high: float


def budget_used_chart(bars: Sequence[BudgetBar]) -> str | None:
    """Draw the budget used per campaign, with the share of the window elapsed.

    Returns
    -------
    str or None
        A ``data:image/png;base64`` URI, or None without campaigns.
    """
    if not bars:
        return None
    labels = [bar.label for bar in bars][::-1]
    used = [bar.used_percent for bar in bars][::-1]
    figure = Figure(figsize=(7, max(2.0, 0.45 * len(bars) + 1.2)))
    axes = figure.subplots()
    axes.barh(labels, used, color=BAR_COLOUR, label="budget used")

    # A tick per campaign at the share of its validity window that has passed.
    elapsed = [
        (bar.elapsed_percent, position)
        for position, bar in enumerate(reversed(bars))
        if bar.elapsed_percent is not None
    ]
    if elapsed:
        axes.scatter(
            [share for share, _ in elapsed],
            [position for _, position in elapsed],
            marker="|",
            s=400,
            linewidths=3,
            color=MARKER_COLOUR,
            label="window elapsed",
            zorder=3,
        )
    axes.set_xlim(0, max(100.0, *used) * 1.05)
    axes.set_xlabel("% of budget")
    axes.set_title("Budget used per campaign")
    axes.grid(axis="x", alpha=0.3)
    axes.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.35),
        ncol=2,
        fontsize="small",
        frameon=False,
    )
    return _to_data_uri(figure)


def lift_chart(
    conversion: Sequence[LiftPoint], revenue: Sequence[LiftPoint], currency: str
) -> str | None:
    """Draw lift estimates with their intervals: conversion and revenue side by side.

    Parameters
    ----------
    conversion : sequence of LiftPoint
        Conversion-rate differences in percentage points.
    revenue : sequence of LiftPoint
        Revenue-per-customer differences in ``currency``.
    currency : str
        Currency code for the revenue axis label.

    Returns
    -------
    str or None
        A PNG data URI, or None when neither metric has a point.
    """
    panels = [
        (points, title, unit)
        for points, title, unit in (
            (conversion, "Conversion rate lift", "percentage points"),
            (revenue, "Revenue per customer lift", currency),
        )
        if points
    ]
    if not panels:
        return None
    rows = max(len(points) for points, _, _ in panels)
    figure = Figure(figsize=(4.2 * len(panels), max(2.2, 0.5 * rows + 1.4)))
    for axes, (points, title, unit) in zip(
        figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True
    ):
        _draw_intervals(axes, points)
        axes.set_title(title)
        axes.set_xlabel(f"treated minus holdout ({unit})")
    figure.tight_layout()
    return _to_data_uri(figure)


def segment_chart(labels: Sequence[str], sizes: Sequence[int]) -> str | None:
    """Draw the number of customers per segment; None without segments."""
    if not labels:
        return None
    figure = Figure(figsize=(7, max(2.0, 0.4 * len(labels) + 1.2)))
    axes = figure.subplots()
    axes.barh(list(labels)[::-1], list(sizes)[::-1], color=BAR_COLOUR)
    axes.set_xlabel("customers")
    axes.set_title("Customers per segment (current published version)")
    axes.grid(axis="x", alpha=0.3)
    return _to_data_uri(figure)


def _draw_intervals(axes, points: Sequence[LiftPoint]) -> None:
    """Draw one row per point: the estimate and a line across its interval."""
    positions = list(range(len(points)))[::-1]
    estimates = [point.estimate for point in points]
    below = [point.estimate - point.ci_low for point in points]
    above = [point.ci_high - point.estimate for point in points]
    axes.errorbar(
        estimates,
        positions,
        xerr=[below, above],
        fmt="o",
        color=BAR_COLOUR,
        ecolor=BAR_COLOUR,
        elinewidth=2,
        capsize=5,
    )
    axes.axvline(0, color=ZERO_COLOUR, linestyle="--", linewidth=1)
    axes.set_yticks(positions, [point.label for point in points])
    axes.set_ylim(-0.7, len(points) - 0.3)
    axes.grid(axis="x", alpha=0.3)


def _to_data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/png;base64,{encoded}"
