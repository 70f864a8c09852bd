"""Run configuration: every tunable setting of the main job in one validated model."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _distinct_event_types(weights: dict[str, float]) -> dict[str, float]:
    """Reject event weights whose types differ only in case, since types match so."""
    seen: dict[str, str] = {}
    for name in weights:
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise ValueError(
                f"event types {other!r} and {name!r} differ only in case, and "
                "types match case-insensitively; keep one of them"
            )
    return weights


class InterestConfig(BaseModel):
    """Weights per event type and time decay of the interest profile."""

    model_config = ConfigDict(extra="forbid")

    event_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "view": 0.5,
            "cart": 1.0,
            "purchase": 3.0,
            "review": 2.0,
            "return": -1.0,
        },
        description="Weight of one event of each type in the affinity sum; "
        "types match case-insensitively.",
    )
    half_life_days: float | None = Field(
        default=90.0,
        gt=0,
        description="Half-life of an event's weight in days; None turns decay off.",
    )

    _event_types = field_validator("event_weights")(_distinct_event_types)


class ValueConfig(BaseModel):
    """Settings of the customer value layer (CLV)."""

    model_config = ConfigDict(extra="forbid")

    period: str = Field(default="D", description="BTYD time unit: D (day) or W (week).")
    horizon_days: int = Field(default=365, gt=0, description="CLV horizon in days.")
    annual_discount_rate: float = Field(
        default=0.1, ge=0, description="Yearly rate that discounts future CLV."
    )


class RecommendConfig(BaseModel):
    """Settings of the recommendation stage."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(default=10, gt=0, description="Items recommended per customer.")
    validation_days: int = Field(
        default=28, gt=0, description="Length of the temporal holdout window in days."
    )
    als_factors: int = Field(default=64, gt=0)
    als_iterations: int = Field(default=15, gt=0)
    knn_neighbours: int = Field(default=100, gt=0)
    event_weights: dict[str, float] = Field(
        default_factory=lambda: {"purchase": 1.0},
        description="Training weight of one event of each type, matched "
        "case-insensitively; types not listed count 0, so their customers get "
        "the popularity fallback.",
    )
    num_threads: int = Field(
        default=1, ge=0, description="Threads of implicit's models (0 = all cores)."
    )
    spark_als: bool = Field(
        default=False,
        description="Also compare Spark ML's ALS (model als_spark, with "
        "als_factors and als_iterations); needs the Spark engine. Off by "
        "default, so both engines compare the same models.",
    )

    _event_types = field_validator("event_weights")(_distinct_event_types)


class TargetingConfig(BaseModel):
    """Settings of the targeting and allocation stage."""

    model_config = ConfigDict(extra="forbid")

    max_promotions_per_customer: int = Field(default=1, gt=0)
    default_margin_rate: float = Field(default=0.3, gt=0, le=1)
    holdout_share: float = Field(default=0.1, ge=0, lt=1)
    exclude_anomalies: bool = True
    exact_max_variables: int = Field(
        default=200_000,
        gt=0,
        description="Largest number of (customer, promotion) pairs solved exactly "
        "with HiGHS; larger instances use the Lagrangian method.",
    )
    uplift_max_response: float = Field(
        default=0.15,
        gt=0,
        le=1,
        description="Largest share of active non-buyers that any discount "
        "converts, in the profile estimate of uplift.",
    )
    uplift_elasticity: float = Field(
        default=4.0,
        gt=0,
        description="How fast the converted share approaches uplift_max_response "
        "as discount depth times discount sensitivity grows.",
    )


class MessagingConfig(BaseModel):
    """Settings of the message stage."""

    model_config = ConfigDict(extra="forbid")

    default_locale: str = "en"
    featured_items: int = Field(default=3, gt=0)
    restricted_items_pattern: str = Field(
        default=(
            r"(?i)tobacco|tabak|cigar|zigarett|vape|e-cig|gasoline|kiosk-gas|diesel|"
            r"\bfuel\b|kraftstoff|benzin|alcohol|alkohol|liquor|spirits|vodka|"
            r"whiske?y|brandy|\bgin\b|\brum\b|\bbeers?\b|\bbier\b|lager|"
            r"\bwines?\b|\bwein\b|champagne|lottery|prepaid|gift card|coupon"
        ),
        description="Regular expression over an item's name, category, brand and "
        "department: matching items are never featured in a message, and a "
        "matching favourite category is never named (age-restricted goods, fuel, "
        "gift cards; English and German words). An empty string allows everything.",
    )


class UpliftConfig(BaseModel):
    """Settings of uplift learning from a past randomized campaign."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True,
        description="Learn the targeting score from the most recent randomized "
        "campaign in the history, when there is one.",
    )
    outcome_window_days: int = Field(
        default=28,
        gt=0,
        description="Days after the exposure in which the outcome (net margin) "
        "counts; a campaign younger than this at the as-of date is not used.",
    )
    min_group_size: int = Field(
        default=100,
        ge=10,
        description="Minimum number of customers in the holdout group and in "
        "each promotion arm. Smaller arms are left out of the model.",
    )
    test_share: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="Share of the campaign's customers kept out of fitting to "
        "report the held-out Qini.",
    )
    inner_folds: int = Field(
        default=3, ge=2, description="Folds of the cross-validated model choice."
    )


# Memory sizes as DuckDB's memory_limit and Spark's spark.driver.memory take them.
_DUCKDB_SIZE = re.compile(r"^[0-9]+(\.[0-9]+)?\s*([KMGT]i?B|B)$", re.IGNORECASE)
_SPARK_SIZE = re.compile(r"^[0-9]+([KMGTP]B?)?$", re.IGNORECASE)


class EngineConfig(BaseModel):
    """Engine of the table computations written once for DuckDB and Spark.

    Cleaning, the profiles' tables, the basket tables of association rules
    and the recommenders' interaction tables run on it. Model fitting,
    targeting and messages run in Python on either setting.
    """

    model_config = ConfigDict(extra="forbid")

    name: Literal["duckdb", "spark"] = Field(
        default="duckdb",
        description="duckdb: in-process, the default; spark: Apache Spark "
        "(needs pip install promoloop[spark] and Java 17 or newer).",
    )
    spark_master: str = Field(
        default="local[2]", min_length=1, description="Spark master URL."
    )
    duckdb_memory_limit: str | None = Field(
        default=None,
        description="Memory DuckDB may use before it spills to disk, e.g. 8GB. "
        "Default: DuckDB's own, 80% of the machine's memory.",
    )
    duckdb_temp_directory: str | None = Field(
        default=None,
        min_length=1,
        description="Folder DuckDB spills to. Default: DuckDB's own choice "
        "(next to a database file; a .tmp folder in the working directory for "
        "the in-memory database).",
    )
    spark_driver_memory: str = Field(
        default="2g",
        description="spark.driver.memory, e.g. 2g; in local mode all the memory "
        "Spark gets. It applies only when promoloop starts the Spark session.",
    )

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _duckdb_size(cls, value: str | None) -> str | None:
        if value is not None and not _DUCKDB_SIZE.match(value):
            raise ValueError("expected a number and a unit, such as 8GB or 512MiB")
        return value

    @field_validator("spark_driver_memory")
    @classmethod
    def _spark_size(cls, value: str) -> str:
        if not _SPARK_SIZE.match(value):
            raise ValueError("expected a number and a unit, such as 2g or 512m")
        return value


class RunConfig(BaseModel):
    """All settings of one ``promoloop run``."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(default=0, ge=0, description="Random seed of every stage.")
    as_of: str | None = Field(
        default=None, description="Run as if today were this date (ISO 8601)."
    )
    pseudonymize: bool = True
    pseudonym_key: str | None = Field(
        default=None,
        description="Key of the keyed hash of customer ids; read from "
        "PROMOLOOP_PSEUDONYM_KEY when not set.",
    )
    show_progress: bool = True
    interest: InterestConfig = Field(default_factory=InterestConfig)
    value: ValueConfig = Field(default_factory=ValueConfig)
    recommend: RecommendConfig = Field(default_factory=RecommendConfig)
    targeting: TargetingConfig = Field(default_factory=TargetingConfig)
    messaging: MessagingConfig = Field(default_factory=MessagingConfig)
    uplift: UpliftConfig = Field(default_factory=UpliftConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
