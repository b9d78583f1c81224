"""`create_app(settings)`: the FastAPI app behind `heartcare serve` (page, native routes, OpenAI routes, ops)."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from importlib import resources

from heartcare.serve.settings import ServeSettings

log = logging.getLogger(__name__)


def create_app(settings: ServeSettings, model=None):
    """Build the app; `model` (an already loaded HeartcareGPT) overrides `settings.model` for tests and benchmarks."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

    from heartcare.serve import native_api, openai_api
    from heartcare.serve.api_errors import ApiError
    from heartcare.serve.security import check_key
    from heartcare.serve.server import Server

    server = Server.load(settings, model)
    if server.engine is not None:
        server.engine.start()

    @asynccontextmanager
    async def lifespan(app):
        yield
        if server.engine is not None:
            server.engine.stop()

    app = FastAPI(title="heartcare", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.server = server

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError):
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse(ApiError(400, message, "invalid_value", where or None).body(), status_code=400)

    @app.middleware("http")
    async def guard_and_measure(request: Request, call_next):
        started = time.perf_counter()
        try:
            check_key(request)
            response = await call_next(request)
        except ApiError as error:
            response = JSONResponse(error.body(), status_code=error.status)
        except Exception as error:  # noqa: BLE001 - only the body guard's signal is handled here
            # The body guard raises inside the middleware's receive task, so it arrives here (maybe grouped).
            if not _body_too_large(error):
                raise
            response = JSONResponse(ApiError(413, f"upload is above the {settings.max_upload_mb:g} MiB limit",
                                             "upload_too_large").body(), status_code=413)
        route = request.scope.get("route")
        # Route templates (`/api/uploads/{upload_id}`), never raw paths: ids must not multiply the series.
        name = getattr(route, "path", "unmatched")
        server.metrics.observe_request(name, request.method, response.status_code, time.perf_counter() - started)
        if server.engine is not None:
            server.metrics.set_queue_depth(server.engine.depth)
        return response

    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return resources.files("heartcare.serve").joinpath("page.html").read_text(encoding="utf-8")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "model": server.model_name, "chat": server.model is not None, "forecast": server.beat is not None,
                "uploads": len(server.store), "queue_depth": server.engine.depth if server.engine else 0}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        return server.metrics.render()

    app.include_router(native_api.router)
    app.include_router(openai_api.router)
    return _wrapped(app, settings)


def _body_too_large(error: BaseException) -> bool:
    from heartcare.serve.body_limit import BodyTooLarge

    if isinstance(error, BodyTooLarge):
        return True
    grouped = getattr(error, "exceptions", None)  # an ExceptionGroup (Python >= 3.11, or anyio's backport)
    if isinstance(grouped, tuple | list):
        return any(_body_too_large(inner) for inner in grouped)
    return _body_too_large(error.__cause__) if error.__cause__ is not None else False


def _wrapped(app, settings: ServeSettings):
    """The app behind the body-size guard; `.state` and `.router` stay reachable for tests."""
    from heartcare.serve.body_limit import BodyLimit

    guarded = BodyLimit(app, settings.max_upload_bytes)
    guarded.state = app.state
    return guarded
