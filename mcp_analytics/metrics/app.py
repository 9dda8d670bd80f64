"""The /metrics endpoint: an ASGI app (Starlette) that scrapes `MartCollector` per request.

Prometheus' content negotiation is prometheus_client's: OpenMetrics 1.0 when the scraper asks
for it (`Accept: application/openmetrics-text`, Prometheus' default), else the classic text
format. With a token, every request must carry `Authorization: Bearer <token>` (compared in
constant time); the token never appears in a response or a log line.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

import psycopg
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from mcp_analytics.metrics.collector import MartCollector

log = logging.getLogger(__name__)


def create_app(connect: Callable[[], psycopg.Connection], token: str | None = None) -> Starlette:
    """The app: GET /metrics (the marts' figures) and GET /healthz ("ok").

    `connect` returns a new connection to the warehouse (a role that may read schema
    analytics); `token`, when not None, is the bearer token every request must present.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MartCollector(connect))

    def authorized(request: Request) -> bool:
        if token is None:
            return True
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), token.encode()
        )

    async def metrics(request: Request) -> Response:
        if not authorized(request):
            return PlainTextResponse(
                "a bearer token is required (Authorization: Bearer <token>)\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        try:
            body = await run_in_threadpool(encoder, registry)
        except psycopg.Error as err:
            # the scrape fails visibly (Prometheus marks the target down); no traceback
            log.warning("metrics: the marts could not be read: %s", type(err).__name__)
            return PlainTextResponse(
                "the marts could not be read (is the database up, and"
                " analytics.daily_tool_usage_summary built?)\n",
                status_code=503,
            )
        return Response(body, media_type=content_type)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    return Starlette(
        routes=[Route("/metrics", metrics), Route("/healthz", healthz)],
    )
