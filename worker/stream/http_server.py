"""The worker's HTTP server: /metrics, /healthz and /readyz, nothing else (docs/http.md).

An aiohttp application of our own rather than faust's web server, which would also serve
table contents and reports faust's own metrics: it starts before recovery (so /healthz
answers while a large table is rebuilt) and stops after the consumer and producer.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiohttp import web

from worker.edge.metrics import Metrics
from worker.stream.health import Health

__all__ = ["start_http", "web_app"]


def web_app(metrics: Metrics, health: Health) -> web.Application:
    """Return the aiohttp application serving /metrics, /healthz and /readyz only."""
    routes = web.RouteTableDef()

    @routes.get("/metrics")
    async def metrics_page(request: web.Request) -> web.Response:
        body, content_type = metrics.render(request.headers.get("Accept"), datetime.now(UTC))
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    @routes.get("/healthz")
    async def healthz(request: web.Request) -> web.Response:
        problem = health.liveness_problem(time.monotonic())
        if problem is not None:
            return web.Response(status=503, text=f"{problem}\n")
        return web.Response(text="ok\n")

    @routes.get("/readyz")
    async def readyz(request: web.Request) -> web.Response:
        problem = health.readiness_problem(time.monotonic())
        if problem is not None:
            return web.Response(status=503, text=f"{problem}\n")
        return web.Response(text="ready\n")

    application = web.Application()
    application.add_routes(routes)
    return application


async def start_http(application: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``application`` on ``host:port``; return the runner whose ``cleanup()`` stops it."""
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
