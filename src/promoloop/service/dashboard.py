"""Server-rendered dashboard pages for marketing users (admin role)."""

from fastapi import APIRouter

dashboard_router = APIRouter()
