"""The dashboard end to end: a uvicorn server and Debian's headless Chromium.

A real server on a free 127.0.0.1 port serves a temporary SQLite store with
the example shop's run published and the "spring" campaign's decisions and
feedback logged. Playwright drives the system Chromium at
``/usr/bin/chromium``; it downloads no browser of its own.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import uvicorn
from PIL import Image, ImageColor
from playwright.sync_api import Browser, Page, sync_playwright

from promoloop.service import ServiceSettings, create_app
from promoloop.service.dashboard_charts import BAR_COLOUR
from promoloop.store import Store, create_api_key, publish_run
from tests.service.test_dashboard import (
    MESSAGE,
    ORDER_REVENUE,
    SeededCampaign,
    promotion_of,
    seed_spring_campaign,
)
from tests.store import conftest as store_fixtures

# The example shop's run folder, from the store tests.
shop_run = store_fixtures.shop_run

CHROMIUM = Path("/usr/bin/chromium")
# The background-networking flags stop Chromium's own connections to Google's
# hosts, which fail on a machine without internet access.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT_SECONDS = 20.0
#: A chart or page with fewer distinct colours than this is taken as blank.
MIN_COLOURS = 50
#: Pixels of the data colour that a chart with bars or intervals has at least.
MIN_DATA_PIXELS = 500


@dataclass(frozen=True)
class Dashboard:
    """The running server and what its store contains."""

    url: str
    admin_key: str
    decision_key: str
    seeded: SeededCampaign


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory, shop_run) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("dashboard-browser")
    store = Store(f"sqlite:///{folder / 'store.db'}")
    store.upgrade()
    publish_run(store, shop_run)
    seeded = seed_spring_campaign(store)
    with store.session() as session:
        admin_key = create_api_key(session, "browser test", "admin").token
        decision_key = create_api_key(session, "decider", "decision").token

    app = create_app(ServiceSettings(), store=store)
    with _serve(app) as url:
        yield Dashboard(url, admin_key, decision_key, seeded)


@contextmanager
def _serve(app) -> Iterator[str]:
    """Run uvicorn on a free loopback port in a thread; yield its base URL.

    uvicorn installs no signal handlers outside the main thread, and the
    socket is bound before the server starts, so no other process can take
    the port in between.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            listener.close()
            pytest.fail("the uvicorn server did not start", pytrace=False)
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_TIMEOUT_SECONDS)
        listener.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found; install Debian's chromium package "
            "(apt-get install chromium) to run the dashboard's browser tests",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dashboard-screenshots")


def _log_in(page: Page, dashboard: Dashboard, key: str) -> None:
    page.goto(f"{dashboard.url}/dashboard/login")
    page.fill("input[name=api_key]", key)
    page.click("button[type=submit]")


def _colour_counts(png: bytes) -> dict[tuple[int, int, int], int]:
    """Count the pixels of each colour of a PNG image."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    counts = image.getcolors(maxcolors=image.width * image.height)
    return {colour: count for count, colour in counts}


def _colours(png: bytes) -> int:
    return len(_colour_counts(png))


def _chart_widths(page: Page) -> dict[str, int]:
    return page.eval_on_selector_all(
        "img", "images => Object.fromEntries(images.map(i => [i.id, i.naturalWidth]))"
    )


def _check_chart(page: Page, selector: str, path: Path) -> None:
    """Check that a chart has text and lines, and its data in the data colour."""
    png = page.locator(selector).screenshot(path=str(path))
    counts = _colour_counts(png)
    assert len(counts) >= MIN_COLOURS, f"{selector} looks blank in {path}"
    data_pixels = counts.get(ImageColor.getrgb(BAR_COLOUR), 0)
    assert data_pixels >= MIN_DATA_PIXELS, f"{selector} draws no data in {path}"


def test_no_key_redirects_to_login(dashboard, browser):
    page = browser.new_page()
    response = page.goto(f"{dashboard.url}/dashboard/campaigns/spring")
    assert response.status == 200
    assert page.url == f"{dashboard.url}/dashboard/login"
    assert page.locator("input[name=api_key]").is_visible()
    page.close()


def test_non_admin_key_gets_403(dashboard, browser):
    context = browser.new_context(
        extra_http_headers={"X-API-Key": dashboard.decision_key}
    )
    page = context.new_page()
    response = page.goto(f"{dashboard.url}/dashboard/")
    assert response.status == 403
    assert "needs an admin key" in page.inner_text("main")
    context.close()


def test_non_admin_login_form_gets_403(dashboard, browser):
    context = browser.new_context()
    page = context.new_page()
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        _log_in(page, dashboard, dashboard.decision_key)
    assert posted.value.status == 403
    assert context.cookies() == []
    context.close()


def test_overview_after_login(dashboard, browser, screenshots):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _log_in(page, dashboard, dashboard.admin_key)
    page.wait_for_url(f"{dashboard.url}/dashboard/")

    # The login cookie is HttpOnly and SameSite=Strict.
    (cookie,) = context.cookies()
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/dashboard"

    seeded = dashboard.seeded
    spring = page.locator("tr[data-campaign=spring]").inner_text()
    used = 100 * seeded.spent / Decimal(40)
    for expected in (
        "40.00 EUR",
        f"{seeded.spent:.2f} EUR",
        f"{used:.1f}%",
        "behind",
        str(seeded.treated),
        str(seeded.holdout),
    ):
        assert expected in spring
    assert "15.00 EUR" in page.locator("tr[data-campaign=free-delivery]").inner_text()

    widths = _chart_widths(page)
    assert widths.keys() == {"budget-chart"}
    assert all(width > 0 for width in widths.values()), widths
    _check_chart(page, "#budget-chart", screenshots / "overview-budget-chart.png")
    full = page.screenshot(path=str(screenshots / "overview.png"), full_page=True)
    assert _colours(full) >= MIN_COLOURS
    context.close()


def test_campaign_page_after_login(dashboard, browser, screenshots):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _log_in(page, dashboard, dashboard.admin_key)
    page.wait_for_url(f"{dashboard.url}/dashboard/")
    page.click("a[href='/dashboard/campaigns/spring']")
    page.wait_for_url(f"{dashboard.url}/dashboard/campaigns/spring")

    seeded = dashboard.seeded
    lift = page.locator("#lift tr", has_text="all promotions").first.inner_text()
    for expected in (
        f"{100 * seeded.treated_rate:.1f}%",
        f"{100 * seeded.holdout_rate:.1f}%",
        f"{100 * (seeded.treated_rate - seeded.holdout_rate):+.1f} pts",
    ):
        assert expected in lift
    revenue = page.locator("#lift tr", has_text="revenue per customer").first
    assert f"{ORDER_REVENUE * seeded.treated_rate:.2f}" in revenue.inner_text()
    kitchen = page.locator("tr[data-promotion=kitchen-15]").inner_text()
    assert str(seeded.kitchen_sent) in kitchen
    assert str(seeded.kitchen_redemptions) in kitchen

    # Messages are shown as text: the markup in them creates no element.
    newest = max(i for i in range(len(seeded.customers)) if promotion_of(i))
    first_message = page.locator("#messages td.message").first
    assert first_message.inner_text() == MESSAGE.format(i=newest)
    markup = page.locator("#messages td.message script, #messages td.message b")
    assert markup.count() == 0

    assert "Average" in page.locator("#segments").inner_text()
    widths = _chart_widths(page)
    assert widths.keys() == {"lift-chart", "segment-chart"}
    assert all(width > 0 for width in widths.values()), widths
    _check_chart(page, "#lift-chart", screenshots / "campaign-lift-chart.png")
    _check_chart(page, "#segment-chart", screenshots / "campaign-segment-chart.png")
    full = page.screenshot(path=str(screenshots / "campaign.png"), full_page=True)
    assert _colours(full) >= MIN_COLOURS
    print(f"dashboard screenshots in {screenshots}")
    context.close()


def test_logout_returns_to_login(dashboard, browser):
    context = browser.new_context()
    page = context.new_page()
    _log_in(page, dashboard, dashboard.admin_key)
    page.wait_for_url(f"{dashboard.url}/dashboard/")
    page.click("text=Log out")
    page.wait_for_url(f"{dashboard.url}/dashboard/login")
    assert context.cookies() == []
    page.goto(f"{dashboard.url}/dashboard/")
    assert page.url == f"{dashboard.url}/dashboard/login"
    context.close()
