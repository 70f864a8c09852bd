"""Loading and validating promotions files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from promoloop.errors import ConfigError
from promoloop.targeting.promotions import PromotionKind, load_promotions

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "promoloop" / "examples"

VALID_TOML = """
[[campaigns]]
campaign_id = "c1"
budget = 100
validity = { start = 2024-01-01, end = 2024-01-31 }

[[campaigns.promotions]]
promotion_id = "p1"
kind = "percent_off"
value = 10
scope = { type = "categories", values = ["CHEESE"] }
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_load_toml_defaults(tmp_path):
    plan = load_promotions(write(tmp_path, "plan.toml", VALID_TOML))
    campaign = plan.campaigns[0]
    promotion = campaign.promotions[0]
    assert campaign.holdout_share is None
    assert campaign.validity.days == 31
    assert promotion.kind == PromotionKind.PERCENT_OFF
    assert promotion.cost.message_cost == pytest.approx(0.05)
    assert promotion.per_customer_cap == 1
    assert plan.currency.symbol == "$"
    assert plan.budgets() == {"c1": 100.0}


def test_load_yaml_same_as_toml(tmp_path):
    yaml_text = """
    campaigns:
      - campaign_id: c1
        budget: 100
        validity: {start: 2024-01-01, end: 2024-01-31}
        promotions:
          - promotion_id: p1
            kind: percent_off
            value: 10
            scope: {type: categories, values: [CHEESE]}
    """
    from_yaml = load_promotions(write(tmp_path, "plan.yml", yaml_text))
    from_toml = load_promotions(write(tmp_path, "plan.toml", VALID_TOML))
    assert from_yaml == from_toml


@pytest.mark.parametrize("name", ["complete_journey.toml", "online_retail.yaml"])
def test_examples_load(name):
    plan = load_promotions(EXAMPLES / name)
    kinds = {p.kind for c in plan.campaigns for p in c.promotions}
    assert kinds == set(PromotionKind)


def test_online_retail_example_in_pounds():
    plan = load_promotions(EXAMPLES / "online_retail.yaml")
    assert plan.currency.code == "GBP"
    assert plan.currency.symbol == "£"


BAD_PROMOTION_FIELDS = [
    ("value = 150", r"promotions\.0.*value 150.*above 100"),
    ("value = -1", r"promotions\.0\.value.*greater than 0"),
    ('kind = "coupon"', r"promotions\.0\.kind.*'coupon'"),
    ('scope = { type = "brands" }', r"non-empty 'values'"),
    ('scope = { type = "all", values = ["X"] }', r"takes no 'values'"),
    ("per_customer_cap = 0", r"per_customer_cap.*greater than or equal to 1"),
    ("min_spend = -5", r"min_spend.*greater than or equal to 0"),
    ('colour = "red"', r"promotions\.0\.colour.*not permitted"),
    ('items = ["a", "b"]', r"'items' is only for bundles"),
]


@pytest.mark.parametrize(("line", "pattern"), BAD_PROMOTION_FIELDS)
def test_bad_promotion_field_raises(tmp_path, line, pattern):
    key = line.split(" = ")[0]
    lines = [row for row in VALID_TOML.splitlines() if not row.startswith(key + " =")]
    path = write(tmp_path, "plan.toml", "\n".join(lines) + "\n" + line + "\n")
    with pytest.raises(ConfigError, match=pattern):
        load_promotions(path)


BAD_PLANS = [
    (VALID_TOML.replace("budget = 100", "budget = 0"), r"budget.*greater than 0"),
    (
        VALID_TOML.replace("budget = 100\n", ""),
        r"campaigns\.0\.budget \(value missing\)",
    ),
    (
        VALID_TOML.replace("end = 2024-01-31", "end = 2023-12-31"),
        r"validity end 2023-12-31 is before start 2024-01-01",
    ),
    (
        VALID_TOML.replace("budget = 100", "budget = 100\nholdout_share = 1.5"),
        r"holdout_share.*less than 1",
    ),
    (
        VALID_TOML.replace(
            'kind = "percent_off"', 'kind = "bundle"\nitems = ["x"]'
        ).replace('scope = { type = "categories", values = ["CHEESE"] }', ""),
        r"at least two distinct item ids",
    ),
    (VALID_TOML + VALID_TOML.split("\n\n")[-1], r"duplicate promotion_id 'p1'"),
    ("[currency]\ncode = 'USD'\n", r"campaigns \(value missing\)"),
]


@pytest.mark.parametrize(("text", "pattern"), BAD_PLANS)
def test_bad_plan_raises(tmp_path, text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_promotions(write(tmp_path, "plan.toml", text))


def test_error_names_file_and_fix(tmp_path):
    path = write(tmp_path, "plan.toml", VALID_TOML.replace("value = 10", "value = 0"))
    with pytest.raises(ConfigError) as info:
        load_promotions(path)
    assert str(path) in str(info.value)
    assert "Fix: edit these keys" in str(info.value)


def test_unknown_extension_raises(tmp_path):
    with pytest.raises(ConfigError, match=r"extension '\.json'.*expected \.toml"):
        load_promotions(write(tmp_path, "plan.json", "{}"))


def test_missing_file_raises(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_promotions(tmp_path / "absent.toml")


def test_bad_syntax_raises(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_promotions(write(tmp_path, "plan.toml", "campaigns = [\n"))


def test_yaml_list_at_top_raises(tmp_path):
    with pytest.raises(ConfigError, match="must contain a mapping.*not list"):
        load_promotions(write(tmp_path, "plan.yaml", "- a\n- b\n"))
