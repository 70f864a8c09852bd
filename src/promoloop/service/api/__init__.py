"""The versioned HTTP API: one router per resource, assembled here."""

from fastapi import APIRouter

api_router = APIRouter()
