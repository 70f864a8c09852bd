"""The promotions file: campaigns, their budgets and the promotions they offer.

A plan is written in TOML (``.toml``) or YAML (``.yaml``, ``.yml``) and
validated with pydantic. Money amounts (budget, ``amount_off`` values,
``min_spend``, costs) are in the campaign's currency. A ``percent_off`` value
is a percentage between 0 and 100. A ``free_shipping`` value is the shipping
fee waived per order, and a ``bundle`` value is the money taken off when the
bundle's items are bought together.
"""

from __future__ import annotations

import datetime as dt
import logging
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from promoloop.errors import ConfigError
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)


class PromotionKind(StrEnum):
    """Kind of benefit a promotion gives the customer."""

    PERCENT_OFF = "percent_off"
    AMOUNT_OFF = "amount_off"
    FREE_SHIPPING = "free_shipping"
    BUNDLE = "bundle"


class ScopeType(StrEnum):
    """Kind of purchases a promotion applies to."""

    ALL = "all"
    ITEMS = "items"
    CATEGORIES = "categories"
    BRANDS = "brands"


#: Assignment rule of a campaign: optimized targeting, a uniform random draw,
#: or a bandit policy that learns from feedback.
Assignment = Literal["targeted", "randomized", "bandit"]

#: Bandit policies a campaign can use, by the kind tag of their saved state.
PolicyKind = Literal[
    "epsilon_greedy",
    "bernoulli_thompson",
    "gaussian_thompson",
    "linucb",
    "linear_thompson",
]


class PolicySpec(BaseModel):
    """Learning policy of a campaign with ``assignment = "bandit"``.

    The policy chooses among the campaign's eligible promotions and "none"
    (no promotion), gives every eligible action at least ``min_probability``
    so that the decision log stays usable for off-policy evaluation, and is
    updated by ``promoloop learn`` from the reward of each decision.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    kind: PolicyKind = "bernoulli_thompson"
    min_probability: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="Exploration floor: least probability of an eligible action.",
    )
    reward: Literal["conversion", "revenue", "margin"] = Field(
        default="conversion",
        description="conversion: 1 when the customer orders in the window; "
        "revenue: order amounts less returns; margin: order margin less "
        "returns and the promotion's cost.",
    )
    window_days: int = Field(default=14, ge=1, le=365)
    params: dict[str, bool | int | float] = Field(
        default_factory=dict,
        description="Extra parameters of the policy, e.g. epsilon or alpha.",
    )

    @model_validator(mode="after")
    def _check_policy(self) -> PolicySpec:
        if self.kind == "bernoulli_thompson" and self.reward != "conversion":
            raise ValueError(
                f"bernoulli_thompson needs 0/1 rewards, not reward "
                f"{self.reward!r}; use kind gaussian_thompson for revenue or margin"
            )
        # Build a policy once, so that a wrong parameter fails here and not
        # at the first decision.
        from promoloop.bandits.campaign import build_policy
        from promoloop.errors import InputError

        try:
            build_policy(self, ["none", "promotion"])
        except (InputError, TypeError) as error:
            raise ValueError(f"invalid policy params {self.params}: {error}") from None
        return self


class Currency(BaseModel):
    """Currency of a campaign's money amounts, for costs and messages."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(default="USD", min_length=3, max_length=3)
    symbol: str = Field(default="$", min_length=1)


class Scope(BaseModel):
    """The purchases a promotion applies to: everything, or listed items,
    categories or brands."""

    model_config = ConfigDict(extra="forbid")

    type: ScopeType = ScopeType.ALL
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_values(self) -> Scope:
        if self.type != ScopeType.ALL and not self.values:
            raise ValueError(
                f"scope type {self.type.value!r} needs a non-empty 'values' list"
            )
        if self.type == ScopeType.ALL and self.values:
            raise ValueError("scope type 'all' takes no 'values'; remove them")
        return self


class CostModel(BaseModel):
    """Costs of a promotion besides the discount itself.

    The discount is paid only on redemption, so its expected cost is the
    expected redemptions times the discount given. The costs here add to it.
    """

    model_config = ConfigDict(extra="forbid")

    message_cost: float = Field(
        default=0.05, ge=0, description="Fixed cost of sending one message."
    )
    redemption_cost: float = Field(
        default=0.0, ge=0, description="Fixed handling cost of one redemption."
    )


class Eligibility(BaseModel):
    """Rules a customer must meet to receive a promotion."""

    model_config = ConfigDict(extra="forbid")

    min_orders: int = Field(default=0, ge=0, description="Minimum past orders.")
    max_recency_days: float | None = Field(
        default=None, gt=0, description="Days since the last order, at most."
    )
    segments_include: list[str] | None = Field(
        default=None, description="Only customers of these segments; None for all."
    )
    segments_exclude: list[str] = Field(default_factory=list)
    new_customers_only: bool = Field(
        default=False, description="Only customers with at most one past order."
    )


class Validity(BaseModel):
    """First and last day (inclusive) on which a promotion can be redeemed."""

    model_config = ConfigDict(extra="forbid")

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _check_order(self) -> Validity:
        if self.end < self.start:
            raise ValueError(
                f"validity end {self.end} is before start {self.start}; swap the dates"
            )
        return self

    @property
    def days(self) -> int:
        """Length of the window in days, both ends included."""
        return (self.end - self.start).days + 1


class Promotion(BaseModel):
    """One offer of a campaign."""

    model_config = ConfigDict(extra="forbid")

    promotion_id: str = Field(min_length=1)
    kind: PromotionKind
    value: float = Field(gt=0)
    scope: Scope = Field(default_factory=Scope)
    items: list[str] = Field(
        default_factory=list, description="Item ids of a bundle (two or more)."
    )
    min_spend: float = Field(default=0.0, ge=0)
    cost: CostModel = Field(default_factory=CostModel)
    per_customer_cap: int = Field(
        default=1,
        ge=1,
        description="Times a customer may receive it in the validity window.",
    )
    eligibility: Eligibility = Field(default_factory=Eligibility)

    @model_validator(mode="after")
    def _check_kind(self) -> Promotion:
        if self.kind == PromotionKind.PERCENT_OFF and self.value > 100:
            raise ValueError(
                f"percent_off value {self.value} is above 100; "
                "write the percentage, e.g. 10 for 10% off"
            )
        if self.kind == PromotionKind.BUNDLE:
            if len(set(self.items)) < 2:
                raise ValueError(
                    "a bundle needs 'items' with at least two distinct item ids"
                )
            if self.scope.type != ScopeType.ALL:
                raise ValueError(
                    "a bundle's scope is its 'items'; remove the 'scope' key"
                )
        elif self.items:
            raise ValueError(
                f"'items' is only for bundles; use scope type 'items' for a "
                f"{self.kind.value} promotion"
            )
        return self

    def scope_items(self) -> tuple[ScopeType, list[str]]:
        """Return the scope type and values, with a bundle's items as its scope."""
        if self.kind == PromotionKind.BUNDLE:
            return ScopeType.ITEMS, list(self.items)
        return self.scope.type, list(self.scope.values)


class Campaign(BaseModel):
    """A set of promotions that share a budget, a holdout group and a window."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: str = Field(min_length=1)
    name: str = ""
    budget: float = Field(gt=0, description="Money the campaign may spend.")
    holdout_share: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="Share of customers held out; None takes the run's default.",
    )
    validity: Validity
    assignment: Assignment = Field(
        default="targeted",
        description="targeted: the allocation picks the pairs with the best "
        "score; randomized: a test campaign that gives each eligible customer "
        "one of their eligible promotions at random, to learn uplift from; "
        "bandit: a learning policy chooses, see PolicySpec.",
    )
    channel: str = "email"
    currency: Currency | None = Field(
        default=None, description="Overrides the plan's currency."
    )
    policy: PolicySpec | None = Field(
        default=None,
        description="Learning policy of a bandit campaign; the defaults of "
        "PolicySpec when a bandit campaign sets none.",
    )
    promotions: list[Promotion] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_policy(self) -> Campaign:
        if self.policy is not None and self.assignment != "bandit":
            raise ValueError(
                f"campaign {self.campaign_id!r} sets a policy but its assignment "
                f'is {self.assignment!r}; set assignment = "bandit" or remove '
                "the policy"
            )
        if self.assignment == "bandit" and self.policy is None:
            self.policy = PolicySpec()
        check_bandit_actions(
            self.campaign_id,
            self.assignment,
            self.policy,
            [p.promotion_id for p in self.promotions],
        )
        return self


def check_bandit_actions(
    campaign_id: str,
    assignment: str,
    policy: PolicySpec | None,
    promotion_ids: list[str],
) -> None:
    """Check that a bandit campaign's actions can take its exploration floor.

    The actions are "none" and the promotions, so no promotion may be called
    "none", and every action must be able to get the floor at once.

    Raises
    ------
    ValueError
        Naming the campaign, the value and the fix.
    """
    if assignment != "bandit":
        return
    from promoloop.bandits import NO_PROMOTION

    if NO_PROMOTION in promotion_ids:
        raise ValueError(
            f"bandit campaign {campaign_id!r} has a promotion with id "
            f"{NO_PROMOTION!r}, the reserved name of the no-promotion action; "
            "rename the promotion"
        )
    floor = (policy or PolicySpec()).min_probability
    n_actions = len(promotion_ids) + 1
    if n_actions * floor > 1 + 1e-12:
        raise ValueError(
            f"bandit campaign {campaign_id!r}: min_probability {floor} cannot be "
            f"given to all {n_actions} actions ({len(promotion_ids)} promotions "
            f"and none) at once; use at most {1 / n_actions:.4f}"
        )


class PromotionPlan(BaseModel):
    """All campaigns of one run."""

    model_config = ConfigDict(extra="forbid")

    currency: Currency = Field(default_factory=Currency)
    campaigns: list[Campaign] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_unique_ids(self) -> PromotionPlan:
        campaign_ids = [c.campaign_id for c in self.campaigns]
        _raise_on_duplicates(campaign_ids, "campaign_id")
        promotion_ids = [p.promotion_id for c in self.campaigns for p in c.promotions]
        _raise_on_duplicates(promotion_ids, "promotion_id")
        return self

    def campaign(self, campaign_id: str) -> Campaign:
        """Return the campaign with this id."""
        for campaign in self.campaigns:
            if campaign.campaign_id == campaign_id:
                return campaign
        raise KeyError(campaign_id)

    def currency_of(self, campaign_id: str) -> Currency:
        """Return the campaign's currency, or the plan's when it sets none."""
        return self.campaign(campaign_id).currency or self.currency

    def promotion(self, promotion_id: str) -> tuple[Campaign, Promotion]:
        """Return the promotion with this id and its campaign."""
        for campaign in self.campaigns:
            for promotion in campaign.promotions:
                if promotion.promotion_id == promotion_id:
                    return campaign, promotion
        raise KeyError(promotion_id)

    def randomized_campaign_ids(self) -> list[str]:
        """Return the ids of the campaigns with randomized assignment."""
        return [c.campaign_id for c in self.campaigns if c.assignment == "randomized"]

    def drawn_campaign_ids(self) -> list[str]:
        """Return the ids of the campaigns drawn instead of optimized.

        Randomized and bandit campaigns: their customers get no targeted
        offer.
        """
        return [
            c.campaign_id
            for c in self.campaigns
            if c.assignment in ("randomized", "bandit")
        ]

    def message_costs(self) -> dict[str, float]:
        """Return each promotion's message cost by promotion id."""
        return {
            p.promotion_id: p.cost.message_cost
            for c in self.campaigns
            for p in c.promotions
        }

    def budgets(self) -> dict[str, float]:
        """Return each campaign's budget by campaign id."""
        return {c.campaign_id: c.budget for c in self.campaigns}

    def to_frame(self) -> pd.DataFrame:
        """Return one row per promotion with its campaign's fields."""
        rows = []
        for campaign in self.campaigns:
            for promotion in campaign.promotions:
                scope_type, scope_values = promotion.scope_items()
                rows.append(
                    {
                        C.campaign_id: campaign.campaign_id,
                        C.promotion_id: promotion.promotion_id,
                        "kind": promotion.kind.value,
                        "value": promotion.value,
                        "scope_type": scope_type.value,
                        "scope_values": scope_values,
                        "min_spend": promotion.min_spend,
                        "message_cost": promotion.cost.message_cost,
                        "redemption_cost": promotion.cost.redemption_cost,
                        "per_customer_cap": promotion.per_customer_cap,
                        "valid_from": campaign.validity.start,
                        "valid_to": campaign.validity.end,
                        "budget": campaign.budget,
                        C.channel: campaign.channel,
                    }
                )
        return pd.DataFrame(rows)


def _raise_on_duplicates(ids: list[str], key: str) -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise ValueError(f"duplicate {key} {value!r}; every {key} must be unique")
        seen.add(value)


def load_promotions(path: str | Path) -> PromotionPlan:
    """Read and validate a promotions file.

    Parameters
    ----------
    path : str or Path
        A ``.toml``, ``.yaml`` or ``.yml`` file.

    Returns
    -------
    PromotionPlan
        The validated plan.

    Raises
    ------
    ConfigError
        If the file is missing, has another extension, cannot be parsed, or
        breaks a rule of the plan. The message names the key, the value and
        the fix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(
            f"promotions file {path} has extension {suffix!r}; expected .toml, "
            ".yaml or .yml. Fix: rename the file or convert it to TOML or YAML"
        )
    if not path.is_file():
        raise ConfigError(
            f"promotions file {path} not found. Fix: check the path "
            "(see src/promoloop/examples/ for complete files)"
        )

    # Parse the file.
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text) if suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"promotions file {path} is not valid {suffix[1:].upper()}: {exc}. "
            "Fix: correct the syntax at the position shown"
        ) from exc
    if not isinstance(raw, dict):
        raise ConfigError(
            f"promotions file {path} must contain a mapping with a 'campaigns' "
            f"list, not {type(raw).__name__}. Fix: start from an example in "
            "src/promoloop/examples/"
        )

    # Validate it.
    try:
        plan = PromotionPlan.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe_errors(path, exc)) from exc
    logger.info(
        "loaded %d campaign(s) with %d promotion(s) from %s",
        len(plan.campaigns),
        sum(len(c.promotions) for c in plan.campaigns),
        path,
    )
    return plan


def _describe_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"invalid promotions file {path}:"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "<top level>"
        value = error.get("input")
        if error["type"] == "missing":
            value_text = "missing"
        elif isinstance(value, dict):
            value_text = "the table at this key"
        else:
            value_text = repr(value)
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  key {key} (value {value_text}): {message}")
    lines.append(f"Fix: edit these keys in {path}.")
    return "\n".join(lines)
