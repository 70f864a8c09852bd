"""``promoloop ope --from-store``: judge a candidate policy on a campaign's log.

The candidate is either a saved policy version of the campaign or a policy
spec. A policy must not be judged on the rounds it learned from, because it
fits their noise and its estimate comes out too high:

- a saved version is judged on the decisions made after the last one it
  learned from (its ``trained_until``);
- a spec is fitted on the first half of the rewarded decisions, in time
  order, and judged on the second half.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from promoloop.errors import ConfigError, InputError

# Largest version a store's INTEGER column holds.
_MAX_VERSION = 2**31 - 1


def evaluate_store_candidate(
    out: Path,
    campaign_id: str,
    candidate: str,
    *,
    database_url: str | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> tuple[pd.DataFrame, Path]:
    """Estimate a candidate's value on a bandit campaign's log and write the report.

    Parameters
    ----------
    out : Path
        Folder for ``estimates.csv`` and ``report.md``.
    campaign_id : str
        A bandit campaign with rewarded decisions.
    candidate : str
        A saved policy version (digits) or a policy spec as JSON (the keys of
        a campaign's ``policy``: kind, min_probability, params).
    database_url : str, optional
        Store URL; default ``PROMOLOOP_DATABASE_URL``, then ``promoloop.db``.
    n_bootstrap : int, default 1000
    seed : int, default 0

    Returns
    -------
    table : DataFrame
        One row per estimator.
    report_path : Path
    """
    from sqlalchemy.exc import SQLAlchemyError

    from promoloop.store import Store

    store = None
    try:
        store = Store(database_url)
        policy, after, until, description = _candidate(store, campaign_id, candidate)
        from promoloop.store.policy_evaluation import evaluate_candidate

        result = evaluate_candidate(
            store,
            campaign_id,
            policy,
            after=after,
            until=until,
            n_bootstrap=n_bootstrap,
            random_state=seed,
        )
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        where = repr(store) if store is not None else repr(database_url)
        raise ConfigError(
            f"cannot read the store {where}: {reason}. Fix: check "
            "--database-url or PROMOLOOP_DATABASE_URL, and that the database "
            "server is running"
        ) from None
    finally:
        if store is not None:
            store.dispose()
    table = result.to_frame()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"cannot create the output folder {out}: {error.strerror}; give "
            "another --out"
        ) from None
    table.to_csv(out / "estimates.csv", index=False)
    report_path = out / "report.md"
    report_path.write_text(_report(result, description, table), encoding="utf-8")
    return table, report_path


def _candidate(store, campaign_id: str, candidate: str):
    """Return the candidate policy, the rounds to judge it on, and its description."""
    from promoloop.bandits.campaign import build_policy, campaign_actions
    from promoloop.store.learn import _bandit_campaign, rewarded_decisions
    from promoloop.store.policies import load_policy
    from promoloop.targeting.promotions import PolicySpec

    with store.session() as session:
        _bandit_campaign(session, campaign_id)
    text = candidate.strip()
    if text.lstrip("+-").replace(".", "", 1).isdigit():
        if not text.isdigit() or not 1 <= int(text) <= _MAX_VERSION:
            raise ConfigError(
                f"invalid --candidate {candidate!r}: a saved policy version is "
                "a whole number from 1 (see promoloop learn's output)"
            )
        version = int(text)
        with store.session() as session:
            saved = load_policy(session, campaign_id, version)
        if saved is None:
            raise InputError(
                "policy version not found",
                value=f"campaign {campaign_id}, version {version}",
                fix="run promoloop learn first, or give a policy spec as JSON",
            )
        description = (
            f"saved policy version {version} ({saved.policy.kind}), judged on "
            f"the decisions after {saved.trained_until}"
        )
        return saved.policy, saved.trained_until, None, description

    try:
        spec = PolicySpec.model_validate(json.loads(candidate))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, item['loc'])) or 'spec'}: {item['msg']}"
            for item in error.errors()
        )
        raise ConfigError(
            f"invalid --candidate policy spec {candidate!r}: {problems}"
        ) from None
    except ValueError:
        raise ConfigError(
            f"invalid --candidate {candidate!r}: give a saved policy version "
            'or a policy spec as JSON, such as \'{"kind": "linucb"}\''
        ) from None
    campaign, _, rewarded = rewarded_decisions(store, campaign_id)
    if len(rewarded) < 2:
        raise InputError(
            "too few rewarded decisions to fit and judge a candidate",
            value=f"{len(rewarded)} in campaign {campaign_id}",
            fix="wait for more decisions whose reward window has closed",
        )
    policy = build_policy(spec, campaign_actions(campaign))
    first = rewarded.iloc[: len(rewarded) // 2]
    first = first[first["action"].isin(policy.actions)]
    context = None
    if policy.contextual:
        context = [list(features) for features in first["features"]]
    policy.fit(first["action"].to_numpy(), first["reward"].to_numpy(), context)
    until = first["decided_at"].max()
    description = (
        f"{spec.kind} fitted on the {len(first)} decisions up to {until}, judged "
        "on the later ones"
    )
    return policy, until.to_pydatetime(), None, description


def _report(result, description: str, table: pd.DataFrame) -> str:
    lines = [
        f"# Candidate policy on campaign {result.campaign_id}",
        "",
        f"Candidate: {description}.",
        f"Rounds judged: {result.n_rounds}. Mean reward of the logged "
        f"decisions on them: {result.logged_value:.4f}.",
        "",
        "| estimator | value | 95% interval | effective sample size |",
        "|---|---:|---|---:|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.name} | {row.value:.4f} | [{row.ci_low:.4f}, "
            f"{row.ci_high:.4f}] | {row.ess:.1f} |"
        )
    support = result.evaluation.support
    lines += ["", f"Support: {support.message}"]
    if result.n_rounds < 1000:
        lines += [
            "",
            f"NOTE: {result.n_rounds} rounds is a small log; the intervals "
            "above are wide, and a candidate should beat the logged value by "
            "more than their width before it replaces the serving policy.",
        ]
    return "\n".join(lines) + "\n"
