"""The receiver's write path: group commits through `writer.write_batch`, a disk spool for
database outages, and bounded memory.

Requests hand their prepared rows to `Sink.submit`, which queues them and returns a future. One
writer thread takes everything queued (up to `MAX_ROWS_PER_WRITE` rows) and writes it in one
transaction, the way the collector does: COPY through staging, `on conflict do nothing` on each
table's key, refused rows isolated into `ingest_rejects`. When the database cannot take a batch
the batch is appended to the spool (fsync'd JSONL, the collector's format) and the futures
succeed: an export answered 200 is on disk or in the database. The spool is replayed when the
database answers again. Only when the spool is full does a future fail with `SpoolFull` (the
receiver answers 503). `submit` refuses with `Overloaded` when more than `max_queued_rows` rows
wait (the receiver answers 429): memory is bounded by the queue, never by the load.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from mcp_analytics.collector.link import IngestLink
from mcp_analytics.collector.spool import Spool
from mcp_analytics.ingest.redaction import redact_text
from mcp_analytics.ingest.writer import RejectRecord, WriteResult, write_batch
from mcp_analytics.otlp.batch import Prepared

log = logging.getLogger("mcp_analytics.otlp")

MAX_ROWS_PER_WRITE = 5000
DEFAULT_MAX_QUEUED_ROWS = 50_000
DEFAULT_MAX_SPOOL_BYTES = 1 << 30


class Overloaded(RuntimeError):
    """More rows are waiting than the receiver holds in memory: retry later (429)."""


class SpoolFull(RuntimeError):
    """The database is unreachable and the spool has no room left: retry later (503)."""


@dataclass
class Outcome:
    """How one submitted batch was stored."""

    inserted: int = 0
    duplicates: int = 0
    #: rows PostgreSQL refused (recorded in ingest_rejects)
    refused: int = 0
    spooled: bool = False


@dataclass
class _Job:
    prepared: Prepared
    future: Future[Outcome] = field(default_factory=Future)


class Sink:
    """Thread-safe batching writer with a spool. `start()` it, `close()` it."""

    def __init__(
        self,
        url: str | None = None,
        *,
        spool_dir: Path,
        max_queued_rows: int = DEFAULT_MAX_QUEUED_ROWS,
        max_spool_bytes: int = DEFAULT_MAX_SPOOL_BYTES,
        connect: Callable[[str], psycopg.Connection] | None = None,
    ) -> None:
        if max_queued_rows < 1:
            raise ValueError("max_queued_rows must be at least 1")
        self._link = IngestLink(
            url,
            name="otlp receiver",
            log=log,
            application_name="mcp-analytics-otlp",
            connect=connect,
        )
        self.spool = Spool(spool_dir)
        self.max_queued_rows = max_queued_rows
        self.max_spool_bytes = max_spool_bytes
        self._cond = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._queued_rows = 0
        self._stop = False
        self._thread: threading.Thread | None = None
        self._spooled_bytes = self._spool_size()
        self.stats: dict[str, Any] = {
            "inserted": 0,
            "duplicates": 0,
            "refused": 0,
            "spooled_rows": 0,
            "replayed_rows": 0,
            "overloaded": 0,
            "spool_full": 0,
            "last_error": None,
        }

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Sink:
        with self._cond:
            if self._thread is None:
                self._stop = False
                self._thread = threading.Thread(
                    target=self._run, name="mcpa-otlp-sink", daemon=True
                )
                self._thread.start()
        return self

    def close(self, timeout: float | None = 30) -> None:
        """Write (or spool) what is queued, then stop."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self.spool.close()
        self._link.disconnect()

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    @property
    def database_down(self) -> bool:
        return self._link.down

    def has_room(self, rows: int = 1) -> bool:
        """Whether `rows` more rows would fit in the queue now."""
        return self._queued_rows + rows <= self.max_queued_rows

    # -- submitting --------------------------------------------------------------------------

    def submit(self, prepared: Prepared) -> Future[Outcome]:
        """Queue a prepared batch; the future resolves once it is committed or spooled.

        Raises Overloaded when the queue cannot take it."""
        rows = max(prepared.row_count + len(prepared.rejects), 1)
        job = _Job(prepared)
        with self._cond:
            # One batch is always taken when the queue is empty, whatever its size.
            if self._jobs and self._queued_rows + rows > self.max_queued_rows:
                self.stats["overloaded"] += 1
                raise Overloaded(f"{self._queued_rows} rows are waiting to be written")
            self._jobs.append(job)
            self._queued_rows += rows
            self._cond.notify_all()
        return job.future

    # -- writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._stop and not self._replay_due():
                    self._cond.wait(self._idle_wait())
                if self._stop and not self._jobs:
                    break
                take: list[_Job] = []
                rows = 0
                while self._jobs and (not take or rows < MAX_ROWS_PER_WRITE):
                    job = self._jobs.popleft()
                    take.append(job)
                    rows += max(job.prepared.row_count + len(job.prepared.rejects), 1)
            try:
                if take:
                    self._handle(take)
                elif self._replay_due():
                    self._try_replay()
            finally:
                with self._cond:
                    self._queued_rows -= rows
                    self._cond.notify_all()

    def _idle_wait(self) -> float:
        if self._spooled_bytes and (self._link.down or self.spool.has_pending()):
            return max(self._link.next_attempt - time.monotonic(), 0.05)
        return 1.0

    def _replay_due(self) -> bool:
        return self._spooled_bytes > 0 and time.monotonic() >= self._link.next_attempt

    def _handle(self, jobs: list[_Job]) -> None:
        rows, rejects, spans = _merge(jobs)
        if self._link.backing_off():
            self._spool(jobs, rows, rejects)
            return
        try:
            conn = self._link.connection()
            if self._spooled_bytes:
                self._replay(conn)
            result = write_batch(conn, rows, rejects, reject_source="otlp")
        except Exception as err:  # noqa: BLE001 - any failure: keep the data, retry later
            self._failed(err)
            self._spool(jobs, rows, rejects)
            return
        self._link.recovered()
        self._resolve(jobs, spans, result)

    def _resolve(
        self, jobs: list[_Job], spans: list[dict[str, tuple[int, int]]], result: WriteResult
    ) -> None:
        refused_by_job = [0] * len(jobs)
        for rej in result.rejects:
            for i, span in enumerate(spans):
                start, count = span.get(rej.table, (0, 0))
                if start <= rej.index < start + count:
                    refused_by_job[i] += 1
                    break
        self.stats["inserted"] += result.total_inserted
        self.stats["duplicates"] += result.total_duplicates
        self.stats["refused"] += len(result.rejects)
        # Inserted/duplicate counts are per transaction; each job gets its refusals.
        for job, refused in zip(jobs, refused_by_job, strict=True):
            job.future.set_result(Outcome(refused=refused))

    def _spool(
        self, jobs: list[_Job], rows: dict[str, list[Any]], rejects: list[RejectRecord]
    ) -> None:
        total = sum(len(r) for r in rows.values()) + len(rejects)
        if self._spooled_bytes >= self.max_spool_bytes:
            self.stats["spool_full"] += 1
            for job in jobs:
                job.future.set_exception(
                    SpoolFull("the database is unreachable and the spool is full")
                )
            return
        try:
            self.spool.append(rows, rejects)
        except Exception as err:  # noqa: BLE001 - disk failure: the sender must retry
            log.error("otlp receiver could not spool a batch: %s", redact_text(str(err)))
            self.stats["spool_full"] += 1
            for job in jobs:
                job.future.set_exception(SpoolFull(f"the spool cannot be written: {err}"))
            return
        self._spooled_bytes = self._spool_size()
        self.stats["spooled_rows"] += total
        for job in jobs:
            job.future.set_result(Outcome(spooled=True))

    def _try_replay(self) -> None:
        try:
            conn = self._link.connection()
            self._replay(conn)
        except Exception as err:  # noqa: BLE001 - still down: back off
            self._failed(err)
            return
        self._link.recovered()

    def _replay(self, conn: psycopg.Connection) -> None:
        """Write every spool file, oldest first; each is deleted only after its commit."""
        for path in self.spool.pending():
            with self.spool.claim(path) as mine:
                if not mine:
                    continue
                rows, rejects = Spool.read(path)
                result = write_batch(conn, rows, rejects, reject_source="otlp")
                path.unlink()
                replayed = sum(len(r) for r in rows.values())
                self.stats["replayed_rows"] += replayed
                self.stats["inserted"] += result.total_inserted
                self.stats["duplicates"] += result.total_duplicates
                log.info("otlp receiver replayed %d spooled rows from %s", replayed, path.name)
        self._spooled_bytes = self._spool_size()

    def _spool_size(self) -> int:
        total = 0
        for path in self.spool.pending():
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    def _failed(self, err: BaseException) -> None:
        self.stats["last_error"] = self._link.failed(err)


def _merge(
    jobs: list[_Job],
) -> tuple[dict[str, list[Any]], list[RejectRecord], list[dict[str, tuple[int, int]]]]:
    """One batch of several jobs, and where each job's rows sit in it (per table)."""
    rows: dict[str, list[Any]] = {}
    rejects: list[RejectRecord] = []
    spans: list[dict[str, tuple[int, int]]] = []
    for job in jobs:
        span: dict[str, tuple[int, int]] = {}
        for table, table_rows in job.prepared.rows.items():
            target = rows.setdefault(table, [])
            span[table] = (len(target), len(table_rows))
            target.extend(table_rows)
        rejects.extend(job.prepared.rejects)
        spans.append(span)
    return rows, rejects, spans
