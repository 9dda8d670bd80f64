"""`mcp-analytics metrics serve [--host 127.0.0.1] [--port 9464]`: the OpenMetrics endpoint.

Serves `mcp_analytics.metrics` with uvicorn: GET /metrics, the tool marts'
`mcp.server.operation.duration` histogram and counters for Prometheus (docs/metrics.md). It
reads as MCPA_ANALYST_URL when set. A bearer token (MCPA_METRICS_TOKEN, or --token-file) is
required to listen on anything but a loopback address.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from pathlib import Path

from mcp_analytics.cli import CommandError
from mcp_analytics.extras import MissingExtraError, require_warehouse
from mcp_analytics.ingest.redaction import redact_url
from mcp_analytics.port_check import ensure_port_free


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("metrics", help="OpenMetrics endpoint for Prometheus")
    actions = parser.add_subparsers(dest="metrics_command", required=True)
    serve = actions.add_parser("serve", help="serve /metrics from the marts (Ctrl-C stops it)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=9464, help="port (9464)")
    serve.add_argument(
        "--token-file",
        type=Path,
        help="file holding the bearer token scrapers must send (else MCPA_METRICS_TOKEN)",
    )
    serve.set_defaults(func=handler)


def _token(path: Path | None) -> str | None:
    if path is None:
        return os.environ.get("MCPA_METRICS_TOKEN") or None
    try:
        token = path.read_text().strip()
    except OSError as err:
        raise CommandError(f"--token-file {path}: cannot read it ({err.strerror})") from None
    if not token:
        raise CommandError(f"--token-file {path} is empty: put the bearer token in it")
    return token


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def handler(args: argparse.Namespace) -> int:
    try:
        require_warehouse("`mcp-analytics metrics serve`", ("prometheus_client",))
    except MissingExtraError as err:
        raise CommandError(str(err)) from None
    import psycopg
    import uvicorn

    from mcp_analytics.metrics import create_app
    from mcp_analytics.warehouse import db

    if not 0 < args.port < 65536:
        raise CommandError(f"--port must be between 1 and 65535, got {args.port}")
    ensure_port_free(args.host, args.port)
    token = _token(args.token_file)
    if token is None and not _is_loopback(args.host):
        raise CommandError(
            f"--host {args.host} is not a loopback address: set a bearer token"
            " (MCPA_METRICS_TOKEN or --token-file) for scrapers to send"
        )
    url = db.database_url("analyst")
    app = create_app(lambda: psycopg.connect(url, autocommit=True), token=token)
    print(f"OpenMetrics on http://{args.host}:{args.port}/metrics")
    print(
        f"marts read from {redact_url(url)}"
        f"{', bearer token required' if token else ''}; Ctrl-C stops it.",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, server_header=False, log_level="info")
    return 0
