"""Two-model (T) and X learners: effects from separate outcome models per arm."""

from __future__ import annotations

import logging

import numpy as np

from promoloop.uplift._validation import arm_propensity
from promoloop.uplift.base import (
    BaseUpliftLearner,
    clipped_propensity,
    default_effect_model,
    estimate_propensity,
    fit_outcome_model,
    predict_outcome,
    seeded_clone,
)

logger = logging.getLogger(__name__)


class TwoModelLearner(BaseUpliftLearner):
    """T-learner: one outcome model per treatment arm and one for control.

    For arm t the effect is

    .. math:: \\hat\\tau_t(x) = \\hat\\mu_t(x) - \\hat\\mu_c(x)

    where :math:`\\hat\\mu_t` is fitted on the rows of arm t and
    :math:`\\hat\\mu_c` on the control rows. For a binary outcome
    :math:`\\hat\\mu` is a classifier's ``predict_proba`` of class 1, for a
    continuous outcome a regressor's ``predict``.

    Parameters
    ----------
    estimator : estimator, optional
        Outcome model cloned for each group. Default: ``LogisticRegression``
        for a binary outcome, ``Ridge`` for a continuous one. Any scikit-learn
        compatible model works, e.g. ``HistGradientBoostingClassifier`` or
        LightGBM's ``LGBMClassifier``.
    control : object, default 0
        Treatment label of the control group.
    treatments : sequence, optional
        Arm labels in the order of ``predict``'s columns, shallowest
        discount first when ``monotone_in_depth``. Default: sorted labels.
    monotone_in_depth : bool, default False
        Make each customer's effects non-decreasing over ``treatments`` with
        ``isotonic_across_arms``.
    outcome : {"auto", "binary", "continuous"}, default "auto"
        Outcome type; "auto" takes y as binary when all values are 0 or 1.
    random_state : int, optional
        Seed given to models that take one and have it unset.
    """

    def __init__(
        self,
        estimator=None,
        *,
        control=0,
        treatments=None,
        monotone_in_depth: bool = False,
        outcome: str = "auto",
        random_state=None,
    ):
        self.estimator = estimator
        self.control = control
        self.treatments = treatments
        self.monotone_in_depth = monotone_in_depth
        self.outcome = outcome
        self.random_state = random_state

    def _before_arms(self, X_control, y_control) -> None:
        self.control_model_ = fit_outcome_model(
            self._outcome_model(),
            X_control,
            y_control,
            self._binary,
            f"control ({self.control!r})",
            self.random_state,
        )
        self.arm_models_ = {}

    def _fit_arm(self, X, treated, y, arm) -> None:
        self.arm_models_[arm] = fit_outcome_model(
            self._outcome_model(),
            X[treated],
            y[treated],
            self._binary,
            f"arm {arm!r}",
            self.random_state,
        )

    def _predict_arm(self, X, arm) -> np.ndarray:
        treated = predict_outcome(self.arm_models_[arm], X)
        return treated - predict_outcome(self.control_model_, X)


class XLearner(BaseUpliftLearner):
    """X-learner of Kuenzel, Sekhon, Bickel and Yu (PNAS 2019).

    Stage 1 fits outcome models :math:`\\hat\\mu_t` on the arm's rows and
    :math:`\\hat\\mu_c` on the control rows. Stage 2 imputes each customer's
    effect from the other group's model,

    .. math:: D^t_i = y_i - \\hat\\mu_c(x_i) \\text{ (arm rows)}, \\qquad
              D^c_i = \\hat\\mu_t(x_i) - y_i \\text{ (control rows)},

    and regresses them on x, giving :math:`\\hat\\tau_t(x)` and
    :math:`\\hat\\tau_c(x)`. The effect combines the two with the
    propensity :math:`e(x)`, the probability of the arm among customers in
    that arm or control:

    .. math:: \\hat\\tau(x) = e(x) \\hat\\tau_c(x) + (1 - e(x)) \\hat\\tau_t(x)

    Parameters
    ----------
    outcome_estimator : estimator, optional
        Stage-1 model. Default: ``LogisticRegression`` for a binary outcome,
        ``Ridge`` for a continuous one.
    effect_estimator : regressor, optional
        Stage-2 regressor of the imputed effects. Default: ``Ridge``.
    propensity : float or dict, optional
        Known randomized propensity: one probability for every arm, or a
        dict from arm label to the probability of that arm among customers
        in that arm or control. Default: estimated by logistic regression
        and clipped to [0.01, 0.99].
    control, treatments, monotone_in_depth, outcome, random_state
        As in ``TwoModelLearner``.
    """

    def __init__(
        self,
        outcome_estimator=None,
        effect_estimator=None,
        *,
        propensity=None,
        control=0,
        treatments=None,
        monotone_in_depth: bool = False,
        outcome: str = "auto",
        random_state=None,
    ):
        self.outcome_estimator = outcome_estimator
        self.effect_estimator = effect_estimator
        self.propensity = propensity
        self.control = control
        self.treatments = treatments
        self.monotone_in_depth = monotone_in_depth
        self.outcome = outcome
        self.random_state = random_state

    def _before_arms(self, X_control, y_control) -> None:
        self.control_model_ = fit_outcome_model(
            self._outcome_model(),
            X_control,
            y_control,
            self._binary,
            f"control ({self.control!r})",
            self.random_state,
        )
        self.effect_models_ = {}
        self.propensity_models_ = {}
        self.known_propensity_ = {}

    def _fit_arm(self, X, treated, y, arm) -> None:
        # Stage 1: the arm's outcome model (control's is shared).
        arm_model = fit_outcome_model(
            self._outcome_model(),
            X[treated],
            y[treated],
            self._binary,
            f"arm {arm!r}",
            self.random_state,
        )

        # Stage 2: imputed effects of each group, regressed on x.
        X_t, X_c = X[treated], X[~treated]
        imputed_t = y[treated] - predict_outcome(self.control_model_, X_t)
        imputed_c = predict_outcome(arm_model, X_c) - y[~treated]
        effect = self.effect_estimator or default_effect_model()
        tau_t = seeded_clone(effect, self.random_state).fit(X_t, imputed_t)
        tau_c = seeded_clone(effect, self.random_state).fit(X_c, imputed_c)
        self.effect_models_[arm] = (tau_t, tau_c)

        # Propensity: known from the design, else estimated.
        known = arm_propensity(self.propensity, arm)
        self.known_propensity_[arm] = known
        if known is None:
            self.propensity_models_[arm] = estimate_propensity(
                X, treated, self.random_state
            )

    def _predict_arm(self, X, arm) -> np.ndarray:
        tau_t, tau_c = self.effect_models_[arm]
        known = self.known_propensity_[arm]
        if known is None:
            e = clipped_propensity(self.propensity_models_[arm], X)
        else:
            e = np.full(X.shape[0], known)
        return e * tau_c.predict(X) + (1.0 - e) * tau_t.predict(X)
