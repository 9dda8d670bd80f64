"""analytics.mcp_sessions and analytics.daily_session_summary against sessions recomputed in
Python from the raw rows (independent of the SQL): after a load, a new hour, late rows (one
bridging two idle-gap sessions across midnight, others moving a transport session's start to
the day before, extending it days later or joining an hour it already has calls in) and
deletes that split a session, move its start or empty one of its hours, each through an
incremental run of real dbt on real PostgreSQL; then a full refresh gives the same rows."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from .warehouse import Warehouse

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
TODAY = NOW.replace(hour=0)
GAP = timedelta(minutes=30)
MARTS = ("int_session_hours", "int_session_days", "mcp_sessions", "daily_session_summary")
TRANSPORT, IDLE = "transport_id:v1", "idle_gap_30m:v1"
STATELESS = "2026-07-28"

SESSION_COLUMNS = (
    "day, bcp_name, session_definition, session_id, client_name, client_version,"
    " protocol_version, started_at, last_operation_at, ended_at, operations, duration_ms"
)
SUMMARY_COLUMNS = (
    "day, bcp_name, session_definition, sessions, operations, single_operation_sessions,"
    " sessions_continuing_next_day, avg_operations_per_session, p50_operations_per_session,"
    " p95_operations_per_session, max_operations_per_session, avg_session_duration_seconds,"
    " p50_session_duration_seconds, p95_session_duration_seconds, max_session_duration_seconds"
)
RAW = """
select id, bcp_name, "timestamp", duration_ms, session_id, client_name, client_version,
    protocol_version, host(ip_address)
from tool_usage_logs
where "timestamp" is not null
"""
COPY = (
    "copy tool_usage_logs (execution_id, bcp_name, tool_name, operation, duration_ms, success,"
    ' "timestamp", session_id, client_name, client_version, protocol_version, ip_address)'
    " from stdin"
)


# --- the reference: sessions from raw rows, in Python ------------------------------------


@dataclass
class Call:
    id: int
    bcp_name: str
    at: datetime
    duration_ms: int
    session_id: str | None
    client_name: str | None
    client_version: str | None
    protocol_version: str | None
    address: str | None


def _day(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _session(definition: str, session_id: str | None, calls: list[Call]) -> tuple:
    calls = sorted(calls, key=lambda c: (c.at, c.id))
    first = calls[0]
    started = first.at
    ended = max(c.at + timedelta(milliseconds=c.duration_ms) for c in calls)
    micros = Decimal((ended - started) // timedelta(microseconds=1))
    duration_ms = int((micros / 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return (
        _day(started), first.bcp_name, definition, session_id, first.client_name,
        first.client_version, first.protocol_version, started, calls[-1].at, ended,
        len(calls), duration_ms,
    )  # fmt: skip


def reference_sessions(calls: list[Call]) -> list[tuple]:
    """A transport session id makes one session per server; without one, calls of a server,
    client name and version and address split where more than 30 minutes pass between two."""
    transport: dict[tuple, list[Call]] = defaultdict(list)
    streams: dict[tuple, list[Call]] = defaultdict(list)
    for call in calls:
        if call.session_id:
            transport[(call.bcp_name, call.session_id)].append(call)
        else:
            key = (call.bcp_name, call.client_name, call.client_version, call.address)
            streams[key].append(call)
    sessions = [_session(TRANSPORT, sid, group) for (_, sid), group in transport.items()]
    for group in streams.values():
        group.sort(key=lambda c: (c.at, c.id))
        current = [group[0]]
        for call in group[1:]:
            if call.at - current[-1].at > GAP:
                sessions.append(_session(IDLE, None, current))
                current = []
            current.append(call)
        sessions.append(_session(IDLE, None, current))
    return sessions


def _disc(values: list[int], q: float) -> int:
    """percentile_disc: the first value whose position reaches the fraction q."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def _seconds(ms: Decimal | int) -> Decimal:
    return (Decimal(ms) / 1000).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


def reference_summary(sessions: list[tuple]) -> list[tuple]:
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for s in sessions:
        groups[s[:3]].append(s)
    rows = []
    for (day, bcp, definition), group in groups.items():
        ops = [s[10] for s in group]
        durations = [s[11] for s in group]
        n = len(group)
        rows.append((
            day, bcp, definition, n, sum(ops), sum(1 for o in ops if o == 1),
            sum(1 for s in group if _day(s[8]) > day),
            (Decimal(sum(ops)) / n).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
            _disc(ops, 0.5), _disc(ops, 0.95), max(ops),
            _seconds(Decimal(sum(durations)) / n), _seconds(_disc(durations, 0.5)),
            _seconds(_disc(durations, 0.95)), _seconds(max(durations)),
        ))  # fmt: skip
    return rows


def assert_exact(wh: Warehouse) -> list[tuple]:
    """Both marts equal the reference over the raw rows; returns the reference sessions."""
    calls = [Call(*row) for row in wh.rows(RAW)]
    sessions = reference_sessions(calls)
    mart = wh.rows(f"select {SESSION_COLUMNS} from analytics.mcp_sessions")
    assert sorted(mart, key=repr) == sorted(sessions, key=repr)
    summary = wh.rows(f"select {SUMMARY_COLUMNS} from analytics.daily_session_summary")
    assert sorted(summary, key=repr) == sorted(reference_summary(sessions), key=repr)
    return sessions


# --- the data ------------------------------------------------------------------------------


def _row(n: int, tag: str, bcp: str, at: datetime, sid: str | None, client: tuple) -> str:
    name, version, protocol, address = client
    fields = [
        f"{tag}-{n}", bcp, "search", "tools/call", str(random.randint(1, 4000)), "t",
        at.isoformat(), sid, name, version, protocol, address,
    ]  # fmt: skip
    return "\t".join(r"\N" if f is None else f for f in fields) + "\n"


def load(wh: Warehouse, rows: list[tuple[str, datetime, str | None, tuple]], tag: str) -> None:
    with wh.connect() as conn, conn.cursor() as cur, cur.copy(COPY) as copy:
        copy.write(
            "".join(_row(n, tag, bcp, at, sid, client) for n, (bcp, at, sid, client) in
                    enumerate(rows))
        )  # fmt: skip


OLD_CLIENTS = [
    ("cursor", "1.2.0", "2025-06-18", "203.0.113.5"),
    ("claude-code", "2.0.1", "2025-11-25", "203.0.113.6"),
]
NEW_CLIENTS = [
    ("claude-code", "2.1.0", STATELESS, "198.51.100.7"),
    ("claude-code", "2.1.0", STATELESS, "198.51.100.8"),  # same client, another address
    ("vscode", "1.99.0", STATELESS, "198.51.100.7"),
    ("mcp-inspector", "0.20.0", STATELESS, None),  # stdio: no address
    (None, None, None, None),  # a sender that recorded nothing about the caller
]
BRIDGE = ("goose", "1.5.0", STATELESS, "192.0.2.44")
SPLIT = ("zed", "0.9.1", STATELESS, "192.0.2.55")
SPLIT_DAY = TODAY - timedelta(days=1)


def _jitter(rng: random.Random) -> timedelta:
    return timedelta(seconds=rng.randint(0, 59), microseconds=rng.randint(0, 999_999))


def base_rows(rng: random.Random, start: datetime, end: datetime) -> list[tuple]:
    rows: list[tuple] = []
    span = (end - start) // timedelta(minutes=1)
    for n in range(60):  # transport sessions: gaps of any length stay one session
        bcp = rng.choice(["crm", "github-tools"])
        at = start + timedelta(minutes=rng.randrange(span)) + _jitter(rng)
        for _ in range(rng.randint(1, 8)):
            if at < end:
                rows.append((bcp, at, f"sess-{n}", rng.choice(OLD_CLIENTS)))
            at += timedelta(minutes=rng.choice([1, 5, 20, 45, 120, 400])) + _jitter(rng)
    for client in NEW_CLIENTS:  # stateless streams: bursts apart by more or less than the gap
        for bcp in ("crm", "github-tools"):
            at = start + timedelta(minutes=rng.randrange(120))
            while at < end:
                rows.append((bcp, at, None, client))
                at += rng.choice([timedelta(minutes=m) for m in (1, 7, 29, 31, 50, 200)])
                at += _jitter(rng)
    return rows


@pytest.fixture(scope="module")
def loaded(warehouse: Warehouse) -> Warehouse:
    rng = random.Random(13)
    random.seed(13)
    rows = base_rows(rng, TODAY - timedelta(days=4), NOW)
    bridge_day = TODAY - timedelta(days=2)
    # two idle-gap sessions of one stream, 45 minutes apart across midnight
    rows += [
        ("crm", bridge_day - timedelta(minutes=30), None, BRIDGE),
        ("crm", bridge_day - timedelta(minutes=20), None, BRIDGE),
        ("crm", bridge_day + timedelta(minutes=25), None, BRIDGE),
        ("crm", bridge_day + timedelta(minutes=40), None, BRIDGE),
    ]
    # one idle-gap session across midnight, whose middle call will go
    rows += [("github-tools", SPLIT_DAY + timedelta(minutes=m), None, SPLIT) for m in
             (-30, -10, 15)]  # fmt: skip
    # a transport session that starts just after midnight
    start = TODAY - timedelta(days=3)
    rows += [("crm", start + timedelta(minutes=m), "sess-midnight", OLD_CLIENTS[0]) for m in
             (10, 70, 300)]  # fmt: skip
    load(warehouse, rows, "base")
    warehouse.build(*MARTS)
    return warehouse


def _rebuilt(wh: Warehouse, mart: str) -> set[datetime]:
    return {b for (b,) in wh.rows("select bucket from mart_last_rebuilt where mart = %s", (mart,))}


def test_a_full_build_equals_the_recomputation(loaded: Warehouse) -> None:
    sessions = assert_exact(loaded)
    definitions = {s[2] for s in sessions}
    assert definitions == {TRANSPORT, IDLE}
    # stateless 2026-07-28 clients land in the idle-gap definition, old-protocol clients with a
    # session id in the transport definition
    by_era = loaded.rows(
        "select distinct protocol_version = %s, session_definition from analytics.mcp_sessions"
        " where protocol_version is not null order by 1",
        (STATELESS,),
    )
    assert by_era == [(False, TRANSPORT), (True, IDLE)]
    # the bridge stream is two sessions, one per day
    assert loaded.rows(
        "select day from analytics.mcp_sessions where client_name = 'goose' order by day"
    ) == [(TODAY - timedelta(days=3),), (TODAY - timedelta(days=2),)]
    # some sessions run past midnight and count on the day they start
    assert (
        loaded.scalar(
            "select sum(sessions_continuing_next_day) from analytics.daily_session_summary"
        )
        > 0
    )


def test_a_new_hour_rebuilds_only_the_days_it_can_change(loaded: Warehouse) -> None:
    rng = random.Random(14)
    rows = [("crm", NOW + timedelta(minutes=rng.randrange(60)) + _jitter(rng), None,
             rng.choice(NEW_CLIENTS)) for _ in range(30)]  # fmt: skip
    rows += [("crm", NOW + timedelta(minutes=5), "sess-new-hour", OLD_CLIENTS[1])]
    load(loaded, rows, "hour")
    refreshed = (
        "select session_id, refreshed_at from analytics.mcp_sessions where session_id is not null"
    )
    before = dict(loaded.rows(refreshed))
    loaded.build(*MARTS)
    assert_exact(loaded)
    # only the transport session with a call in the new hour was merged again: the others,
    # however long, were not re-read
    after = dict(loaded.rows(refreshed))
    assert {sid for sid in after if after[sid] != before.get(sid)} == {"sess-new-hour"}
    # the new hour's day, the day before only if a session reaching it started then
    assert _rebuilt(loaded, "mcp_sessions") <= {TODAY, TODAY - timedelta(days=1)}
    assert TODAY in _rebuilt(loaded, "mcp_sessions")
    loaded.build(*MARTS)
    assert _rebuilt(loaded, "mcp_sessions") == set()


def _build_exact(wh: Warehouse) -> set[datetime]:
    """An incremental run of both marts, checked against the reference; the days rebuilt."""
    wh.build(*MARTS)
    assert_exact(wh)
    return _rebuilt(wh, "mcp_sessions")


def _delete(wh: Warehouse, where: str, params: Any = None) -> None:
    with wh.connect() as conn:
        assert conn.execute(f"delete from tool_usage_logs where {where}", params).rowcount == 1


def test_late_rows_bridge_extend_and_move_sessions(loaded: Warehouse) -> None:
    bridge_day = TODAY - timedelta(days=2)
    load(loaded, [("crm", bridge_day + timedelta(minutes=2), None, BRIDGE)], "bridge")
    # one session now, on the day it starts; the next day, where its second half counted, lost it
    assert bridge_day in _build_exact(loaded)
    assert loaded.rows(
        "select day, operations from analytics.mcp_sessions where client_name = 'goose'"
    ) == [(TODAY - timedelta(days=3), 5)]
    # a transport session's first call comes late, hours before midnight: its start moves to
    # the day before (found by the session's id in the dirty hour)
    midnight = TODAY - timedelta(days=3)
    load(loaded, [("crm", midnight - timedelta(hours=3), "sess-midnight", OLD_CLIENTS[0])],
         "early")  # fmt: skip
    assert {midnight, midnight - timedelta(days=1)} <= _build_exact(loaded)
    assert loaded.rows(
        "select day from analytics.mcp_sessions where session_id = 'sess-midnight'"
    ) == [(midnight - timedelta(days=1),)]
    # a call of that session days after its last one: counted on its first day, which no
    # dirty hour comes near (the session's id in the dirty hour finds it)
    load(loaded, [("crm", NOW - timedelta(hours=3), "sess-midnight", OLD_CLIENTS[0])], "extend")
    assert midnight - timedelta(days=1) in _build_exact(loaded)
    assert loaded.rows(
        "select day, operations from analytics.mcp_sessions where session_id = 'sess-midnight'"
    ) == [(midnight - timedelta(days=1), 5)]
    # a late call in an hour where the session has a call already: counted once
    load(loaded, [("crm", midnight + timedelta(minutes=75), "sess-midnight", OLD_CLIENTS[0])],
         "same-hour")  # fmt: skip
    _build_exact(loaded)
    assert (
        loaded.scalar(
            "select operations from analytics.mcp_sessions where session_id = 'sess-midnight'"
        )
        == 6
    )


def test_deletes_split_sessions_and_move_starts(loaded: Warehouse) -> None:
    # the bridge goes: two sessions again
    _delete(loaded, "execution_id = 'bridge-0'")
    _build_exact(loaded)
    assert loaded.rows(
        "select day from analytics.mcp_sessions where client_name = 'goose' order by day"
    ) == [(TODAY - timedelta(days=3),), (TODAY - timedelta(days=2),)]
    # a transport session loses a call from an hour where it keeps another, then one days
    # after its start, alone in its hour (the hour keeps a row of 0 operations), then its
    # first call: it starts a day later
    _delete(loaded, "execution_id = 'same-hour-0'")
    _build_exact(loaded)
    _delete(loaded, "execution_id = 'extend-0'")
    _build_exact(loaded)
    assert (
        loaded.scalar(
            "select operations from analytics.int_session_hours"
            " where session_id = 'sess-midnight' and hour = %s",
            (NOW - timedelta(hours=3),),
        )
        == 0
    )
    # and so does its day (the session's only call that day)
    assert loaded.rows(
        "select operations, first_called_at from analytics.int_session_days"
        " where session_id = 'sess-midnight' and day = %s",
        (_day(NOW - timedelta(hours=3)),),
    ) == [(0, None)]
    _delete(loaded, "execution_id = 'early-0'")
    _build_exact(loaded)
    assert loaded.rows(
        "select day, operations from analytics.mcp_sessions where session_id = 'sess-midnight'"
    ) == [(TODAY - timedelta(days=3), 3)]
    # the middle of an idle-gap session across midnight: what is left after midnight starts a
    # session of its own that day
    _delete(loaded, "client_name = 'zed' and \"timestamp\" = %s",
            (SPLIT_DAY - timedelta(minutes=10),))  # fmt: skip
    assert SPLIT_DAY in _build_exact(loaded)
    assert loaded.rows(
        "select day, operations from analytics.mcp_sessions where client_name = 'zed' order by day"
    ) == [(SPLIT_DAY - timedelta(days=1), 1), (SPLIT_DAY, 1)]


def test_an_hour_waits_in_the_ledger_until_its_day_is_merged(loaded: Warehouse) -> None:
    # a late call of a new transport session; its hourly partials are built, then the
    # sessions alone, before int_session_days has merged that day
    late = TODAY - timedelta(days=2) + timedelta(hours=7, minutes=3)
    load(loaded, [("crm", late, "sess-waits", OLD_CLIENTS[0])], "waits")
    loaded.dbt("run", "--select", "int_session_hours")
    loaded.dbt("run", "--select", "mcp_sessions")
    # nothing merged from the stale day: the hour is still mcp_sessions' to rebuild
    assert _rebuilt(loaded, "mcp_sessions") == set()
    assert loaded.scalar(
        "select count(*) from mart_dirty_buckets where mart = 'mcp_sessions' and bucket = %s",
        (late.replace(minute=0),),
    ) == 1  # fmt: skip
    # once the day is merged, the next run takes it
    assert _day(late) in _build_exact(loaded)
    assert loaded.rows(
        "select day, operations from analytics.mcp_sessions where session_id = 'sess-waits'"
    ) == [(_day(late), 1)]


def _row_hashes(wh: Warehouse) -> dict[str, list[str]]:
    """md5 of every row (but refreshed_at) of the marts, and of the hourly and daily partials
    of transport sessions that have calls, sorted."""
    queries = {
        "mcp_sessions": f"select md5(row({SESSION_COLUMNS}, stream_key)::text)"
        " from analytics.mcp_sessions",
        "daily_session_summary": f"select md5(row({SUMMARY_COLUMNS})::text)"
        " from analytics.daily_session_summary",
        "int_session_hours": "select md5(parts::text) from analytics.int_session_hours as parts"
        " where operations > 0",
        "int_session_days": "select md5(parts::text) from analytics.int_session_days as parts"
        " where operations > 0",
    }
    return {name: sorted(h for (h,) in wh.rows(query)) for name, query in queries.items()}


def test_a_full_refresh_gives_the_rows_of_the_incremental_path(loaded: Warehouse) -> None:
    incremental = _row_hashes(loaded)
    assert all(incremental.values())
    loaded.dbt(
        "run", "--select", *(f"+{m}" for m in MARTS), "--full-refresh",
        "--vars", "{mart_allow_full_refresh: true}",
    )  # fmt: skip
    assert _row_hashes(loaded) == incremental
    # a full build has no rows of 0 operations: every hourly row is the calls of its hour
    for partials in ("int_session_hours", "int_session_days"):
        assert loaded.scalar(f"select count(*) from analytics.{partials} where operations = 0") == 0
    assert_exact(loaded)


LONE_DAY = TODAY - timedelta(days=9)  # no other call that day


def test_a_full_refresh_of_the_hourly_partials_alone_passes_on_an_emptied_day(
    loaded: Warehouse,
) -> None:
    # a session's only call, on a day without any other; built, then deleted, and the hourly
    # partials are rebuilt whole alone before the next build: the deleted call's hour is no
    # longer one of theirs, yet the daily partials must hear of it
    load(loaded, [("crm", LONE_DAY + timedelta(hours=5, minutes=7), "sess-lone",
                   OLD_CLIENTS[0])], "lone")  # fmt: skip
    loaded.build(*MARTS)
    lone_days = (
        "select day, operations from analytics.int_session_days where session_id = 'sess-lone'"
    )
    assert loaded.rows(lone_days) == [(LONE_DAY, 1)]
    _delete(loaded, "execution_id = 'lone-0'")
    loaded.dbt(
        "run", "--select", "int_session_hours", "--full-refresh",
        "--vars", "{mart_allow_full_refresh: true}",
    )  # fmt: skip
    loaded.build(*MARTS)
    assert loaded.rows(lone_days) == [(LONE_DAY, 0)]


@pytest.mark.xfail(
    strict=True,
    reason="known: a full refresh of int_session_hours alone drops its rows of 0 operations,"
    " so mcp_sessions does not find the session whose calls were all deleted",
)
def test_a_session_emptied_before_a_full_refresh_of_its_hours_leaves_the_sessions(
    loaded: Warehouse,
) -> None:
    assert (
        loaded.rows("select day from analytics.mcp_sessions where session_id = 'sess-lone'") == []
    )


@pytest.mark.parametrize("gap", ["0", "1441", "'30'", "2.5"])
def test_a_bad_idle_gap_is_a_compiler_error(warehouse: Warehouse, gap: str) -> None:
    warehouse.dbt(
        "run-operation", "mart_session_rebuild_days", "--args", f"{{idle_gap_minutes: {gap}}}",
        expect_ok=False,
    )  # fmt: skip
    assert "Compilation Error" in warehouse.last_output
    assert "idle_gap_minutes must be a whole number of minutes from 1 to 1440" in (
        warehouse.last_output
    )
