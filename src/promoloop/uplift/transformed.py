"""Outcome transformation learner: one model of a transformed outcome per arm."""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import is_classifier
from sklearn.linear_model import LogisticRegression

from promoloop.errors import InputError
from promoloop.uplift._validation import arm_propensity
from promoloop.uplift.base import (
    BaseUpliftLearner,
    clipped_propensity,
    default_effect_model,
    estimate_propensity,
    seeded_clone,
)

logger = logging.getLogger(__name__)

METHODS = ("transformed_outcome", "class_transformation")

# Class transformation is only unbiased when arm and control are equally
# likely; this is how far the observed treated share may stray from 0.5.
CLASS_TRANSFORMATION_TOLERANCE = 0.05


class OutcomeTransformLearner(BaseUpliftLearner):
    """Uplift from one model of a transformed outcome per arm.

    ``method="transformed_outcome"`` (default) regresses

    .. math:: y^* = y \\frac{w - e}{e (1 - e)}

    on x, where w is the treated flag and e the propensity, the probability
    of the arm among customers in that arm or control. Because
    :math:`E[y^* \\mid x] = \\tau(x)` under randomization, the fit is the
    effect itself. This works for binary and continuous outcomes and any
    propensity.

    ``method="class_transformation"`` is the special case of a binary
    outcome with a 50/50 design (Jaskowski and Jaroszewicz 2012): with

    .. math:: z = y w + (1 - y)(1 - w)

    a classifier of z gives :math:`\\tau(x) = 2 P(z = 1 \\mid x) - 1`. With
    e = 1/2 this equals the transformed outcome, since
    :math:`E[y^* \\mid x] = 2 P(z = 1 \\mid x) - 1` there.

    Parameters
    ----------
    estimator : estimator, optional
        Model of the transformed outcome: a regressor of :math:`y^*`
        (default ``Ridge``), or a classifier of z for class transformation
        (default ``LogisticRegression``).
    method : {"transformed_outcome", "class_transformation"}
        Transformation, see above.
    propensity : float or dict, optional
        Known randomized propensity, as in ``XLearner``. Default: estimated
        by logistic regression and clipped to [0.01, 0.99] for the
        transformed outcome. Class transformation needs e = 0.5 and
        raises when a known propensity, or the observed treated share,
        differs from 0.5 by more than 0.05.
    control, treatments, monotone_in_depth, outcome, random_state
        As in ``TwoModelLearner``.
    """

    def __init__(
        self,
        estimator=None,
        *,
        method: str = "transformed_outcome",
        propensity=None,
        control=0,
        treatments=None,
        monotone_in_depth: bool = False,
        outcome: str = "auto",
        random_state=None,
    ):
        self.estimator = estimator
        self.method = method
        self.propensity = propensity
        self.control = control
        self.treatments = treatments
        self.monotone_in_depth = monotone_in_depth
        self.outcome = outcome
        self.random_state = random_state

    def _check_params(self, binary: bool) -> None:
        if self.method not in METHODS:
            raise InputError(
                f"argument 'method' is {self.method!r}",
                expected=f"one of {list(METHODS)}",
                fix="use 'transformed_outcome' unless y is binary with a 50/50 design",
            )
        if self.method == "class_transformation" and not binary:
            raise InputError(
                "method='class_transformation' needs a binary outcome, but 'y' "
                "is continuous",
                expected="0/1 outcomes",
                fix="use method='transformed_outcome' for a continuous outcome",
            )

    def _before_arms(self, X_control, y_control) -> None:
        self.models_ = {}

    def _fit_arm(self, X, treated, y, arm) -> None:
        known = arm_propensity(self.propensity, arm)
        if self.method == "class_transformation":
            self._fit_class_transformation(X, treated, y, arm, known)
            return

        if known is None:
            model = estimate_propensity(X, treated, self.random_state)
            e = clipped_propensity(model, X)
        else:
            e = np.full(len(y), known)
        transformed = y * (treated - e) / (e * (1 - e))
        regressor = self.estimator or default_effect_model()
        self.models_[arm] = seeded_clone(regressor, self.random_state).fit(
            X, transformed
        )

    def _fit_class_transformation(self, X, treated, y, arm, known) -> None:
        share = float(treated.mean()) if known is None else known
        if abs(share - 0.5) > CLASS_TRANSFORMATION_TOLERANCE:
            source = "observed treated share" if known is None else "propensity"
            raise InputError(
                f"class transformation needs a 50/50 design, but arm {arm!r} "
                f"has {source} {share:.3f}",
                expected="a propensity within 0.05 of 0.5",
                fix="use method='transformed_outcome', which handles any propensity",
            )
        z = (y * treated + (1 - y) * (1 - treated)).astype(int)
        if np.unique(z).size < 2:
            raise InputError(
                f"the transformed class z has a single value among arm {arm!r} "
                "and control rows, so a classifier cannot be fitted",
                expected="both z classes",
                fix="use method='transformed_outcome'",
            )
        classifier = self.estimator or LogisticRegression(max_iter=1000)
        if not is_classifier(classifier):
            raise InputError(
                f"estimator {type(classifier).__name__} is not a classifier",
                expected="a classifier of z for method='class_transformation'",
                fix="pass e.g. LogisticRegression or HistGradientBoostingClassifier",
            )
        self.models_[arm] = seeded_clone(classifier, self.random_state).fit(X, z)

    def _predict_arm(self, X, arm) -> np.ndarray:
        model = self.models_[arm]
        if self.method == "class_transformation":
            return 2.0 * model.predict_proba(X)[:, 1] - 1.0
        return model.predict(X)
