"""analytics.daily_client_summary against a recomputation from raw rows: after a load, a new
hour, rows two days late and deletes, each incremental run rebuilding only the touched days;
and the question it answers (who still speaks the pre-2026-07-28 protocol, last seen when)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mcp_analytics.demo.synthetic import load_synthetic

from .reference import CLIENT_COLUMNS, CLIENT_REFERENCE
from .warehouse import Warehouse

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
TODAY = NOW.replace(hour=0)
MART = f"select {CLIENT_COLUMNS} from analytics.daily_client_summary"

# docs/analytics.md, "Clients and protocol versions": every client still on an older protocol,
# with the last time it called and the servers it called.
LEGACY_CLIENTS = """
select client_name, client_version, protocol_version,
    max(last_seen_at) as last_seen_at, array_agg(distinct bcp_name order by bcp_name) as servers
from analytics.daily_client_summary
where is_pre_2026_07_28_protocol
group by client_name, client_version, protocol_version
order by last_seen_at desc
"""


def _refreshed_days(wh: Warehouse) -> dict[datetime, datetime]:
    return dict(
        wh.rows("select day, max(refreshed_at) from analytics.daily_client_summary group by day")
    )


@pytest.fixture(scope="module")
def loaded(warehouse: Warehouse) -> Warehouse:
    with warehouse.connect() as conn:
        load_synthetic(conn, start=TODAY - timedelta(days=4), hours=4 * 24 + NOW.hour, seed=0.2)
    warehouse.build("daily_client_summary")
    return warehouse


def test_a_full_build_equals_the_recomputation(loaded: Warehouse) -> None:
    assert loaded.diff(MART, CLIENT_REFERENCE) == (0, 0)
    eras = loaded.rows(
        "select is_pre_2026_07_28_protocol, sum(total_calls) from analytics.daily_client_summary"
        " group by 1 order by 1"
    )
    # both eras, and calls whose protocol nobody recorded
    assert [era for era, _ in eras] == [False, True, None]
    assert all(calls > 0 for _, calls in eras)


def test_late_rows_new_hours_and_deletes_rebuild_only_their_days(loaded: Warehouse) -> None:
    before = _refreshed_days(loaded)
    late = TODAY - timedelta(days=2) + timedelta(hours=5)
    with loaded.connect() as conn:
        load_synthetic(conn, start=NOW, hours=1, calls=200, seed=0.6, tag="new")
        load_synthetic(conn, start=late, hours=1, calls=80, seed=0.7, tag="late")
        conn.execute(
            'delete from tool_usage_logs where id %% 17 = 0 and "timestamp" >= %s'
            ' and "timestamp" < %s',
            (late, late + timedelta(hours=1)),
        )
    loaded.build("daily_client_summary")
    assert loaded.diff(MART, CLIENT_REFERENCE) == (0, 0)
    after = _refreshed_days(loaded)
    assert {d for d in after if after[d] != before.get(d)} == {TODAY, late.replace(hour=0)}


def test_who_still_speaks_the_old_protocol(loaded: Warehouse) -> None:
    rows = loaded.rows(LEGACY_CLIENTS)
    raw = loaded.rows(
        "select distinct client_name, client_version, protocol_version from tool_usage_logs"
        " where protocol_version < '2026-07-28'"
    )
    assert {tuple(r[:3]) for r in rows} == set(raw)
    assert {proto for _, _, proto, *_ in rows} == {"2025-06-18", "2025-11-25"}
    newest = loaded.scalar(
        "select max(\"timestamp\") from tool_usage_logs where protocol_version < '2026-07-28'"
    )
    assert max(last_seen for *_, last_seen, _ in rows) == newest
