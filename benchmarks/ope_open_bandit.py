"""promoloop.ope and Open Bandit Pipeline (obp) 0.4.1 on the same Open Bandit arrays.

For each campaign, both libraries estimate the BTS policy's click rate from
the uniform random log, and each estimate is compared with the BTS log's own
click rate. Everything runs in one process on the same arrays:

* promoloop: the function ``promoloop ope`` uses, with its target policy
  (mean logged BTS propensity per item and position, normalized per
  position) and its cross-fitted logistic reward model.
* obp: ``obp.policy.BernoulliTS`` with the ZOZOTOWN prior and
  ``compute_batch_action_dist`` as target, ``obp.ope.RegressionModel`` with
  scikit-learn's ``LogisticRegression`` as reward model, and obp's
  estimators. obp's own dataset loader fails on pandas 2 and later, so the
  arrays (action, 0-based position, reward, pscore, context) come from
  promoloop's reader.

Every library is also run with the other library's target policy and
reward model (2 x 2 x 2 runs per campaign). Rows with the same target and
reward model isolate the estimators, and rows of one library with the two
targets isolate the target policy. switch-DR uses tau=100 and DR with
shrinkage lambda=10,000 in both libraries, promoloop's defaults. obp's
defaults differ: lambda=0 makes DR with shrinkage the direct method, and
tau=1 drops the correction of every round with weight above 1.

obp is a reference tool only and is not a dependency of promoloop. Install
it into the environment with::

    pip install torch==2.13.0 obp==0.4.1

Usage::

    python benchmarks/ope_open_bandit.py --data-dir /path/to/open-bandit

The script prints a table and writes ``benchmarks/results/ope_open_bandit.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from promoloop.ope.open_bandit import CAMPAIGNS, OpenBanditCampaign, load_campaign
from promoloop.ope.open_bandit_report import (
    REWARD_MODEL_FOLDS,
    estimate_campaign,
    fit_campaign_reward_model,
)

HERE = Path(__file__).resolve().parent
INSTALL_HINT = "pip install torch==2.13.0 obp==0.4.1"
ESTIMATORS = ("dm", "ips", "snips", "dr", "switch-dr", "dr-shrinkage")
SWITCH_TAU = 100.0
SHRINKAGE_LAMBDA = 10_000.0
TIMING_REPEATS = 3


def import_obp():
    """Import obp, or exit with the command that installs it."""
    try:
        import obp.ope
        import obp.policy
    except ImportError as error:
        sys.exit(
            f"obp is not installed ({error}). This benchmark needs it as the "
            f"reference: {INSTALL_HINT}"
        )
    return obp


def obp_target(obp, campaign: OpenBanditCampaign, n_sim: int, seed: int):
    """Return obp's BTS action_dist for the random log's rounds, and its seconds."""
    started = time.perf_counter()
    policy = obp.policy.BernoulliTS(
        n_actions=campaign.random_log.n_actions,
        len_list=campaign.random_log.n_positions,
        is_zozotown_prior=True,
        campaign=campaign.campaign,
        random_state=seed,
    )
    # One simulated distribution, repeated for every round: BTS ignores the
    # user, so every round gets the same distribution.
    single = policy.compute_batch_action_dist(n_sim=n_sim, n_rounds=1)[0]
    seconds = time.perf_counter() - started
    shape = (campaign.random_log.n_rounds, *single.shape)
    return np.broadcast_to(single, shape), seconds


def obp_reward_hat(obp, campaign: OpenBanditCampaign, seed: int) -> np.ndarray:
    """Fit obp's RegressionModel (logistic, one model per position) by cross-fitting."""
    log = campaign.random_log
    model = obp.ope.RegressionModel(
        base_model=LogisticRegression(max_iter=1000, random_state=seed),
        n_actions=log.n_actions,
        len_list=log.n_positions,
    )
    return model.fit_predict(
        context=np.asarray(log.context),
        action=np.asarray(log.action),
        reward=np.asarray(log.reward),
        pscore=np.asarray(log.pscore),
        position=np.asarray(log.position),
        n_folds=REWARD_MODEL_FOLDS,
        random_state=seed,
    )


def obp_estimates(obp, campaign, action_dist, reward_hat, n_bootstrap, seed) -> dict:
    """Run obp's six estimators with bootstrap intervals; keys as in promoloop."""
    ope = obp.ope
    estimators = {
        "dm": ope.DirectMethod(),
        "ips": ope.InverseProbabilityWeighting(),
        "snips": ope.SelfNormalizedInverseProbabilityWeighting(),
        "dr": ope.DoublyRobust(),
        "switch-dr": ope.SwitchDoublyRobust(tau=SWITCH_TAU),
        "dr-shrinkage": ope.DoublyRobustWithShrinkage(lambda_=SHRINKAGE_LAMBDA),
    }
    log = campaign.random_log
    inputs = {
        "reward": np.asarray(log.reward),
        "action": np.asarray(log.action),
        "position": np.asarray(log.position),
        "pscore": np.asarray(log.pscore),
        "action_dist": np.ascontiguousarray(action_dist),
        "estimated_rewards_by_reg_model": reward_hat,
    }
    results = {}
    for name, estimator in estimators.items():
        value = float(estimator.estimate_policy_value(**inputs))
        interval = estimator.estimate_interval(
            **inputs, n_bootstrap_samples=n_bootstrap, random_state=seed
        )
        low = interval["95.0% CI (lower)"]
        high = interval["95.0% CI (upper)"]
        results[name] = {"value": value, "ci_low": float(low), "ci_high": float(high)}
    return results


def promoloop_estimates(campaign, action_dist, reward_hat, n_bootstrap, seed) -> dict:
    """Run promoloop's six estimators through the function the command uses."""
    evaluation = estimate_campaign(
        campaign,
        action_dist=action_dist,
        reward_hat=reward_hat,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    return {
        row.name: {"value": row.value, "ci_low": row.ci_low, "ci_high": row.ci_high}
        for row in evaluation.rows
    }


def timed(function, *args):
    """Call ``function(*args)`` repeatedly; return the result and the min seconds."""
    times = []
    for _ in range(TIMING_REPEATS):
        started = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - started)
    return result, min(times)


def run_campaign(obp, name, data_dir, n_sim, n_bootstrap, seed) -> dict:
    """Run the 2 x 2 x 2 grid of one campaign and time each library's own run."""
    campaign = load_campaign(data_dir, name)
    truth = campaign.truth
    seconds = {}

    # Each library's own pipeline: reward model, then estimators with
    # intervals. Each step keeps its fastest of TIMING_REPEATS runs, because
    # the first run also pays for warming up imports and caches.
    promoloop_hat, seconds["promoloop_reward_model"] = timed(
        fit_campaign_reward_model, campaign, seed
    )
    own, seconds["promoloop_estimators"] = timed(
        promoloop_estimates,
        campaign,
        campaign.action_dist(),
        promoloop_hat,
        n_bootstrap,
        seed,
    )
    obp_dist, seconds["obp_bts_simulation"] = obp_target(obp, campaign, n_sim, seed)
    obp_hat, seconds["obp_reward_model"] = timed(obp_reward_hat, obp, campaign, seed)
    obp_own, seconds["obp_estimators"] = timed(
        obp_estimates, obp, campaign, obp_dist, obp_hat, n_bootstrap, seed
    )

    # The other six combinations of library, target policy and reward model.
    targets = {"promoloop": campaign.action_dist(), "obp": obp_dist}
    reward_hats = {"promoloop": promoloop_hat, "obp": obp_hat}
    runners = {"promoloop": promoloop_estimates}
    runners["obp"] = lambda *args: obp_estimates(obp, *args)
    rows = []
    for library, run in runners.items():
        for target, action_dist in targets.items():
            for reward_model, reward_hat in reward_hats.items():
                if (library, target, reward_model) == ("promoloop",) * 3:
                    estimates = own
                elif (library, target, reward_model) == ("obp",) * 3:
                    estimates = obp_own
                else:
                    args = (campaign, action_dist, reward_hat, n_bootstrap, seed)
                    estimates = run(*args)
                for estimator, result in estimates.items():
                    rows.append(
                        {
                            "library": library,
                            "target": target,
                            "reward_model": reward_model,
                            "estimator": estimator,
                            **result,
                            "relative_error": abs(result["value"] - truth.value)
                            / truth.value,
                            "covers_truth": bool(
                                result["ci_low"] <= truth.value <= result["ci_high"]
                            ),
                        }
                    )
    return {
        "truth": vars(truth),
        "random_log": {
            "n_rounds": campaign.random_log.n_rounds,
            "n_clicks": int(campaign.random_log.reward.sum()),
        },
        "target_l1_distance": target_l1_distance(campaign, obp_dist),
        "seconds": {key: round(value, 3) for key, value in seconds.items()},
        "rows": rows,
    }


def target_l1_distance(campaign: OpenBanditCampaign, obp_dist) -> list[float]:
    """Return the L1 distance between the two target policies at each position."""
    difference = np.abs(campaign.target_dist - obp_dist[0]).sum(axis=0)
    return [round(float(value), 4) for value in difference]


def same_input_gaps(rows: list[dict]) -> dict:
    """Return the largest |promoloop - obp| per estimator on identical inputs."""
    by_key = {}
    for row in rows:
        key = (row["target"], row["reward_model"], row["estimator"])
        by_key.setdefault(key, {})[row["library"]] = row["value"]
    gaps = {}
    for (_, _, estimator), values in by_key.items():
        gap = abs(values["promoloop"] - values["obp"])
        gaps[estimator] = max(gaps.get(estimator, 0.0), gap)
    return gaps


def machine() -> dict:
    """Describe the machine and the library versions of the run."""
    versions = {"python": platform.python_version()}
    for name in ("promoloop", "obp", "numpy", "scikit-learn", "torch"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "versions": versions,
    }


def print_table(name: str, result: dict) -> None:
    truth = result["truth"]
    print(
        f"\n{name}: truth {truth['value']:.5f} ({truth['low']:.5f} to "
        f"{truth['high']:.5f}), {truth['n_clicks']} BTS clicks; random log "
        f"{result['random_log']['n_clicks']} clicks"
    )
    print(
        f"{'library':10} {'target':10} {'reward':10} {'estimator':13} value    rel.err"
    )
    for row in result["rows"]:
        print(
            f"{row['library']:10} {row['target']:10} {row['reward_model']:10} "
            f"{row['estimator']:13} {row['value']:.5f}  {row['relative_error']:6.0%}"
        )
    print(f"seconds: {result['seconds']}")


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        help="Open Bandit Dataset folder with random/ and bts/.",
    )
    parser.add_argument(
        "--out", type=Path, default=HERE / "results" / "ope_open_bandit.json"
    )
    parser.add_argument(
        "--n-sim",
        type=int,
        default=100_000,
        help="Monte Carlo draws of obp's BernoulliTS.compute_batch_action_dist.",
    )
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    obp = import_obp()

    started = time.perf_counter()
    campaigns = {}
    for name in CAMPAIGNS:
        campaigns[name] = run_campaign(
            obp,
            name,
            arguments.data_dir,
            arguments.n_sim,
            arguments.n_bootstrap,
            arguments.seed,
        )
        print_table(name, campaigns[name])

    rows = [row for result in campaigns.values() for row in result["rows"]]
    seconds = [result["seconds"] for result in campaigns.values()]
    promoloop_seconds = sum(
        s["promoloop_reward_model"] + s["promoloop_estimators"] for s in seconds
    )
    obp_seconds = sum(s["obp_reward_model"] + s["obp_estimators"] for s in seconds)
    figures = {
        "protocol": {
            "data": "Open Bandit Dataset, 10,000-round samples of the random "
            "and BTS logs per campaign (the files shipped with obp 0.4.1)",
            "estimate": "BTS click rate from the uniform random log, per campaign",
            "truth": "BTS log's click rate, Wilson 95% interval",
            "promoloop_target": "mean logged BTS propensity per item and "
            "position, normalized per position",
            "obp_target": "obp.policy.BernoulliTS(is_zozotown_prior=True, "
            f"len_list=3).compute_batch_action_dist(n_sim={arguments.n_sim})",
            "promoloop_reward_model": "promoloop.ope.fit_reward_model(model="
            f"'logistic', n_folds={REWARD_MODEL_FOLDS}), features one-hot user "
            "features + item + position",
            "obp_reward_model": "obp.ope.RegressionModel(LogisticRegression("
            "max_iter=1000), len_list=3).fit_predict(n_folds="
            f"{REWARD_MODEL_FOLDS}), one model per position on one-hot user "
            "features + one-hot item",
            "switch_tau": SWITCH_TAU,
            "shrinkage_lambda": SHRINKAGE_LAMBDA,
            "n_bootstrap": arguments.n_bootstrap,
            "seed": arguments.seed,
        },
        "machine": machine(),
        "campaigns": campaigns,
        "same_input_max_gap": same_input_gaps(rows),
        "own_pipeline_seconds": {
            "promoloop": round(promoloop_seconds, 3),
            "obp": round(obp_seconds, 3),
            "obp_over_promoloop": round(obp_seconds / promoloop_seconds, 2),
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    gaps = figures["same_input_max_gap"]
    print(f"\nlargest |promoloop - obp| on identical inputs: {gaps}")
    print(f"own pipelines, seconds: {figures['own_pipeline_seconds']}")
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    print(f"written to {arguments.out}")
    return figures


if __name__ == "__main__":
    main()
