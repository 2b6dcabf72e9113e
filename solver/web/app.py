"""The Starlette app: the page (static/) and a JSON API whose solve result is the document `aicsolve --json` prints.

GET /api/models, GET /api/systems, POST /api/solve, POST /api/bundle (application/zip). Errors: {"error": message}.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from solver.errors import InfeasibleError, UserError, user_error_types
from solver.web import service

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 256 * 1024  # bytes; a spec is a few hundred
WALL_LIMIT_S = 120.0  # a solve (cost model + CP-SAT, capped at 30 s) that runs longer is abandoned with a 504
MAX_PARALLEL_SOLVES = 2  # large solves at once; small ones (service.is_light) have a lane of their own
READ_TIMEOUT_S = 10.0  # a request's headers and body must arrive within this (half-sent requests are dropped)
MAX_CONNECTIONS = 200  # open connections; more are closed at once (file descriptors stay far from the limit)
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
}


class HttpError(Exception):
    """An error answered with this status and {"error": message}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


async def _read_json(request: Request) -> Any:
    """The JSON body, refused past MAX_BODY bytes (413) or when not JSON (415 / 400)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HttpError(415, "send the request body as JSON (Content-Type: application/json).")
    too_big = HttpError(413, f"request body over {MAX_BODY // 1024} KB; a spec is a few hundred bytes.")
    try:
        if int(request.headers.get("content-length", 0)) > MAX_BODY:
            raise too_big
    except ValueError:
        raise HttpError(400, "Content-Length is not a number.") from None
    chunks, size = [], 0
    try:
        with anyio.fail_after(READ_TIMEOUT_S):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY:
                    raise too_big
                chunks.append(chunk)
    except TimeoutError:
        raise HttpError(408, f"the request body did not arrive within {READ_TIMEOUT_S:g} s.") from None
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as e:
        raise HttpError(400, f"the request body is not valid JSON ({e}).") from None


_limiters: dict[bool, anyio.CapacityLimiter] = {}


async def _in_thread(fn: Callable[..., Any], body: Any) -> Any:
    """Run fn(body) in a worker thread (the server stays responsive): small solves one at a time in their own
    lane, the others at most MAX_PARALLEL_SOLVES at once, so a trivial solve never queues behind large ones."""
    light = await anyio.to_thread.run_sync(service.is_light, body)
    if light not in _limiters:
        _limiters[light] = anyio.CapacityLimiter(1 if light else MAX_PARALLEL_SOLVES)
    try:
        with anyio.fail_after(WALL_LIMIT_S):
            return await anyio.to_thread.run_sync(fn, body, limiter=_limiters[light], abandon_on_cancel=True)
    except TimeoutError:
        raise HttpError(
            504,
            f"the solve ran past {WALL_LIMIT_S:g} s; narrow the search (fewer GPUs, search.tp, "
            "search.max_batch_size) or run the CLI.",
        ) from None


def _api(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """Map errors to JSON: UserError 400 (infeasible 422), HttpError its status, anything else 500."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except HttpError as e:
            return JSONResponse({"error": str(e)}, status_code=e.status)
        except InfeasibleError as e:
            return JSONResponse({"error": str(e)}, status_code=422)
        except user_error_types() as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        except Exception as e:
            # The details (which may name the server's files) go to the server's log, not to the client.
            logging.getLogger("aicsolve.web").exception("internal error answering %s", request.url.path)
            return JSONResponse(
                {
                    "error": f"internal error ({type(e).__name__}). This is a bug in aicsolve; please "
                    "report it (the server's log has the details)."
                },
                status_code=500,
            )

    return wrapped


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html")


async def favicon(request: Request) -> Response:
    """The page links /static/favicon.svg; browsers and other clients also ask for /favicon.ico by convention."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


@_api
async def api_models(request: Request) -> Response:
    return JSONResponse(await anyio.to_thread.run_sync(service.models))


@_api
async def api_systems(request: Request) -> Response:
    return JSONResponse(await anyio.to_thread.run_sync(service.systems))


@_api
async def api_solve(request: Request) -> Response:
    solved = await _in_thread(service.solve, await _read_json(request))
    return JSONResponse(solved.document())


@_api
async def api_bundle(request: Request) -> Response:
    body = await _read_json(request)
    name, data = await _in_thread(service.bundle, body)
    return Response(
        data, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


class _SecurityHeaders:
    """Adds HEADERS to every response (the page loads nothing from elsewhere)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    *((k.lower().encode(), v.encode()) for k, v in HEADERS.items()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


def create_app(allowed_hosts: list[str] | None = None) -> Starlette:
    """The ASGI app; allowed_hosts: the Host header check against DNS rebinding (serve always gives one)."""
    routes = [
        Route("/", index),
        Route("/favicon.ico", favicon),
        Route("/api/models", api_models),
        Route("/api/systems", api_systems),
        Route("/api/solve", api_solve, methods=["POST"]),
        Route("/api/bundle", api_bundle, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(_SecurityHeaders)]
    if allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    return Starlette(routes=routes, middleware=middleware)


app = create_app()


def allowed_hosts(host: str) -> list[str]:
    """Host header values the app answers when it listens on host: the loopback names, the address itself,
    and for a wildcard address (0.0.0.0, ::) this machine's names and addresses."""
    bare = host.strip("[]")
    names = [*LOOPBACK, bare, f"[{bare}]" if ":" in bare else bare]
    if bare in ("0.0.0.0", "::", ""):
        me = socket.gethostname()
        names += [me, socket.getfqdn()]
        try:
            names += [str(a[4][0]) for a in socket.getaddrinfo(me, None)]
        except OSError:
            pass
    return list(dict.fromkeys(n for n in names if n))


class _RateLimit(logging.Filter):
    """At most `burst` records per logger a minute: a flood of failing connections cannot fill the disk."""

    def __init__(self, burst: int = 20):
        super().__init__()
        self.burst, self.window, self.count = burst, 0.0, 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self.window > 60:
            self.window, self.count = now, 0
        self.count += 1
        return self.count <= self.burst


def _guarded_protocol():
    """uvicorn's h11 protocol with a cap on open connections and a deadline for a request's headers."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class Guarded(H11Protocol):
        def connection_made(self, transport):
            super().connection_made(transport)
            if len(self.connections) > MAX_CONNECTIONS:
                transport.close()
                return
            self._deadline = self.loop.call_later(READ_TIMEOUT_S, self._too_slow)

        def _too_slow(self) -> None:
            if self.cycle is None and not self.transport.is_closing():  # headers still incomplete
                self.transport.close()

        def connection_lost(self, exc):
            timer = getattr(self, "_deadline", None)
            if timer is not None:
                timer.cancel()
            super().connection_lost(exc)

    return Guarded


def serve(host: str = "127.0.0.1", port: int = 7860, echo: Callable[[str], Any] = print) -> None:
    """Listen on host:port until Ctrl+C (UserError if the address is taken)."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}; pick another --port or --host.") from None
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host.strip("[]") == "localhost"
    shown = f"[{host.strip('[]')}]" if family == socket.AF_INET6 else host
    echo(f"aicsolve web app on http://{shown}:{sock.getsockname()[1]}/ (Ctrl+C stops it)")
    hosts = allowed_hosts(host)
    if not loopback:
        echo(
            f"note: listening on {host}: anyone who can reach it can run solves here. Requests must name one of "
            f"these hosts: {', '.join(hosts)}."
        )
    for name in ("asyncio", "uvicorn.error", "aicsolve.web"):
        logging.getLogger(name).addFilter(_RateLimit())
    uvicorn.Server(
        uvicorn.Config(
            create_app(hosts),
            log_level="warning",
            timeout_graceful_shutdown=3,
            http=_guarded_protocol(),
            timeout_keep_alive=5,
            backlog=128,
        )
    ).run(sockets=[sock])
