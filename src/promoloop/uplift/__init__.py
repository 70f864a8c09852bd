"""Uplift learners: per-customer effects of promotions from randomized campaigns.

Every learner follows the scikit-learn estimator pattern: the constructor
stores parameters, ``fit(X, treatment, y)`` validates and fits, and
``predict(X)`` returns an array of shape (n_samples, n_treatments) with the
effect of each arm against control, columns in the order of
``learner.treatments_``. ``select_learner`` picks among learners by held-out
Qini coefficient.
"""

from promoloop.uplift.base import BaseUpliftLearner
from promoloop.uplift.doubly_robust import DRLearner
from promoloop.uplift.features import FeatureEncoder
from promoloop.uplift.interaction import InteractionLearner
from promoloop.uplift.meta_learners import TwoModelLearner, XLearner
from promoloop.uplift.monotone import isotonic_across_arms
from promoloop.uplift.selection import LearnerSelection, select_learner
from promoloop.uplift.transformed import OutcomeTransformLearner

__all__ = [
    "BaseUpliftLearner",
    "DRLearner",
    "FeatureEncoder",
    "InteractionLearner",
    "LearnerSelection",
    "OutcomeTransformLearner",
    "TwoModelLearner",
    "XLearner",
    "isotonic_across_arms",
    "select_learner",
]
