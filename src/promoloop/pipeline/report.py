"""The run's self-contained HTML report."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader

from promoloop.pipeline import charts

logger = logging.getLogger(__name__)

_SAMPLE_MESSAGES = 12


def write_report(out_dir: Path, manifest: dict, tables: dict, plan) -> Path:
    """Render ``report.html`` into the run folder and return its path."""
    environment = Environment(
        loader=PackageLoader("promoloop.pipeline", "templates"),
        # The template is named .html.j2, which select_autoescape(["html"])
        # does not match: escape every value explicitly.
        autoescape=True,
    )
    template = environment.get_template("report.html.j2")
    html = template.render(**_context(manifest, tables, plan))
    path = out_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def _context(manifest: dict, tables: dict, plan) -> dict:
    decisions = tables["decisions"]
    offered = decisions[decisions["promotion_id"].notna()]
    cleaning = tables["cleaning"]
    segments = tables["segments"]
    metrics = tables["recommender_metrics"]
    targeting = manifest["metrics"]["targeting"]

    context = {
        "manifest": manifest,
        "cleaning": cleaning.to_dict(orient="records"),
        "segments": segments.to_dict(orient="records"),
        "segment_columns": list(segments.columns),
        "metrics": metrics.to_dict(orient="records"),
        "metric_columns": list(metrics.columns),
        "rules": tables["rules"].head(10).to_dict(orient="records"),
        "rule_columns": list(tables["rules"].columns),
        "bundles": tables["bundles"].head(10).to_dict(orient="records"),
        "bundle_columns": list(tables["bundles"].columns),
        "targeting": targeting,
        "offers": _offer_summary(offered),
        "messages": _message_sample(offered),
        "timings": manifest.get("timings", []),
        "past_campaigns": _past_campaign_rows(tables.get("campaign_effects")),
        "charts": {},
    }

    # Charts: data quality, segments, recommender metrics, offers and budget
    matched = cleaning[cleaning["rows"] > 0]
    if len(matched):
        context["charts"]["cleaning"] = charts.barh(
            matched["rule"],
            matched["rows"],
            "Rows matched by each cleaning rule",
            "rows",
        )
    if len(segments) and "customers" in segments:
        context["charts"]["segments"] = charts.barh(
            segments["segment_name"],
            segments["customers"],
            "Segment sizes",
            "customers",
        )
    metric_columns = [c for c in ("recall_at_10", "ndcg_at_10") if c in metrics]
    if len(metrics) and metric_columns:
        context["charts"]["recommenders"] = charts.grouped_bars(
            metrics, "model", metric_columns, "Recommenders on the temporal holdout"
        )
    if len(offered):
        counts = offered["promotion_id"].value_counts()
        context["charts"]["offers"] = charts.barh(
            counts.index, counts.values, "Offers per promotion", "customers"
        )
    budget = _budget_table(offered, plan)
    context["budget"] = budget.to_dict(orient="records")
    if len(budget):
        context["charts"]["budget"] = charts.budget_chart(budget)
    return context


def _past_campaign_rows(effects: pd.DataFrame | None) -> list[dict]:
    """Return the estimated rows of the observational campaign effects."""
    if effects is None or effects.empty:
        return []
    estimated = effects[effects["estimated"].astype(bool)]
    rows = estimated.assign(
        start=estimated["start"].astype(str).str[:10],
        last_day=(estimated["end"] - pd.Timedelta(days=1)).astype(str).str[:10],
    )
    # Missing values become None, so that the template can test them.
    rows = rows.astype(object).where(rows.notna(), None)
    return rows.to_dict(orient="records")


def _offer_summary(offered: pd.DataFrame) -> list[dict]:
    summary = offered.groupby("promotion_id", observed=True).agg(
        customers=("customer_id", "size"),
        expected_net_margin=("score", "sum"),
        expected_cost=("expected_cost", "sum"),
    )
    return summary.reset_index().round(2).to_dict(orient="records")


def _budget_table(offered: pd.DataFrame, plan) -> pd.DataFrame:
    spent = offered.groupby("campaign_id", observed=True)["expected_cost"].sum()
    rows = [
        {
            "campaign_id": campaign.campaign_id,
            "budget": float(campaign.budget),
            "expected_cost": round(float(spent.get(campaign.campaign_id, 0.0)), 2),
        }
        for campaign in plan.campaigns
    ]
    return pd.DataFrame(rows, columns=["campaign_id", "budget", "expected_cost"])


def _message_sample(offered: pd.DataFrame) -> list[dict]:
    """Return a sample of messages covering every locale present."""
    if not len(offered):
        return []
    per_locale = max(1, _SAMPLE_MESSAGES // max(1, offered["locale"].nunique()))
    sample = (
        offered.sort_values("customer_id")
        .groupby("locale", dropna=False)
        .head(per_locale)
    )
    return sample[["customer_id", "promotion_id", "locale", "message"]].to_dict(
        orient="records"
    )
