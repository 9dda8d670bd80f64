"""Real HTTP servers in tests: a free local port, and an ASGI app served by uvicorn on
127.0.0.1 in a thread of the test's process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving_app(
    app: Any,
    *,
    name: str,
    host: str = "127.0.0.1",
    lifespan: Literal["auto", "on", "off"] = "auto",
    start_timeout: float = 20,
    stop_timeout: float = 15,
) -> Iterator[tuple[int, uvicorn.Server]]:
    """Serve the ASGI `app` with uvicorn on `host` at a free port, in a daemon thread named
    `name`, until the block ends; yields (the port, the uvicorn server).

    Raises:
        RuntimeError: the server had not started within `start_timeout` seconds (or its
            thread ended first); the message names `name`.
    """
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan=lifespan)
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the test server {name} did not start")
        time.sleep(0.02)
    try:
        yield port, server
    finally:
        server.should_exit = True
        thread.join(stop_timeout)
