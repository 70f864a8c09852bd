"""Cross-fitted reward models that give ``reward_hat`` for DM and DR.

Rounds are split into folds. Each fold's expected rewards come from a model
fit on the other folds only, so no round is predicted by a model that saw
its reward. Cross-fitting keeps the reward model's overfitting out of the
doubly robust correction.
"""

from __future__ import annotations

import logging
import numbers
import warnings
from typing import Literal

import numpy as np

from promoloop.errors import InputError
from promoloop.ope.logs import BanditLog
from promoloop.warnings import ColdStartWarning

logger = logging.getLogger(__name__)

RewardModelName = Literal["logistic", "ridge", "lightgbm", "mean"]
_MODELS = ("logistic", "ridge", "lightgbm", "mean")


def _one_hot(codes: np.ndarray, size: int) -> np.ndarray:
    return np.eye(size)[codes]


def _features(
    log: BanditLog, rows: np.ndarray, action: np.ndarray, position: np.ndarray
) -> np.ndarray:
    """Stack context, one-hot action and one-hot position for ``rows``."""
    blocks = []
    if log.context is not None:
        blocks.append(log.context[rows])
    blocks.append(_one_hot(action, log.n_actions))
    if log.n_positions > 1:
        blocks.append(_one_hot(position, log.n_positions))
    return np.hstack(blocks)


def _smoothed_means(log: BanditLog, rows: np.ndarray, smoothing: float) -> np.ndarray:
    """Mean reward per action and position, shrunk toward the overall mean.

    .. math:: \\hat{q}(a, k) = \\frac{\\sum r + m \\bar{r}}{n_{a,k} + m}

    with :math:`m` = ``smoothing`` pseudo-rounds at the mean reward
    :math:`\\bar{r}` of ``rows``. Returns shape (n_actions, n_positions).
    """
    cell = log.action[rows] * log.n_positions + log.position[rows]
    n_cells = log.n_actions * log.n_positions
    totals = np.bincount(cell, weights=log.reward[rows], minlength=n_cells)
    counts = np.bincount(cell, minlength=n_cells)
    overall = float(np.mean(log.reward[rows]))
    means = (totals + smoothing * overall) / (counts + smoothing)
    return means.reshape(log.n_actions, log.n_positions)


def _make_model(
    model: str, binary: bool, random_state: int | None, params: dict
) -> object:
    # Imported here: the command line imports this package for every command.
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "logistic":
        settings = {"max_iter": 1000, **params}
        return make_pipeline(StandardScaler(), LogisticRegression(**settings))
    if model == "ridge":
        return make_pipeline(StandardScaler(), Ridge(**params))
    # LightGBM is imported here so that importing promoloop.ope stays fast.
    from lightgbm import LGBMClassifier, LGBMRegressor

    settings = {
        "n_estimators": 100,
        "learning_rate": 0.05,
        "num_leaves": 15,
        "random_state": random_state,
        "n_jobs": 1,
        "verbose": -1,
        **params,
    }
    return LGBMClassifier(**settings) if binary else LGBMRegressor(**settings)


def _predict_all_actions(
    log: BanditLog, fitted: object, rows: np.ndarray, classifier: bool
) -> np.ndarray:
    """Predict the reward of every action at every position for ``rows``."""
    predictions = np.empty((rows.size, log.n_actions, log.n_positions))
    for position in range(log.n_positions):
        for action in range(log.n_actions):
            features = _features(
                log,
                rows,
                np.full(rows.size, action),
                np.full(rows.size, position),
            )
            if classifier:
                predictions[:, action, position] = fitted.predict_proba(features)[:, 1]
            else:
                predictions[:, action, position] = fitted.predict(features)
    return predictions


def _check_arguments(
    log: BanditLog, model: object, n_folds: object, smoothing: object
) -> bool:
    """Validate the arguments and return whether the rewards are 0 or 1."""
    if model not in _MODELS:
        raise InputError(
            f"argument 'model' is {model!r}",
            expected=f"one of {list(_MODELS)}",
            fix="pass model='logistic' for 0/1 rewards or model='ridge' otherwise",
        )
    if (
        isinstance(n_folds, bool)
        or not isinstance(n_folds, numbers.Integral)
        or not 2 <= n_folds <= 5
    ):
        raise InputError(
            f"argument 'n_folds' is {n_folds!r}",
            expected="an int from 2 to 5",
            fix="pass n_folds=2",
        )
    if log.n_rounds < n_folds:
        raise InputError(
            f"cross-fitting with n_folds={n_folds} needs at least {n_folds} "
            f"rounds, but the log has {log.n_rounds}",
            fix="use IPS or SNIPS on so small a log, or pass a reward_hat "
            "from a model fit on other data",
        )
    if not isinstance(smoothing, numbers.Real) or not smoothing > 0:
        raise InputError(
            f"argument 'smoothing' is {smoothing!r}",
            expected="a positive number of pseudo-rounds",
            fix="pass smoothing=1.0",
        )
    binary = bool(np.isin(log.reward, (0.0, 1.0)).all())
    if model == "logistic" and not binary:
        values = np.unique(log.reward[~np.isin(log.reward, (0.0, 1.0))])[:3]
        raise InputError(
            "model='logistic' needs rewards of 0 or 1, but the log has rewards "
            f"such as {values.tolist()}",
            fix="pass model='ridge' or model='lightgbm' for other rewards",
        )
    return binary


def fit_reward_model(
    log: BanditLog,
    *,
    model: RewardModelName = "logistic",
    n_folds: int = 2,
    random_state: int | None = None,
    smoothing: float = 1.0,
    model_params: dict | None = None,
) -> np.ndarray:
    """Fit a reward model by cross-fitting and return ``reward_hat``.

    Features are the log's context, a one-hot action and, with several
    positions, a one-hot position. Each fold's rounds are predicted for every
    action and position by a model fit on the other folds.

    Parameters
    ----------
    log : BanditLog
    model : {"logistic", "ridge", "lightgbm", "mean"}, default "logistic"
        "logistic" (scikit-learn, standardized features) needs 0/1 rewards.
        "ridge" is a linear regression. "lightgbm" is a gradient-boosted
        classifier for 0/1 rewards and a regressor otherwise. "mean" is the
        smoothed mean reward per action and position, without context.
    n_folds : int, default 2
        Number of cross-fitting folds, from 2 to 5.
    random_state : int or None, default None
        Seed of the fold split and of LightGBM.
    smoothing : float, default 1.0
        Pseudo-rounds at the fold's mean reward added to each action and
        position's mean, for "mean" and for the fallback.
    model_params : dict, optional
        Extra keyword arguments of the scikit-learn or LightGBM estimator.

    Returns
    -------
    ndarray of float, shape (n_rounds, n_actions, n_positions)
        Expected reward of each action at each round and position.

    Raises
    ------
    InputError
        On an unknown model, ``n_folds`` outside 2 to 5 or above the number
        of rounds, a non-positive ``smoothing``, or non-binary rewards with
        ``model="logistic"``.

    Warns
    -----
    ColdStartWarning
        When a classifier's training folds contain only one reward value,
        such as no click at all. The held-out fold then gets the smoothed
        mean per action and position.
    """
    binary = _check_arguments(log, model, n_folds, smoothing)
    params = dict(model_params or {})
    classifier = model == "logistic" or (model == "lightgbm" and binary)
    from sklearn.model_selection import KFold

    folds = KFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    reward_hat = np.empty((log.n_rounds, log.n_actions, log.n_positions))
    fallbacks = []
    for fold, (train, test) in enumerate(folds.split(log.action), start=1):
        single_class = np.unique(log.reward[train]).size < 2
        if model == "mean" or (classifier and single_class):
            reward_hat[test] = _smoothed_means(log, train, smoothing)[np.newaxis]
            if model != "mean":
                fallbacks.append((fold, train.size, float(log.reward[train].max())))
            continue

        fitted = _make_model(model, binary, random_state, params)
        features = _features(log, train, log.action[train], log.position[train])
        fitted.fit(features, log.reward[train])
        reward_hat[test] = _predict_all_actions(log, fitted, test, classifier)

    for fold, n_train, only_value in fallbacks:
        message = (
            f"reward model fold {fold} of {n_folds}: all {n_train} training "
            f"rounds have reward {only_value:g}, so its held-out rounds use the "
            f"smoothed mean reward per action and position instead of {model}"
        )
        logger.info(message)
        warnings.warn(message, ColdStartWarning, stacklevel=2)
    return reward_hat
