"""Promotion decisions: who gets which offer, who is held out, and why not."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from promoloop.config import RunConfig
from promoloop.targeting.allocation import Allocation, allocate
from promoloop.targeting.eligibility import (
    REASON,
    RULE_REASONS,
    Reason,
    check_eligibility,
)
from promoloop.targeting.holdout import assign_holdout
from promoloop.targeting.learned import LearnedUplift, apply_learned_uplift
from promoloop.targeting.promotions import PromotionKind, PromotionPlan, ScopeType
from promoloop.targeting.randomized import draw_randomized
from promoloop.targeting.scoring import SCORE_SOURCE, score_pairs
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType
from promoloop.warnings import DataQualityWarning

logger = logging.getLogger(__name__)

FEATURED_ITEMS = "featured_items"
EXPECTED_MARGIN = "expected_incremental_margin"
EXPECTED_COST = "expected_cost"

#: Columns of the decisions table, in order.
# Best sellers of a scope rank after every recommendation (ranks start at 1).
_BEST_SELLER_RANK = 1_000_000

# Pair flag and decision column of offers chosen for a holdout customer and
# withheld: these customers are the campaign's control group.
WITHHELD = "withheld"
WITHHELD_PROMOTION = "withheld_promotion_id"

# Pair column: chance of the promotion among the customer's eligible ones in a
# randomized campaign; missing for targeted campaigns.
ARM_PROBABILITY = "arm_probability"

# Campaigns whose holdout group contains the customer: a customer held out
# of one campaign may still receive another campaign's offer.
HOLDOUT_CAMPAIGNS = "holdout_campaigns"

DECISION_COLUMNS = [
    C.customer_id,
    C.campaign_id,
    C.promotion_id,
    C.holdout,
    WITHHELD_PROMOTION,
    HOLDOUT_CAMPAIGNS,
    EXPECTED_MARGIN,
    EXPECTED_COST,
    C.score,
    SCORE_SOURCE,
    FEATURED_ITEMS,
    C.locale,
    REASON,
]

# When a customer got nothing, the reason reported is the one of the pair
# that came closest to being chosen: a lost budget race is more informative than a rule.
_PROGRESS = {
    Reason.BUDGET.value: 5,
    Reason.NOT_DRAWN.value: 4.5,
    Reason.NEGATIVE_MARGIN.value: 4,
    Reason.NOT_ELIGIBLE.value: 3,
    Reason.HOLDOUT.value: 2,
    Reason.ANOMALY.value: 1,
    Reason.NO_CONSENT.value: 0,
}


@dataclass
class Decisions:
    """The outcome of targeting for one run.

    Attributes
    ----------
    table : DataFrame
        One row per customer (one per promotion sent when a customer may get
        several), with the columns of :data:`DECISION_COLUMNS`. ``promotion_id``
        is missing and ``reason`` gives the cause when the customer gets no offer.
    pairs : DataFrame
        Every (customer, promotion) pair with ``eligible``, ``reason``, the
        score parts (eligible pairs only) and ``selected``.
    holdouts : DataFrame
        [customer_id, campaign_id, holdout]: every customer's group in every
        campaign, for lift measurement.
    allocation : dict
        JSON-ready summary of the allocation (objective, bound, gap, budget
        used per campaign, budgets).
    exclusions : dict of str to int
        Customers without an offer, counted by reason.
    result : Allocation
        The full allocation result.
    seed : int
        Seed of the run, recorded for the manifest.
    pair_exclusions : dict
        Counts of (customer, promotion) pairs by the rule that excluded them.
    holdout_share_default : float
        Holdout share of campaigns that set none.
    """

    table: pd.DataFrame
    pairs: pd.DataFrame
    holdouts: pd.DataFrame
    allocation: dict
    exclusions: dict[str, int]
    result: Allocation
    seed: int = 0
    pair_exclusions: dict[str, int] = field(default_factory=dict)
    holdout_share_default: float = 0.1


def decide(
    profiles: pd.DataFrame,
    interest: pd.DataFrame | None,
    events: pd.DataFrame,
    items: pd.DataFrame,
    recommendations: pd.DataFrame | None,
    plan: PromotionPlan,
    exposures: pd.DataFrame | None,
    config: RunConfig,
    as_of: pd.Timestamp | str,
    seed: int = 0,
    learned: LearnedUplift | None = None,
) -> Decisions:
    """Decide which promotion each customer gets, within every campaign budget.

    Parameters
    ----------
    profiles : DataFrame
        One row per customer; ``check_eligibility`` and ``score_pairs`` list
        the columns read.
    interest : DataFrame or None
        Long interest table [customer_id, dimension, value, score].
    events, items : DataFrame
        Canonical events and items.
    recommendations : DataFrame or None
        [customer_id, item_id, rank, score, strategy]; the source of the
        featured items.
    plan : PromotionPlan
        Campaigns and promotions.
    exposures : DataFrame or None
        Past exposures, for per-customer caps.
    config : RunConfig
        ``targeting``, ``messaging.featured_items`` and ``value.horizon_days``
        are read.
    as_of : Timestamp or str
        Decision date.
    seed : int, default 0
        Recorded in the result. NOTE: every step here is deterministic (the
        holdout and the randomized draws come from hashes), so the seed
        changes nothing yet.
    learned : LearnedUplift, optional
        Uplift model of a past randomized campaign; the pairs of the
        promotions it was trained on are scored by it instead of the profile estimate.

    Returns
    -------
    Decisions
    """
    as_of = pd.Timestamp(as_of)
    _warn_unknown_scope(plan, items)
    targeting = config.targeting
    customers = profiles[C.customer_id].astype("string")

    # Holdout groups per campaign, drawn before anything is scored.
    holdouts = pd.concat(
        [
            pd.DataFrame(
                {
                    C.customer_id: customers.to_numpy(),
                    C.campaign_id: campaign.campaign_id,
                    C.holdout: assign_holdout(
                        customers,
                        campaign.campaign_id,
                        _share(campaign.holdout_share, targeting.holdout_share),
                    ).to_numpy(),
                }
            )
            for campaign in plan.campaigns
        ],
        ignore_index=True,
    )

    # Eligibility of every pair. Holdout customers stay in the scoring and the
    # allocation, so that the control group is chosen by the same rule as the
    # treated group. Their offers are withheld afterwards.
    pairs = check_eligibility(profiles, plan, exposures, targeting, as_of)
    pairs[C.customer_id] = pairs[C.customer_id].astype("string")
    held_out = pairs.merge(holdouts, on=[C.customer_id, C.campaign_id], how="left")[
        C.holdout
    ].to_numpy(dtype=bool)

    # Scores of the eligible pairs and the budgeted allocation.
    eligible = pairs[pairs[C.eligible]]
    scored = score_pairs(
        eligible,
        profiles.assign(**{C.customer_id: customers}),
        interest,
        events,
        items,
        plan,
        targeting,
        as_of,
        horizon_days=config.value.horizon_days,
    )
    if learned is not None:
        scored = apply_learned_uplift(
            scored,
            learned,
            profiles.assign(**{C.customer_id: customers}),
            plan.message_costs(),
        )

    # Randomized test campaigns and bandit campaigns draw first. Their
    # customers, sent or held out, get no targeted offer, so the test
    # compares like with like.
    held = pd.Series(held_out, index=pairs.index)
    draw = draw_randomized(
        scored,
        plan,
        held.loc[scored.index],
        targeting.max_promotions_per_customer,
        profiles=profiles.assign(**{C.customer_id: customers}),
    )
    in_test = scored[C.campaign_id].isin(plan.drawn_campaign_ids())
    drawn_customers = scored.loc[draw.drawn, C.customer_id]
    targeted = scored[~in_test & ~scored[C.customer_id].isin(drawn_customers)]
    result = allocate(
        targeted,
        plan.budgets(),
        max_per_customer=targeting.max_promotions_per_customer,
        exact_max_variables=targeting.exact_max_variables,
    )
    pairs = pairs.join(scored.drop(columns=list(pairs.columns)), how="left")
    pairs[ARM_PROBABILITY] = draw.arm_probability.reindex(pairs.index)
    allocated = pairs.index.isin(result.selected.index) | pairs.index.isin(draw.drawn)
    pairs[WITHHELD] = allocated & held_out
    pairs["selected"] = allocated & ~held_out
    pairs.loc[pairs[WITHHELD], REASON] = Reason.HOLDOUT.value
    not_chosen = pairs[C.eligible] & ~allocated
    pairs.loc[not_chosen & (pairs[C.score] <= 0), REASON] = Reason.NEGATIVE_MARGIN.value
    pairs.loc[not_chosen & (pairs[C.score] > 0), REASON] = Reason.BUDGET.value
    test_pair = pairs.index.isin(scored.index[in_test])
    pairs.loc[not_chosen & test_pair, REASON] = Reason.NOT_DRAWN.value
    pairs.loc[pairs.index.isin(draw.over_budget) & not_chosen, REASON] = (
        Reason.BUDGET.value
    )

    # One row per customer: the offers, then why the others got none.
    table = _decision_table(pairs, holdouts, profiles, customers)
    holdout_groups = holdouts[holdouts[C.holdout]].groupby(C.customer_id)[C.campaign_id]
    held_lists = {customer: sorted(ids) for customer, ids in holdout_groups}
    table[HOLDOUT_CAMPAIGNS] = [
        held_lists.get(customer, []) for customer in table[C.customer_id]
    ]
    table[FEATURED_ITEMS] = _featured_items(
        table,
        recommendations,
        _featurable(items, config.messaging.restricted_items_pattern),
        events,
        plan,
        config.messaging.featured_items,
    )
    table = table[DECISION_COLUMNS].reset_index(drop=True)

    exclusions = {
        str(k): int(v) for k, v in table[REASON].dropna().value_counts().items()
    }
    pair_exclusions = {
        str(k): int(v) for k, v in pairs[REASON].dropna().value_counts().items()
    }
    # The allocation's spend includes the offers withheld from holdout
    # customers; the budget pays only for the offers sent.
    sent = pairs[pairs["selected"]].groupby(C.campaign_id)[EXPECTED_COST].sum()
    summary = result.summary() | {
        "randomized_pairs_drawn": int(len(draw.drawn)),
        "budgets": plan.budgets(),
        "budget_allocated_with_holdout": result.summary()["budget_used"],
        "budget_used": {k: float(sent.get(k, 0.0)) for k in plan.budgets()},
        "offers_withheld": int(pairs[WITHHELD].sum()),
    }
    logger.info(
        "decided %d customers: %d offers, exclusions %s",
        customers.nunique(),
        int(table[C.promotion_id].notna().sum()),
        exclusions,
    )
    return Decisions(
        table=table,
        pairs=pairs,
        holdouts=holdouts,
        allocation=summary,
        exclusions=exclusions,
        result=result,
        seed=seed,
        pair_exclusions=pair_exclusions,
        holdout_share_default=targeting.holdout_share,
    )


def _share(campaign_share: float | None, default: float) -> float:
    return default if campaign_share is None else campaign_share


def _decision_table(pairs, holdouts, profiles, customers) -> pd.DataFrame:
    # Offers sent.
    chosen = pairs[pairs["selected"]].copy()
    chosen[C.holdout] = False
    chosen[REASON] = pd.NA
    chosen[WITHHELD_PROMOTION] = pd.NA

    # Control group: offers the allocation chose but the holdout withheld,
    # for customers without any offer sent.
    withheld = pairs[
        pairs[WITHHELD] & ~pairs[C.customer_id].isin(chosen[C.customer_id])
    ].copy()
    withheld = withheld.drop_duplicates(C.customer_id)
    withheld[WITHHELD_PROMOTION] = withheld[C.promotion_id]
    withheld[C.promotion_id] = pd.NA
    withheld[C.holdout] = True
    for column in (EXPECTED_MARGIN, EXPECTED_COST, C.score):
        withheld[column] = 0.0
    done = pd.concat([chosen[C.customer_id], withheld[C.customer_id]])

    # Customers without an offer: the pair that came closest gives the reason.
    rest = pairs[~pairs[C.customer_id].isin(done)].copy()
    rest[REASON] = rest[REASON].where(
        ~rest[REASON].isin([r.value for r in RULE_REASONS]), Reason.NOT_ELIGIBLE.value
    )
    rest["progress"] = rest[REASON].map(_PROGRESS).astype(float)
    rest = rest.sort_values(
        [C.customer_id, "progress"], ascending=[True, False], kind="stable"
    ).drop_duplicates(C.customer_id)
    rest[C.holdout] = (rest[REASON] == Reason.HOLDOUT.value).to_numpy()
    rest[C.promotion_id] = pd.NA
    rest[WITHHELD_PROMOTION] = pd.NA
    for column in (EXPECTED_MARGIN, EXPECTED_COST, C.score):
        rest[column] = 0.0
    rest[SCORE_SOURCE] = pd.NA

    table = pd.concat([chosen, withheld, rest], ignore_index=True)
    table[WITHHELD_PROMOTION] = table[WITHHELD_PROMOTION].astype("string")
    table[C.promotion_id] = table[C.promotion_id].astype("string")
    table[SCORE_SOURCE] = table[SCORE_SOURCE].astype("string")
    table[REASON] = table[REASON].astype("string")
    table[C.holdout] = table[C.holdout].astype(bool)
    if C.locale in profiles.columns:
        locales = pd.Series(profiles[C.locale].to_numpy(), index=customers.to_numpy())
        table[C.locale] = table[C.customer_id].map(locales).astype("string")
    else:
        table[C.locale] = pd.Series(pd.NA, index=table.index, dtype="string")
    order = {c: i for i, c in enumerate(customers.to_numpy())}
    table["order"] = table[C.customer_id].map(order)
    return table.sort_values(["order", C.promotion_id], kind="stable")


def _featured_items(table, recommendations, items, events, plan: PromotionPlan, k: int):
    """Up to k item ids per offer, in the promotion's scope when any is.

    Candidates are the customer's recommendations in rank order, followed by
    the scope's best sellers, so an offer on a category the recommender did
    not pick still features items of that category.
    """
    featured = pd.Series([[] for _ in range(len(table))], index=table.index)
    offers = table[table[C.promotion_id].notna()][[C.customer_id, C.promotion_id]]
    if offers.empty:
        return featured

    # Recommendations of the customers with an offer, flagged in scope or not.
    if recommendations is None or recommendations.empty:
        recs = pd.DataFrame(columns=[C.customer_id, C.item_id, C.rank])
    else:
        recs = recommendations[[C.customer_id, C.item_id, C.rank]]
    rows = offers.reset_index().merge(
        recs.astype({C.customer_id: "string"}), on=C.customer_id, how="inner"
    )
    rows = pd.concat(
        [rows, _scope_best_sellers(offers, items, events, plan, k)], ignore_index=True
    )
    rows = rows[rows[C.item_id].isin(items[C.item_id])]
    # A recommended item can also be a best seller of the scope: feature it once.
    rows = rows.drop_duplicates(["index", C.item_id]).reset_index(drop=True)
    attributes = items.set_index(C.item_id)
    in_scope = np.zeros(len(rows), dtype=bool)
    for campaign in plan.campaigns:
        for promotion in campaign.promotions:
            mine = (rows[C.promotion_id] == promotion.promotion_id).to_numpy()
            scope_type, values = promotion.scope_items()
            if scope_type == ScopeType.ALL:
                inside = np.ones(len(rows), dtype=bool)
            elif scope_type == ScopeType.ITEMS:
                inside = rows[C.item_id].isin(values).to_numpy()
            else:
                column = C.category if scope_type == ScopeType.CATEGORIES else C.brand
                mapped = rows[C.item_id].map(attributes[column])
                inside = mapped.isin(values).to_numpy()
            in_scope |= mine & inside
    rows["in_scope"] = in_scope
    any_in_scope = rows.groupby("index")["in_scope"].transform("any")
    rows = rows[rows["in_scope"] | ~any_in_scope]
    rows = rows.sort_values(["index", C.rank], kind="stable")
    lists = rows.groupby("index").head(k).groupby("index")[C.item_id].agg(list)
    # Assign one by one: a vectorised .loc assignment of a Series of lists
    # stores numpy arrays instead of lists.
    for index, item_ids in lists.items():
        featured.at[index] = list(item_ids)

    # A bundle features its own items.
    for campaign in plan.campaigns:
        for promotion in campaign.promotions:
            if promotion.kind != PromotionKind.BUNDLE:
                continue
            mine = table.index[(table[C.promotion_id] == promotion.promotion_id)]
            bundle_items = list(promotion.items)[:k]
            featured.loc[mine] = pd.Series([bundle_items] * len(mine), index=mine)
    return featured


def _scope_best_sellers(offers, items, events, plan: PromotionPlan, k: int):
    """Rows (index, customer, promotion, item, rank) of each scope's top sellers.

    Ranks start after any recommendation rank, so recommended items come first.
    """
    purchases = events[events[C.event_type] == EventType.PURCHASE.value]
    sold = purchases.groupby(C.item_id)[C.quantity].size()
    catalog = items.set_index(C.item_id)
    parts = []
    for campaign in plan.campaigns:
        for promotion in campaign.promotions:
            scope_type, values = promotion.scope_items()
            if scope_type == ScopeType.ALL:
                continue
            if scope_type == ScopeType.ITEMS:
                scope = pd.Index(values)
            else:
                column = C.category if scope_type == ScopeType.CATEGORIES else C.brand
                scope = catalog.index[catalog[column].isin(values).fillna(False)]
            best = (
                sold.reindex(scope).dropna().sort_values(ascending=False, kind="stable")
            )
            best = list(best.index[:k])
            mine = offers[
                offers[C.promotion_id] == promotion.promotion_id
            ].reset_index()
            if not best or mine.empty:
                continue
            part = mine.loc[mine.index.repeat(len(best))].reset_index(drop=True)
            part[C.item_id] = best * len(mine)
            part[C.rank] = _BEST_SELLER_RANK + np.tile(np.arange(len(best)), len(mine))
            parts.append(part)
    columns = ["index", C.customer_id, C.promotion_id, C.item_id, C.rank]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def _warn_unknown_scope(plan: PromotionPlan, items: pd.DataFrame) -> None:
    """Warn about scope values that no item of the catalog has.

    Such a promotion can match no purchase, so it gets no offer; the warning
    usually points at a misspelt category or a wrong item id.
    """
    known = {
        ScopeType.ITEMS: set(items[C.item_id].dropna().astype(str)),
        ScopeType.CATEGORIES: set(items[C.category].dropna().astype(str)),
        ScopeType.BRANDS: set(items[C.brand].dropna().astype(str)),
    }
    for campaign in plan.campaigns:
        for promotion in campaign.promotions:
            scope_type, values = promotion.scope_items()
            if scope_type == ScopeType.ALL:
                continue
            unknown = sorted(set(map(str, values)) - known[scope_type])
            if unknown:
                warnings.warn(
                    f"promotion {promotion.promotion_id!r}: {scope_type} {unknown} "
                    "not found in the items table, so no purchase can match them. "
                    "Fix: check the spelling against the catalog",
                    DataQualityWarning,
                    stacklevel=3,
                )


def _featurable(items: pd.DataFrame, pattern: str) -> pd.DataFrame:
    """Return the items a message may feature: not restricted, one per name.

    Items whose name, category, brand or department match ``pattern`` are
    left out, and of several items with the same display name only the first
    is kept, so a message never lists one name twice.
    """
    keep = pd.Series(True, index=items.index)
    if pattern:
        for column in (C.name, C.category, C.brand, "department"):
            if column in items.columns:
                text = items[column].astype("string").fillna("")
                keep &= ~text.str.contains(pattern, regex=True)
    if C.name in items.columns:
        named = items[C.name].notna()
        keep &= ~(named & items[C.name].duplicated())
    return items[keep]


def decision_log(decisions: Decisions, plan: PromotionPlan, as_of) -> pd.DataFrame:
    """Return the canonical exposures of a run: offers sent and offers withheld.

    Every pair the allocation chose is logged: sent offers with
    ``holdout=False`` and offers withheld from holdout customers with
    ``holdout=True`` and the promotion they would have received, so that lift
    is measured against customers chosen by the same rule. ``probability``
    is the chance of the logged group given the choice: one minus the
    campaign's holdout share for sent offers, the share for withheld ones.
    In a randomized campaign a sent offer's probability also includes the
    draw among the customer's eligible promotions: (1 - share) / their number.
    ``eligible`` lists the promotions of the campaign the customer was
    eligible for.
    """
    pairs = decisions.pairs
    logged = pairs[pairs["selected"] | pairs[WITHHELD]]
    shares = {
        campaign.campaign_id: _share(
            campaign.holdout_share, decisions.holdout_share_default
        )
        for campaign in plan.campaigns
    }
    share = logged[C.campaign_id].map(shares).astype(float)
    holdout = logged[WITHHELD].to_numpy(dtype=bool)
    # A randomized campaign also drew the promotion among the eligible ones.
    arm = logged[ARM_PROBABILITY].fillna(1.0).to_numpy(dtype=float)

    # The eligible set of each decision: the customer's eligible promotions in
    # that campaign, sorted, for off-policy evaluation of other policies.
    keys = [C.campaign_id, C.customer_id]
    eligible = (
        pairs[pairs[C.eligible]]
        .groupby(keys)[C.promotion_id]
        .agg(lambda ids: sorted(map(str, ids)))
    )
    eligible_sets = [
        eligible.get((campaign, customer), [])
        for campaign, customer in zip(
            logged[C.campaign_id], logged[C.customer_id], strict=True
        )
    ]
    log = pd.DataFrame(
        {
            C.decision_id: (
                logged[C.campaign_id].astype(str)
                + ":"
                + logged[C.customer_id].astype(str)
                + ":"
                + logged[C.promotion_id].astype(str)
            ).to_numpy(),
            C.customer_id: logged[C.customer_id].to_numpy(),
            C.campaign_id: logged[C.campaign_id].to_numpy(),
            C.promotion_id: logged[C.promotion_id].to_numpy(),
            C.eligible: eligible_sets,
            C.probability: np.where(holdout, share, (1.0 - share) * arm),
            C.holdout: holdout,
            C.timestamp: pd.Timestamp(as_of),
            EXPECTED_COST: logged[EXPECTED_COST].to_numpy(),
        }
    )
    return log.sort_values([C.campaign_id, C.customer_id], kind="stable").reset_index(
        drop=True
    )
