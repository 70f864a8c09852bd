"""The offer service: decisions over HTTP from the store, and the dashboard.

``create_app`` builds the FastAPI application; ``promoloop serve`` runs it
under uvicorn. See ``docs/service.md``.
"""

from promoloop.service.app import create_app
from promoloop.service.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]
