"""Recommendation stage: id maps, models, temporal evaluation and the stage runner."""

from promoloop.recommend.base import Recommender
from promoloop.recommend.content import ContentRecommender
from promoloop.recommend.evaluate import (
    RecommendationResult,
    default_models,
    evaluate_recommenders,
    run_recommendations,
)
from promoloop.recommend.hybrid import HybridRecommender
from promoloop.recommend.interactions import (
    IdMap,
    InteractionMatrix,
    PreparedInteractions,
    build_matrix,
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
from promoloop.recommend.split import (
    Split,
    check_temporal_split,
    global_temporal_split,
    per_customer_split,
)

__all__ = [
    "ALSRecommender",
    "ContentRecommender",
    "HybridRecommender",
    "IdMap",
    "InteractionMatrix",
    "ItemKNNRecommender",
    "PopularityRecommender",
    "PreparedInteractions",
    "RecommendationResult",
    "Recommender",
    "RepeatPurchaseRecommender",
    "SparkALSRecommender",
    "Split",
    "build_matrix",
    "catalog_coverage",
    "check_temporal_split",
    "default_models",
    "evaluate_recommenders",
    "global_temporal_split",
    "interactions_from_events",
    "per_customer_metrics",
    "per_customer_split",
    "prepare_interactions",
    "run_recommendations",
]
