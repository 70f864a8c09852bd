"""Server-rendered dashboard pages for marketing users (admin role).

The login form takes an admin API key and stores it in an HttpOnly,
SameSite=Strict cookie scoped to the dashboard's path. Every other page
takes the key from that cookie or from the usual ``Authorization: Bearer``
and ``X-API-Key`` headers. A missing or invalid key is redirected to the
login form, and a valid key of another role gets a 403 page.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool

from promoloop.evaluation.campaign import ALL_PROMOTIONS
from promoloop.service import dashboard_charts as charts
from promoloop.service import dashboard_data as data
from promoloop.service.deps import get_settings, get_store, presented_token
from promoloop.store import Role, Store, verify_api_key
from promoloop.store.models import ApiKey
from promoloop.store.types import utc_now

logger = logging.getLogger(__name__)

dashboard_router = APIRouter(include_in_schema=False)

#: Name of the cookie that contains the admin API key after login.
COOKIE_NAME = "promoloop_dashboard_key"
#: Lifetime of the login cookie in seconds (8 hours).
COOKIE_MAX_AGE_SECONDS = 8 * 3600
#: Rows of the top offers table and messages in the sample of a campaign page.
TOP_OFFERS = 10
MESSAGE_SAMPLE_SIZE = 10

# Pages load nothing but their own inline styles and data-URI images, and
# run no script.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

StoreDep = Annotated[Store, Depends(get_store)]


# Login and logout


@dashboard_router.get("/login", name="dashboard_login")
def login_form(request: Request) -> HTMLResponse:
    """Show the login form."""
    return _page(request, "login.html.j2", error=None)


@dashboard_router.post("/login", name="dashboard_login_submit")
async def login(request: Request, store: StoreDep) -> Response:
    """Check the posted admin key and store it in the login cookie."""
    token = await _posted_api_key(request)
    key = await run_in_threadpool(_verify, store, token) if token else None
    if key is None:
        logger.info("dashboard login rejected: invalid or missing API key")
        return _page(
            request,
            "login.html.j2",
            status_code=status.HTTP_401_UNAUTHORIZED,
            error="Invalid or missing API key.",
        )
    if not Role(key.role).permits(Role.ADMIN):
        logger.info(
            "dashboard login rejected for API key %s (%s)", key.key_id, key.role
        )
        return _page(
            request,
            "login.html.j2",
            status_code=status.HTTP_403_FORBIDDEN,
            error=f"This API key has the role {key.role}; the dashboard needs an "
            "admin key.",
        )
    logger.info("dashboard login with API key %s", key.key_id)
    response = RedirectResponse(
        _urls(request)["overview"], status_code=status.HTTP_303_SEE_OTHER
    )
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=COOKIE_MAX_AGE_SECONDS,
        path=_cookie_path(request),
        secure=_secure_cookie(request),
        httponly=True,
        samesite="strict",
    )
    return response


@dashboard_router.api_route("/logout", methods=["GET", "POST"], name="dashboard_logout")
def logout(request: Request) -> Response:
    """Delete the login cookie and go back to the login form."""
    response = RedirectResponse(
        _urls(request)["login"], status_code=status.HTTP_303_SEE_OTHER
    )
    _delete_cookie(request, response)
    return response


# Pages


@dashboard_router.get("/", name="dashboard_overview")
def overview(request: Request, store: StoreDep) -> Response:
    """Show every campaign with its budget, pacing and decision counts."""
    key = _authorize(request, store)
    if isinstance(key, Response):
        return key
    now = utc_now()
    with store.session() as session:
        campaigns = data.campaign_summaries(session, now)
    chart = charts.budget_used_chart(
        [
            charts.BudgetBar(
                label=campaign.campaign_id,
                used_percent=100 * campaign.used_share,
                elapsed_percent=_percent(campaign.pacing.elapsed_share),
            )
            for campaign in campaigns
        ]
    )
    return _page(
        request,
        "overview.html.j2",
        key=key,
        campaigns=campaigns,
        links={c.campaign_id: _campaign_url(request, c.campaign_id) for c in campaigns},
        budget_chart=chart,
        now=now,
        tolerance=data.ON_PACE_TOLERANCE_POINTS,
    )


@dashboard_router.get("/campaigns/{campaign_id:path}", name="dashboard_campaign")
def campaign_page(request: Request, campaign_id: str, store: StoreDep) -> Response:
    """Show one campaign: lift against its holdout, offers, messages, segments."""
    key = _authorize(request, store)
    if isinstance(key, Response):
        return key
    now = utc_now()
    with store.session() as session:
        found = data.campaign_summaries(session, now, campaign_id)
        if not found:
            return _page(
                request,
                "error.html.j2",
                status_code=status.HTTP_404_NOT_FOUND,
                key=key,
                title="Campaign not found",
                message=f"No campaign with the id {campaign_id!r} is in the store.",
            )
        offers = data.top_offers(session, campaign_id, TOP_OFFERS)
        messages = data.message_samples(session, campaign_id, MESSAGE_SAMPLE_SIZE)
        version, segments = data.segment_sizes(session, campaign_id)
    campaign = found[0]
    lift = data.campaign_lift(store, campaign_id, campaign.holdout_share)
    return _page(
        request,
        "campaign.html.j2",
        key=key,
        campaign=campaign,
        lift=lift,
        lift_chart=_lift_chart(lift, campaign.currency),
        offers=offers,
        messages=messages,
        version=version,
        segments=segments,
        segment_chart=charts.segment_chart(
            [row.segment for row in segments], [row.customers for row in segments]
        ),
        now=now,
    )


def _lift_chart(lift: data.CampaignLift, currency: str) -> str | None:
    """Draw the defined lifts: conversion in percentage points, revenue as is."""
    points = {metric: [] for metric in data.LIFT_METRICS}
    scale = {"conversion_rate": 100.0, "revenue_per_customer": 1.0}
    for row in lift.rows:
        if not row.defined:
            continue
        pooled = row.comparison == ALL_PROMOTIONS
        points[row.metric].append(
            charts.LiftPoint(
                label="all promotions" if pooled else row.comparison,
                estimate=row.estimate * scale[row.metric],
                ci_low=row.ci_low * scale[row.metric],
                ci_high=row.ci_high * scale[row.metric],
            )
        )
    return charts.lift_chart(
        points["conversion_rate"], points["revenue_per_customer"], currency
    )


# Authorization


def _authorize(request: Request, store: Store) -> ApiKey | Response:
    """Return the admin key of the request, or the response that rejects it.

    The key comes from the login cookie, then the API-key headers. A missing
    or invalid key gets a redirect to the login form, and an invalid cookie
    is deleted on the way. A valid key of another role gets a 403 page.
    """
    cookie = request.cookies.get(COOKIE_NAME)
    token = cookie or presented_token(request)
    key = _verify(store, token) if token else None
    if key is None:
        response = RedirectResponse(
            _urls(request)["login"], status_code=status.HTTP_303_SEE_OTHER
        )
        if cookie:
            _delete_cookie(request, response)
        return response
    if not Role(key.role).permits(Role.ADMIN):
        logger.info("API key %s (%s) rejected on the dashboard", key.key_id, key.role)
        return _page(
            request,
            "error.html.j2",
            status_code=status.HTTP_403_FORBIDDEN,
            key=None,
            title="Forbidden",
            message=f"This API key has the role {key.role}; the dashboard needs an "
            "admin key. Log out and log in with an admin key.",
        )
    return key


def _verify(store: Store, token: str) -> ApiKey | None:
    with store.session() as session:
        key = verify_api_key(session, token)
        if key is not None:
            session.expunge(key)
    return key


async def _posted_api_key(request: Request) -> str | None:
    """Read ``api_key`` from a URL-encoded form body."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return None
    body = (await request.body()).decode("utf-8", errors="replace")
    values = parse_qs(body).get("api_key", [])
    if not values:
        return None
    return values[0].strip() or None


def _cookie_path(request: Request) -> str:
    return _urls(request)["overview"].rstrip("/") or "/"


def _secure_cookie(request: Request) -> bool:
    """Mark the cookie Secure on HTTPS and always in production mode.

    A browser sends a Secure cookie back only over HTTPS (or to localhost),
    so a production dashboard must be served over HTTPS, directly or behind
    a proxy that terminates TLS.
    """
    return request.url.scheme == "https" or get_settings(request).mode == "production"


def _delete_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE_NAME,
        path=_cookie_path(request),
        secure=_secure_cookie(request),
        httponly=True,
        samesite="strict",
    )


# Rendering


def _page(
    request: Request, template: str, *, status_code: int = 200, **context
) -> HTMLResponse:
    context.setdefault("key", None)
    html = _TEMPLATES.get_template(template).render(urls=_urls(request), **context)
    return HTMLResponse(html, status_code=status_code, headers=_SECURITY_HEADERS)


def _urls(request: Request) -> dict[str, str]:
    return {
        "overview": request.url_for("dashboard_overview").path,
        "login": request.url_for("dashboard_login").path,
        "logout": request.url_for("dashboard_logout").path,
    }


def _campaign_url(request: Request, campaign_id: str) -> str:
    return _urls(request)["overview"] + "campaigns/" + quote(campaign_id, safe="")


def _percent(share: float | None) -> float | None:
    return None if share is None else 100.0 * share


def _money(value: Decimal | float | None) -> str:
    if value is None:
        return "–"
    return f"{Decimal(str(value)):,.2f}"


def _share(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.{digits}f}%"


def _points(value: float | None) -> str:
    """Format a difference of rates in percentage points, with its sign."""
    if value is None:
        return "–"
    return f"{100 * value:+.1f} pts"


def _signed(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:+,.2f}"


def _p_value(value: float | None) -> str:
    if value is None:
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _timestamp(value: dt.datetime | None) -> str:
    if value is None:
        return "–"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _environment() -> Environment:
    # autoescape=True escapes every value in every template: the names,
    # messages and segments shown are text from the store, never HTML.
    environment = Environment(
        loader=PackageLoader("promoloop.service", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        money=_money,
        share=_share,
        points=_points,
        signed=_signed,
        p_value=_p_value,
        timestamp=_timestamp,
    )
    environment.globals["ALL_PROMOTIONS"] = ALL_PROMOTIONS
    return environment


_TEMPLATES = _environment()
