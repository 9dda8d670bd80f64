"""The OTLP/HTTP receiver: a Starlette app serving POST /v1/traces, /v1/metrics and /v1/logs.

Answers, as the OTLP specification has them:

* 200 with an empty export response, or with `partialSuccess` (how many spans, data points or
  log records were rejected and why) when some could not be stored;
* 400 for a body that cannot be decoded (nothing stored), 413 for a body (or its inflated form)
  above `max_body_bytes`, 415 for a content type other than protobuf or JSON;
* 429 with `Retry-After` when more requests or rows are waiting than the receiver holds, 503
  with `Retry-After` when the database is unreachable and the spool is full;
* 401 for a missing, wrong or revoked API key when keys are required (any non-loopback
  address), before the body is read.

Error bodies are `google.rpc.Status` messages in the request's encoding. Memory is bounded: at
most `max_concurrent` bodies are read and decoded at once, at most `max_waiting` requests wait
for their turn, and the sink queue holds at most `max_queued_rows` rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcp_analytics.ingest.events import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_WINDOW, TimeWindow
from mcp_analytics.ingest.redaction import RedactionRules
from mcp_analytics.otlp.batch import Prepared, prepare_mapped
from mcp_analytics.otlp.decode import (
    JSON,
    PROTOBUF,
    SIGNALS,
    BodyError,
    BodyTooLarge,
    Signal,
    UnsupportedMediaType,
    decode,
    inflate,
    media_type,
)
from mcp_analytics.otlp.keys import KeyChecker, KeyUnverifiable, bearer_token
from mcp_analytics.otlp.mapping import MAPPERS
from mcp_analytics.otlp.sink import DEFAULT_MAX_SPOOL_BYTES, Overloaded, Sink, SpoolFull

log = logging.getLogger("mcp_analytics.otlp")

DEFAULT_MAX_BODY_BYTES = 16 << 20
DEFAULT_MAX_QUEUED_ROWS = 20_000


@dataclass
class ReceiverConfig:
    """What `mcp-analytics otlp serve` tunes (docs/otlp.md)."""

    #: a body above this many bytes, raw or inflated, is answered 413
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: requests read and decoded at the same time
    max_concurrent: int = 2
    #: requests waiting for their turn beyond those; more are answered 429
    max_waiting: int = 8
    #: rows queued for the database beyond which requests are answered 429
    max_queued_rows: int = DEFAULT_MAX_QUEUED_ROWS
    #: the spool's size beyond which exports are answered 503 during an outage
    max_spool_bytes: int = DEFAULT_MAX_SPOOL_BYTES
    #: seconds a sender is asked to wait (Retry-After) on 429 and 503
    retry_after_s: int = 5
    #: require `Authorization: Bearer <api key>` (always on a non-loopback address)
    require_keys: bool = False
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    rules: RedactionRules = field(default_factory=RedactionRules)
    #: event times accepted around receipt (the database's `analytics.event_time_window`)
    window: TimeWindow = DEFAULT_WINDOW


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or 'localhost') only accepts connections from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_GRPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}


class Receiver:
    """The app's state and handlers; `app` is the ASGI application."""

    def __init__(
        self,
        sink: Sink,
        config: ReceiverConfig | None = None,
        *,
        keys: KeyChecker | None = None,
    ) -> None:
        self.config = config or ReceiverConfig()
        if self.config.require_keys and keys is None:
            raise ValueError("API keys are required but no key checker was given")
        self.sink = sink
        self.keys = keys
        self._slots = asyncio.Semaphore(self.config.max_concurrent)
        self._in_line = 0
        self.counts: dict[str, dict[str, int]] = {
            name: {"requests": 0, "items": 0, "dropped": 0, "rejected": 0} for name in SIGNALS
        }
        self.answers: dict[int, int] = {}
        #: values changed to fit and times ahead of receipt, over the stored rows (as /healthz)
        self.altered: Counter[str] = Counter()
        self.ahead: Counter[str] = Counter()
        routes = [Route(s.path, self._handler(s), methods=["POST"]) for s in SIGNALS.values()]
        routes.append(Route("/healthz", self.health, methods=["GET"]))
        self.app = Starlette(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.sink.start()
        try:
            yield
        finally:
            await run_in_threadpool(self.sink.close)
            if self.keys is not None:
                self.keys.close()

    def _handler(self, signal: Signal) -> Any:
        async def handle(request: Request) -> Response:
            response = await self.export(signal, request)
            self.answers[response.status_code] = self.answers.get(response.status_code, 0) + 1
            return response

        return handle

    # -- the export path ---------------------------------------------------------------------

    async def export(self, signal: Signal, request: Request) -> Response:
        media = PROTOBUF
        try:
            media = media_type(request.headers.get("content-type"))
        except UnsupportedMediaType as err:
            return self._error(415, str(err), JSON)
        refusal = await self._authenticate(request, media)
        if refusal is not None:
            return refusal
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.config.max_body_bytes:
            return self._error(413, self._too_large(), media)
        if not self.sink.has_room() or self._in_line >= self.config.max_concurrent + (
            self.config.max_waiting
        ):
            return self._busy(429, "the receiver is busy: retry later", media)
        self._in_line += 1
        try:
            async with self._slots:
                prepared = await self._read_and_prepare(signal, request, media)
        except _Answer as answer:
            return self._error(answer.status, answer.message, media)
        finally:
            self._in_line -= 1
        return await self._store(signal, prepared, media)

    async def _authenticate(self, request: Request, media: str) -> Response | None:
        if not self.config.require_keys:
            return None
        assert self.keys is not None
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            return self._error(401, "an API key is required: Authorization: Bearer <key>", media)
        try:
            valid = await run_in_threadpool(self.keys.check, token)
        except KeyUnverifiable as err:
            return self._busy(503, str(err), media)
        if not valid:
            return self._error(401, "the API key is not valid (unknown or revoked)", media)
        return None

    async def _read_and_prepare(self, signal: Signal, request: Request, media: str) -> Prepared:
        limit = self.config.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _Answer(413, self._too_large())
                chunks.append(chunk)
        except ClientDisconnect:
            raise _Answer(400, "the client disconnected before sending the whole body") from None
        body = b"".join(chunks)
        del chunks
        encoding = request.headers.get("content-encoding")
        try:
            return await run_in_threadpool(self._prepare, signal, body, encoding, media)
        except BodyTooLarge as err:
            raise _Answer(413, f"{err}; the limit is {limit} bytes") from None
        except BodyError as err:
            raise _Answer(400, str(err)) from None

    def _prepare(self, signal: Signal, body: bytes, encoding: str | None, media: str) -> Prepared:
        raw = inflate(body, encoding, self.config.max_body_bytes)
        message = decode(signal, raw, media)
        del raw
        mapped = MAPPERS[signal.name](message)
        return prepare_mapped(
            mapped,
            source_name=signal.path,
            rules=self.config.rules,
            max_response_bytes=self.config.max_response_bytes,
            window=self.config.window,
        )

    async def _store(self, signal: Signal, prepared: Prepared, media: str) -> Response:
        counts = self.counts[signal.name]
        refused = 0
        if prepared.row_count or prepared.rejects:
            try:
                future = self.sink.submit(prepared)
            except Overloaded as err:
                return self._busy(429, f"{err}: retry later", media)
            try:
                outcome = await asyncio.wrap_future(future)
            except SpoolFull as err:
                return self._busy(503, str(err), media)
            refused = outcome.refused
        self.altered.update(prepared.altered)
        if prepared.ahead:
            # a sender's clock running fast: stored, but worth an operator's look
            log.warning("otlp: %s time(s) ahead of receipt: %s", signal.name, dict(prepared.ahead))
            self.ahead.update(prepared.ahead)
        counts["requests"] += 1
        counts["items"] += prepared.items
        counts["dropped"] += prepared.dropped
        counts["rejected"] += prepared.rejected + refused
        response = signal.response()
        rejected = prepared.rejected + refused
        if rejected:
            partial = response.partial_success
            setattr(partial, signal.rejected_field, rejected)
            message = prepared.message()
            if refused:
                message += f" {refused} row(s) were refused by the database (see ingest_rejects)."
            partial.error_message = message.strip()
        return self._message(200, response, media)

    # -- answers -----------------------------------------------------------------------------

    def _too_large(self) -> str:
        return f"the body is larger than {self.config.max_body_bytes} bytes: send smaller batches"

    def _message(self, status: int, message: Message, media: str, **headers: str) -> Response:
        if media == JSON:
            body = json_format.MessageToJson(message, indent=None).encode()
        else:
            body = message.SerializeToString()
        return Response(body, status_code=status, media_type=media, headers=headers or None)

    def _error(self, status: int, text: str, media: str, **headers: str) -> Response:
        message = status_pb2.Status(code=_GRPC_CODES.get(status, code_pb2.UNKNOWN), message=text)
        return self._message(status, message, media, **headers)

    def _busy(self, status: int, text: str, media: str) -> Response:
        return self._error(status, text, media, **{"Retry-After": str(self.config.retry_after_s)})

    async def health(self, request: Request) -> Response:
        if self.config.require_keys:
            refusal = await self._authenticate(request, JSON)
            if refusal is not None:
                return refusal
        return JSONResponse(
            {
                "status": "ok",
                "database": "down" if self.sink.database_down else "up",
                "queued_rows": self.sink.queued_rows,
                "signals": self.counts,
                "answers": {str(k): v for k, v in sorted(self.answers.items())},
                "altered": dict(sorted(self.altered.items())),
                "ahead": dict(sorted(self.ahead.items())),
                "sink": self.sink.stats,
            }
        )


class _Answer(Exception):
    """An early answer (status and text) raised from inside the export path."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def build_receiver(
    *,
    host: str,
    config: ReceiverConfig | None = None,
    url: str | None = None,
    spool_dir: Path,
    keys: KeyChecker | None = None,
) -> Receiver:
    """A receiver for `host`: keys are required on any non-loopback address."""
    config = config or ReceiverConfig()
    if not is_loopback(host):
        config.require_keys = True
    sink = Sink(
        url,
        spool_dir=spool_dir,
        max_queued_rows=config.max_queued_rows,
        max_spool_bytes=config.max_spool_bytes,
    )
    return Receiver(sink, config, keys=keys)


#: the environment variable through which `otlp serve --workers N` hands its settings to
#: each worker process (uvicorn starts workers from an import string)
SERVE_ENV = "MCPA_OTLP_SERVE"


def app_from_environment() -> Starlette:
    """The ASGI app of one worker process of `otlp serve --workers N` (a uvicorn factory):
    settings from the JSON in MCPA_OTLP_SERVE, written by the command."""
    settings = json.loads(os.environ[SERVE_ENV])
    rules = RedactionRules.from_config(settings.pop("redaction", None))
    window_setting = settings.pop("event_time_window", None)
    window = DEFAULT_WINDOW if window_setting is None else TimeWindow.from_config(window_setting)
    host, url, spool_dir = settings.pop("host"), settings.pop("url"), settings.pop("spool_dir")
    config = ReceiverConfig(rules=rules, window=window, **settings)
    keys = None
    if config.require_keys or not is_loopback(host):
        from mcp_analytics.warehouse import db

        keys = KeyChecker(
            lambda: db.connect(url, role="ingest", autocommit=True, connect_timeout=5)
        )
    return build_receiver(
        host=host, config=config, url=url, spool_dir=Path(spool_dir), keys=keys
    ).app
