"""The FastAPI application of the offer service."""

from __future__ import annotations

import logging
import math
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from promoloop.service.deps import VerifiedKeys
from promoloop.service.settings import ServiceSettings
from promoloop.store import Store

logger = logging.getLogger(__name__)

API_VERSION = "v1"


def create_app(
    settings: ServiceSettings | None = None, store: Store | None = None
) -> FastAPI:
    """Build the offer service.

    Parameters
    ----------
    settings : ServiceSettings, optional
        Defaults to ``ServiceSettings.from_env()``.
    store : Store, optional
        Defaults to a store at ``settings.database_url``; it is migrated to
        the latest schema when the application starts.

    Returns
    -------
    FastAPI
    """
    settings = settings or ServiceSettings.from_env()
    settings.check()
    store = store or Store(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store.upgrade()
        logger.info("offer service started on %r (%s mode)", store, settings.mode)
        yield
        store.dispose()

    # The interactive pages load Swagger UI and ReDoc from a public CDN, so
    # they are served only when the settings ask for them.
    app = FastAPI(
        title="promoloop offer service",
        version=API_VERSION,
        lifespan=lifespan,
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.route_patterns = RoutePatterns(app)
    app.state.store = store
    app.state.verified_keys = VerifiedKeys(settings.key_cache_seconds)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestLog)
    app.add_exception_handler(Exception, _internal_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    _include_routers(app)
    return app


def _include_routers(app: FastAPI) -> None:
    from promoloop.service.api import api_router
    from promoloop.service.dashboard import dashboard_router

    app.include_router(api_router, prefix=f"/{API_VERSION}")
    app.include_router(dashboard_router, prefix="/dashboard")

    @app.get("/health", tags=["service"])
    def health() -> dict:
        """Report that the service runs and which schema revision it uses."""
        return {"status": "ok", "revision": app.state.store.current_revision()}


class RequestLog:
    """ASGI middleware that logs method, route template, status and time.

    Paths and bodies can hold customer ids, so the log names the route
    pattern with its router prefixes (``/v1/customers/{customer_id}``)
    instead of the path. A plain ASGI middleware costs less per request than
    Starlette's ``BaseHTTPMiddleware``, which wraps every response in a
    stream.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "%s %s %d %.1f ms",
                    scope["method"],
                    scope["app"].state.route_patterns.of(scope),
                    status,
                    (time.perf_counter() - started) * 1000,
                )


class RoutePatterns:
    """Full path pattern of each route, with the prefixes of its routers.

    FastAPI 0.165 keeps an included router's routes unchanged, so
    ``scope["route"].path`` of ``GET /v1/campaigns/{campaign_id}`` is
    ``/campaigns/{campaign_id}``. Only the application's route contexts
    contain the prefixes. The table is built at the first request, and again
    when a route is missing from it, e.g. one added later.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._patterns: dict[int, str] = {}

    def of(self, scope) -> str:
        """Return the pattern of the scope's route, or ``(no route)``."""
        route = scope.get("route")
        if route is None:
            return "(no route)"
        pattern = self._patterns.get(id(route))
        if pattern is None:
            patterns = _route_patterns(self.app)
            pattern = patterns.setdefault(id(route), getattr(route, "path", "?"))
            self._patterns = patterns
        return pattern


def _route_patterns(app: FastAPI) -> dict[int, str]:
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        # Older FastAPI copies every included route with its full path.
        return {id(route): route.path for route in app.routes if hasattr(route, "path")}
    # NOTE: a route included under two prefixes is logged with the last one.
    return {
        id(context.original_route): context.path
        for context in iter_route_contexts(app.routes)
        if context.path is not None
    }


async def _validation_error(
    request: Request, error: RequestValidationError
) -> JSONResponse:
    """Return 422 with FastAPI's list of errors, NaN and infinite inputs as text.

    Python's JSON parser accepts ``NaN`` and ``Infinity`` in a request body,
    but a JSON response cannot contain them, so FastAPI's own handler would
    fail with a 500 when it echoes such an input.
    """
    return JSONResponse(
        {"detail": _finite_json(jsonable_encoder(error.errors()))}, status_code=422
    )


def _finite_json(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_json(item) for item in value]
    return value


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    """Return 500 with an error id, and log the traceback under that id."""
    error_id = uuid.uuid4().hex[:12]
    logger.exception(
        "internal error %s on %s %s: %s",
        error_id,
        request.method,
        request.app.state.route_patterns.of(request.scope),
        type(error).__name__,
    )
    return JSONResponse(
        {"detail": "internal error", "error_id": error_id}, status_code=500
    )


class BodySizeLimit:
    """ASGI middleware that refuses request bodies above ``max_bytes`` with 413.

    A declared Content-Length above the limit is refused before the body is
    read; a body sent without one is counted as it arrives.
    """

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._refuse(send)
                return
        received = 0
        too_large = False

        # Past the limit, the application receives a disconnect message, and
        # its response is discarded in favour of the 413. Raising an
        # exception from the body reader instead would reach FastAPI, which
        # turns any error while reading a body into a 400.
        async def counted_receive():
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not too_large:
                await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            # An error caused by the cut-off body gets the 413 response.
            if not too_large:
                raise
        if too_large:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        response = JSONResponse(
            {"detail": f"request body larger than {self.max_bytes} bytes"},
            status_code=413,
        )
        await response({"type": "http"}, None, send)
