"""Whether a server command can listen on its host and port, checked before it prints its
banner: a port in use is one clear line (exit 2), not a banner followed by uvicorn's error."""

from __future__ import annotations

import errno
import socket

from mcp_analytics.cli import CommandError


def ensure_port_free(host: str, port: int) -> None:
    """Bind `host`:`port` (TCP, SO_REUSEADDR as uvicorn does) and let it go again.

    Raises CommandError (the CLI prints it, exit 2) when the port is in use, or when `host`
    cannot be listened on (unknown name, address not on this machine, permission)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise CommandError(f"cannot listen on {host}: {err.strerror}: check --host") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"port {port} on {host} is in use: pick another with --port"
                ) from None
            raise CommandError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
