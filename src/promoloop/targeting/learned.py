"""Targeting scores learned from a past randomized campaign.

When the history contains a campaign with a holdout group (the exposures that
promoloop logs for every campaign it decides), the score of a (customer,
promotion) pair is the uplift predicted by a model fitted on that campaign
instead of the profile estimate of :mod:`promoloop.targeting.scoring`:

- Features: the behaviour profile of each exposed customer as of the
  campaign's first exposure, the same columns the run computes for today,
  plus ``has_history`` (0 for a customer without events before then).
- Outcome: net margin in the ``outcome_window_days`` after that exposure,
  the amount paid minus the cost of the goods at their regular value, so
  the discounts given already reduce it. Returns count against it.
- Treatment: the promotion sent, or control for the holdout group. The
  holdout draw is a hash of the campaign and customer ids, independent of
  the profile, so the control rows are a random sample of the customers the
  campaign reached.
- Model: two-model learners, chosen by cross-validated Qini on a training
  part of the customers and scored once on the held-out rest, then refitted
  on all of them.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from promoloop.config import UpliftConfig
from promoloop.errors import UndefinedMetricError
from promoloop.evaluation.slices import uplift_at_k
from promoloop.evaluation.uplift_metrics import qini_coefficient
from promoloop.profiles.behaviour import BEHAVIOUR_COLUMNS, behaviour_features
from promoloop.uplift import TwoModelLearner, select_learner
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType
from promoloop.warnings import DataQualityWarning

logger = logging.getLogger(__name__)

#: Treatment label of the holdout group in the training table.
CONTROL = "(holdout)"
#: Prefix of ``score_source`` for scores predicted by a learned model.
LEARNED_SOURCE = "uplift_model"
#: Profile columns the model reads, besides ``has_history``.
FEATURES = [c for c in BEHAVIOUR_COLUMNS if c != "zero_price_only"]
HAS_HISTORY = "has_history"
#: Share of the customers, ranked by predicted uplift, in the reported slice.
TOP_SHARE = 0.3


@dataclass
class LearnedUplift:
    """A model of one randomized campaign's uplift on net margin.

    Attributes
    ----------
    campaign_id : str
        Campaign the model learned from.
    exposed_at : Timestamp
        First exposure of that campaign; the features are as of this time.
    window_days : int
        Days after ``exposed_at`` in which the outcome was counted.
    arms : list of str
        Promotions the model predicts an uplift for.
    learner_name : str
        Name of the candidate chosen by cross-validation.
    model : TwoModelLearner
        The chosen learner, refitted on every customer of the campaign.
    fill_values : Series
        Per feature, the value that replaces a missing one (training median).
    heldout : DataFrame
        Per arm: customers in the test part, the mean uplift there (treated
        minus control net margin), the uplift among the top 30% by predicted
        uplift and the Qini coefficient (customers times money).
    groups : dict of str to int
        Customers per arm and in the holdout group.
    cv_scores : dict of str to float
        Mean cross-validated Qini of every candidate.
    """

    campaign_id: str
    exposed_at: pd.Timestamp
    window_days: int
    arms: list[str]
    learner_name: str
    model: TwoModelLearner
    fill_values: pd.Series
    heldout: pd.DataFrame
    groups: dict[str, int]
    cv_scores: dict[str, float] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The ``score_source`` of the pairs this model scores."""
        return f"{LEARNED_SOURCE}:{self.campaign_id}"

    def predict(self, profiles: pd.DataFrame) -> pd.DataFrame:
        """Predict each customer's uplift on net margin for every arm.

        Parameters
        ----------
        profiles : DataFrame
            One row per customer with ``customer_id`` and the behaviour
            columns of the run's profiles.

        Returns
        -------
        DataFrame
            Long table [customer_id, promotion_id, predicted_uplift].
        """
        features = model_features(profiles.set_index(C.customer_id), self.fill_values)
        effects = self.model.predict(features)
        wide = pd.DataFrame(
            effects, index=features.index, columns=self.model.treatments_
        )
        wide.index.name = C.customer_id
        return wide.reset_index().melt(
            id_vars=C.customer_id,
            var_name=C.promotion_id,
            value_name="predicted_uplift",
        )

    def summary(self) -> dict:
        """Return the JSON-ready description for the manifest and the report."""
        return {
            "campaign_id": self.campaign_id,
            "exposed_at": self.exposed_at.isoformat(),
            "window_days": self.window_days,
            "arms": list(self.arms),
            "learner": self.learner_name,
            "groups": dict(self.groups),
            "cv_qini": {k: float(v) for k, v in self.cv_scores.items()},
            "heldout": self.heldout.to_dict(orient="records"),
        }


@dataclass
class UpliftSearch:
    """Result of the uplift search: the model, or the reason there is none.

    Attributes
    ----------
    learned : LearnedUplift or None
        The model, when a usable randomized campaign was found.
    campaigns : DataFrame
        Every campaign of the exposures with its group sizes, first exposure
        and ``status`` (``used``, or why it was not).
    """

    learned: LearnedUplift | None
    campaigns: pd.DataFrame

    def summary(self) -> dict:
        """Return the JSON-ready description for the manifest."""
        return {
            "learned": None if self.learned is None else self.learned.summary(),
            "campaigns": self.campaigns.astype({"exposed_at": str}).to_dict(
                orient="records"
            ),
        }


def learn_from_history(
    events: pd.DataFrame,
    items: pd.DataFrame,
    exposures: pd.DataFrame,
    as_of: pd.Timestamp,
    config: UpliftConfig,
    default_margin_rate: float = 0.3,
    seed: int = 0,
) -> UpliftSearch:
    """Fit an uplift model on the most recent usable randomized campaign.

    A campaign is usable when it has a holdout group and at least one
    promotion arm of ``config.min_group_size`` customers each, and its
    outcome window ended by ``as_of``.

    Parameters
    ----------
    events, items : DataFrame
        Canonical events (up to ``as_of``) and items.
    exposures : DataFrame
        Canonical exposures (the decision log).
    as_of : Timestamp
        The run's decision date.
    config : UpliftConfig
        Window, group sizes, test share and folds.
    default_margin_rate : float, default 0.3
        Margin rate of items without one.
    seed : int, default 0
        Seed of the split and the learners.

    Returns
    -------
    UpliftSearch
    """
    campaigns = randomized_campaigns(exposures, as_of, config)
    usable = campaigns[campaigns["status"] == "usable"]
    if not config.enabled or usable.empty:
        if not config.enabled:
            campaigns["status"] = campaigns["status"].where(
                campaigns["status"] != "usable", "uplift learning disabled"
            )
        return UpliftSearch(learned=None, campaigns=campaigns)

    chosen = usable.sort_values("exposed_at").iloc[-1]
    campaign_id = str(chosen[C.campaign_id])
    campaigns.loc[campaigns[C.campaign_id] == campaign_id, "status"] = "used"
    rows = exposures[exposures[C.campaign_id].astype("string") == campaign_id]
    X, treatment, y = training_table(
        events, items, rows, chosen["exposed_at"], config, default_margin_rate
    )
    at = campaigns[C.campaign_id] == campaign_id
    if np.ptp(y) == 0:
        campaigns.loc[at, "status"] = "the same net margin for every customer"
        return UpliftSearch(learned=None, campaigns=campaigns)
    try:
        learned = fit_campaign_model(
            campaign_id, chosen["exposed_at"], X, treatment, y, config, seed
        )
    except UndefinedMetricError as error:
        campaigns.loc[at, "status"] = f"no model: {error}"
        return UpliftSearch(learned=None, campaigns=campaigns)
    return UpliftSearch(learned=learned, campaigns=campaigns)


def randomized_campaigns(
    exposures: pd.DataFrame, as_of: pd.Timestamp, config: UpliftConfig
) -> pd.DataFrame:
    """Describe every campaign of the exposures and whether a model can use it.

    Returns
    -------
    DataFrame
        [campaign_id, exposed_at, holdout_customers, treated_customers,
        largest_arm, status]; ``status`` is ``usable`` or the reason not.
    """
    columns = [
        C.campaign_id,
        "exposed_at",
        "holdout_customers",
        "treated_customers",
        "largest_arm",
        "status",
    ]
    if exposures is None or exposures.empty:
        return pd.DataFrame(columns=columns)
    records = []
    for campaign_id, rows in exposures.groupby(C.campaign_id, sort=True):
        holdout = rows[C.holdout].fillna(False).to_numpy(dtype=bool)
        treated = rows[~holdout]
        arms = treated.groupby(C.promotion_id)[C.customer_id].nunique()
        exposed_at = rows[C.timestamp].min()
        n_holdout = int(rows.loc[holdout, C.customer_id].nunique())
        largest = int(arms.max()) if len(arms) else 0
        if n_holdout == 0:
            status = "no holdout group: not randomized"
        elif n_holdout < config.min_group_size or largest < config.min_group_size:
            status = f"fewer than {config.min_group_size} customers in a group"
        elif exposed_at + pd.Timedelta(days=config.outcome_window_days) > as_of:
            status = f"outcome window of {config.outcome_window_days} days not over"
        else:
            status = "usable"
        records.append(
            (
                str(campaign_id),
                exposed_at,
                n_holdout,
                int(treated[C.customer_id].nunique()),
                largest,
                status,
            )
        )
    return pd.DataFrame(records, columns=columns)


def training_table(
    events: pd.DataFrame,
    items: pd.DataFrame,
    rows: pd.DataFrame,
    exposed_at: pd.Timestamp,
    config: UpliftConfig,
    default_margin_rate: float,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Return features, treatment labels and net margin of one campaign.

    One row per exposed customer (the first exposure when a customer has
    several). Arms smaller than ``config.min_group_size`` are left out, with
    the count logged.
    """
    rows = rows.sort_values(C.timestamp, kind="stable").drop_duplicates(
        C.customer_id, keep="first"
    )
    labels = np.where(
        rows[C.holdout].fillna(False).to_numpy(dtype=bool),
        CONTROL,
        rows[C.promotion_id].astype("string").fillna("").to_numpy(dtype=object),
    )
    sizes = pd.Series(labels).value_counts()
    small = [
        arm for arm, n in sizes.items() if arm != CONTROL and n < config.min_group_size
    ]
    if small:
        logger.info(
            "left out arms with fewer than %d customers: %s",
            config.min_group_size,
            {arm: int(sizes[arm]) for arm in small},
        )
    keep = ~np.isin(labels, small)
    rows, labels = rows[keep], labels[keep]
    customers = rows[C.customer_id].astype("string")

    # Features as of the first exposure, outcome in the window after it.
    before = events[events[C.timestamp] <= exposed_at]
    profile = behaviour_features(before, exposed_at).reindex(customers)
    unknown = int(profile["tenure_days"].isna().sum())
    if unknown > len(customers) / 2:
        warnings.warn(
            f"{unknown} of {len(customers)} customers of the campaign have no "
            "events before it: check that the exposures use the same customer "
            "ids (and pseudonymization key) as the events",
            DataQualityWarning,
            stacklevel=3,
        )
    end = exposed_at + pd.Timedelta(days=config.outcome_window_days)
    margin = net_margin(events, items, exposed_at, end, default_margin_rate)
    y = margin.reindex(customers).fillna(0.0).to_numpy(dtype=float)
    X = model_features(profile, None)
    return X, labels.astype(object), y


def model_features(
    profile: pd.DataFrame, fill_values: pd.Series | None
) -> pd.DataFrame:
    """Return the feature table: behaviour columns, gaps filled, and ``has_history``.

    Missing values are filled with ``fill_values`` (training medians), or
    left missing when it is None so that the caller computes the medians.
    """
    features = profile.reindex(columns=FEATURES).astype(float)
    features[HAS_HISTORY] = (
        profile.reindex(columns=["tenure_days"]).notna().iloc[:, 0].astype(float)
    )
    if fill_values is not None:
        features = features.fillna(fill_values).fillna(0.0)
    return features


def net_margin(
    events: pd.DataFrame,
    items: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    default_margin_rate: float,
) -> pd.Series:
    """Return each customer's net margin from purchases in (start, end].

    A purchase line earns ``amount - (amount + discount) * (1 - margin_rate)``:
    what was paid minus the cost of the goods at their regular value. A
    return line subtracts its amount times the margin rate.
    """
    window = events[(events[C.timestamp] > start) & (events[C.timestamp] <= end)]
    rates = (
        items.set_index(C.item_id)[C.margin_rate]
        .astype(float)
        .reindex(window[C.item_id])
        .fillna(default_margin_rate)
        .to_numpy()
    )
    amount = window[C.amount].astype(float).fillna(0.0).to_numpy()
    discount = window[C.discount].astype(float).fillna(0.0).to_numpy()
    kind = window[C.event_type].to_numpy()
    earned = np.where(
        kind == EventType.PURCHASE,
        amount - (amount + discount) * (1.0 - rates),
        np.where(kind == EventType.RETURN, -amount * rates, 0.0),
    )
    return (
        pd.Series(earned, index=window.index)
        .groupby(window[C.customer_id].astype("string"))
        .sum()
    )


def candidate_learners(seed: int, n_rows: int) -> dict[str, TwoModelLearner]:
    """Return the learners the cross-validation chooses among.

    Both are two-model learners: with the holdout drawn at random, control
    rows estimate every customer's outcome without the offer. The linear
    model on log features is the low-variance choice for a few thousand
    customers; the shallow boosted trees can bend with more data.
    """
    linear = make_pipeline(
        FunctionTransformer(_signed_log1p),
        StandardScaler(),
        Ridge(alpha=10.0),
    )
    trees = LGBMRegressor(
        n_estimators=100,
        learning_rate=0.05,
        num_leaves=7,
        max_depth=3,
        min_child_samples=max(20, n_rows // 50),
        reg_lambda=10.0,
        subsample=0.8,
        subsample_freq=1,
        num_threads=1,
        random_state=seed,
        verbose=-1,
    )
    return {
        "T-learner (ridge)": TwoModelLearner(
            linear, control=CONTROL, outcome="continuous", random_state=seed
        ),
        "T-learner (LightGBM)": TwoModelLearner(
            trees, control=CONTROL, outcome="continuous", random_state=seed
        ),
    }


def _signed_log1p(values):
    return np.sign(values) * np.log1p(np.abs(values))


def fit_campaign_model(
    campaign_id: str,
    exposed_at: pd.Timestamp,
    X: pd.DataFrame,
    treatment: np.ndarray,
    y: np.ndarray,
    config: UpliftConfig,
    seed: int = 0,
) -> LearnedUplift:
    """Choose, score on held-out customers and refit the campaign's model.

    The customers are split into a training and a test part, stratified by
    arm. The learner is chosen by cross-validated Qini on the training part,
    scored once on the test part, then refitted on every customer.
    """
    train, test = train_test_split(
        np.arange(len(y)),
        test_size=config.test_share,
        stratify=treatment,
        random_state=seed,
    )
    fill_values = X.iloc[train].median().fillna(0.0)
    X = X.fillna(fill_values).fillna(0.0)
    candidates = candidate_learners(seed, len(train))
    selection = select_learner(
        candidates,
        X.iloc[train],
        treatment[train],
        y[train],
        n_splits=config.inner_folds,
        seed=seed,
    )
    model = candidates[selection.best_name].fit(
        X.iloc[train], treatment[train], y[train]
    )
    heldout = _heldout_metrics(model, X.iloc[test], treatment[test], y[test])
    final = candidate_learners(seed, len(y))[selection.best_name].fit(X, treatment, y)
    groups = {str(k): int(v) for k, v in pd.Series(treatment).value_counts().items()}
    logger.info(
        "learned uplift from campaign %s with %s: %s",
        campaign_id,
        selection.best_name,
        heldout.to_dict(orient="records"),
    )
    return LearnedUplift(
        campaign_id=campaign_id,
        exposed_at=pd.Timestamp(exposed_at),
        window_days=config.outcome_window_days,
        arms=[str(a) for a in final.treatments_],
        learner_name=selection.best_name,
        model=final,
        fill_values=fill_values,
        heldout=heldout,
        groups=groups,
        cv_scores={str(k): float(v) for k, v in selection.mean_scores.items()},
    )


def _heldout_metrics(model, X_test, treatment, y) -> pd.DataFrame:
    effects = model.predict(X_test)
    records = []
    for column, arm in enumerate(model.treatments_):
        rows = (treatment == arm) | (treatment == CONTROL)
        treated = (treatment[rows] == arm).astype(int)
        score = effects[rows, column]
        qini = qini_coefficient(y[rows], treated, score, normalize=False)
        top = uplift_at_k(y[rows], treated, score, k=TOP_SHARE)
        records.append(
            {
                "arm": str(arm),
                "n_test": int(rows.sum()),
                "mean_uplift": float(
                    y[rows][treated == 1].mean() - y[rows][treated == 0].mean()
                ),
                "uplift_top_30": top.value,
                "qini": qini.value,
            }
        )
    return pd.DataFrame(records)


def apply_learned_uplift(
    scored: pd.DataFrame,
    learned: LearnedUplift,
    profiles: pd.DataFrame,
    message_costs: dict[str, float],
) -> pd.DataFrame:
    """Replace the scores of the pairs whose promotion the model was trained on.

    The learned uplift is on net margin, so the discounts are already in
    it: ``expected_incremental_margin`` becomes the predicted uplift and
    ``score`` that minus the promotion's message cost. ``expected_cost``
    (what the budget pays) stays the profile estimate, because the
    campaign log records no redemption costs. Other pairs keep their
    profile estimate.

    Parameters
    ----------
    scored : DataFrame
        Output of ``score_pairs``.
    learned : LearnedUplift
        The fitted model.
    profiles : DataFrame
        The run's profiles with ``customer_id`` and behaviour columns.
    message_costs : dict of str to float
        Message cost by promotion id.

    Returns
    -------
    DataFrame
        ``scored`` with ``predicted_uplift`` and, for known promotions, the
        new score and ``score_source``.
    """
    out = scored.copy()
    out["predicted_uplift"] = np.nan
    known = out[C.promotion_id].astype("string").isin(learned.arms)
    if not known.any():
        return out
    customers = out.loc[known, C.customer_id].astype("string").unique()
    subset = profiles[profiles[C.customer_id].astype("string").isin(customers)]
    effects = learned.predict(
        subset.assign(**{C.customer_id: subset[C.customer_id].astype("string")})
    )
    keys = out.loc[known, [C.customer_id, C.promotion_id]].astype("string")
    uplift = keys.merge(
        effects.astype({C.customer_id: "string", C.promotion_id: "string"}),
        on=[C.customer_id, C.promotion_id],
        how="left",
    )["predicted_uplift"].to_numpy(dtype=float)
    message = keys[C.promotion_id].map(message_costs).astype(float).to_numpy()
    out.loc[known, "predicted_uplift"] = uplift
    out.loc[known, "expected_incremental_margin"] = uplift
    out.loc[known, C.score] = uplift - message
    out.loc[known, "score_source"] = learned.source
    return out
