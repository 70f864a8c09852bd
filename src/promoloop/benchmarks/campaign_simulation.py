"""Simulated responses to a logged campaign, with a known true uplift.

A shop's real history does not show what an offer it never sent would have
changed. To check that the targeting loop learns who is persuadable, this
module adds the purchases a campaign would have caused under a chosen
response rule: each treated customer of an arm makes one extra order with
a probability that depends on their profile at the exposure. Holdout
customers get nothing added, so the true uplift of every customer and arm
is known exactly: probability times the extra order's net margin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from promoloop.data.dataset import ShopData
from promoloop.profiles.behaviour import behaviour_features
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

logger = logging.getLogger(__name__)

#: Response rule: profile table (indexed by customer) -> chance of an extra order.
ResponseRule = Callable[[pd.DataFrame], np.ndarray]


def respond_to_campaign(
    data: ShopData,
    exposures: pd.DataFrame,
    rules: dict[str, ResponseRule],
    *,
    order_value: float = 100.0,
    margin_rate: float = 0.3,
    window_days: int = 28,
    seed: int = 0,
) -> tuple[ShopData, pd.DataFrame]:
    """Add the extra orders a campaign causes and return the true uplift.

    Parameters
    ----------
    data : ShopData
        The shop's history; events after the exposure are kept as they are.
    exposures : DataFrame
        Decision log of one campaign (one exposure time).
    rules : dict of str to callable
        Response rule per promotion id; arms without a rule cause nothing.
    order_value : float, default 100.0
        Amount paid for each extra order (one line of a real item).
    margin_rate : float, default 0.3
        Margin rate set on the extra orders' item, so their net margin is
        ``order_value * margin_rate``.
    window_days : int, default 28
        The extra orders fall uniformly within this many days after the
        exposure.
    seed : int, default 0
        Seed of the draws.

    Returns
    -------
    data : ShopData
        A copy with the extra purchase events and their item added.
    truth : DataFrame
        [customer_id, promotion_id, true_uplift]: every exposed customer's
        expected extra net margin under each arm with a rule.
    """
    rng = np.random.default_rng(seed)
    exposed_at = exposures[C.timestamp].min()
    before = data.events[data.events[C.timestamp] <= exposed_at]
    customers = pd.Index(exposures[C.customer_id].astype("string").unique())
    profile = behaviour_features(before, exposed_at).reindex(customers)
    margin = order_value * margin_rate

    truth = pd.concat(
        [
            pd.DataFrame(
                {
                    C.customer_id: customers,
                    C.promotion_id: arm,
                    "true_uplift": np.asarray(rule(profile), dtype=float) * margin,
                }
            )
            for arm, rule in rules.items()
        ],
        ignore_index=True,
    )

    # Extra orders for treated customers, drawn from their arm's rule.
    treated = exposures[~exposures[C.holdout].fillna(False).to_numpy(dtype=bool)]
    chance = (
        treated[[C.customer_id, C.promotion_id]]
        .astype("string")
        .merge(
            truth.astype({C.promotion_id: "string"}),
            on=[C.customer_id, C.promotion_id],
            how="left",
        )["true_uplift"]
        .fillna(0.0)
        .to_numpy()
        / margin
    )
    buys = rng.random(len(chance)) < chance
    buyers = treated[C.customer_id].astype("string").to_numpy()[buys]
    offsets = rng.uniform(0.5, window_days - 0.5, len(buyers))
    item_id = "simulated-offer-item"
    extra = pd.DataFrame(
        {
            C.event_id: [f"simulated-{i}" for i in range(len(buyers))],
            C.customer_id: buyers,
            C.item_id: item_id,
            C.order_id: [f"simulated-order-{i}" for i in range(len(buyers))],
            C.event_type: EventType.PURCHASE.value,
            C.quantity: 1.0,
            C.amount: order_value,
            C.discount: 0.0,
            C.timestamp: exposed_at + pd.to_timedelta(offsets, unit="D"),
        }
    )
    events = pd.concat(
        [data.events, extra.astype(data.events.dtypes[extra.columns].to_dict())],
        ignore_index=True,
    ).sort_values(C.timestamp, kind="stable", ignore_index=True)
    item = pd.DataFrame(
        {
            C.item_id: [item_id],
            C.name: ["Simulated offer item"],
            C.price: [order_value],
            C.margin_rate: [margin_rate],
        }
    )
    items = pd.concat([data.items, item], ignore_index=True)
    logger.info(
        "simulated %d extra orders for %d treated customers", len(buyers), len(treated)
    )
    return replace(data, events=events, items=items), truth
