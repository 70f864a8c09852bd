"""Writing a campaign report: self-contained HTML, JSON and one CSV per table."""

from __future__ import annotations

import base64
import io
import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import matplotlib
from markupsafe import Markup

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from promoloop.vocabulary import Columns as C  # noqa: E402

if TYPE_CHECKING:
    from promoloop.evaluation.campaign import CampaignReport

logger = logging.getLogger(__name__)

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Campaign evaluation</title>
<style>
body { font-family: sans-serif; margin: 2em; max-width: 75em; }
table { border-collapse: collapse; margin-bottom: 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f0f0f0; }
.ok { background: #e3f4e3; }
.warn { background: #fff3cd; }
.fail { background: #f8d7da; }
</style></head><body>
<h1>Campaign evaluation</h1>
<h2>How to read this</h2>
<p>Each lift is treated minus control (the campaign's holdout), per customer,
over the {{ settings.window_days }} days after the first exposure, with a
{{ (settings.confidence_level * 100) | round(1) }}% interval. An interval that
contains 0 means no detectable effect: the data are consistent with the
promotion changing nothing. Rates use Newcombe's score interval, means use
Welch's t interval, and cost and ROI use a bootstrap over customers. The CUPED
row uses each customer's pre-period spend to remove variance that existed
before the campaign, so its interval is narrower when past and present spend
are correlated. Read the checks first: a failed check means the lifts below
should not be trusted.</p>
{% if notes %}<h2>Assumptions</h2><ul>
{% for n in notes %}<li>{{ n }}</li>{% endfor %}
</ul>{% endif %}
<h2>Checks</h2>
<table><tr><th>status</th><th>check</th><th>campaign</th><th>promotion</th>
<th>segment</th><th>message</th></tr>
{% for c in checks %}<tr class="{{ c.status }}">
<td>{{ c.status }}</td><td>{{ c.check }}</td><td>{{ c.campaign_id }}</td>
<td>{{ c.promotion_id or "" }}</td><td>{{ c.segment or "" }}</td>
<td style="text-align:left">{{ c.message }}</td></tr>{% endfor %}</table>
<h2>Lift per campaign and promotion</h2>
{% if chart %}<img alt="Lift with interval per promotion"
 src="data:image/png;base64,{{ chart }}">{% endif %}
{{ effects }}
<h2>Groups</h2>{{ groups }}
<h2>CUPED</h2>{{ cuped }}
{% if segments %}<h2>Lift by segment</h2>{{ segments }}{% endif %}
</body></html>
"""

_EFFECT_COLUMNS = [
    C.campaign_id,
    C.promotion_id,
    "metric",
    "n_treated",
    "n_control",
    "treated_value",
    "control_value",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "relative_lift",
    "mde",
    "reason",
]


def _clean(value):
    """Turn pd.NA, NaN and numpy scalars into JSON values."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(df: pd.DataFrame) -> list[dict]:
    return [
        {k: _clean(v) for k, v in row.items()}
        for row in df.astype(object).to_dict("records")
    ]


def report_dict(report: CampaignReport) -> dict:
    """Return the report's settings, notes, checks and tables as JSON-ready values."""
    return {
        "settings": report.settings,
        "notes": report.notes,
        "checks": [{k: _clean(v) for k, v in c.items()} for c in report.checks],
        "tables": {name: _records(df) for name, df in report.tables.items()},
    }


def _lift_chart(effects: pd.DataFrame) -> str | None:
    """Draw conversion lift and interval per promotion as a base64 PNG."""
    rows = effects[(effects["metric"] == "conversion_rate") & effects["defined"]]
    if rows.empty:
        return None
    labels = (
        rows[C.campaign_id].astype(str) + " / " + rows[C.promotion_id].astype(str)
    ).tolist()
    estimate = rows["estimate"].astype(float).to_numpy()
    below = estimate - rows["ci_low"].astype(float).to_numpy()
    above = rows["ci_high"].astype(float).to_numpy() - estimate
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.5))
    ax.errorbar(estimate, range(len(rows)), xerr=[below, above], fmt="o", capsize=4)
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_yticks(range(len(rows)), labels)
    ax.set_xlabel("conversion rate lift (treated - control), with interval")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _html_table(df: pd.DataFrame, columns: list[str] | None = None) -> str:
    if df.empty:
        return "<p>none</p>"
    shown = df[[c for c in columns if c in df.columns]] if columns else df
    return shown.to_html(index=False, na_rep="-", float_format="{:.4g}".format)


def write_report(report: CampaignReport, out_dir: Path) -> Path:
    """Write report.html, campaign_report.json and <table>.csv into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, df in report.tables.items():
        df.to_csv(out_dir / f"{name}.csv", index=False)
    (out_dir / "campaign_report.json").write_text(
        json.dumps(report_dict(report), indent=2, default=str), encoding="utf-8"
    )

    effects = report.tables["effects"]
    segments = report.tables["segments"]
    template = jinja2.Environment(autoescape=True).from_string(_TEMPLATE)
    html = template.render(
        settings=report.settings,
        notes=report.notes,
        checks=report.checks,
        chart=_lift_chart(effects) if not effects.empty else None,
        effects=Markup(_html_table(effects, _EFFECT_COLUMNS)),
        groups=Markup(_html_table(report.tables["groups"])),
        cuped=Markup(_html_table(report.tables["cuped"])),
        segments=(
            Markup(
                _html_table(segments, [*_EFFECT_COLUMNS, "segment", "small_segment"])
            )
            if not segments.empty
            else None
        ),
    )
    path = out_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    logger.info("wrote the campaign report to %s", out_dir)
    return path
