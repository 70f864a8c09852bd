"""Model comparison on a temporal holdout, and the recommendation stage."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from promoloop.config import RecommendConfig
from promoloop.errors import InputError
from promoloop.recommend.base import Recommender
from promoloop.recommend.content import ContentRecommender
from promoloop.recommend.hybrid import HybridRecommender
from promoloop.recommend.interactions import interactions_from_events
from promoloop.recommend.metrics import catalog_coverage, per_customer_metrics
from promoloop.recommend.models import (
    ALSRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    RepeatPurchaseRecommender,
)
from promoloop.recommend.split import global_temporal_split
from promoloop.vocabulary import Columns as C
from promoloop.warnings import ColdStartWarning

logger = logging.getLogger(__name__)

METRIC_COLUMNS = [
    "model",
    "recall_at_10",
    "ndcg_at_10",
    "coverage",
    "customers_evaluated",
    "fit_seconds",
]

ModelFactory = Callable[[], Recommender]


@dataclass
class RecommendationResult:
    """Output of the recommendation stage.

    Attributes
    ----------
    recommendations : DataFrame
        customer_id, item_id, rank, score, strategy for every customer with an
        id in the events, from the chosen model refitted on all data up to
        ``as_of``.
    metrics : DataFrame
        One row per model with its test metrics (see :data:`METRIC_COLUMNS`).
    chosen_model : str
        Model with the best Recall@10 on the inner validation window.
    split : dict
        Cutoffs, row counts and customer counts of the test and validation
        splits, for the manifest and the report.
    validation_metrics : DataFrame
        The metrics on the inner validation window that chose the model.
    """

    recommendations: pd.DataFrame
    metrics: pd.DataFrame
    chosen_model: str
    split: dict = field(default_factory=dict)
    validation_metrics: pd.DataFrame | None = None


def default_models(
    config: RecommendConfig | None = None, seed: int = 0
) -> dict[str, ModelFactory]:
    """Return factories of the compared models, simplest first.

    ``als_untuned`` keeps implicit's defaults; ``als`` takes the factors and
    iterations of ``config``.
    """
    config = config or RecommendConfig()
    threads = config.num_threads
    return {
        "popularity": PopularityRecommender,
        "repeat": RepeatPurchaseRecommender,
        "item_knn": lambda: ItemKNNRecommender(
            config.knn_neighbours, num_threads=threads
        ),
        "als_untuned": lambda: ALSRecommender(num_threads=threads, random_state=seed),
        "als": lambda: ALSRecommender(
            factors=config.als_factors,
            iterations=config.als_iterations,
            weighting="bm25",
            num_threads=threads,
            random_state=seed,
        ),
        "content": ContentRecommender,
        "hybrid": lambda: HybridRecommender(
            neighbours=config.knn_neighbours,
            validation_days=config.validation_days,
            k=config.k,
            num_threads=threads,
        ),
    }


def evaluate_recommenders(
    models: Mapping[str, ModelFactory],
    train: pd.DataFrame,
    test: pd.DataFrame,
    items: pd.DataFrame | None = None,
    k: int = 10,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Fit each model on ``train`` and score its top-k lists on ``test``.

    Only customers with positive weight on both sides are evaluated; the
    relevant items are their positive-weight test items.

    Parameters
    ----------
    models : mapping of str to callable
        Name -> factory returning an unfitted recommender.
    train, test : DataFrame
        Interaction tables (customer_id, item_id, weight, timestamp).
    items : DataFrame, optional
        Items table for models with item attributes. Models that need it are
        skipped with a log line when it is missing or lacks their columns.
    k : int, default 10
        List length.
    show_progress : bool, default True
        Show a tqdm bar over the models.

    Returns
    -------
    DataFrame
        Columns of :data:`METRIC_COLUMNS` (the ``_at_10`` columns hold the
        metric at ``k``).
    """
    positive_train = train[train[C.weight] > 0]
    positive_test = test[(test[C.weight] > 0) & test[C.customer_id].notna()]
    active = np.intersect1d(
        positive_train[C.customer_id].dropna().astype(str).unique(),
        positive_test[C.customer_id].astype(str).unique(),
    )
    relevant = positive_test[positive_test[C.customer_id].isin(active)]
    catalog = train[C.item_id].nunique()

    rows = []
    for name, factory in tqdm(
        models.items(), desc="recommenders", disable=not show_progress
    ):
        model = factory()
        started = time.perf_counter()
        try:
            model.fit(train, items)
        except InputError as error:
            logger.warning("model %s skipped: %s", name, error)
            continue
        lists = model.recommend(active, k=k)
        seconds = time.perf_counter() - started
        scores = per_customer_metrics(lists, relevant, k)
        rows.append(
            {
                "model": name,
                "recall_at_10": float(scores["recall"].mean()),
                "ndcg_at_10": float(scores["ndcg"].mean()),
                "coverage": catalog_coverage(lists, max(catalog, 1)),
                "customers_evaluated": len(active),
                "fit_seconds": seconds,
            }
        )
        logger.info("model %s: %s", name, rows[-1])
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def run_recommendations(
    events: pd.DataFrame,
    items: pd.DataFrame | None,
    config: RecommendConfig,
    as_of=None,
    seed: int = 0,
    show_progress: bool = True,
    models: Mapping[str, ModelFactory] | None = None,
) -> RecommendationResult:
    """Compare the models, choose one and recommend for every customer.

    The data up to ``as_of`` is split at ``as_of - validation_days`` (test)
    and again ``validation_days`` earlier (validation). The model with the
    best Recall@k on the validation window, fitted on the data before it, is
    chosen, so the test window plays no part in the choice; ties go to the
    model listed first. All models' test metrics are reported. The chosen
    model is refitted on all data up to ``as_of``.

    Parameters
    ----------
    events : DataFrame
        Canonical events table.
    items : DataFrame or None
        Canonical items table (content model only).
    config : RecommendConfig
        Stage settings: k, validation_days, event_weights, model sizes.
    as_of : str or Timestamp, optional
        Events after it are ignored; defaults to the latest event.
    seed : int, default 0
        Seed of the factor models.
    show_progress : bool, default True
        Show tqdm bars over the models.
    models : mapping of str to callable, optional
        Models to compare; :func:`default_models` when not given.

    Returns
    -------
    RecommendationResult

    Raises
    ------
    InputError
        If no event with a positive training weight falls before the test
        window.
    """
    models = dict(models or default_models(config, seed))
    interactions = interactions_from_events(events, config.event_weights)
    if as_of is not None:
        as_of = pd.Timestamp(as_of)
        as_of = as_of.tz_localize("UTC") if as_of.tz is None else as_of
        interactions = interactions[interactions[C.timestamp] <= as_of]

    # Test window: the last validation_days; validation window: the days before.
    # NOTE: every model is fitted twice plus one refit; on The Complete Journey
    # the hybrid alone took 73 s to fit and predict on 2 shared cores, so the
    # whole stage takes several minutes there (not measured end to end).
    test_split = global_temporal_split(interactions, test_days=config.validation_days)
    if not (test_split.train[C.weight] > 0).any():
        raise InputError(
            f"no event with positive weight before the test window starting "
            f"{test_split.cutoff}",
            expected=f"training events of types {sorted(config.event_weights)}",
            fix="provide a longer history or lower recommend.validation_days",
        )
    inner_split = global_temporal_split(
        test_split.train, test_days=config.validation_days
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        validation = evaluate_recommenders(
            models, inner_split.train, inner_split.test, items, config.k, show_progress
        )
        metrics = evaluate_recommenders(
            models, test_split.train, test_split.test, items, config.k, show_progress
        )
    chosen = _choose(validation, models)

    # Refit the chosen model on everything up to as_of.
    model = models[chosen]().fit(interactions, items)
    customers = events[C.customer_id].dropna().astype("string").unique()
    recommendations = model.recommend(customers, k=config.k)
    split = {
        "test": test_split.summary(),
        "validation": inner_split.summary(),
        "customers_evaluated": int(metrics["customers_evaluated"].max())
        if len(metrics)
        else 0,
        "customers_without_test_events": len(test_split.customers_without_test),
        "selection": "best recall@k on the validation window before the test cutoff",
    }
    logger.info("chosen recommender %s (%d customers)", chosen, len(customers))
    return RecommendationResult(recommendations, metrics, chosen, split, validation)


def _choose(validation: pd.DataFrame, models: Mapping[str, ModelFactory]) -> str:
    if validation.empty or validation["customers_evaluated"].max() == 0:
        # NOTE: with no customer active in both periods there is nothing to
        # compare; popularity is the model that needs no history.
        fallback = "popularity" if "popularity" in models else next(iter(models))
        logger.info("no customer to validate on; using %s", fallback)
        return fallback
    best = validation["recall_at_10"].to_numpy().argmax()
    return str(validation["model"].iloc[best])
