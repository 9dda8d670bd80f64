"""The collector: record telemetry from an MCP server without ever slowing or breaking it.

`record_*` appends to an in-memory buffer (a lock, a deque append: microseconds) and returns.
A background thread turns the buffer into rows (validation, redaction, hashing, capping) and
writes them through `writer.write_batch` when `batch_size` rows are waiting or the oldest has
waited `flush_interval_ms`, whichever comes first. When the database cannot take a batch, the
batch goes to the local spool (fsync'd JSONL) and the thread retries with capped, jittered
exponential backoff, replaying the spool once the database answers. When the spool cannot take
a batch either (a full disk), the batch is held in memory until the database or the disk is
back. What waits in memory is bounded in bytes (`max_buffer_bytes`); what could be kept
nowhere is counted (`stats["lost"]`). See docs/ingest.md.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections import Counter, deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg

from mcp_analytics.collector.link import IngestLink
from mcp_analytics.collector.payloads import DEFAULT_MAX_PAYLOAD_BYTES, measure, parsed
from mcp_analytics.collector.spool import Spool
from mcp_analytics.config import settings
from mcp_analytics.ingest.events import DEFAULT_WINDOW, EventError, TimeWindow, prepare
from mcp_analytics.ingest.redaction import TOO_DEEP, RedactionRules, redact_text
from mcp_analytics.ingest.writer import KnownUsers, RejectRecord, WriteResult, write_batch

log = logging.getLogger("mcp_analytics.collector")

# The seed's defaults (system_configuration), used until the database has been read.
DEFAULT_BATCH_SIZE = 50
DEFAULT_FLUSH_INTERVAL_MS = 5000
DEFAULT_ENABLED = True
#: under load several batches go in one transaction, up to this many rows.
MAX_ROWS_PER_WRITE = 5000
CONFIG_REFRESH_S = 60.0
#: rows per transaction when replaying the spool.
REPLAY_CHUNK_ROWS = 5000
#: default bound on what waits in memory (buffered, being written, held), in bytes.
DEFAULT_MAX_BUFFER_BYTES = 64 << 20
#: inventory snapshots waiting for the database at most (the oldest give way, counted lost).
MAX_INVENTORY_PENDING = 256

_live: weakref.WeakSet[Collector] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for collector in list(_live):
        collector.close(timeout=10)


atexit.register(_close_all_at_exit)


def _reset_after_fork() -> None:
    for collector in list(_live):
        collector._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Collector:
    """Buffered, idempotent, outage-proof telemetry writer. Thread-safe; use one per process."""

    def __init__(
        self,
        url: str | None = None,
        *,
        batch_size: int | None = None,
        flush_interval_ms: int | None = None,
        max_buffer: int = 100_000,
        spool_dir: Path | None = None,
        redaction: RedactionRules | None = None,
        max_response_bytes: int = 65536,
        enabled: bool | None = None,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if flush_interval_ms is not None and flush_interval_ms < 1:
            raise ValueError("flush_interval_ms must be >= 1")
        if max_buffer < 1:
            raise ValueError("max_buffer must be >= 1")
        if max_buffer_bytes < 1 or max_payload_bytes < 1:
            raise ValueError("max_buffer_bytes and max_payload_bytes must be >= 1")
        self._link = IngestLink(
            url, name="collector", log=log, application_name="mcp-analytics-collector"
        )
        self._fixed_batch_size = batch_size
        self._fixed_interval_ms = flush_interval_ms
        self._fixed_enabled = enabled
        self._fixed_rules = redaction
        self.batch_size = batch_size or DEFAULT_BATCH_SIZE
        self.flush_interval_ms = flush_interval_ms or DEFAULT_FLUSH_INTERVAL_MS
        self.enabled = DEFAULT_ENABLED if enabled is None else enabled
        self.rules = redaction or RedactionRules()
        self.max_buffer = max_buffer
        self.max_buffer_bytes = max_buffer_bytes
        self.max_payload_bytes = max_payload_bytes
        self.max_response_bytes = max_response_bytes
        self.spool = Spool(spool_dir or settings().spool_dir)

        self._cond = threading.Condition(threading.Lock())
        # Events waiting, each with its accounted bytes (payloads.measure); bytes of events
        # taken for a write not yet done, and of batches the spool could not take (held).
        self._buf: deque[tuple[str, dict[str, Any], int]] = deque()
        self._buf_bytes = 0
        self._busy_bytes = 0
        self._held: deque[tuple[dict[str, list[dict[str, Any]]], list[RejectRecord], int]] = deque()
        self._held_bytes = 0
        self._spool_failing = False
        self._oldest: float | None = None  # monotonic time the oldest buffered event arrived
        self._flush_wanted = 0  # flush generations requested / completed
        self._flush_done = 0
        self._stop = False
        self._thread: threading.Thread | None = None
        self._config_read_at: float | None = None
        self._spool_waiting = False
        self._next_replay = 0.0
        self._inflight: threading.Thread | None = None
        self._users = KnownUsers()
        # What servers advertised (mcp_record_inventory payloads), in the order recorded.
        self._inventory: deque[dict[str, Any]] = deque()
        # Counters, and the last errors' texts (None until one happens).
        self._stats: dict[str, Any] = {
            "recorded": 0,
            "written": 0,
            "duplicates": 0,
            "rejected": 0,
            "spooled": 0,
            "replayed": 0,
            "overflow_spooled": 0,
            "dropped_by_disabled": 0,
            "retries": 0,
            "unmatched_user_ids": 0,
            "capped": 0,
            "spool_errors": 0,
            "lost": 0,
            "last_error": None,
            "last_spool_error": None,
            # rows not written because a stored row has their key with other values
            "conflicts": 0,
            # values changed to fit, "<table>.<column>: <what>" -> count (labels cut...)
            "altered": Counter(),
            # event times more than the window's warn_ahead ahead of receipt, per column
            "ahead_of_receipt": Counter(),
            # inventory snapshots (record_inventory): recorded, stored, refused by the database
            "inventory_recorded": 0,
            "inventory_written": 0,
            "inventory_refused": 0,
        }
        self.window = DEFAULT_WINDOW

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Collector:
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return self
            self._stop = False
            # Files left by an earlier run (a crash, an outage at exit) are replayed first.
            self._spool_waiting = self.spool.has_pending()
            self._thread = threading.Thread(target=self._run, name="mcpa-collector", daemon=True)
            self._thread.start()
        _live.add(self)
        return self

    def close(self, timeout: float | None = None) -> bool:
        """Write (or spool) everything recorded, then stop. True when all of it was handled."""
        thread = self._thread
        if thread is None:
            return True
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        thread.join(timeout)
        done = not thread.is_alive()
        if done:
            with self._cond:
                if self._thread is thread:  # not a thread a late record_* just started
                    self._thread = None
            _live.discard(self)
        return done

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything recorded so far is written or spooled (and, when the
        database answers, the spool replayed). False on timeout."""
        self._ensure_started()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flush_wanted += 1
            target = self._flush_wanted
            self._cond.notify_all()
            while self._flush_done < target:
                if self._thread is None or not self._thread.is_alive():
                    return not self._buf
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining if remaining is not None else 1.0)
            # Held in memory (neither the database nor the spool took them): not handled yet.
            return not self._held

    @property
    def stats(self) -> dict[str, Any]:
        """Counters since start (see docs/ingest.md), and gauges: `buffered` (events
        waiting), `buffered_bytes` (accounted bytes in memory: waiting, being written,
        held), `held_rows` (rows the spool could not take, held in memory), `spool_files`."""
        with self._cond:
            out = dict(self._stats)
            out["altered"] = dict(self._stats["altered"])
            out["ahead_of_receipt"] = dict(self._stats["ahead_of_receipt"])
            out["buffered"] = len(self._buf)
            out["buffered_bytes"] = self._buf_bytes + self._busy_bytes + self._held_bytes
            out["held_rows"] = sum(_rows(rows) for rows, _, _ in self._held)
        out["spool_files"] = len(self.spool.pending())
        return out

    @property
    def health(self) -> dict[str, Any]:
        """A summary for a health endpoint: `status` is "ok" (the database takes the
        events), "degraded" (the database is unreachable and the spool takes them: nothing
        at risk) or "failing" (the spool cannot take them either: held in memory, and once
        memory is full lost, counted in `lost`); with the counts behind it."""
        stats = self.stats
        failing = self._spool_failing or bool(stats["held_rows"]) or bool(stats["lost"])
        status = "failing" if failing else "degraded" if self._link.down else "ok"
        return {
            "status": status,
            "database": "down" if self._link.down else "up",
            "spool": "failing" if self._spool_failing else "ok",
            "held_rows": stats["held_rows"],
            "lost": stats["lost"],
            "spool_errors": stats["spool_errors"],
            "buffered_bytes": stats["buffered_bytes"],
            "last_error": stats["last_error"],
            "last_spool_error": stats["last_spool_error"],
        }

    # -- recording (caller's thread: no I/O, no exceptions from the database) ---------------

    def record_tool_call(
        self,
        *,
        bcp_name: str,
        tool_name: str,
        operation: str,
        success: bool,
        duration_ms: float,
        parameters: Any = None,
        response_data: Any = None,
        execution_id: str | None = None,
        error_message: str | None = None,
        error_stack: str | None = None,
        error_code: str | None = None,
        user_id: int | None = None,
        session_id: str | None = None,
        request_id: str | None = None,
        timestamp: dt.datetime | str | None = None,
        ip_address: str | None = None,
        user_agent: str | None = None,
        tool_version: str | None = None,
        cache_hit: bool = False,
        memory_usage_mb: float | None = None,
        cpu_usage_percent: float | None = None,
        client_name: str | None = None,
        client_version: str | None = None,
        protocol_version: str | None = None,
        transport: str | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        parent_span_id: str | None = None,
    ) -> str:
        """Record one tool call (`tool_usage_logs`); returns its execution_id.

        The last seven fields are the OTLP columns (bootstrap_sql/070): the calling client, the
        protocol, and the call's OpenTelemetry span (hex ids) when it was traced."""
        execution_id = execution_id or str(uuid.uuid4())
        event = _event(locals(), texts=("error_message", "error_stack"))
        self._record("tool_usage_logs", event)
        return execution_id

    def record_request(
        self,
        *,
        method: str,
        path: str,
        response_status_code: int,
        duration_ms: float,
        success: bool,
        request_id: str | None = None,
        query_params: Any = None,
        request_headers: Any = None,
        request_body: Any = None,
        response_data: Any = None,
        response_headers: Any = None,
        response_size_bytes: int | None = None,
        queue_time_ms: float | None = None,
        processing_time_ms: float | None = None,
        error_type: str | None = None,
        user_id: int | None = None,
        session_id: str | None = None,
        timestamp: dt.datetime | str | None = None,
        user_agent: str | None = None,
        ip_address: str | None = None,
        client_version: str | None = None,
        correlation_id: str | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
    ) -> str:
        """Record one HTTP request (`mcp_request_logs`); returns its request_id."""
        request_id = request_id or str(uuid.uuid4())
        event = _event(locals(), headers=("request_headers", "response_headers"))
        self._record("mcp_request_logs", event)
        return request_id

    def record_error(
        self,
        *,
        level: str,
        message: str,
        stack_trace: str | None = None,
        error_code: str | None = None,
        context: Any = None,
        tool_context: Any = None,
        user_id: int | None = None,
        session_id: str | None = None,
        request_id: str | None = None,
        execution_id: str | None = None,
        timestamp: dt.datetime | str | None = None,
        category: str | None = None,
        severity: int | None = None,
        impact_level: str | None = None,
        environment: str | None = None,
        service_version: str | None = None,
        deployment_id: str | None = None,
        occurrence_count: int | None = None,
        first_occurrence: dt.datetime | str | None = None,
        last_occurrence: dt.datetime | str | None = None,
    ) -> None:
        """Record one application error (`error_logs`)."""
        event = _event(locals(), texts=("message", "stack_trace"))
        self._record("error_logs", event)

    def record_metric(
        self,
        *,
        metric_name: str,
        metric_value: float,
        aggregation_period: str,
        labels: Mapping[str, Any] | None = None,
        timestamp: dt.datetime | str | None = None,
        measurement_type: str | None = None,
        unit: str | None = None,
        service: str | None = None,
        environment: str | None = None,
    ) -> None:
        """Record one metric sample (`performance_metrics`)."""
        event = _event(locals())
        self._record("performance_metrics", event)

    def record_inventory(self, snapshot: dict[str, Any]) -> None:
        """Record what a server advertised: `snapshot` is the argument of
        mcp_record_inventory() (`analytics.inventory.snapshot_payload`), stored by the
        background thread in its own transaction. Up to MAX_INVENTORY_PENDING wait while the
        database is down; past that the oldest gives way (counted in `lost`). One the database
        refuses is written to `ingest_rejects` with the reason (`inventory_refused`)."""
        try:
            if not self._accepting():
                return
            with self._cond:
                if len(self._inventory) >= MAX_INVENTORY_PENDING:
                    self._inventory.popleft()
                    self._stats["lost"] += 1
                self._inventory.append(snapshot)
                self._stats["inventory_recorded"] += 1
                self._cond.notify_all()
        except Exception as err:  # noqa: BLE001 - recording must never break the caller
            log.warning("collector could not record an inventory: %s", redact_text(str(err)))

    def _write_inventory(self) -> None:
        """Store the waiting inventory snapshots, oldest first; stop at a connection failure
        (they wait for the next attempt). One the database refuses is logged and dropped."""
        while True:
            with self._cond:
                if not self._inventory:
                    return
                snapshot = self._inventory[0]
            refused = None
            conn: psycopg.Connection | None = None
            try:
                conn = self._link.connection()
                with conn.transaction():
                    conn.execute(
                        "select mcp_record_inventory(%s::jsonb)",
                        (json.dumps(snapshot, default=str),),
                    )
            except psycopg.Error as err:
                # a dead connection is an outage (retry later), not a refusal of the snapshot
                lost = conn is None or conn.closed or conn.broken
                if lost or isinstance(err, psycopg.OperationalError):
                    message = self._link.failed(err)
                    with self._cond:
                        self._stats["last_error"] = message
                    return
                refused = redact_text(f"{type(err).__name__}: {err}")
                log.warning("collector: the database refused an inventory snapshot: %s", refused)
            except Exception as err:  # noqa: BLE001 - any other failure: keep it, retry later
                message = self._link.failed(err)
                with self._cond:
                    self._stats["last_error"] = message
                return
            if refused is not None and conn is not None:
                # kept with the reason, as a refused row is
                reject = RejectRecord(
                    source="collector",
                    reason=f"mcp_record_inventory: {refused}",
                    raw=json.dumps(self.rules.value(snapshot, too_deep=TOO_DEEP), default=str),
                    target_table="mcp_inventory_snapshots",
                )
                try:
                    write_batch(conn, {}, [reject], reject_source="collector", users=self._users)
                except Exception as err:  # noqa: BLE001 - an outage: the snapshot waits
                    message = self._link.failed(err)
                    with self._cond:
                        self._stats["last_error"] = message
                    return
            self._link.recovered()
            with self._cond:
                self._inventory.popleft()
                self._stats["inventory_refused" if refused else "inventory_written"] += 1

    def _record(self, table: str, event: dict[str, Any]) -> None:
        try:
            if not self._accepting():
                return
            size, cut = measure(table, event, self.max_payload_bytes)
            with self._cond:
                self._stats["recorded"] += 1
                self._stats["capped"] += cut
                if len(self._buf) < self.max_buffer and size <= self._room():
                    if not self._buf:
                        self._oldest = time.monotonic()
                    self._buf.append((table, event, size))
                    self._buf_bytes += size
                    if len(self._buf) >= self.batch_size:
                        self._cond.notify_all()
                    return
            # Buffer full (the writer cannot keep up): spool on the caller's thread rather than
            # drop. The only case where recording pays for I/O; it is also back-pressure.
            rows, rejects = self._prepare([(table, event, size)])
            try:
                self.spool.append(rows, rejects)
            except OSError as err:
                self._spool_failed(rows, rejects, size, err, accounted=False)
                return
            with self._cond:
                self._stats["overflow_spooled"] += 1
                self._stats["spooled"] += 1
        except Exception as err:  # noqa: BLE001 - recording must never break the caller
            log.warning("collector could not record an event: %s", redact_text(str(err)))

    def _accepting(self) -> bool:
        """Whether recording is on; when it is, the background thread runs (started if need
        be); when it is off, the event is counted in `dropped_by_disabled`."""
        if not self.enabled:
            with self._cond:
                self._stats["dropped_by_disabled"] += 1
            return False
        self._ensure_started()
        return True

    def _room(self) -> int:
        """Bytes left under `max_buffer_bytes` (called with the lock held)."""
        return self.max_buffer_bytes - self._buf_bytes - self._busy_bytes - self._held_bytes

    def _ensure_started(self) -> None:
        thread = self._thread
        if thread is None or not thread.is_alive():
            self.start()

    def _after_fork_in_child(self) -> None:
        # The parent's thread, lock owner, connection and spool file are not ours: start
        # afresh. Events buffered before the fork are the parent's to write.
        self._cond = threading.Condition(threading.Lock())
        self._buf.clear()
        self._inventory.clear()
        self._held.clear()
        self._buf_bytes = self._busy_bytes = self._held_bytes = 0
        self._thread = None
        self._inflight = None
        self._link.forget()
        self.spool = Spool(self.spool.directory)

    # -- background thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._refresh_config(force=True)
            while True:
                with self._cond:
                    while True:
                        due = self._due()
                        if due <= 0:
                            break
                        self._cond.wait(due)
                    take, nbytes = self._take()
                    self._oldest = time.monotonic() if self._buf else None
                    flush_gen = self._flush_wanted
                    stopping = self._stop
                    more = bool(self._buf)
                if take:
                    self._handle(take, nbytes)
                if more:
                    continue
                if self._inventory and not self._link.backing_off():
                    self._wait_inflight()
                    self._write_inventory()
                # Buffer drained: replay the spool when it is time, refresh settings (both use
                # the connection, so the write in flight finishes first).
                force = flush_gen > self._flush_done or stopping
                if force or self._replay_due() or self._config_stale():
                    self._wait_inflight()
                    self._maybe_replay(force=force)
                    self._refresh_config()
                with self._cond:
                    if flush_gen > self._flush_done:
                        self._flush_done = flush_gen
                        self._cond.notify_all()
                    if stopping and not self._buf:
                        break
        finally:
            self._wait_inflight()
            self._give_up_held()
            with self._cond:
                # inventory snapshots the database never took (it was down at exit)
                self._stats["lost"] += len(self._inventory)
                self._inventory.clear()
            self.spool.close()
            self._link.disconnect()
            with self._cond:
                self._flush_done = self._flush_wanted
                self._cond.notify_all()

    def _take(self) -> tuple[list[tuple[str, dict[str, Any], int]], int]:
        """Events for the next write (lock held): up to `_per_write()` of them and a quarter
        of `max_buffer_bytes` (at least one), their bytes moved from waiting to busy."""
        take: list[tuple[str, dict[str, Any], int]] = []
        nbytes = 0
        limit = max(self.max_buffer_bytes // 4, 1)
        rows = self._per_write()
        while self._buf and len(take) < rows and (not take or nbytes + self._buf[0][2] <= limit):
            item = self._buf.popleft()
            take.append(item)
            nbytes += item[2]
        self._buf_bytes -= nbytes
        self._busy_bytes += nbytes
        return take, nbytes

    def _release(self, nbytes: int) -> None:
        with self._cond:
            self._busy_bytes -= nbytes

    def _replay_due(self) -> bool:
        if self._held and not self._link.down:
            return True
        if not (self._spool_waiting or self._link.down or self._held):
            return False
        return time.monotonic() >= max(self._link.next_attempt, self._next_replay)

    def _config_stale(self) -> bool:
        if self._link.down:
            return False
        read_at = self._config_read_at
        return read_at is None or time.monotonic() - read_at >= CONFIG_REFRESH_S

    def _per_write(self) -> int:
        return max(self.batch_size, MAX_ROWS_PER_WRITE)

    def _due(self) -> float:
        """Seconds until there is work (<= 0: now). Called with the lock held."""
        if self._stop or self._flush_wanted > self._flush_done:
            return 0
        if len(self._buf) >= self.batch_size:
            return 0
        if self._inventory and not self._link.backing_off():
            return 0
        now = time.monotonic()
        waits = [CONFIG_REFRESH_S]
        if self._buf and self._oldest is not None:
            waits.append(self._oldest + self.flush_interval_ms / 1000 - now)
        if self._link.down:
            waits.append(max(self._link.next_attempt - now, 0.05))
        elif self._spool_waiting:
            waits.append(max(self._next_replay - now, 0.05))
        return min(waits)

    def _prepare(
        self, items: list[tuple[str, dict[str, Any], int]]
    ) -> tuple[dict[str, list[dict[str, Any]]], list[RejectRecord]]:
        rows: dict[str, list[dict[str, Any]]] = {}
        rejects: list[RejectRecord] = []
        altered: Counter[str] = Counter()
        ahead: Counter[str] = Counter()
        for table, event, _ in items:
            present = {k: v for k, v in parsed(event).items() if v is not None}
            try:
                row = prepare(
                    table,
                    present,
                    rules=self.rules,
                    max_response_bytes=self.max_response_bytes,
                    window=self.window,
                    altered=altered,
                    ahead=ahead,
                )
            except EventError as err:
                # Cut, not refused, past MAX_DEPTH (the reason says so): a reject is written.
                redacted = self.rules.value(present, too_deep=TOO_DEEP)
                raw = json.dumps(redacted, ensure_ascii=False, default=str)
                rejects.append(
                    RejectRecord(source="collector", reason=str(err), raw=raw, target_table=table)
                )
                continue
            rows.setdefault(table, []).append(row)
        if altered or ahead:
            self._note(altered, ahead)
        return rows, rejects

    def _note(self, altered: Counter[str], ahead: Counter[str]) -> None:
        with self._cond:
            self._stats["altered"].update(altered)
            self._stats["ahead_of_receipt"].update(ahead)
        if altered:
            log.info(
                "collector altered %d value(s) to fit: %s",
                sum(altered.values()),
                ", ".join(f"{what} ({n})" for what, n in sorted(altered.items())),
            )
        if ahead:
            log.warning(
                "collector: %d event time(s) more than %d s ahead of receipt (%s): is the"
                " client's clock right?",
                sum(ahead.values()),
                int(self.window.warn_ahead.total_seconds()),
                ", ".join(sorted(ahead)),
            )

    def _handle(self, items: list[tuple[str, dict[str, Any], int]], nbytes: int) -> None:
        """Prepare `items` (while the previous batch may still be in flight), then hand them to
        a writer thread: Python work overlaps the database's. `nbytes`: their accounted bytes,
        released once the batch is written or spooled."""
        try:
            rows, rejects = self._prepare(items)
        except Exception as err:  # noqa: BLE001 - a bug here must not kill the thread
            log.error("collector could not prepare a batch: %s", redact_text(str(err)))
            self._release(nbytes)
            return
        self._wait_inflight()
        if self._link.backing_off():
            self._to_spool(rows, rejects, nbytes)
            return
        # A plain daemon thread per write (not an executor: executors refuse work once the
        # interpreter is shutting down, which is exactly when close() must still write).
        writer = threading.Thread(
            target=self._write,
            args=(rows, rejects, nbytes),
            name="mcpa-collector-write",
            daemon=True,
        )
        writer.start()
        self._inflight = writer

    def _wait_inflight(self) -> None:
        writer, self._inflight = self._inflight, None
        if writer is not None:
            writer.join()

    def _write(
        self, rows: dict[str, list[dict[str, Any]]], rejects: list[RejectRecord], nbytes: int
    ) -> None:
        try:
            conn = self._link.connection()
            if self._spool_waiting or self._link.down or self._held:
                self._replay(conn)
            result = write_batch(conn, rows, rejects, reject_source="collector", users=self._users)
        except Exception as err:  # noqa: BLE001 - any failure: keep the data, retry later
            self._failed(err)
            self._to_spool(rows, rejects, nbytes)
            return
        self._release(nbytes)
        self._link.recovered()
        self._count_written(result, len(rejects))

    def _count_written(self, result: WriteResult, rejects: int) -> None:
        with self._cond:
            self._stats["written"] += result.total_inserted
            self._stats["duplicates"] += result.total_duplicates
            self._stats["rejected"] += rejects + len(result.rejects)
            self._stats["unmatched_user_ids"] += sum(result.unmatched_user_ids.values())
            self._stats["conflicts"] += result.total_conflicts

    def _to_spool(
        self, rows: dict[str, list[dict[str, Any]]], rejects: list[RejectRecord], nbytes: int
    ) -> None:
        """Append a batch to the spool (batches held earlier first: the disk may be back);
        when the spool cannot take it, hold it in memory (its bytes are accounted already)."""
        if self._held and not self._spool_held():
            self._hold(rows, rejects, nbytes)
            return
        try:
            self.spool.append(rows, rejects)
        except OSError as err:
            self._spool_failed(rows, rejects, nbytes, err, accounted=True)
            return
        self._spooled(rows, nbytes)

    def _spooled(self, rows: dict[str, list[dict[str, Any]]], nbytes: int) -> None:
        self._spool_waiting = True
        self._spool_failing = False
        with self._cond:
            self._busy_bytes -= nbytes
            self._stats["spooled"] += _rows(rows)

    def _spool_failed(
        self,
        rows: dict[str, list[dict[str, Any]]],
        rejects: list[RejectRecord],
        nbytes: int,
        err: OSError,
        *,
        accounted: bool,
    ) -> None:
        """The spool refused a batch (a full disk, an I/O error; the spool file is left cut
        back to its last whole record). Held in memory when it fits under
        `max_buffer_bytes` (a batch taken from the buffer always does: its bytes are
        accounted), else counted as lost. Never raised to the caller."""
        message = redact_text(f"{type(err).__name__}: {err}")
        self._spool_failing = True
        with self._cond:
            self._stats["spool_errors"] += 1
            self._stats["last_spool_error"] = message
            fits = accounted or nbytes <= self._room()
            if not fits:
                self._stats["lost"] += _rows(rows) + len(rejects)
        if fits:
            if not accounted:
                with self._cond:
                    self._busy_bytes += nbytes
            self._hold(rows, rejects, nbytes)
            log.error(
                "collector cannot spool (%s): %d rows held in memory until the database or "
                "the disk is back",
                message,
                _rows(rows),
            )
        else:
            log.error(
                "collector cannot spool (%s) and its memory bound is reached: %d rows lost",
                message,
                _rows(rows) + len(rejects),
            )

    def _hold(
        self, rows: dict[str, list[dict[str, Any]]], rejects: list[RejectRecord], nbytes: int
    ) -> None:
        """Keep a batch in memory (its `nbytes` move from busy to held)."""
        with self._cond:
            self._busy_bytes -= nbytes
            self._held_bytes += nbytes
            self._held.append((rows, rejects, nbytes))

    def _unhold(self) -> None:
        with self._cond:
            _, _, nbytes = self._held.popleft()
            self._held_bytes -= nbytes

    def _spool_held(self) -> bool:
        """Append held batches to the spool, oldest first; False when it still refuses."""
        while self._held:
            rows, rejects, _ = self._held[0]
            try:
                self.spool.append(rows, rejects)
            except OSError as err:
                with self._cond:
                    self._stats["spool_errors"] += 1
                    self._stats["last_spool_error"] = redact_text(f"{type(err).__name__}: {err}")
                return False
            self._unhold()
            self._spool_waiting = True
            self._spool_failing = False
            with self._cond:
                self._stats["spooled"] += _rows(rows)
        return True

    def _write_held(self, conn: psycopg.Connection) -> None:
        """Write held batches, oldest first (errors propagate: the rest stay held)."""
        while self._held:
            rows, rejects, _ = self._held[0]
            result = write_batch(conn, rows, rejects, reject_source="collector", users=self._users)
            self._unhold()
            self._count_written(result, len(rejects))

    def _give_up_held(self) -> None:
        """At stop: batches still held (neither the database nor the disk took them) go
        with the process; counted and logged."""
        if not self._held:
            return
        lost = sum(_rows(rows) + len(rejects) for rows, rejects, _ in self._held)
        with self._cond:
            self._held.clear()
            self._held_bytes = 0
            self._stats["lost"] += lost
        log.error("collector stopped with %d rows neither written nor spooled: lost", lost)

    def _maybe_replay(self, force: bool = False) -> None:
        if not (self._spool_waiting or self._link.down or self._held or force):
            return
        if not force and time.monotonic() < max(self._link.next_attempt, self._next_replay):
            return
        if not self.spool.has_pending():
            self._spool_waiting = False
            if not self._link.down and not self._held:
                return
        try:
            conn = self._link.connection()
            self._replay(conn)
        except Exception as err:  # noqa: BLE001
            self._failed(err)
            if self._held:  # the database is down: the disk may have room again
                self._spool_held()
            return
        self._link.recovered()

    def _replay(self, conn: psycopg.Connection) -> None:
        """Write the batches held in memory, then every spool file (oldest first); delete
        each file only after its commit."""
        self._write_held(conn)
        for path in self.spool.pending():
            with self.spool.claim(path) as mine:
                if not mine:
                    continue
                rows, rejects = Spool.read(path)
                total = sum(len(r) for r in rows.values())
                for chunk, chunk_rejects in _chunks(rows, rejects, REPLAY_CHUNK_ROWS):
                    result = write_batch(
                        conn, chunk, chunk_rejects, reject_source="collector", users=self._users
                    )
                    self._count_written(result, len(chunk_rejects))
                path.unlink()
                with self._cond:
                    self._stats["replayed"] += total
                log.info("collector replayed %d spooled rows from %s", total, path.name)
        self._spool_waiting = self.spool.has_pending()

    def _failed(self, err: BaseException) -> None:
        message = self._link.failed(err)
        with self._cond:
            self._stats["retries"] += 1
            self._stats["last_error"] = message

    # -- settings from system_configuration --------------------------------------------------

    def _refresh_config(self, force: bool = False) -> None:
        if self._link.down and not force:
            return
        fresh = self._config_read_at is not None and (
            time.monotonic() - self._config_read_at < CONFIG_REFRESH_S
        )
        if fresh and not force:
            return
        try:
            conn = self._link.connection()
        except Exception as err:  # noqa: BLE001 - keep the seed defaults, read again later
            self._failed(err)
            return
        try:
            self._read_config(conn)
        except psycopg.OperationalError as err:
            self._failed(err)
        except Exception as err:  # noqa: BLE001 - e.g. no right to read settings: not an outage
            self._config_read_at = time.monotonic()
            log.warning("collector keeps its settings: %s", redact_text(str(err)))

    def _read_config(self, conn: psycopg.Connection) -> None:
        values = read_settings(conn)
        self._config_read_at = time.monotonic()
        with self._cond:
            if self._fixed_batch_size is None:
                self.batch_size = _positive_int(values.get("analytics.batch_size"), self.batch_size)
            if self._fixed_interval_ms is None:
                self.flush_interval_ms = _positive_int(
                    values.get("analytics.flush_interval_ms"), self.flush_interval_ms
                )
            if self._fixed_enabled is None and isinstance(values.get("analytics.enabled"), bool):
                self.enabled = values["analytics.enabled"]
        if "analytics.event_time_window" in values:
            try:
                self.window = TimeWindow.from_config(values["analytics.event_time_window"])
            except ValueError as err:
                log.warning("ignoring analytics.event_time_window: %s", err)
        if self._fixed_rules is None and "analytics.redaction" in values:
            try:
                self.rules = RedactionRules.from_config(values["analytics.redaction"])
            except ValueError as err:
                log.warning("ignoring analytics.redaction: %s", err)


def read_settings(conn: psycopg.Connection) -> dict[str, Any]:
    """The analytics.* settings, through `ingest_settings()` (no SELECT on the table needed)."""
    try:
        with conn.transaction():
            rows = conn.execute("select config_key, config_value from ingest_settings()").fetchall()
    except psycopg.errors.UndefinedFunction:
        with conn.transaction():
            rows = conn.execute(
                "select config_key, config_value from system_configuration"
                " where config_key like 'analytics.%'"
            ).fetchall()
    return {key: value for key, value in rows}


def _rows(rows_by_table: Mapping[str, list[Any]]) -> int:
    return sum(len(r) for r in rows_by_table.values())


def _positive_int(value: Any, fallback: int) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else fallback
    )


def _event(
    arguments: dict[str, Any], *, texts: tuple[str, ...] = (), headers: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The event of a `record_*` call from its arguments (`locals()` on entry): each keyword
    argument is a column of its table, so the signature is the one list of them. `timestamp`
    defaults to now, the `texts` arguments become str (an exception object, for instance), the
    `headers` plain dicts."""
    event = {name: value for name, value in arguments.items() if name != "self"}
    event["timestamp"] = event["timestamp"] or _now()
    for name in texts:
        event[name] = _text(event[name])
    for name in headers:
        event[name] = _plain_headers(event[name])
    return event


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return str(value)  # an exception object, for instance


def _plain_headers(headers: Any) -> Any:
    # Starlette/httpx header objects are mappings with possibly repeated keys: keep a dict.
    if headers is None or isinstance(headers, dict | list):
        return headers
    items = getattr(headers, "items", None)
    if callable(items):
        return {str(k): v for k, v in items()}
    return headers


def _chunks(rows: dict[str, list[dict[str, Any]]], rejects: list[RejectRecord], size: int) -> Any:
    """Split spool contents into transactions of at most `size` rows (rejects in the first)."""
    chunk: dict[str, list[dict[str, Any]]] = {}
    count = 0
    pending_rejects = rejects
    for table, table_rows in rows.items():
        for start in range(0, len(table_rows), size):
            part = table_rows[start : start + size]
            chunk.setdefault(table, []).extend(part)
            count += len(part)
            if count >= size:
                yield chunk, pending_rejects
                chunk, count, pending_rejects = {}, 0, []
    if chunk or pending_rejects:
        yield chunk, pending_rejects
