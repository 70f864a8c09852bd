"""The versioned HTTP API: one router per resource, assembled here."""

from fastapi import APIRouter

from promoloop.service.api import (
    campaigns,
    customers,
    decisions,
    events,
    feedback,
    reports,
)

api_router = APIRouter()
api_router.include_router(events.router)
api_router.include_router(decisions.router)
api_router.include_router(feedback.router)
# The report's path is more specific than GET /campaigns/{campaign_id}; both
# routers match on the whole path, so their order does not matter.
api_router.include_router(campaigns.router)
api_router.include_router(reports.router)
api_router.include_router(customers.router)
