"""A real OTLP receiver (`mcp_analytics.otlp`) for the tests: uvicorn serving its app on
127.0.0.1 in a thread of the test's process."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from mcp_analytics.otlp.keys import KeyChecker
from mcp_analytics.otlp.receiver import Receiver, ReceiverConfig
from mcp_analytics.otlp.sink import Sink
from tests.helpers.web import serving_app


@dataclass
class Running:
    """A receiver being served: its base URL, the receiver and the uvicorn server."""

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
    with serving_app(
        receiver.app, name="otlp-test-server", host=host, lifespan="on", stop_timeout=30
    ) as (port, server):
        yield Running(f"http://127.0.0.1:{port}", receiver, server)
