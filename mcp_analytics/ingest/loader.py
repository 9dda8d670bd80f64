"""Bulk loader: newline-delimited JSON events into the raw tables, through the writer.

Each line is one event: a JSON object of column values plus `"table": "<raw table>"` (or the
table is given once for the whole input). Lines are validated and redacted by
`events.prepare`, gathered into chunks and written with `writer.write_batch` (COPY into
staging, `on conflict do nothing`), one transaction per chunk; loading a file twice adds nothing.

A bad line never aborts the load and is never lost: broken JSON, a missing or mistyped field, an
unknown table, a value out of range, and rows PostgreSQL itself refuses (isolated by
bisection) all go to the rejects file (JSONL: source, line, table, reason, raw line) and to the
`ingest_rejects` table, with the raw line redacted like any stored value.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import gc
import gzip
import io
import json
import logging
import multiprocessing
import os
import signal
import stat
import sys
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field, fields
from itertools import islice
from pathlib import Path
from typing import IO, Any, cast

import orjson
import psycopg

from mcp_analytics.ingest.events import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_WINDOW,
    TABLES,
    EventError,
    TimeWindow,
    prepare,
)
from mcp_analytics.ingest.redaction import (
    MAX_DEPTH,
    TOO_DEEP,
    NestingTooDeep,
    RedactionRules,
    redact_text,
)
from mcp_analytics.ingest.writer import (
    USER_REFS,
    CopyLines,
    KnownUsers,
    RejectRecord,
    WriteResult,
    lock_order_key,
    storable_text,
    write_batch,
)
from mcp_analytics.warehouse import db

log = logging.getLogger(__name__)

DEFAULT_BATCH_ROWS = 5000
#: bucket for lines whose table is unknown (broken JSON, no table, a table we do not have).
NO_TABLE = "(no table)"
#: seconds a stopped load gives the chunk being written to commit before cancelling it.
STOP_GRACE_S = 5.0


@dataclass
class TableCounts:
    loaded: int = 0
    #: rows identical to a stored row (a file loaded again).
    duplicates: int = 0
    rejected: int = 0
    #: rows written (or found duplicate) with user_id null: no `users` row had their user_id.
    unmatched_user_ids: int = 0
    #: rows whose key a stored row with other values holds: in the rejects, not stored.
    conflicts: int = 0

    def describe(self) -> str:
        """`loaded N, duplicates N, rejected N` and `, conflicts N` when there are any."""
        conflicts = f", conflicts {self.conflicts}" if self.conflicts else ""
        return (
            f"loaded {self.loaded}, duplicates {self.duplicates}, rejected {self.rejected}"
            f"{conflicts}"
        )


class _Total:
    """A LoadSummary attribute named after a TableCounts field: that field of every table
    added up."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, summary: LoadSummary, owner: type | None = None) -> int:
        return int(getattr(summary.total, self.name))


@dataclass
class LoadSummary:
    tables: dict[str, TableCounts] = field(default_factory=dict)
    lines: int = 0
    rejects_path: Path | None = None
    #: chunks written again after a deadlock or serialization failure (concurrent writers).
    retries: int = 0
    #: values changed to fit, "<table>.<column>: <what>" -> count (labels cut, bodies capped).
    altered: Counter[str] = field(default_factory=Counter)
    #: event times ahead of receipt by more than the window's warn_ahead, per "<table>.<column>".
    ahead: Counter[str] = field(default_factory=Counter)
    window: TimeWindow = DEFAULT_WINDOW

    def counts(self, table: str) -> TableCounts:
        return self.tables.setdefault(table, TableCounts())

    loaded = _Total()
    duplicates = _Total()
    rejected = _Total()
    conflicts = _Total()

    @property
    def total(self) -> TableCounts:
        """The counts of every table added up."""
        return TableCounts(
            **{
                f.name: sum(getattr(c, f.name) for c in self.tables.values())
                for f in fields(TableCounts)
            }
        )

    def render(self) -> str:
        total = self.total
        lines = [f"{total.describe()} ({self.lines} lines read)"]
        lines += [f"  {name}: {self.tables[name].describe()}" for name in sorted(self.tables)]
        if self.altered:
            lines.append(f"altered to fit: {sum(self.altered.values())} value(s)")
            lines += [f"  {what}: {n}" for what, n in sorted(self.altered.items())]
        if self.ahead:
            lines.append(
                f"warning: {sum(self.ahead.values())} event time(s) more than"
                f" {int(self.window.warn_ahead.total_seconds())} s ahead of receipt (a client"
                " clock running fast?), stored as sent"
            )
            lines += [f"  {what}: {n}" for what, n in sorted(self.ahead.items())]
        if (total.rejected or total.conflicts) and self.rejects_path:
            lines.append(f"rejected lines written to {self.rejects_path}")
        unmatched = total.unmatched_user_ids
        if unmatched:
            lines.append(
                f"{unmatched} row(s) with a user_id not in users: stored with user_id null,"
                " the id kept in unmatched_user_id"
            )
        if self.retries:
            lines.append(
                f"{self.retries} chunk(s) written again after a deadlock or serialization"
                " failure (another writer of the same rows)"
            )
        return "\n".join(lines)


class LoadError(RuntimeError):
    """The load stopped before the end of its input (the database went away, a file could not
    be read): committed chunks stay committed, `summary` counts them; run the load again (what
    was loaded counts as duplicates). The message is redacted."""

    def __init__(self, message: str, summary: LoadSummary) -> None:
        super().__init__(message)
        self.summary = summary


# Characters that str.splitlines() (and some JSONL readers) take for line breaks, which
# json.dumps(ensure_ascii=False) leaves as they are: escaped, so one reject is one line.
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


class LoadInterrupted(BaseException):
    """The load was stopped by a signal (SIGTERM, SIGINT). `summary` counts what was
    committed before it stopped; running the same input again loads the rest (what was
    committed counts as duplicates). A BaseException, like KeyboardInterrupt, so that no
    `except Exception` swallows it."""

    def __init__(self, signum: int, summary: LoadSummary | None = None) -> None:
        super().__init__(signum)
        self.signum = signum
        self.summary = summary if summary is not None else LoadSummary()

    @property
    def signal_name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def exit_status(self) -> int:
        """128 + the signal's number, the shell's convention (143 for SIGTERM, 130 for SIGINT)."""
        return 128 + self.signum


@contextlib.contextmanager
def stop_on_signals(
    signums: Sequence[int] = (signal.SIGTERM, signal.SIGINT),
) -> Iterator[None]:
    """While active, the first of `signums` raises `LoadInterrupted` in the main thread, so a
    load stops cleanly: workers stopped, the chunk being written committed or rolled back,
    the summary counted (`load` attaches it). A second signal ends the process at once (the
    default action), which is safe too: workers die with the loader and the server rolls
    back what was not committed. Outside the main thread this does nothing (Python delivers
    signals to the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        for each in signums:
            signal.signal(each, signal.SIG_DFL)
        raise LoadInterrupted(signum)

    previous = {each: signal.signal(each, handler) for each in signums}
    try:
        yield
    finally:
        for each, old in previous.items():
            signal.signal(each, old)


class RejectsFile:
    """The local rejects file, opened on the first reject (no empty files left behind)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def write(self, record: RejectRecord) -> None:
        if self._fh is None:
            self._fh = _open_private(self.path)
        entry = {
            "source": storable_text(record.source_name or ""),
            "line": record.line_number,
            "table": record.target_table,
            "reason": storable_text(record.reason),
            "raw": storable_text(record.raw),
        }
        self._fh.write(json.dumps(entry, ensure_ascii=False).translate(_LINE_BREAKS) + "\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _open_private(path: Path) -> IO[str]:
    """`path` opened for appending, created 0600 in a folder created 0700 (rejects hold raw
    telemetry: the same care as the spool); an existing file keeps its mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return open(fd, "a", encoding="utf-8")  # long-lived, closed by close()


def default_rejects_path() -> Path:
    from mcp_analytics.config import settings

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return settings().state_dir / "rejects" / f"ingest-{stamp}-{os.getpid()}.jsonl"


@dataclass(frozen=True)
class _Lines:
    """Rows of one table that came from one block of lines: row k is line `first + index[k]`
    of `source`, `raws[index[k]]`. Kept as is and looked up only for a PG-level reject."""

    source: str
    first: int
    raws: Sequence[str | bytes]
    index: Sequence[int]

    def __getitem__(self, k: int) -> tuple[str, int, str | bytes]:
        i = self.index[k]
        return self.source, self.first + i, self.raws[i]


@dataclass
class _Chunk:
    #: per table: prepared rows (dicts), or COPY text made by a preparing process.
    rows: dict[str, Any] = field(default_factory=dict)
    #: per table: where row k came from, `origin[table][k]` = (source name, line number, raw
    #: line): a list in-process, `_Lines` for a worker's block; for PG-level rejects.
    origin: dict[str, Any] = field(default_factory=dict)
    rejects: list[RejectRecord] = field(default_factory=list)
    size: int = 0


@dataclass(frozen=True)
class _Config:
    table: str | None
    rules: RedactionRules
    max_response_bytes: int
    window: TimeWindow = DEFAULT_WINDOW
    #: counts `prepare` adds to (values altered to fit, times ahead of receipt), moved into the
    #: summary with each chunk (a worker hands its own back with its answer).
    altered: Counter[str] = field(default_factory=Counter, compare=False)
    ahead: Counter[str] = field(default_factory=Counter, compare=False)


# Digits to "0", every other byte to " ": a run of 19 digits is then one substring test.
_DIGIT_RUNS = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))
_LONG_NUMBER = b"0" * 19
_SLOW = object()


def _parse_fast(raw: bytes) -> Any:
    """The event of a line by orjson (about twice as fast as `json.loads`), or `_SLOW` when
    only the standard parser's answer will do. orjson turns integers beyond 64 bits into
    floats (json keeps them exact, and the stored JSON and its hash depend on it): lines with
    19 digits in a row go to the standard parser. So do lines orjson refuses (broken JSON,
    NaN, lone surrogates, invalid UTF-8, blank lines) and non-objects, so their verdict and
    message are the standard parser's. Otherwise both give equal values (tests/ingest)."""
    if _LONG_NUMBER in raw.translate(_DIGIT_RUNS):
        return _SLOW
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _SLOW
    return event if type(event) is dict else _SLOW


def _raw(
    rules: RedactionRules, event: dict[str, Any], table: Any, line: str | bytes | None = None
) -> str:
    """The redacted text of a rejected event: its JSON, or, for an event nested too deep to
    walk, the redacted text of its `line` (whole: a reject loses nothing)."""
    whole = {"table": table, **event} if table is not None else event
    try:
        redacted = rules.value(whole)
    except NestingTooDeep:
        if line is not None:
            return rules.text(_line_text(line))
        redacted = rules.value(whole, too_deep=TOO_DEEP)
    return json.dumps(redacted, ensure_ascii=False, default=str)


def _line_text(line: str | bytes) -> str:
    if isinstance(line, bytes):
        line = line.decode("utf-8", "backslashreplace")
    return line.rstrip("\r\n")


def _reject(source: str, number: int, table: str | None, reason: str, raw: str) -> RejectRecord:
    return RejectRecord(
        source="loader",
        reason=reason,
        raw=raw,
        source_name=source,
        line_number=number,
        target_table=table,
    )


def _prepare_line(
    cfg: _Config, source: str, number: int, raw: bytes, fast: bool = True
) -> RejectRecord | tuple[str, dict[str, Any], str | bytes] | None:
    """One physical line: None (blank), a reject, or (table, prepared row, line text or
    bytes). `fast=False` parses with the standard library only (what tests compare with)."""
    event: Any = _parse_fast(raw) if fast else _SLOW  # a dict, a list..., or _SLOW
    if event is not _SLOW:
        return _prepare_event(cfg, source, number, event, raw)
    reason, parsed, text = _parse_slow(raw)
    if reason is not None:
        return _reject(source, number, None, reason, cfg.rules.text(text))
    if parsed is None:
        return None
    return _prepare_event(cfg, source, number, parsed, text)


def _parse_slow(raw: bytes) -> tuple[str | None, dict[str, Any] | None, str]:
    """A line by the standard parser: (reject reason or None, the event or None for a blank
    line, the line's text). Never raises: bad bytes, a byte-order mark, broken JSON and JSON
    nested beyond the parser's recursion limit all end as a reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        if not raw.strip():
            return None, None, ""
        hint = ""
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
            hint = " (the file looks like UTF-16: convert it to UTF-8)"
        reason = f"not valid UTF-8: {err.reason} at byte {err.start}{hint}"
        return reason, None, _line_text(raw)
    text = text.rstrip("\r\n")
    if text[:1] == "\ufeff":
        text = text[1:]  # a byte-order mark (first line of a file saved "with BOM")
    if not text or text.isspace():
        return None, None, text  # blank lines are not events
    try:
        event = json.loads(text)
    except RecursionError:
        reason = f"invalid JSON: nested too deep to parse (values may nest {MAX_DEPTH} levels)"
        return reason, None, text
    except ValueError as err:
        return f"invalid JSON: {err}", None, text
    if not isinstance(event, dict):
        return "expected a JSON object per line", None, text
    return None, event, text


def _prepare_event(
    cfg: _Config, source: str, number: int, event: dict[str, Any], text: str | bytes
) -> RejectRecord | tuple[str, dict[str, Any], str | bytes]:
    """A parsed line (a JSON object): a reject, or (table, prepared row, the line)."""
    rules = cfg.rules

    def reject(table: str | None, reason: str, raw: str) -> RejectRecord:
        return _reject(source, number, table, reason, raw)

    table = event.pop("table", None)
    if cfg.table is not None:
        if table is not None and table != cfg.table:
            return reject(
                None,
                f"table: {table!r} does not match --table {cfg.table}",
                _raw(rules, event, table, text),
            )
        table = cfg.table
    if table is None:
        return reject(
            None,
            "table: missing (name it in the line or use --table)",
            _raw(rules, event, table, text),
        )
    if not isinstance(table, str) or table not in TABLES:
        return reject(
            None,
            f"table: unknown table {table!r} (expected one of {', '.join(TABLES)})",
            _raw(rules, event, table, text),
        )
    try:
        row = prepare(
            table,
            event,
            rules=rules,
            max_response_bytes=cfg.max_response_bytes,
            require_timestamp=True,
            window=cfg.window,
            altered=cfg.altered,
            ahead=cfg.ahead,
        )
    except EventError as err:
        return reject(table, str(err), _raw(rules, event, table, text))
    return table, row, text


@dataclass
class _Prepared:
    """A worker's answer for a list of lines."""

    lines: int = 0
    #: per table: the rows as one buffer of COPY text, and the index of each row in the lines
    #: given (one bytes object pickles far cheaper than a str per row).
    rows: dict[str, bytes] = field(default_factory=dict)
    index: dict[str, list[int]] = field(default_factory=dict)
    #: per table, the values of its user references per row, when any is set (`USER_REFS`).
    refs: dict[str, dict[str, list[int | None]]] = field(default_factory=dict)
    rejects: list[RejectRecord] = field(default_factory=list)
    #: the worker's counts of values altered and times ahead of receipt, for these lines.
    altered: Counter[str] = field(default_factory=Counter)
    ahead: Counter[str] = field(default_factory=Counter)


_worker_config: _Config | None = None
#: (source name, number of the first line, the raw lines)
_Block = tuple[str, int, list[bytes]]

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Make this worker die when the loader does, however it dies (SIGKILL included): on
    Linux the kernel sends SIGKILL on the parent's death (`prctl(PR_SET_PDEATHSIG)`);
    elsewhere a thread polls the parent's pid. A worker that outlived its loader would keep
    every socket it inherited open, and so the loader's database session, transaction and
    locks (a re-run of the same file would wait on them)."""
    done = False
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            done = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    if os.getppid() != parent:  # the loader died before the line above took effect
        os._exit(1)
    if not done:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="mcpa-worker-watch", daemon=True).start()


def _close_inherited_sockets() -> None:
    """Close this worker's copies of the sockets it inherited (database connections of the
    loader and of anything else in the calling process): a worker never talks to the
    database, and closing a copy leaves the parent's socket as it is. The worker's own
    queues are pipes; fds 0-2 are left alone (they may be a journal socket)."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd < 3:
            continue
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.close(fd)
        except OSError:
            continue


def _init_worker(cfg: _Config, parent: int) -> None:
    global _worker_config
    _worker_config = cfg
    # The loader decides when to stop: SIGINT (a terminal's Ctrl-C reaches the whole process
    # group) is ignored, SIGTERM ends the worker (the loader's handler is not its own).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)
    _close_inherited_sockets()
    # The forked child inherits the caller's heap: keep the collector from walking it (which
    # would also copy every page it touches, and could finalise an inherited connection),
    # and collect the young generation less often (parsing allocates many short-lived dicts,
    # none of them cyclic).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _prepare_chunk(source: str, first: int, raws: list[bytes]) -> _Prepared:
    """In a worker process: prepare lines and format the rows as COPY text."""
    cfg = _worker_config
    assert cfg is not None
    done = _Prepared()
    keyed: dict[str, list[tuple[Any, ...]]] = {}
    for i, raw in enumerate(raws):
        out = _prepare_line(cfg, source, first + i, raw)
        if out is None:
            continue
        done.lines += 1
        if type(out) is RejectRecord:
            done.rejects.append(out)
            continue
        table, row, _ = out  # type: ignore[misc]
        refs = [row[c] for c in USER_REFS.get(table, ())]
        keyed.setdefault(table, []).append((*lock_order_key(table, row), i, *refs))
    for table, rows in keyed.items():
        # In the writer's lock order (concurrent loads of the same rows do not deadlock);
        # lone surrogates (from "\ud800" in the JSON) become "?", as the writer does.
        rows.sort()
        done.rows[table] = "".join([r[1] for r in rows]).encode("utf-8", "replace")
        done.index[table] = [r[2] for r in rows]
        # The user ids of the rows (only when some are set), for the writer's check.
        columns = {c: [r[k] for r in rows] for k, c in enumerate(USER_REFS.get(table, ()), 3)}
        done.refs[table] = {c: v for c, v in columns.items() if v.count(None) < len(v)}
    done.altered, done.ahead = Counter(cfg.altered), Counter(cfg.ahead)
    cfg.altered.clear()
    cfg.ahead.clear()
    return done


def _noop() -> None:
    return None


def _start_pool(workers: int, cfg: _Config) -> ProcessPoolExecutor:
    """Worker processes, forked now, before the loader starts its own threads (fork copies
    none of them; spawn/forkserver would re-import the caller's __main__, which breaks
    scripts without an `if __name__ == "__main__"` guard). They die with the thread that
    forks them (this one): create the `Loader` in the thread that uses it."""
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_init_worker,
        initargs=(cfg, os.getpid()),
    )
    for future in [pool.submit(_noop) for _ in range(workers)]:
        future.result()
    return pool


def default_workers() -> int:
    """Preparing processes: one core is left to the database server (usually on the same
    machine, and the faster side per row), at most 2 (beyond that the server is the limit).
    On 2 cores: one worker, measured faster than two, which took CPU from the server."""
    return max(1, min(2, (os.cpu_count() or 1) - 1))


class Loader:
    """Streams lines into the database in chunks; see `load` for the one-call form."""

    def __init__(
        self,
        conn: psycopg.Connection,
        *,
        table: str | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        rejects: RejectsFile,
        rules: RedactionRules | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        workers: int = 0,
        window: TimeWindow = DEFAULT_WINDOW,
    ) -> None:
        if table is not None and table not in TABLES:
            raise ValueError(f"unknown table {table!r} (expected one of {', '.join(TABLES)})")
        if batch_rows < 1:
            raise ValueError("batch_rows must be >= 1")
        self.conn = conn
        self.table = table
        self.batch_rows = batch_rows
        self.rejects = rejects
        self.rules = rules or RedactionRules()
        self.max_response_bytes = max_response_bytes
        self.summary = LoadSummary(rejects_path=rejects.path, window=window)
        self.workers = workers
        self._config = _Config(table, self.rules, max_response_bytes, window)
        # With workers >= 1, lines are prepared in worker processes (no GIL shared with this
        # thread and the writer), chunk by chunk, and written in order.
        self._procs = _start_pool(workers, self._config) if workers >= 1 else None
        # Lines for the next worker chunk: consecutive lines of one source, sent as a list of
        # bytes (cheaper to pickle than one tuple per line).
        self._block: _Block = ("", 0, [])
        self._inflight: deque[tuple[_Block, Future[_Prepared]]] = deque()
        self._chunk = _Chunk()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mcpa-loader")
        self._users = KnownUsers()
        self._pending: tuple[_Chunk, Future[WriteResult]] | None = None

    def feed_lines(self, source: str, first: int, raws: list[bytes]) -> None:
        """Take consecutive physical lines of `source`, the first being line `first`; with
        worker processes a list of `batch_rows` lines goes to a worker as it is."""
        if self._procs is None or len(raws) < self.batch_rows:
            for i, raw in enumerate(raws):
                self.feed(source, first + i, raw)
            return
        if self._block[2]:
            self._dispatch()
        self._block = (source, first, raws)
        self._dispatch()

    def feed(self, source: str, number: int, raw: bytes) -> None:
        """Take one physical line (bytes, newline included or not)."""
        if self._procs is not None:
            name, first, raws = self._block
            if raws and (name != source or number != first + len(raws)):
                self._dispatch()
                raws = []
            if not raws:
                self._block = (source, number, raws)
            raws.append(raw)
            if len(raws) >= self.batch_rows:
                self._dispatch()
            return
        out = _prepare_line(self._config, source, number, raw)
        if out is None:
            return
        self.summary.lines += 1
        if type(out) is RejectRecord:
            self._add_reject(out)
            return
        table, row, text = out  # type: ignore[misc]
        chunk = self._chunk
        chunk.rows.setdefault(table, []).append(row)
        chunk.origin.setdefault(table, []).append((source, number, text))
        chunk.size += 1
        if chunk.size >= self.batch_rows:
            self.flush()

    def _dispatch(self, drain: bool = False) -> None:
        """Send the buffered lines to a worker; keep at most `workers` + 1 chunks in flight
        (all of them taken with `drain`). Results are taken in order, so rows, rejects and
        counts come out in input order."""
        block, self._block = self._block, ("", 0, [])
        if block[2]:
            future = self._procs.submit(_prepare_chunk, *block)  # type: ignore[union-attr]
            self._inflight.append((block, future))
        while self._inflight and (drain or len(self._inflight) > self.workers):
            self._take(*self._inflight.popleft())

    def _take(self, block: _Block, future: Future[_Prepared]) -> None:
        source, first, raws = block
        done = future.result()
        self.summary.lines += done.lines
        self.summary.altered.update(done.altered)
        self.summary.ahead.update(done.ahead)
        for record in done.rejects:
            self._add_reject(record)
        chunk = self._chunk
        # Each worker result is flushed as one chunk: no rows are held yet to overwrite.
        assert not chunk.rows, "a chunk in the making holds rows"
        for table, data in done.rows.items():
            index = done.index[table]
            chunk.rows[table] = CopyLines(data, len(index), done.refs.get(table, {}))
            chunk.origin[table] = _Lines(source, first, raws, index)
            chunk.size += len(index)
        self.flush()

    def reject_unreadable(self, source: str, number: int, reason: str, raw: bytes) -> None:
        """Record the part of `source` from line `number` on that cannot be read (the torn
        tail of a truncated compressed file), after every line before it, as one reject."""
        if self._procs is not None:
            self._dispatch(drain=True)  # rejects stay in input order
        self.summary.lines += 1
        text = self.rules.text(_line_text(raw))
        self._add_reject(_reject(source, number, None, reason, text))

    def _add_reject(self, record: RejectRecord) -> None:
        self.rejects.write(record)
        self._chunk.rejects.append(record)
        self.summary.counts(record.target_table or NO_TABLE).rejected += 1

    def flush(self, wait: bool = False) -> None:
        """Hand the current chunk to the writer thread (one transaction per chunk). At most one
        chunk is in flight: the next one is prepared while PostgreSQL digests this one."""
        chunk, self._chunk = self._chunk, _Chunk()
        self._collect()
        cfg = self._config
        if cfg.altered or cfg.ahead:  # what `prepare` counted in this process
            self.summary.altered.update(cfg.altered)
            self.summary.ahead.update(cfg.ahead)
            cfg.altered.clear()
            cfg.ahead.clear()
        if chunk.rows or chunk.rejects:
            self._pending = (chunk, self._pool.submit(self._write, chunk))
        if wait:
            self._collect()

    def close(self) -> None:
        """Write what is left and stop the writer thread (and the worker processes)."""
        try:
            if self._procs is not None:
                self._dispatch(drain=True)
            self.flush(wait=True)
        finally:
            self.abort()

    def abort(self) -> None:
        if self._procs is not None:
            self._procs.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True)

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Stop now (a signal): the worker processes are killed and lines not yet written are
        dropped; the chunk being written gets `grace` seconds to commit, then its statement
        is cancelled (rolled back). The summary then counts what was committed; a re-run of
        the same input loads the rest."""
        if self._procs is not None:
            # ProcessPoolExecutor has no public way to kill its workers before Python 3.14.
            for proc in list((getattr(self._procs, "_processes", None) or {}).values()):
                with contextlib.suppress(Exception):
                    proc.kill()
            self._procs.shutdown(wait=True, cancel_futures=True)
        self._inflight.clear()
        self._block = ("", 0, [])
        self._chunk = _Chunk()
        if self._pending is None:
            return
        future = self._pending[1]
        try:
            future.result(timeout=grace)
        except FutureTimeout:
            with contextlib.suppress(Exception):
                self.conn.cancel_safe(timeout=grace)
        except Exception:  # noqa: BLE001 - collected (and ignored) below
            pass
        try:
            self._collect()
        except Exception:  # noqa: BLE001 - cancelled or failed: nothing committed
            self._pending = None

    def _describe(self, chunk: _Chunk, table: str, index: int) -> dict[str, Any]:
        source, number, text = chunk.origin[table][index]
        text = _line_text(text)
        if text[:1] == "\ufeff":
            text = text[1:]
        try:
            raw = _raw(self.rules, json.loads(text), None, text)
        except (ValueError, RecursionError):
            raw = self.rules.text(text)
        return {"source_name": source, "line_number": number, "raw": raw}

    def _write(self, chunk: _Chunk) -> WriteResult:
        return write_batch(
            self.conn,
            chunk.rows,
            chunk.rejects,
            reject_source="loader",
            describe=lambda table, index: self._describe(chunk, table, index),
            users=self._users,
        )

    def _collect(self) -> None:
        """Wait for the chunk in flight and account for it (errors propagate here)."""
        if self._pending is None:
            return
        chunk, future = self._pending
        wait_futures([future])  # interrupted here, the chunk stays pending for `stop`
        self._pending = None
        result = future.result()
        self.summary.retries += result.retries
        for table, n in result.unmatched_user_ids.items():
            self.summary.counts(table).unmatched_user_ids += n
        for table, n in result.inserted.items():
            self.summary.counts(table).loaded += n
        for table, n in result.duplicates.items():
            self.summary.counts(table).duplicates += n
        for rej in result.rejects:
            info = self._describe(chunk, rej.table, rej.index)
            self.rejects.write(
                RejectRecord(source="loader", reason=rej.reason, target_table=rej.table, **info)
            )
            self.summary.counts(rej.table).rejected += 1
        for rej in result.conflicts:
            info = self._describe(chunk, rej.table, rej.index)
            self.rejects.write(
                RejectRecord(source="loader", reason=rej.reason, target_table=rej.table, **info)
            )
            self.summary.counts(rej.table).conflicts += 1


def _open(source: str | Path, stdin: IO[bytes] | None) -> tuple[str, IO[bytes], int | None]:
    if str(source) == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        return "-", stream, None
    path = Path(source)
    size = path.stat().st_size
    if path.suffix == ".gz":
        # GzipFile reads bytes like any binary file (typeshed does not call it IO[bytes]).
        return str(path), cast(IO[bytes], gzip.open(path, "rb")), size
    return str(path), open(path, "rb"), size  # closed by the caller


class _GzipBlocks:
    """The lines of a gzip stream, `batch_rows` at a time, read so that a damaged file gives
    every line before the damage: `read1` returns what was decompressed before an error is
    raised (a truncated file, a bad CRC, corrupt data). Then `error` says what happened and
    `tail` holds the incomplete last line (never given as a line)."""

    def __init__(self, stream: IO[bytes], batch_rows: int) -> None:
        self.stream = stream
        self.batch_rows = batch_rows
        self.error: Exception | None = None
        self.tail = b""

    def __iter__(self) -> Iterator[list[bytes]]:
        pending: list[bytes] = []
        rest: list[bytes] = []  # pieces of a line not yet ended (no quadratic re-joining)
        read1 = self.stream.read1  # type: ignore[attr-defined]
        n = self.batch_rows
        while True:
            try:
                chunk = read1(1 << 16)
            except (EOFError, gzip.BadGzipFile, zlib.error) as err:
                self.error = err
                break
            if not chunk:
                break
            if b"\n" not in chunk:
                rest.append(chunk)
                continue
            parts = chunk.split(b"\n")
            if rest:
                parts[0] = b"".join([*rest, parts[0]])
            unended = parts.pop()
            rest = [unended] if unended else []
            pending += [p + b"\n" for p in parts]
            while len(pending) >= n:
                yield pending[:n]
                del pending[:n]
        last = b"".join(rest)
        if self.error is not None:
            self.tail = last
        elif last:
            pending.append(last)
        while pending:
            yield pending[:n]
            del pending[:n]


def load(
    sources: Sequence[str | Path],
    *,
    url: str | None = None,
    conn: psycopg.Connection | None = None,
    table: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    rejects_path: Path | None = None,
    rules: RedactionRules | None = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    progress: bool = False,
    stdin: IO[bytes] | None = None,
    workers: int | None = None,
    window: TimeWindow | None = None,
) -> LoadSummary:
    """Load NDJSON files (`-` is stdin) and return the counts. Connects as the ingest role
    unless `conn` (autocommit) or `url` is given. Redaction rules and the window of accepted
    event times default to the database's `analytics.redaction` and
    `analytics.event_time_window` settings. `workers`: preparing processes used once the input
    has (default `default_workers()`; 0 = all in this process).

    Bad lines never raise: they are rejects (see the module docstring), a damaged `.gz` too.

    Raises:
        ValueError: an unknown `table`, `batch_rows` < 1 (before anything is loaded).
        FileNotFoundError, IsADirectoryError, PermissionError: a source missing, a folder or
            unreadable (before anything is loaded).
        LoadError: the load stopped midway (the database unreachable or gone, a read error);
            its `summary` counts what was committed.
        LoadInterrupted: a signal stopped it (with `stop_on_signals`, or SIGINT); its
            `summary` counts what was committed.
    """
    if table is not None and table not in TABLES:
        raise ValueError(f"unknown table {table!r} (expected one of {', '.join(TABLES)})")
    if batch_rows < 1:
        raise ValueError("batch_rows must be >= 1")
    for source in sources:
        if str(source) == "-":
            continue
        if Path(source).is_dir():
            raise IsADirectoryError(
                f"{source} is a folder, not a file: name the files in it (e.g. {source}/*.jsonl)"
            )
        if not Path(source).is_file():
            raise FileNotFoundError(f"no such file: {source}")
        if not os.access(source, os.R_OK):
            raise PermissionError(f"cannot read {source}: permission denied")
    rejects = RejectsFile(rejects_path or default_rejects_path())
    summary = LoadSummary(rejects_path=rejects.path)
    try:
        return _load(
            sources,
            conn,
            url,
            rules,
            rejects,
            summary,
            progress,
            stdin,
            workers,
            table=table,
            batch_rows=batch_rows,
            max_response_bytes=max_response_bytes,
            window=window,
        )
    except Exception as err:  # any failure midway: stop, with the counts so far
        raise LoadError(redact_text(f"{type(err).__name__}: {err}"), summary) from err
    finally:
        rejects.close()


def _load(
    sources: Sequence[str | Path],
    conn: psycopg.Connection | None,
    url: str | None,
    rules: RedactionRules | None,
    rejects: RejectsFile,
    summary: LoadSummary,
    progress: bool,
    stdin: IO[bytes] | None,
    workers: int | None,
    window: TimeWindow | None = None,
    **options: Any,
) -> LoadSummary:
    own = conn is None
    if conn is None:
        conn = db.connect(url, role="ingest", autocommit=True)
    try:
        if rules is None:
            rules = _configured_rules(conn)
        if window is None:
            window = _configured_window(conn)
        loader = Loader(
            conn,
            rejects=rejects,
            rules=rules,
            workers=default_workers() if workers is None else workers,
            window=window,
            **options,
        )
        loader.summary = summary
        summary.window = window
        try:
            for source in sources:
                _feed_source(loader, source, stdin, progress)
            loader.close()
        except (LoadInterrupted, KeyboardInterrupt) as stop:
            loader.stop()
            signum = stop.signum if isinstance(stop, LoadInterrupted) else signal.SIGINT
            raise LoadInterrupted(signum, summary) from None
        finally:
            loader.abort()  # after an error: let a write in flight finish before closing
        return summary
    finally:
        if own:
            conn.close()


def _feed_source(
    loader: Loader, source: str | Path, stdin: IO[bytes] | None, progress: bool
) -> None:
    from tqdm import tqdm

    name, stream, size = _open(source, stdin)
    bar = tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        desc=Path(name).name,
        file=sys.stderr,
        disable=not progress,
        leave=False,
    )
    try:
        number = 1
        if isinstance(stream, gzip.GzipFile):
            blocks = _GzipBlocks(stream, loader.batch_rows)
            raw_file = stream.fileobj
            for raws in blocks:
                bar.n = raw_file.tell() if raw_file is not None else bar.n
                bar.refresh()
                loader.feed_lines(name, number, raws)
                number += len(raws)
            if blocks.error is not None:
                loader.reject_unreadable(
                    name,
                    number,
                    f"unreadable gzip data ({blocks.error}): every line before this one was "
                    "read; this line is incomplete and nothing after it can be read",
                    blocks.tail,
                )
            return
        # Lines are taken `batch_rows` at a time (in C): no Python call per line here.
        while raws := list(islice(stream, loader.batch_rows)):
            bar.update(sum(map(len, raws)))
            loader.feed_lines(name, number, raws)
            number += len(raws)
    finally:
        bar.close()
        if name != "-":
            stream.close()


def _configured_rules(conn: psycopg.Connection) -> RedactionRules:
    from mcp_analytics.collector.core import read_settings

    try:
        value = read_settings(conn).get("analytics.redaction")
    except psycopg.Error:
        return RedactionRules()
    return RedactionRules.from_config(value)


def _configured_window(conn: psycopg.Connection) -> TimeWindow:
    from mcp_analytics.collector.core import read_settings

    try:
        value = read_settings(conn).get("analytics.event_time_window")
    except psycopg.Error:
        return DEFAULT_WINDOW
    if value is None:
        return DEFAULT_WINDOW
    try:
        return TimeWindow.from_config(value)
    except ValueError as err:
        log.warning("%s; the default window is used", err)
        return DEFAULT_WINDOW


def load_text(text: str, **kwargs: Any) -> LoadSummary:
    """Load NDJSON given as a string (tests, small scripts)."""
    return load(["-"], stdin=io.BytesIO(text.encode()), **kwargs)
