"""HTML report of the uplift benchmark: one table per outcome and the policy table."""

from __future__ import annotations

from pathlib import Path

import jinja2

_TEMPLATE = jinja2.Template(
    """<!doctype html>
<html><head><meta charset="utf-8"><title>promoloop uplift benchmark</title>
<style>
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
td, th { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
td:first-child, th:first-child { text-align: left; }
</style></head><body>
<h1>Uplift benchmark on the Hillstrom e-mail experiment</h1>
<p>{{ protocol.rows }}. Splits: {{ protocol.split }}; seeds {{ protocol.seeds }}.
Values are mean &plusmn; standard deviation over the seeds.
Qini: {{ protocol.qini }}. Uplift@30%: {{ protocol.uplift_at_k }}.
promoloop chosen: {{ protocol.promoloop_chosen }}.</p>
{% if sample_rows %}<p><strong>Quick run on a stratified sample of
{{ sample_rows }} rows; these figures are not the benchmark.</strong></p>{% endif %}
{% for outcome, rows in tables.items() %}
<h2>{{ outcome }}</h2>
<table><tr><th>model</th><th>library</th><th>Qini</th><th>uplift@30%</th>
<th>seeds defined</th></tr>
{% for row in rows %}<tr><td>{{ row.model }}</td><td>{{ row.library }}</td>
<td>{{ row.qini }}</td><td>{{ row.uplift }}</td><td>{{ row.count }}</td></tr>
{% endfor %}</table>
{% endfor %}
{% if choices %}<p>promoloop chosen picked: {{ choices }}.</p>{% endif %}
<h2>What the sample supports</h2>
<p>The test part of each split has about 12,800 customers. Visit has about
15% positives in the e-mail arm and 11% in control, so its Qini differences of
about 0.01 are near the seed-to-seed spread and only larger gaps are
meaningful. Conversion has about 0.9% positives (about 115 converters per test
part), so its Qini and uplift@30% are noisy and the ranking of models on it is
not reliable. Spend is nonzero only for converters, so it is as noisy as
conversion and dominated by a few large orders.</p>
{% if unavailable %}<p>Left out: {% for lib, why in unavailable.items() %}
{{ lib }} ({{ why }}){% endfor %}.</p>{% endif %}
<h2>Policy value (three arms, held-out 30%, IPS with propensity 1/3)</h2>
<p>Cost per e-mail ${{ "%.2f"|format(policy.parameters.cost_per_email) }},
budget {{ "%.0f"|format(100 * policy.parameters.budget_share) }}% of customers
for the model policies, T-learner ({{ policy.parameters.estimator }}) fitted on
{{ policy.n_train }} customers, valued on {{ policy.n_test }}. Values are per
customer, incremental over mailing nobody, with bootstrap 95% intervals over
customers ({{ policy.parameters.n_boot }} resamples).</p>
<table><tr><th>policy</th><th>share mailed</th><th>incremental visits</th>
<th>incremental spend net of cost ($)</th></tr>
{% for row in policy.rows %}<tr><td>{{ row.policy }}</td>
<td>{{ "%.2f"|format(row.share_mailed) }}</td>
<td>{{ "%.4f"|format(row.visits.estimate) }} [{{ "%.4f"|format(row.visits.low) }},
{{ "%.4f"|format(row.visits.high) }}]</td>
<td>{{ "%.3f"|format(row.net_spend.estimate) }} [{{ "%.3f"|format(row.net_spend.low) }},
{{ "%.3f"|format(row.net_spend.high) }}]</td></tr>
{% endfor %}</table>
<p>Versions: {{ versions }}. Wall time {{ wall_seconds }} s.</p>
</body></html>
"""
)


def _cell(entry: dict | None, digits: int) -> str:
    if entry is None or entry["mean"] is None:
        return "undefined"
    std = "n/a" if entry["std"] is None else f"{entry['std']:.{digits}f}"
    return f"{entry['mean']:.{digits}f} ± {std}"


def summary_tables(summary: list[dict]) -> dict[str, list[dict]]:
    """Return report rows per outcome: model, library, Qini and uplift@30% cells."""
    tables: dict[str, dict[str, dict]] = {}
    for entry in summary:
        rows = tables.setdefault(entry["outcome"], {})
        row = rows.setdefault(
            entry["model"], {"model": entry["model"], "library": entry["library"]}
        )
        row[entry["metric"]] = entry
    result = {}
    for outcome, rows in tables.items():
        # Spend's Qini is in customers x dollars, so it gets fewer decimals.
        qini_digits = 0 if outcome == "spend" else 4
        result[outcome] = [
            {
                "model": row["model"],
                "library": row["library"],
                "qini": _cell(row.get("qini"), qini_digits),
                "uplift": _cell(row.get("uplift_at_30"), 4),
                "count": row["qini"]["count"],
            }
            for row in rows.values()
        ]
    return result


def write_report(result: dict, path: Path) -> None:
    """Write the benchmark result as a self-contained HTML page."""
    choices = {}
    for record in result["records"]:
        if "chosen" in record:
            key = f"{record['outcome']}: {record['chosen']}"
            choices[key] = choices.get(key, 0) + 1
    html = _TEMPLATE.render(
        protocol=result["protocol"],
        tables=summary_tables(result["summary"]),
        choices=", ".join(f"{k} ({v}x)" for k, v in choices.items()),
        policy=result["policy"],
        unavailable=result["unavailable"],
        versions=result["versions"],
        wall_seconds=result["wall_seconds"],
        sample_rows=result["sample_rows"],
    )
    Path(path).write_text(html, encoding="utf-8")
