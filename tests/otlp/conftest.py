"""A real receiver for the tests: uvicorn serving the app on 127.0.0.1 in a thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn

from mcp_analytics.otlp.keys import KeyChecker
from mcp_analytics.otlp.receiver import Receiver, ReceiverConfig
from mcp_analytics.otlp.sink import Sink


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Running:
    url: str
    receiver: Receiver
    server: uvicorn.Server

    @property
    def sink(self) -> Sink:
        return self.receiver.sink


@contextlib.contextmanager
def running(
    db_url: str,
    spool_dir: Path,
    config: ReceiverConfig | None = None,
    *,
    keys: KeyChecker | None = None,
    sink: Sink | None = None,
    host: str = "127.0.0.1",
) -> Iterator[Running]:
    """A receiver writing to `db_url`, listening on a free port until the block ends."""
    config = config or ReceiverConfig()
    sink = sink or Sink(
        db_url,
        spool_dir=spool_dir,
        max_queued_rows=config.max_queued_rows,
        max_spool_bytes=config.max_spool_bytes,
    )
    receiver = Receiver(sink, config, keys=keys)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(receiver.app, host=host, port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="otlp-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test receiver did not start")
        time.sleep(0.02)
    try:
        yield Running(f"http://127.0.0.1:{port}", receiver, server)
    finally:
        server.should_exit = True
        thread.join(30)


def query(url: str, sql: str, params: Any = None) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def receiver(bootstrapped_db: str, tmp_path: Path) -> Iterator[Running]:
    with running(bootstrapped_db, tmp_path / "spool") as r:
        yield r
