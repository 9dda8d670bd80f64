"""`mcp-analytics dashboard [--host 127.0.0.1] [--port 8050]`: the web dashboard.

Serves `mcp_analytics.dashboard` with uvicorn on the project's database: sign-in with the
users of `mcp-analytics users`, pages on the marts (through MCPA_ANALYST_URL when set).
With --ssl-certfile/--ssl-keyfile it serves HTTPS itself (cookies are then Secure); behind a
reverse proxy that terminates TLS, list the proxy in --forwarded-allow-ips.
"""

from __future__ import annotations

import argparse

from mcp_analytics.cli import CommandError
from mcp_analytics.extras import MissingExtraError, require_warehouse
from mcp_analytics.ingest.redaction import redact_url
from mcp_analytics.port_check import ensure_port_free


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dashboard", help="serve the web dashboard (Ctrl-C stops it)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050, help="port (8050)")
    parser.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    parser.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies trusted for X-Forwarded-Proto/For (127.0.0.1)",
    )
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    try:
        require_warehouse(
            "`mcp-analytics dashboard`", ("jinja2", "psycopg_pool", "jsonschema", "multipart")
        )
    except MissingExtraError as err:
        raise CommandError(str(err)) from None
    import uvicorn

    from mcp_analytics.dashboard import DashboardConfig, create_app
    from mcp_analytics.dashboard.app import MissingAssetsError

    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise CommandError("--ssl-certfile and --ssl-keyfile go together")
    if not 0 < args.port < 65536:
        raise CommandError(f"--port must be between 1 and 65535, got {args.port}")
    ensure_port_free(args.host, args.port)
    config = DashboardConfig.from_settings()
    try:
        app = create_app(config)
    except MissingAssetsError as err:
        raise CommandError(str(err)) from None
    scheme = "https" if args.ssl_certfile else "http"
    print(f"MCP Analytics dashboard on {scheme}://{args.host}:{args.port}")
    print(
        f"database {redact_url(config.admin_url)}, marts read as "
        f"{redact_url(config.analyst_url)}; Ctrl-C stops it.",
        flush=True,
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        server_header=False,
        log_level="info",
    )
    return 0
