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
from promoloop.data.ids import canonical_id
from promoloop.engine import SPARK, Engine
from promoloop.errors import ConfigError, InputError
from promoloop.recommend.base import Recommender
from promoloop.recommend.content import ContentRecommender
from promoloop.recommend.hybrid import HybridRecommender
from promoloop.recommend.interactions import (
    engine_or_duckdb,
    interactions_from_events,
    prepare_interactions,
)
from promoloop.recommend.metrics import catalog_coverage, per_customer_metrics
from promoloop.recommend.models import (
    ALSRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    RepeatPurchaseRecommender,
)
from promoloop.recommend.spark_als import SparkALSRecommender
from promoloop.recommend.split import global_temporal_split
from promoloop.vocabulary import Columns as C
from promoloop.warnings import ColdStartWarning, DataQualityWarning

logger = logging.getLogger(__name__)

# Model used when the history is too short to compare models.
FALLBACK_MODEL = "repeat"

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
    config: RecommendConfig | None = None,
    seed: int = 0,
    engine: Engine | None = None,
) -> dict[str, ModelFactory]:
    """Return factories of the compared models, simplest first.

    ``als_untuned`` keeps implicit's defaults (the usual reference point for
    matrix factorization); ``config.als_factors`` and ``config.als_iterations``
    apply only when a caller adds a configured ALS. It was left out of the
    defaults because on The Complete Journey it scored below the untuned one
    and doubled the stage's ALS time.

    With ``config.spark_als`` set, Spark ML's ALS is added last as
    ``als_spark``, with ``config.als_factors`` factors and
    ``config.als_iterations`` sweeps, and fitted on ``engine``'s session.

    Parameters
    ----------
    config : RecommendConfig, optional
        Stage settings, the defaults when not given.
    seed : int, default 0
        Seed of the factor models.
    engine : Engine, optional
        Engine of the stage. It must be a Spark engine when
        ``config.spark_als`` is set.

    Returns
    -------
    dict of str to callable

    Raises
    ------
    ConfigError
        If ``config.spark_als`` is set and ``engine`` is not a Spark engine.
    """
    config = config or RecommendConfig()
    threads = config.num_threads
    models: dict[str, ModelFactory] = {
        "popularity": PopularityRecommender,
        "repeat": RepeatPurchaseRecommender,
        "item_knn": lambda: ItemKNNRecommender(
            config.knn_neighbours, num_threads=threads
        ),
        "als_untuned": lambda: ALSRecommender(num_threads=threads, random_state=seed),
        "content": ContentRecommender,
        "hybrid": lambda: HybridRecommender(
            validation_days=config.validation_days, k=config.k
        ),
    }
    if config.spark_als:
        if engine is None or engine.name != SPARK:
            raise ConfigError(
                "recommend.spark_als needs the Spark engine, but the engine is "
                f"{'duckdb' if engine is None else engine.name}. Fix: run with "
                "--engine spark, or set recommend.spark_als to false"
            )
        models["als_spark"] = lambda: SparkALSRecommender(
            rank=config.als_factors,
            max_iter=config.als_iterations,
            seed=seed,
            engine=engine,
        )
    return models


def evaluate_recommenders(
    models: Mapping[str, ModelFactory],
    train: pd.DataFrame,
    test: pd.DataFrame,
    items: pd.DataFrame | None = None,
    k: int = 10,
    show_progress: bool = True,
    fitted: dict | None = None,
    engine: Engine | None = None,
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
    fitted : dict, optional
        When given, receives each fitted model under its name.
    engine : Engine, optional
        Engine of the interaction sums (see :func:`prepare_interactions`);
        a new in-process DuckDB engine when not given.

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

    # The matrix and id maps of the training table are built once for all
    # models.
    prepared = prepare_interactions(train, engine=engine)
    rows = []
    for name, factory in tqdm(
        models.items(), desc="recommenders", disable=not show_progress
    ):
        model = factory()
        started = time.perf_counter()
        try:
            model.fit(prepared, items)
        except InputError as error:
            logger.warning("model %s skipped: %s", name, error)
            continue
        lists = model.recommend(active, k=k)
        seconds = time.perf_counter() - started
        if fitted is not None:
            fitted[name] = model
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
    customer_features: pd.DataFrame | None = None,
    engine: Engine | None = None,
) -> RecommendationResult:
    """Compare the models, choose one and recommend for every customer.

    The data up to ``as_of`` is split at ``as_of - validation_days`` (test)
    and again ``validation_days`` earlier (validation). The model with the
    best Recall@k on the validation window, fitted on the data before it, is
    chosen, so the test window plays no part in the choice; ties go to the
    model listed first. All models' test metrics are reported. The chosen
    model is refitted on all data up to ``as_of``; a model that tunes its own
    settings (the hybrid) keeps those chosen before the test cutoff.

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
    customer_features : DataFrame, optional
        customer_id and categorical feature columns; customers without
        purchases get the items of customers with the same features (see
        :meth:`Recommender.recommend`).
    engine : Engine, optional
        Engine of the interaction table, the splits and the interaction sums,
        e.g. ``Engine.spark()``; left open. Default: one new in-process
        DuckDB engine for the stage, closed afterwards.

    Returns
    -------
    RecommendationResult

    Raises
    ------
    ConfigError
        If ``config.spark_als`` is set, ``models`` is not given and ``engine``
        is not a Spark engine.

    Warns
    -----
    DataQualityWarning
        If no event with a positive training weight falls before the test
        window: the models are not compared and the repeat-purchase model is
        used.
    """
    if engine is None:
        with engine_or_duckdb(None) as duckdb:
            return run_recommendations(
                events,
                items,
                config,
                as_of=as_of,
                seed=seed,
                show_progress=show_progress,
                models=models,
                customer_features=customer_features,
                engine=duckdb,
            )

    models = dict(models or default_models(config, seed, engine))
    interactions = interactions_from_events(events, config.event_weights, engine)
    customer_ids = canonical_id(events[C.customer_id])
    if as_of is not None:
        as_of = pd.Timestamp(as_of)
        as_of = as_of.tz_localize("UTC") if as_of.tz is None else as_of
        interactions = interactions[interactions[C.timestamp] <= as_of]
        stamps = pd.to_datetime(events[C.timestamp], utc=True)
        customer_ids = customer_ids[(stamps <= as_of).to_numpy()]

    # Test window: the last validation_days; validation window: the days before.
    test_split = global_temporal_split(
        interactions, test_days=config.validation_days, engine=engine
    )
    inner_split = global_temporal_split(
        test_split.train, test_days=config.validation_days, engine=engine
    )
    fitted: dict[str, Recommender] = {}
    if (test_split.train[C.weight] > 0).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ColdStartWarning)
            validation = evaluate_recommenders(
                models,
                inner_split.train,
                inner_split.test,
                items,
                config.k,
                show_progress,
                engine=engine,
            )
            metrics = evaluate_recommenders(
                models,
                test_split.train,
                test_split.test,
                items,
                config.k,
                show_progress,
                fitted=fitted,
                engine=engine,
            )
    else:
        warnings.warn(
            f"the history before the test window starting {test_split.cutoff} has "
            "no training event, so the recommenders were not compared; the "
            f"{FALLBACK_MODEL} model is used. Give at least "
            f"{2 * config.validation_days} days of history to compare them",
            DataQualityWarning,
            stacklevel=2,
        )
        validation = pd.DataFrame(columns=METRIC_COLUMNS)
        metrics = pd.DataFrame(columns=METRIC_COLUMNS)
    chosen = _choose(validation, models)

    # Refit the chosen model on everything up to as_of, with the settings it
    # tuned on the window before the test cutoff when it tunes any.
    tuned = fitted.get(chosen)
    model = tuned.tuned_copy() if hasattr(tuned, "tuned_copy") else models[chosen]()
    model.fit(prepare_interactions(interactions, engine), items)
    # Customers whose events all fall after as_of get no list.
    customers = customer_ids.dropna().unique()
    recommendations = model.recommend(
        customers, k=config.k, customer_features=customer_features
    )
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
        # compare. Repeat purchases are the safest personal list, and
        # popularity, the next choice, needs no history at all.
        fallback = next(
            (name for name in (FALLBACK_MODEL, "popularity") if name in models),
            next(iter(models)),
        )
        logger.info("no customer to validate on; using %s", fallback)
        return fallback
    best = validation["recall_at_10"].to_numpy().argmax()
    return str(validation["model"].iloc[best])
