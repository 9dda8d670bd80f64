"""`mcp-analytics otlp serve`: the OTLP/HTTP receiver (docs/otlp.md)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from mcp_analytics.cli import CommandError
from mcp_analytics.config import settings
from mcp_analytics.ingest.events import DEFAULT_WINDOW, TimeWindow
from mcp_analytics.ingest.redaction import RedactionRules, redact_text
from mcp_analytics.otlp.receiver import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_QUEUED_ROWS,
    ReceiverConfig,
    build_receiver,
    is_loopback,
)
from mcp_analytics.otlp.sink import DEFAULT_MAX_SPOOL_BYTES
from mcp_analytics.port_check import ensure_port_free

log = logging.getLogger("mcp_analytics.otlp")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("otlp", help="receive OpenTelemetry (OTLP/HTTP) spans, metrics, logs")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve",
        help="run the OTLP/HTTP receiver",
        description=(
            "Receive OTLP/HTTP (protobuf or JSON, gzip) on /v1/traces, /v1/metrics and /v1/logs "
            "and store MCP operations, HTTP requests, errors and metrics in the raw tables. "
            "On a non-loopback address every request needs an API key (mcp-analytics keys); "
            "put TLS in front with a reverse proxy (docs/otlp.md)."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=4318, help="port (4318, the OTLP/HTTP port)")
    serve.add_argument(
        "--require-keys",
        action="store_true",
        help="require API keys on loopback too (always required elsewhere)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help=f"largest body, raw or inflated; larger ones get 413 ({DEFAULT_MAX_BODY_BYTES})",
    )
    serve.add_argument(
        "--max-queued-rows",
        type=int,
        default=DEFAULT_MAX_QUEUED_ROWS,
        metavar="N",
        help=f"rows waiting for the database before 429 ({DEFAULT_MAX_QUEUED_ROWS})",
    )
    serve.add_argument(
        "--max-spool-bytes",
        type=int,
        default=DEFAULT_MAX_SPOOL_BYTES,
        metavar="N",
        help=f"spool size during an outage before 503 ({DEFAULT_MAX_SPOOL_BYTES})",
    )
    serve.add_argument(
        "--spool-dir", type=Path, metavar="DIR", help="spool folder (<state>/spool/otlp)"
    )
    serve.add_argument(
        "--retry-after", type=int, default=5, metavar="S", help="Retry-After on 429/503 (5)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes, each decoding and writing on its own (1)",
    )
    serve.set_defaults(func=serve_cmd)


def serve_cmd(args: argparse.Namespace) -> int:
    import uvicorn

    from mcp_analytics.otlp.keys import KeyChecker
    from mcp_analytics.warehouse import db

    for name in ("max_body_bytes", "max_queued_rows", "max_spool_bytes"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 < args.port < 65536:
        raise CommandError("--port must be between 1 and 65535")
    ensure_port_free(args.host, args.port)
    if args.workers < 1:
        raise CommandError("--workers must be at least 1")
    url = db.database_url(role="ingest")
    redaction, window = _ingest_settings(url)
    config = ReceiverConfig(
        max_body_bytes=args.max_body_bytes,
        max_queued_rows=args.max_queued_rows,
        max_spool_bytes=args.max_spool_bytes,
        retry_after_s=max(args.retry_after, 1),
        require_keys=args.require_keys or not is_loopback(args.host),
        rules=RedactionRules.from_config(redaction),
        window=DEFAULT_WINDOW if window is None else TimeWindow.from_config(window),
    )
    spool_dir = args.spool_dir or settings().spool_dir / "otlp"
    mode = "API keys required" if config.require_keys else "loopback, no key needed"
    print(f"OTLP/HTTP receiver on http://{args.host}:{args.port} ({mode})", flush=True)
    if args.workers > 1:
        return _serve_workers(args, config, url, spool_dir, redaction, window)
    keys = None
    if config.require_keys:
        keys = KeyChecker(
            lambda: db.connect(url, role="ingest", autocommit=True, connect_timeout=5)
        )
    receiver = build_receiver(
        host=args.host,
        config=config,
        url=url,
        spool_dir=spool_dir,
        keys=keys,
    )
    uvicorn.run(receiver.app, host=args.host, port=args.port, log_level="warning")
    return 0


def _serve_workers(
    args: argparse.Namespace,
    config: ReceiverConfig,
    url: str,
    spool_dir: Path,
    redaction: dict[str, Any] | None,
    window: dict[str, Any] | None,
) -> int:
    """uvicorn with N worker processes; each builds its receiver from MCPA_OTLP_SERVE (the
    spool folder is shared: its files are locked while written and while replayed)."""
    import json
    import os

    import uvicorn

    from mcp_analytics.otlp.receiver import SERVE_ENV

    os.environ[SERVE_ENV] = json.dumps(
        {
            "host": args.host,
            "url": url,
            "spool_dir": str(spool_dir),
            "redaction": redaction,
            "event_time_window": window,
            "max_body_bytes": config.max_body_bytes,
            "max_queued_rows": config.max_queued_rows,
            "max_spool_bytes": config.max_spool_bytes,
            "retry_after_s": config.retry_after_s,
            "require_keys": config.require_keys,
        }
    )
    uvicorn.run(
        "mcp_analytics.otlp.receiver:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
    )
    return 0


def _ingest_settings(url: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The database's analytics.redaction and analytics.event_time_window settings, read once at
    start as the collector reads them (None: the default, which still redacts and still keeps
    the default window). A setting that does not parse is named and its default used."""
    from mcp_analytics.collector.core import read_settings
    from mcp_analytics.warehouse import db

    try:
        with db.connection(url, role="ingest", autocommit=True, connect_timeout=5) as conn:
            values = read_settings(conn)
    except Exception as err:  # noqa: BLE001 - the defaults still redact; say so
        log.warning(
            "otlp: default redaction rules and event-time window (%s)", redact_text(str(err))
        )
        return None, None
    redaction = values.get("analytics.redaction")
    try:
        RedactionRules.from_config(redaction)  # refused here rather than in every worker
    except ValueError as err:
        log.warning("otlp: default redaction rules (%s)", redact_text(str(err)))
        redaction = None
    window = values.get("analytics.event_time_window")
    try:
        if window is not None:
            TimeWindow.from_config(window)
    except ValueError as err:
        log.warning("otlp: default event-time window (%s)", err)
        window = None
    return (
        redaction if isinstance(redaction, dict) else None,
        window if isinstance(window, dict) else None,
    )
