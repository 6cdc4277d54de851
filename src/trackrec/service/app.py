"""The FastAPI application: ``create_app(workdir)``; ``trackrec serve`` runs it on uvicorn.

Every request gets a request id (``X-Request-ID`` in and out) that appears on every log line it
causes; logs are one JSON object per line. Bodies above ``max_body_bytes`` are refused with 413
before they are read in full. Credentials are never logged (the access log records method, path,
status and duration only).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Counter, Histogram

from ..exceptions import TrackrecError
from .live import ModelHolder
from .routes import router
from .settings import Settings
from .store import Store, hash_secret, store_path

__all__ = ["create_app", "create_app_from_env", "configure_logging"]

log = logging.getLogger("trackrec.service")
access_log = logging.getLogger("trackrec.service.access")
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
STATIC_DIR = Path(__file__).parent / "static"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        d = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
             "level": record.levelname.lower(), "logger": record.name,
             "request_id": getattr(record, "request_id", request_id_var.get()), "msg": record.getMessage()}
        for k in ("method", "path", "status", "ms"):
            if hasattr(record, k):
                d[k] = getattr(record, k)
        if record.exc_info:
            d["exc"] = self.formatException(record.exc_info)
        return json.dumps(d, ensure_ascii=False)


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    """Service logging (an entry point's business): JSON lines on stderr with the request id."""
    root = logging.getLogger("trackrec")
    for h in list(root.handlers):
        if getattr(h, "_trackrec_service", False):
            root.removeHandler(h)
    h = logging.StreamHandler(sys.stderr)
    h._trackrec_service = True  # type: ignore[attr-defined]
    h.addFilter(_RequestIdFilter())
    h.setFormatter(JsonFormatter() if json_lines else
                   logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    root.addHandler(h)
    root.setLevel(level)
    root.propagate = False


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("trackrec_http_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("trackrec_http_request_seconds", "HTTP request duration", ["route"],
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5),
                                 registry=self.registry)
        self.recs = Counter("trackrec_recommendations_total", "Recommendation lists served", ["strategy"],
                            registry=self.registry)
        self.listens = Counter("trackrec_listens_total", "Listening events received", registry=self.registry)


class ServiceMiddleware:
    """Pure ASGI: request id, body-size limit, access log, Prometheus metrics."""

    def __init__(self, app, *, max_body_bytes: int, metrics: Metrics):
        self.app = app
        self.max_body = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex[:16]
        token = request_id_var.set(rid)
        t0 = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        async def reject(code: int, detail: str):
            body = json.dumps({"detail": detail}).encode()
            await send_wrapper({"type": "http.response.start", "status": code,
                                "headers": [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        try:
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                await reject(413, f"request body too large: at most {self.max_body} bytes")
                return
            seen = {"n": 0}

            async def receive_limited():
                message = await receive()
                if message["type"] == "http.request":
                    seen["n"] += len(message.get("body", b""))
                    if seen["n"] > self.max_body:
                        raise _BodyTooLarge()
                return message
            try:
                await self.app(scope, receive_limited, send_wrapper)
            except _BodyTooLarge:
                await reject(413, f"request body too large: at most {self.max_body} bytes")
        finally:
            dt = time.perf_counter() - t0
            route = scope.get("route")
            label = getattr(route, "path", None) or ("static" if scope["path"].startswith("/static") else "other")
            self.metrics.requests.labels(scope["method"], label, str(status["code"])).inc()
            self.metrics.latency.labels(label).observe(dt)
            if access_log.isEnabledFor(logging.INFO) and label not in ("/healthz", "/metrics"):
                access_log.info("%s %s %d %.1fms", scope["method"], scope["path"], status["code"], dt * 1000,
                                extra={"method": scope["method"], "path": scope["path"], "status": status["code"],
                                       "ms": round(dt * 1000, 2)})
            request_id_var.reset(token)


class _BodyTooLarge(Exception):
    pass


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{loc}: {e.get('msg')}")
    return "; ".join(parts)


def create_app(workdir: str | Path | None = None, *, settings: Settings | None = None,
               configure_logs: bool = False) -> FastAPI:
    """The service for ``workdir`` (a directory made by ``trackrec init``)."""
    settings = settings or Settings.from_env(workdir=workdir)
    if configure_logs:
        configure_logging(settings.log_level, settings.log_json)
    store = Store(store_path(settings.workdir))
    holder = ModelHolder(settings.workdir, store)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            holder.load()
        except TrackrecError as exc:  # serve anyway; /readyz says why
            log.error("no model loaded at start: %s", exc)
        yield

    app = FastAPI(title="trackrec", version="1", lifespan=lifespan,
                  description="Listening events in, what to play next out. Authenticate with "
                              "`Authorization: Bearer <user token or admin key>`.")
    app.state.settings = settings
    app.state.store = store
    app.state.holder = holder
    app.state.metrics = metrics
    app.state.admin_key_hash = hash_secret(settings.admin_key) if settings.admin_key else store.admin_key_hash()

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    @app.exception_handler(TrackrecError)
    async def _domain(request: Request, exc: TrackrecError):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard():
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    app.add_middleware(ServiceMiddleware, max_body_bytes=settings.max_body_bytes, metrics=metrics)
    return app


def limit_blas_threads(n: int | None = None) -> None:
    """One BLAS thread per worker process (``TRACKREC_BLAS_THREADS``, default 1).

    Per request the work is one small matrix-vector product; multi-threaded BLAS makes it *slower*
    (measured: 0.09 ms with one thread, 150 ms with two threads spinning on a busy 2-core machine)
    and the worker processes are the parallelism.
    """
    import os

    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=n or int(os.environ.get("TRACKREC_BLAS_THREADS", "1")))


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (every worker process builds its own app)."""
    limit_blas_threads()
    return create_app(configure_logs=True)
