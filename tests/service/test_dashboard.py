"""Dashboard pages over HTTP: login, campaigns, lift and escaping.

Every test runs on SQLite and PostgreSQL through the store fixtures. The
seeded campaign's numbers are chosen so that the expected figures can be
written as arithmetic here.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from scipy import stats
from sqlalchemy import select

from promoloop.service.dashboard import COOKIE_NAME
from promoloop.service.dashboard_data import budget_pacing
from promoloop.store import (
    Store,
    publish_run,
    reserve_budget,
    revoke_api_key,
)
from promoloop.store.models import (
    CampaignRecord,
    Decision,
    Feedback,
    FeedbackKind,
    PromotionRecord,
    PublishedCustomerFacts,
)
from tests.store import conftest as store_fixtures

# The example shop's run folder of the store tests. The emptied ``store``
# on SQLite and PostgreSQL, ``keys`` and ``client`` come from conftest.py.
shop_run = store_fixtures.shop_run

DECIDED = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
N_CUSTOMERS = 100
OFFER_COST = Decimal("0.25")
ORDER_REVENUE = 40.0
MESSAGE = "Hi <b>friend</b> & <script>alert(1)</script> #{i}"
ODD_CAMPAIGN_ID = "a/b <i>x</i>"
ODD_CAMPAIGN_NAME = "<img src=x onerror=alert(1)>"


# Seeded data, shared with the browser test


@dataclass(frozen=True)
class SeededCampaign:
    """Counts of the seeded "spring" decisions, for the expected figures."""

    treated: int
    holdout: int
    treated_converted: int
    holdout_converted: int
    kitchen_sent: int
    kitchen_redemptions: int
    five_off_sent: int
    spent: Decimal
    customers: list[str]

    @property
    def treated_rate(self) -> float:
        return self.treated_converted / self.treated

    @property
    def holdout_rate(self) -> float:
        return self.holdout_converted / self.holdout


def is_holdout(i: int) -> bool:
    return i % 5 == 0


def converts(i: int) -> bool:
    """Treated customers convert for i % 10 in 1..3, holdout ones for i % 20 == 0."""
    return i % 20 == 0 if is_holdout(i) else i % 10 in (1, 2, 3)


def promotion_of(i: int) -> str | None:
    if is_holdout(i):
        return None
    return "kitchen-15" if i % 2 else "five-off-60"


def seed_spring_campaign(store: Store) -> SeededCampaign:
    """Log 100 decisions of the example shop's "spring" campaign with feedback.

    Every fifth customer is in the holdout. The first customers are the
    published version's own, so that the segments get offers. Conversions
    of kitchen-15 are redemptions and those of five-off-60 plain orders.
    Every offer reserves 0.25 from the budget.
    """
    with store.session() as session:
        published = sorted(
            session.scalars(select(PublishedCustomerFacts.customer_id).distinct())
        )
    customers = published + [f"c{i:03d}" for i in range(N_CUSTOMERS - len(published))]
    with store.session() as session:
        for i, customer in enumerate(customers):
            promotion = promotion_of(i)
            session.add(
                Decision(
                    decision_id=f"d{i:03d}",
                    customer_id=customer,
                    campaign_id="spring",
                    promotion_id=promotion,
                    eligible=["kitchen-15", "five-off-60"],
                    probability=0.2 if is_holdout(i) else 0.8,
                    holdout=is_holdout(i),
                    cost=OFFER_COST if promotion else Decimal(0),
                    message=MESSAGE.format(i=i) if promotion else None,
                    created_at=DECIDED + dt.timedelta(minutes=i),
                )
            )
            if promotion:
                assert reserve_budget(session, "spring", OFFER_COST)
        session.flush()
        for i, customer in enumerate(customers):
            if not converts(i):
                continue
            redeemed = promotion_of(i) == "kitchen-15"
            session.add(
                Feedback(
                    feedback_id=f"f{i:03d}",
                    decision_id=f"d{i:03d}",
                    customer_id=customer,
                    kind=FeedbackKind.REDEMPTION if redeemed else FeedbackKind.ORDER,
                    revenue=ORDER_REVENUE,
                    margin=12.0,
                    created_at=DECIDED + dt.timedelta(days=2),
                )
            )
            session.add(
                Feedback(
                    feedback_id=f"f{i:03d}-seen",
                    decision_id=f"d{i:03d}",
                    customer_id=customer,
                    kind=FeedbackKind.IMPRESSION,
                    created_at=DECIDED + dt.timedelta(hours=1),
                )
            )
    indices = range(N_CUSTOMERS)
    treated = [i for i in indices if not is_holdout(i)]
    kitchen = [i for i in treated if promotion_of(i) == "kitchen-15"]
    return SeededCampaign(
        treated=len(treated),
        holdout=N_CUSTOMERS - len(treated),
        treated_converted=sum(converts(i) for i in treated),
        holdout_converted=sum(converts(i) for i in indices if is_holdout(i)),
        kitchen_sent=len(kitchen),
        kitchen_redemptions=sum(converts(i) for i in kitchen),
        five_off_sent=len(treated) - len(kitchen),
        spent=OFFER_COST * len(treated),
        customers=customers,
    )


def wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def newcombe_interval(
    x1: int, n1: int, x2: int, n2: int, alpha: float = 0.05
) -> tuple[float, float]:
    """Newcombe's hybrid score interval of p1 - p2 (his method 10)."""
    z = stats.norm.ppf(1 - alpha / 2)
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    low = p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


def welch_interval(seeded: SeededCampaign, alpha: float = 0.05):
    treated = [ORDER_REVENUE] * seeded.treated_converted + [0.0] * (
        seeded.treated - seeded.treated_converted
    )
    holdout = [ORDER_REVENUE] * seeded.holdout_converted + [0.0] * (
        seeded.holdout - seeded.holdout_converted
    )
    result = stats.ttest_ind(treated, holdout, equal_var=False)
    interval = result.confidence_interval(1 - alpha)
    return interval.low, interval.high


class _TableReader(HTMLParser):
    """Collect the text of each table row inside the element with one id."""

    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id = element_id
        self.depth = 0
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += tag not in ("br", "img", "input")
        elif dict(attrs).get("id") == self.element_id:
            self.depth = 1
            return
        if self.depth and tag == "tr":
            self.rows.append([])
        if self.depth and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if not self.depth:
            return
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join(" ".join(self.cell).split()))
            self.cell = None
        self.depth -= 1

    def handle_data(self, data):
        if self.depth and self.cell is not None:
            self.cell.append(data)


def table_rows(html: str, element_id: str) -> list[list[str]]:
    """Return the cell texts of every table row inside ``#element_id``."""
    reader = _TableReader(element_id)
    reader.feed(html)
    return reader.rows


def row_of(rows: list[list[str]], *first_cells: str) -> list[str]:
    matches = [row for row in rows if row[: len(first_cells)] == list(first_cells)]
    assert len(matches) == 1, f"no single row starting with {first_cells}: {rows}"
    return matches[0]


# Fixtures


@pytest.fixture
def admin(client, keys) -> TestClient:
    """A client logged in through the form with the admin key."""
    response = client.post(
        "/dashboard/login", data={"api_key": keys["admin"]}, follow_redirects=False
    )
    assert response.status_code == 303
    return client


@pytest.fixture
def seeded(store, shop_run) -> SeededCampaign:
    publish_run(store, shop_run)
    return seed_spring_campaign(store)


# Login, logout and roles


def test_no_key_redirects_to_login(client, keys):
    for path in ("/dashboard/", "/dashboard/campaigns/spring"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard/login"


def test_invalid_header_key_redirects_to_login(client, keys):
    response = client.get(
        "/dashboard/", headers={"X-API-Key": "pl_000000000000.wrong"},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"


def test_login_form_renders(client):
    response = client.get("/dashboard/login")
    assert response.status_code == 200
    assert 'name="api_key"' in response.text
    assert 'method="post"' in response.text


def test_login_sets_strict_httponly_cookie(client, keys):
    response = client.post(
        "/dashboard/login", data={"api_key": keys["admin"]}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}={keys['admin']};")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/dashboard;" in cookie
    assert "Secure" not in cookie
    assert client.get("/dashboard/", follow_redirects=False).status_code == 200


def test_login_cookie_is_secure_in_production(make_client, keys):
    client = make_client(mode="production", pseudonym_key="shop secret")
    response = client.post(
        "/dashboard/login", data={"api_key": keys["admin"]}, follow_redirects=False
    )
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize("role", ["decision", "ingest"])
def test_login_with_non_admin_key_is_forbidden(client, keys, role):
    response = client.post(
        "/dashboard/login", data={"api_key": keys[role]}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    assert f"role {role}" in response.text


def test_login_with_wrong_key_is_refused(client, keys):
    wrong = keys["admin"][:-4] + "AAAA"
    response = client.post(
        "/dashboard/login", data={"api_key": wrong}, follow_redirects=False
    )
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert "Invalid or missing API key" in response.text
    assert wrong not in response.text


def test_login_without_form_body_is_refused(client, keys):
    response = client.post("/dashboard/login", json={"api_key": keys["admin"]})
    assert response.status_code == 401


def test_non_admin_header_key_gets_403_page(client, keys):
    response = client.get("/dashboard/", headers={"X-API-Key": keys["decision"]})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "needs an admin key" in response.text


def test_admin_bearer_header_is_accepted(client, keys):
    response = client.get(
        "/dashboard/", headers={"Authorization": f"Bearer {keys['admin']}"}
    )
    assert response.status_code == 200


def test_logout_deletes_cookie(admin):
    response = admin.get("/dashboard/logout", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"
    assert re.search(rf'{COOKIE_NAME}="?"?;.*Max-Age=0', response.headers["set-cookie"])
    after = admin.get("/dashboard/", follow_redirects=False)
    assert after.status_code == 303


def test_revoked_key_in_cookie_redirects_and_deletes_cookie(admin, store):
    with store.session() as session:
        key_id = admin.cookies[COOKIE_NAME].split(".")[0].removeprefix("pl_")
        assert revoke_api_key(session, key_id)
    response = admin.get("/dashboard/", follow_redirects=False)
    assert response.status_code == 303
    assert "Max-Age=0" in response.headers["set-cookie"]


def test_pages_send_security_headers(admin):
    for path in ("/dashboard/", "/dashboard/login"):
        headers = admin.get(path).headers
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"


# Overview


def test_empty_store_shows_no_campaigns(admin):
    response = admin.get("/dashboard/")
    assert response.status_code == 200
    assert "no campaigns yet" in response.text.lower()
    assert "<img" not in response.text


def test_overview_numbers(admin, seeded):
    html = admin.get("/dashboard/").text
    rows = table_rows(html, "campaigns")
    spring = row_of(rows, "spring Spring kitchen and textiles")
    used = float(seeded.spent / Decimal("40")) * 100
    # Status, validity, budget, spent, used, elapsed, pacing, offers, held out.
    assert spring[1] == "active"
    assert spring[2] == "2024-03-20 to 2024-06-30 ended"
    assert spring[3] == "40.00 EUR"
    assert spring[4] == f"{seeded.spent:.2f} EUR"
    assert spring[5] == f"{used:.1f}%"
    assert spring[6] == "100.0%"
    assert spring[7] == f"behind ({used - 100:+.1f} pts)"
    assert spring[8] == str(seeded.treated)
    assert spring[9] == str(seeded.holdout)
    free = row_of(rows, "free-delivery Free delivery")
    assert free[3:6] == ["15.00 EUR", "0.00 EUR", "0.0%"]
    assert free[8:] == ["0", "0"]
    assert 'id="budget-chart" src="data:image/png;base64,' in html


def _add_campaign(store, campaign_id, name, start, end, budget, spent) -> None:
    spec = {
        "campaign_id": campaign_id,
        "name": name,
        "budget": budget,
        "validity": {"start": start.isoformat(), "end": end.isoformat()},
        "currency": {"code": "EUR", "symbol": "€"},
    }
    with store.session() as session:
        session.add(
            CampaignRecord(
                campaign_id=campaign_id, spec=spec, budget=budget, spent=spent
            )
        )
        session.flush()
        session.add(
            PromotionRecord(
                promotion_id=f"{campaign_id}-offer",
                campaign_id=campaign_id,
                spec={"promotion_id": f"{campaign_id}-offer", "kind": "percent_off",
                      "value": 10},
            )
        )  # fmt: skip


def test_overview_pacing_of_running_campaigns(admin, store):
    today = dt.datetime.now(dt.UTC).date()
    # A 100-day window that started yesterday: 1% to 2% of it has passed.
    start, end = today - dt.timedelta(days=1), today + dt.timedelta(days=98)
    _add_campaign(store, "fast", "", start, end, 100, 90)
    _add_campaign(store, "slow", "", start, end, 100, 0)
    rows = table_rows(admin.get("/dashboard/").text, "campaigns")
    assert row_of(rows, "fast")[7].startswith("ahead (+8")
    assert row_of(rows, "slow")[7].startswith("on pace (-")
    assert row_of(rows, "slow")[2].endswith("running")


@pytest.mark.parametrize(
    ("spent", "now", "verdict", "elapsed", "state"),
    [
        (60, dt.datetime(2024, 5, 6, tzinfo=dt.UTC), "ahead", 0.5, "running"),
        (40, dt.datetime(2024, 5, 6, tzinfo=dt.UTC), "behind", 0.5, "running"),
        (53, dt.datetime(2024, 5, 6, tzinfo=dt.UTC), "on pace", 0.5, "running"),
        (0, dt.datetime(2024, 4, 1, tzinfo=dt.UTC), "on pace", 0.0, "not started"),
        (10, dt.datetime(2024, 4, 1, tzinfo=dt.UTC), "ahead", 0.0, "not started"),
        (100, dt.datetime(2024, 5, 11, tzinfo=dt.UTC), "on pace", 1.0, "ended"),
        (30, dt.datetime(2024, 6, 1, tzinfo=dt.UTC), "behind", 1.0, "ended"),
        (30, dt.datetime(2024, 5, 1, 6, tzinfo=dt.UTC), "ahead", 0.025, "running"),
    ],
)
def test_budget_pacing(spent, now, verdict, elapsed, state):
    # A 10-day window: 2024-05-01 00:00 UTC to 2024-05-11 00:00 UTC.
    validity = {"start": "2024-05-01", "end": "2024-05-10"}
    pacing = budget_pacing(Decimal(spent), Decimal(100), validity, now)
    assert pacing.verdict == verdict
    assert pacing.elapsed_share == pytest.approx(elapsed)
    assert pacing.window_state == state
    assert pacing.gap_points == pytest.approx(spent - 100 * elapsed)


def test_budget_pacing_without_window():
    pacing = budget_pacing(Decimal(5), Decimal(10), None, dt.datetime.now(dt.UTC))
    assert pacing.verdict == "unknown"
    assert pacing.spent_share == 0.5
    assert pacing.elapsed_share is None


def test_overview_escapes_campaign_names(admin, store):
    day = dt.date(2024, 5, 1)
    _add_campaign(store, ODD_CAMPAIGN_ID, ODD_CAMPAIGN_NAME, day, day, 10, 0)
    html = admin.get("/dashboard/").text
    assert ODD_CAMPAIGN_NAME not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<i>x</i>" not in html
    link = "/dashboard/campaigns/a%2Fb%20%3Ci%3Ex%3C%2Fi%3E"
    assert f'href="{link}"' in html
    page = admin.get(link)
    assert page.status_code == 200
    assert "Campaign a/b &lt;i&gt;x&lt;/i&gt;" in page.text


# Campaign page


def test_campaign_lift_numbers(admin, seeded):
    html = admin.get("/dashboard/campaigns/spring").text
    rows = table_rows(html, "lift")
    conversion = row_of(rows, "all promotions", "conversion rate")
    lift = seeded.treated_rate - seeded.holdout_rate
    low, high = newcombe_interval(
        seeded.treated_converted, seeded.treated,
        seeded.holdout_converted, seeded.holdout,
    )  # fmt: skip
    assert conversion[2:8] == [
        str(seeded.treated),
        str(seeded.holdout),
        f"{100 * seeded.treated_rate:.1f}%",
        f"{100 * seeded.holdout_rate:.1f}%",
        f"{100 * lift:+.1f} pts",
        f"{100 * low:+.1f} pts to {100 * high:+.1f} pts",
    ]
    revenue = row_of(rows, "all promotions", "revenue per customer")
    low, high = welch_interval(seeded)
    assert revenue[4:8] == [
        f"{ORDER_REVENUE * seeded.treated_rate:.2f}",
        f"{ORDER_REVENUE * seeded.holdout_rate:.2f}",
        f"{ORDER_REVENUE * lift:+.2f}",
        f"{low:+.2f} to {high:+.2f}",
    ]
    # One comparison per promotion with offers, next to the pooled one.
    assert row_of(rows, "kitchen-15", "conversion rate")[2] == str(seeded.kitchen_sent)
    assert 'id="lift-chart" src="data:image/png;base64,' in html
    assert "Not enough data yet" not in html
    # The seeded holdout is 20 of 100 customers against the planned 10%.
    assert "holdout share 0.2000 (20 of 100) vs planned 0.1000" in html


def test_campaign_top_offers(admin, seeded):
    rows = table_rows(admin.get("/dashboard/campaigns/spring").text, "offers")
    assert [row[0] for row in rows[1:]] == ["kitchen-15", "five-off-60", "candle-vase"]
    kitchen = row_of(rows, "kitchen-15")
    rate = seeded.kitchen_redemptions / seeded.kitchen_sent
    assert kitchen[4:] == [
        str(seeded.kitchen_sent),
        str(seeded.kitchen_redemptions),
        f"{100 * rate:.1f}%",
        f"{ORDER_REVENUE * seeded.kitchen_redemptions:.2f}",
        f"{OFFER_COST * seeded.kitchen_sent:.2f}",
    ]
    assert row_of(rows, "five-off-60")[4:6] == [str(seeded.five_off_sent), "0"]
    assert row_of(rows, "candle-vase")[4:7] == ["0", "0", "–"]


def test_campaign_messages_are_escaped_text(admin, seeded):
    html = admin.get("/dashboard/campaigns/spring").text
    assert "<script" not in html
    assert "<b>friend" not in html
    rows = table_rows(html, "messages")
    # The ten newest offers: customers 99 down to 88, holdouts left out.
    newest = [i for i in range(99, 80, -1) if promotion_of(i)][:10]
    assert [row[2] for row in rows[1:]] == [MESSAGE.format(i=i) for i in newest]
    assert "Hi &lt;b&gt;friend&lt;/b&gt; &amp; &lt;script&gt;alert(1)" in html


def test_campaign_segments_match_published_profiles(admin, seeded, shop_run):
    profiles = pd.read_parquet(Path(shop_run) / "profiles.parquet")
    expected = profiles["segment_name"].value_counts()
    html = admin.get("/dashboard/campaigns/spring").text
    rows = table_rows(html, "segments")
    segment_of = dict(
        zip(profiles["customer_id"], profiles["segment_name"], strict=True)
    )
    offers = pd.Series(
        [segment_of[c] for i, c in enumerate(seeded.customers)
         if c in segment_of and promotion_of(i)]
    ).value_counts()  # fmt: skip
    assert {row[0]: int(row[1]) for row in rows[1:]} == expected.to_dict()
    assert {row[0]: int(row[2]) for row in rows[1:]} == {
        segment: int(offers.get(segment, 0)) for segment in expected.index
    }
    assert 'id="segment-chart" src="data:image/png;base64,' in html


def test_campaign_without_decisions_has_not_enough_data(admin, store, shop_run):
    publish_run(store, shop_run)
    response = admin.get("/dashboard/campaigns/free-delivery")
    assert response.status_code == 200
    assert "Not enough data yet: no decisions are logged" in response.text
    assert 'id="lift-chart"' not in response.text
    assert "No message has been sent" in response.text


def _log_decisions(store, holdouts: list[bool], revenue: float = 10.0) -> None:
    with store.session() as session:
        for i, holdout in enumerate(holdouts):
            session.add(
                Decision(
                    decision_id=f"x{i}",
                    customer_id=f"x{i}",
                    campaign_id="spring",
                    promotion_id=None if holdout else "kitchen-15",
                    holdout=holdout,
                    created_at=DECIDED,
                )
            )
        session.flush()
        session.add(
            Feedback(
                feedback_id="x-order",
                decision_id="x0",
                customer_id="x0",
                kind=FeedbackKind.ORDER,
                revenue=revenue,
                margin=1.0,
                created_at=DECIDED + dt.timedelta(days=1),
            )
        )


@pytest.mark.parametrize(
    ("holdouts", "reason"),
    [
        ([False] * 5, "no control group"),
        ([True] * 5, "no treated customer"),
    ],
)
def test_campaign_with_empty_group_has_not_enough_data(
    admin, store, shop_run, holdouts, reason
):
    publish_run(store, shop_run)
    _log_decisions(store, holdouts)
    response = admin.get("/dashboard/campaigns/spring")
    assert response.status_code == 200
    assert f"Not enough data yet: {reason}" in response.text
    assert 'id="lift-chart"' not in response.text


def test_campaign_with_invalid_feedback_still_renders(admin, store, shop_run):
    publish_run(store, shop_run)
    _log_decisions(store, [False, True, False, True], revenue=-5.0)
    response = admin.get("/dashboard/campaigns/spring")
    assert response.status_code == 200
    assert "the stored feedback cannot be evaluated: negative revenue" in response.text


def test_unknown_campaign_is_404_page(admin):
    response = admin.get("/dashboard/campaigns/nothing-here")
    assert response.status_code == 404
    assert "No campaign with the id &#39;nothing-here&#39;" in response.text


def test_campaign_page_without_published_version(admin, store):
    day = dt.date(2024, 5, 1)
    _add_campaign(store, "solo", "Solo", day, day, 10, 0)
    html = admin.get("/dashboard/campaigns/solo").text
    assert "No run is published yet" in html
    assert row_of(table_rows(html, "offers"), "solo-offer")[4] == "0"
