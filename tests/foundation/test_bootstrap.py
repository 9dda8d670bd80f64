"""Bootstrap against a real server: the seed's schema, corrected, applied once."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.config import settings
from mcp_analytics.warehouse.bootstrap import (
    EARLIER_REVISIONS,
    LEDGER,
    BootstrapError,
    bootstrap,
    discover,
)
from mcp_analytics.warehouse.tables import partitioned_tables

from . import seed_spec

BOOTSTRAP_DIR = settings().bootstrap_dir


def _catalog_fingerprint(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        """
        select c.relname, c.relkind, count(a.attnum)
        from pg_class as c
        join pg_namespace as n on n.oid = c.relnamespace
        left join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0
        where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
        group by c.relname, c.relkind order by 1, 2
        """
    ).fetchall()


def test_bootstrap_on_empty_database_then_rerun_is_a_noop(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        first = bootstrap(conn, BOOTSTRAP_DIR)
        assert first.applied == [m.name for m in discover(BOOTSTRAP_DIR)]
        assert first.already_applied == []
        before = _catalog_fingerprint(conn)
        ledger = conn.execute(f"select filename, checksum, applied_at from {LEDGER}").fetchall()

        second = bootstrap(conn, BOOTSTRAP_DIR)
        assert second.applied == []
        assert second.already_applied == first.applied
        assert _catalog_fingerprint(conn) == before
        assert (
            conn.execute(f"select filename, checksum, applied_at from {LEDGER}").fetchall()
            == ledger
        )
        # The default rows were not inserted twice.
        assert conn.execute("select count(*) from system_configuration").fetchone()[0] == len(
            seed_spec.default_rows("system_configuration")
        ) + _extra_config_rows(conn)


def _extra_config_rows(conn: psycopg.Connection) -> int:
    """Configuration rows added by later bootstrap files (not the seed's)."""
    seed_keys = [row[0] for row in seed_spec.default_rows("system_configuration")]
    return conn.execute(
        "select count(*) from system_configuration where not (config_key = any(%s))", (seed_keys,)
    ).fetchone()[0]


def test_edited_applied_file_is_refused(empty_db: str, tmp_path: Path) -> None:
    work = tmp_path / "bootstrap_sql"
    shutil.copytree(BOOTSTRAP_DIR, work)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        bootstrap(conn, work)
        target = sorted(work.glob("*.sql"))[2]
        target.write_text(target.read_text() + "\n-- an innocent edit\n")
        with pytest.raises(BootstrapError, match=target.name):
            bootstrap(conn, work)


def test_earlier_revision_of_a_file_counts_as_applied(empty_db: str) -> None:
    # A database bootstrapped with the first revision of 040/041 (see EARLIER_REVISIONS) is
    # not refused as edited; any other checksum still is.
    with psycopg.connect(empty_db, autocommit=True) as conn:
        bootstrap(conn, BOOTSTRAP_DIR)
        for name, checksums in EARLIER_REVISIONS.items():
            conn.execute(
                f"update {LEDGER} set checksum = %s where filename = %s", (min(checksums), name)
            )
        assert bootstrap(conn, BOOTSTRAP_DIR).applied == []
        conn.execute(
            f"update {LEDGER} set checksum = %s where filename = '040_retention.sql'", ("0" * 64,)
        )
        with pytest.raises(BootstrapError, match="040_retention.sql"):
            bootstrap(conn, BOOTSTRAP_DIR)
    # Revised files only: the current text of each is not among its earlier ones.
    current = {m.name: m.checksum for m in discover(BOOTSTRAP_DIR)}
    assert all(current[name] not in old for name, old in EARLIER_REVISIONS.items())


def test_new_file_is_applied_and_a_failing_file_leaves_nothing(
    empty_db: str, tmp_path: Path
) -> None:
    work = tmp_path / "bootstrap_sql"
    shutil.copytree(BOOTSTRAP_DIR, work)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        bootstrap(conn, work)
        (work / "900_broken.sql").write_text(
            "create table half_done (id int);\nselect no_such_function();\n"
        )
        with pytest.raises(BootstrapError, match="900_broken.sql"):
            bootstrap(conn, work)
        assert conn.execute("select to_regclass('half_done')").fetchone()[0] is None
        (work / "900_broken.sql").write_text("create table now_fine (id int);\n")
        assert bootstrap(conn, work).applied == ["900_broken.sql"]


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_oops.sql").write_text("select 1;")
    with pytest.raises(BootstrapError, match="NNN_"):
        discover(tmp_path)


def test_every_seed_column_exists_with_its_type_and_default(module_db: str) -> None:
    with psycopg.connect(module_db) as conn:
        rows = conn.execute(
            """
            select table_name, column_name, data_type, udt_name, character_maximum_length,
                   numeric_precision, numeric_scale, is_nullable, column_default
            from information_schema.columns where table_schema = 'public'
            """
        ).fetchall()
        pk_cols = {
            (t, c)
            for t, c in conn.execute(
                """
                select tc.table_name, kcu.column_name
                from information_schema.table_constraints tc
                join information_schema.key_column_usage kcu using (constraint_name, table_schema)
                where tc.constraint_type = 'PRIMARY KEY' and tc.table_schema = 'public'
                """
            ).fetchall()
        }
    actual = {(r[0], r[1]): r for r in rows}
    problems = []
    tables = seed_spec.tables()
    assert len(tables) == 8
    for table, columns in tables.items():
        for col in columns:
            row = actual.get((table, col.name))
            if row is None:
                problems.append(f"{table}.{col.name} missing")
                continue
            in_pk = (table, col.name) in pk_cols
            problems += [f"{table}.{col.name}: {p}" for p in _column_problems(col, row, in_pk)]
    assert not problems, "\n".join(problems)


def _column_problems(col: seed_spec.SeedColumn, row: tuple, in_pk: bool) -> list[str]:
    """How a column as information_schema shows it (`row`) differs from the seed's `col`."""
    _, _, data_type, udt, length, prec, scale, nullable, default = row
    problems = []
    got_type = udt if data_type == "USER-DEFINED" else data_type
    if got_type != col.data_type:
        problems.append(f"type {got_type} != {col.data_type}")
    if col.length is not None and length != col.length:
        problems.append(f"length {length} != {col.length}")
    if col.precision is not None and (prec, scale) != col.precision:
        problems.append(f"precision {(prec, scale)} != {col.precision}")
    if col.not_null and nullable != "NO":
        problems.append("should be NOT NULL")
    if not col.not_null and nullable == "NO" and not in_pk:
        problems.append("should be nullable")
    return problems + _default_problems(col, default)


def _default_problems(col: seed_spec.SeedColumn, default: str | None) -> list[str]:
    if col.serial:
        return [] if (default or "").startswith("nextval(") else ["not a serial"]
    if col.default is None:
        return []
    if default is None:
        return ["default missing"]
    return [] if _norm(col.default) in _norm(default) else [f"default {default} != {col.default}"]


def _norm(value: str) -> str:
    return value.lower().strip("'")


def test_every_seed_index_exists_on_its_relation(module_db: str) -> None:
    with psycopg.connect(module_db) as conn:
        found = dict(
            conn.execute(
                "select indexname, tablename from pg_indexes where schemaname = 'public'"
            ).fetchall()
        )
        # Indexes on a partitioned parent must exist on every partition too.
        orphans = conn.execute(
            """
            select parent_idx.relname, part.relname
            from pg_index as pi
            join pg_class as parent_idx on parent_idx.oid = pi.indexrelid
            join pg_inherits as tinh on tinh.inhparent = pi.indrelid
            join pg_class as part on part.oid = tinh.inhrelid
            where parent_idx.relkind = 'I'
              and not exists (
                select 1 from pg_inherits as iinh
                join pg_index as ci on ci.indexrelid = iinh.inhrelid
                where iinh.inhparent = pi.indexrelid and ci.indrelid = part.oid
              )
            """
        ).fetchall()
    expected = seed_spec.indexes()
    assert len(expected) >= 50
    missing = {name: rel for name, rel in expected.items() if found.get(name) != rel}
    assert not missing, f"missing or misplaced seed indexes: {missing}"
    assert not orphans


def test_enums_match_the_seed(module_db: str) -> None:
    with psycopg.connect(module_db) as conn:
        for name, labels in seed_spec.enums().items():
            got = conn.execute(
                "select array_agg(enumlabel order by enumsortorder) from pg_enum "
                "where enumtypid = %s::regtype",
                (name,),
            ).fetchone()[0]
            assert got == labels, name


def test_default_rows_are_there(module_db: str) -> None:
    with psycopg.connect(module_db) as conn:
        for table, key in (
            ("data_retention_policies", "table_name"),
            ("system_configuration", "config_key"),
        ):
            columns = seed_spec.default_columns(table)
            for seed_row in seed_spec.default_rows(table):
                expected = dict(zip(columns, seed_row, strict=True))
                # Compared as PostgreSQL renders them: booleans as true/false, jsonb as JSON.
                row = conn.execute(
                    f"select {', '.join(c + '::text' for c in columns)} from {table} "
                    f"where {key} = %s",
                    (expected[key],),
                ).fetchone()
                assert row is not None, f"{table}: {expected[key]} missing"
                want = {
                    c: v.lower() if v.upper() in ("TRUE", "FALSE") else v
                    for c, v in expected.items()
                }
                assert dict(zip(columns, row, strict=True)) == want


def _insert_tool_call(conn: psycopg.Connection, execution_id: str, ts: datetime) -> str:
    return conn.execute(
        """
        insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation, duration_ms,
                                     success, "timestamp")
        values (%s, 'crm', 'search', 'read', 12, true, %s)
        returning tableoid::regclass::text
        """,
        (execution_id, ts),
    ).fetchone()[0]


def test_rows_from_2019_today_and_2035_all_insert(bootstrapped_db: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        assert _insert_tool_call(conn, "e-2019", datetime(2019, 3, 1, tzinfo=UTC)) == (
            "tool_usage_logs_default"
        )
        assert _insert_tool_call(conn, "e-now", now) == f"tool_usage_logs_{now:%Y_%m}"
        assert _insert_tool_call(conn, "e-2035", datetime(2035, 7, 1, tzinfo=UTC)) == (
            "tool_usage_logs_default"
        )
        for rid, ts in (
            ("r-2019", datetime(2019, 3, 1, tzinfo=UTC)),
            ("r-now", now),
            ("r-2035", datetime(2035, 7, 1, tzinfo=UTC)),
        ):
            conn.execute(
                """
                insert into mcp_request_logs (request_id, method, path, response_status_code,
                                              duration_ms, success, "timestamp")
                values (%s, 'POST', '/mcp', 200, 5, true, %s)
                """,
                (rid, ts),
            )
        assert conn.execute("select count(*) from tool_usage_logs").fetchone()[0] == 3
        assert conn.execute("select count(*) from mcp_request_logs").fetchone()[0] == 3


def test_duplicate_execution_id_at_the_same_timestamp_is_rejected(bootstrapped_db: str) -> None:
    ts = datetime.now(UTC)
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        _insert_tool_call(conn, "dup", ts)
        with pytest.raises(psycopg.errors.UniqueViolation):
            _insert_tool_call(conn, "dup", ts)
        # In the DEFAULT partition too (a far-future row).
        _insert_tool_call(conn, "dup", datetime(2035, 1, 1, tzinfo=UTC))
        with pytest.raises(psycopg.errors.UniqueViolation):
            _insert_tool_call(conn, "dup", datetime(2035, 1, 1, tzinfo=UTC))
        insert_req = """
            insert into mcp_request_logs (request_id, method, path, response_status_code,
                                          duration_ms, success, "timestamp")
            values ('req-1', 'GET', '/', 200, 1, true, %s)
        """
        conn.execute(insert_req, (ts,))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert_req, (ts,))


def test_duplicate_metric_sample_is_rejected(bootstrapped_db: str) -> None:
    insert = """
        insert into performance_metrics (metric_name, metric_value, labels, "timestamp",
                                         aggregation_period)
        values ('latency', 1.5, %s, '2026-01-01T00:00:00Z', '1m')
    """
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        conn.execute(insert, ('{"tool": "a"}',))
        conn.execute(insert, ('{"tool": "b"}',))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, ('{"tool": "a"}',))


def test_partitions_cover_current_month_and_next_three_in_utc(module_db: str) -> None:
    with psycopg.connect(module_db) as conn:
        for table in (t.name for t in partitioned_tables()):
            bounds = conn.execute(
                """
                select c.relname, pg_get_expr(c.relpartbound, c.oid)
                from pg_inherits i join pg_class c on c.oid = i.inhrelid
                where i.inhparent = %s::regclass order by 1
                """,
                (table,),
            ).fetchall()
            names = [name for name, _ in bounds]
            month = datetime.now(UTC).replace(day=1)
            expected = []
            for _ in range(4):
                expected.append(f"{table}_{month:%Y_%m}")
                month = _next_month(month)
            assert set(expected) <= set(names), names
            assert f"{table}_default" in names
            first = dict(bounds)[expected[0]]
            start = datetime.now(UTC).replace(day=1)
            assert f"'{start:%Y-%m}-01 00:00:00+00'" in first, first


def _next_month(d: datetime) -> datetime:
    return d.replace(year=d.year + d.month // 12, month=d.month % 12 + 1, day=1)


def test_create_monthly_partitions_moves_rows_waiting_in_default(bootstrapped_db: str) -> None:
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        now = datetime.now(UTC)
        # The 15th of the month six months back.
        months = now.year * 12 + now.month - 1 - 6
        six_back = datetime(months // 12, months % 12 + 1, 15, tzinfo=UTC)
        assert _insert_tool_call(conn, "old", six_back) == "tool_usage_logs_default"
        created = conn.execute(
            "select create_monthly_partitions('public.tool_usage_logs', 3, 6)"
        ).fetchone()[0]
        assert created == 6
        where = conn.execute(
            "select tableoid::regclass::text from tool_usage_logs where execution_id = 'old'"
        ).fetchone()[0]
        assert where == f"tool_usage_logs_{six_back:%Y_%m}"
        assert conn.execute("select count(*) from tool_usage_logs").fetchone()[0] == 1
        assert (
            conn.execute("select create_monthly_partitions('tool_usage_logs', 3, 6)").fetchone()[0]
            == 0
        )
        with pytest.raises(psycopg.errors.UndefinedTable, match="does not exist"):
            conn.execute("select create_monthly_partitions('no_such_table; drop table users', 1)")
        with pytest.raises(psycopg.errors.WrongObjectType):
            conn.execute("select create_monthly_partitions('error_logs', 1)")


def test_seed_views_refresh_including_concurrently(bootstrapped_db: str) -> None:
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        _insert_tool_call(conn, "v1", datetime.now(UTC))
        first = conn.execute("select view_name from refresh_analytics_views()").fetchall()
        assert sorted(v for (v,) in first) == [
            "daily_error_summary",
            "hourly_tool_usage_summary",
            "performance_metrics_summary",
        ]
        # Populated now: the second refresh takes the CONCURRENTLY path.
        _insert_tool_call(conn, "v2", datetime.now(UTC))
        assert len(conn.execute("select * from refresh_analytics_views()").fetchall()) == 3
        total = conn.execute("select sum(total_calls) from hourly_tool_usage_summary").fetchone()[0]
        assert total == 2


def test_a_concurrent_bootstrap_waits_a_bounded_time_and_names_the_holder(
    bootstrapped_db: str, tmp_path: Path
) -> None:
    """A second bootstrap waits for the first, saying so, then gives up with the holder's pid;
    once the lock is free it runs. Through the CLI, the same refusal is one line, no traceback."""
    import os
    import subprocess
    import sys

    from mcp_analytics.warehouse.bootstrap import _LOCK_KEY

    with psycopg.connect(bootstrapped_db, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        pid = holder.info.backend_pid
        said: list[str] = []
        with (
            psycopg.connect(bootstrapped_db, autocommit=True) as conn,
            pytest.raises(BootstrapError) as refused,
        ):
            bootstrap(conn, BOOTSTRAP_DIR, progress=said.append, lock_wait_s=1.5)
        assert f"server process {pid}" in str(refused.value)
        assert "Nothing was applied" in str(refused.value)
        assert said and f"server process {pid}" in said[0]
        env = {**os.environ, "DATABASE_URL": bootstrapped_db, "MCPA_STATE_DIR": str(tmp_path)}
        proc = subprocess.run(
            [sys.executable, "-m", "mcp_analytics.cli", "bootstrap", "--lock-wait", "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode != 0
        assert f"server process {pid}" in proc.stderr + proc.stdout
        assert "Traceback" not in proc.stderr
        holder.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        assert bootstrap(conn, BOOTSTRAP_DIR, lock_wait_s=1).applied == []
