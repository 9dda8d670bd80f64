"""docs/scale-out.md's Citus plan, checked on one machine.

The plan's tables (distribution of each raw table and mart, the unique keys and triggers that
must change, the mart queries that would leave the shards) are read from the document itself,
and compared with what a bootstrapped database and dbt's compiled SQL say: a new unique key, a
new trigger or a mart query that would gather rows on the coordinator fails here until the
document says what becomes of it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.warehouse.tables import RAW_TABLES
from tests.scale.distribution import Finding, Model, check_model

DOC = Path(__file__).resolve().parents[2] / "docs" / "scale-out.md"
KINDS = {"distributed", "reference", "local"}


# --------------------------------------------------------------------------- the document


def doc_table(heading: str) -> list[list[str]]:
    """Rows (cells, stripped) of the first Markdown table under `## heading`."""
    text = DOC.read_text()
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/scale-out.md has no section '## {heading}'"
    rows = []
    for line in match.group(1).splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if set("".join(cells)) <= set("-: "):
            continue
        rows.append(cells)
    assert len(rows) > 1, f"no table under '## {heading}'"
    return rows[1:]  # without the header


def _name(cell: str) -> str:
    found = re.match(r"`([^`]+)`", cell)
    assert found, f"expected a `name` first in the cell {cell!r}"
    return found.group(1)


def placement(heading: str) -> dict[str, tuple[str, str | None, bool]]:
    """name -> (kind, distribution column or None, whether the column is still to add)."""
    out = {}
    for cells in doc_table(heading):
        name, kind, column = _name(cells[0]), cells[1].lower(), cells[2]
        assert kind in KINDS, f"{name}: kind {kind!r} is none of {sorted(KINDS)}"
        col = _name(column) if kind == "distributed" else None
        out[name] = (kind, col, "to add" in column)
    return out


RAW_PLAN = placement("Raw tables")
MART_PLAN = placement("Marts")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def compiled(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """dbt's manifest with the marts' compiled SQL, as a first build and as an incremental
    run compiles them (the steady state: `is_incremental()` true)."""
    target = tmp_path_factory.mktemp("scale_dbt")
    out = {}
    for variant in ("first build", "incremental"):
        if variant == "incremental":
            proc = run_dbt(["run"], url=module_db, target_path=target / "run", capture=True)
            assert proc.returncode == 0, proc.stdout[-3000:]
        where = target / variant.replace(" ", "_")
        proc = run_dbt(
            ["compile", "--select", "marts"], url=module_db, target_path=where, capture=True
        )
        assert proc.returncode == 0, proc.stdout[-3000:]
        out[variant] = json.loads((where / "manifest.json").read_text())
    return out


def _distribution(manifest: dict) -> dict[str, str | None]:
    """Relation name -> distribution column (None: reference or local), for the raw tables
    (the plan), staging models (their source's) and marts (the plan; a mart the plan does
    not name follows its inputs, as a co-located mart would)."""
    dist: dict[str, str | None] = {}
    for source in manifest["sources"].values():
        kind, column, _ = RAW_PLAN.get(source["name"], ("reference", None, False))
        dist[source["identifier"]] = column
    by_id = {**manifest["sources"], **manifest["nodes"]}

    def resolve(node_id: str) -> str | None:
        node = by_id[node_id]
        name = node.get("alias") or node["name"]
        if name in dist:
            return dist[name]
        if name in MART_PLAN:
            dist[name] = MART_PLAN[name][1]
            return dist[name]
        upstream = {resolve(d) for d in node.get("depends_on", {}).get("nodes", []) if d in by_id}
        upstream.discard(None)
        dist[name] = upstream.pop() if len(upstream) == 1 else None
        return dist[name]

    for node_id, node in manifest["nodes"].items():
        if node["resource_type"] == "model":
            resolve(node_id)
    return dist


def _marts(manifest: dict) -> dict[str, str]:
    return {
        node["name"]: node["compiled_code"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["original_file_path"].startswith("models/marts/")
    }


def _aggregates(url: str) -> dict[str, bool]:
    """The database's own aggregate functions -> whether they have a combine function."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            select p.proname, a.aggcombinefn <> 0
            from pg_aggregate as a
            join pg_proc as p on p.oid = a.aggfnoid
            join pg_namespace as n on n.oid = p.pronamespace
            where n.nspname not in ('pg_catalog', 'information_schema')
            """
        ).fetchall()
    return {name: combine for name, combine in rows}


# --------------------------------------------------------------------------- the checks


def test_every_telemetry_table_and_named_mart_is_placed(compiled):
    telemetry = {t.name for t in RAW_TABLES if t.category == "telemetry"}
    assert telemetry <= set(RAW_PLAN), (
        f"place these in docs/scale-out.md: {telemetry - set(RAW_PLAN)}"
    )
    assert set(RAW_PLAN) <= {t.name for t in RAW_TABLES}, "the plan names a table that is gone"
    marts = set(_marts(compiled["incremental"]))
    assert set(MART_PLAN) <= marts, f"the plan names marts that are gone: {set(MART_PLAN) - marts}"
    # co-location: one distribution column for every distributed table and mart
    columns = {c for _, c, _ in [*RAW_PLAN.values(), *MART_PLAN.values()] if c}
    assert len(columns) == 1, f"one co-location group expected, columns {columns}"


def test_distribution_columns_exist_or_are_planned_additions(module_db):
    with psycopg.connect(module_db) as conn:
        for table, (kind, column, to_add) in RAW_PLAN.items():
            if kind != "distributed":
                continue
            (present,) = conn.execute(
                "select count(*) from pg_attribute where attrelid = %s::regclass"
                " and attname = %s and not attisdropped",
                (table, column),
            ).fetchone()
            if to_add:
                assert not present, f"{table}.{column} exists now: drop '(to add)' from the doc"
            else:
                assert present, f"{table} has no column {column}: mark it '(to add)' or fix it"
                (nulls_allowed,) = conn.execute(
                    "select not attnotnull from pg_attribute where attrelid = %s::regclass"
                    " and attname = %s",
                    (table, column),
                ).fetchone()
                # Citus refuses null in the distribution column of a row
                assert not nulls_allowed, f"{table}.{column} must be not null"


def test_mart_queries_that_leave_the_shards_are_the_documented_ones(compiled, module_db):
    documented = {
        f"{_name(cells[0])}.{_name(cells[1])}" if cells[1] != "—" else _name(cells[0])
        for cells in doc_table("Mart queries that must change")
    }
    aggregates = _aggregates(module_db)
    assert "mart_hist_merge" in aggregates  # the project's own aggregate is known
    for variant, manifest in compiled.items():
        dist = _distribution(manifest)
        findings: list[Finding] = []
        for name, sql in _marts(manifest).items():
            if MART_PLAN.get(name, ("distributed",))[0] == "local":
                continue  # built on the coordinator from coordinator tables, as today
            findings += check_model(Model(name, sql), dist, aggregates)
        found = {f"{f.model}.{f.cte}" if f.cte else f.model for f in findings}
        assert found == documented, (
            f"{variant}: queries that would not run on the shards:\n"
            + "\n".join(sorted(map(str, findings)))
            + f"\ndocumented: {sorted(documented)}"
        )


def test_unique_keys_without_the_distribution_column_are_the_documented_ones(module_db):
    documented = {(_name(c[0]), _name(c[1])) for c in doc_table("Unique keys")}
    found = set()
    with psycopg.connect(module_db) as conn:
        for table, (kind, column, _) in RAW_PLAN.items():
            if kind != "distributed":
                continue
            rows = conn.execute(
                """
                select c.relname,
                       array(select a.attname from unnest(i.indkey) as k(attnum)
                             join pg_attribute as a
                               on a.attrelid = i.indrelid and a.attnum = k.attnum)
                from pg_index as i
                join pg_class as c on c.oid = i.indexrelid
                where i.indrelid = %s::regclass and i.indisunique
                """,
                (table,),
            ).fetchall()
            assert rows, f"{table} has no unique key at all"
            found |= {(table, index) for index, cols in rows if column not in cols}
    assert found == documented


def test_foreign_keys_point_at_reference_tables_only(module_db):
    with psycopg.connect(module_db) as conn:
        rows = conn.execute(
            """
            select c.conrelid::regclass::text, c.confrelid::regclass::text, c.conname
            from pg_constraint as c
            where c.contype = 'f'
            """
        ).fetchall()
    kinds = {name: kind for name, (kind, _, _) in RAW_PLAN.items()}
    checked = 0
    for child, parent, name in rows:
        child_kind, parent_kind = kinds.get(child, "reference"), kinds.get(parent, "reference")
        if child not in kinds and parent not in kinds:
            continue
        checked += 1
        # Citus: distributed -> reference is allowed, reference -> distributed is not, and
        # distributed -> distributed only on the distribution column (none planned)
        assert parent_kind == "reference", f"{name}: {child} -> {parent} ({parent_kind})"
        assert child_kind in {"distributed", "reference", "local"}
    assert checked >= 2  # tool_usage_logs and mcp_request_logs reference users


def test_triggers_on_distributed_tables_are_the_documented_ones(module_db):
    documented = {(_name(c[0]), _name(c[1])) for c in doc_table("Triggers")}
    with psycopg.connect(module_db) as conn:
        rows = conn.execute(
            "select tgrelid::regclass::text, tgname from pg_trigger where not tgisinternal"
        ).fetchall()
    distributed = {t for t, (kind, _, _) in RAW_PLAN.items() if kind == "distributed"}
    found = {(table, name) for table, name in rows if table in distributed}
    assert found == documented


def test_partitioned_distributed_tables_keep_a_default_partition(module_db):
    with psycopg.connect(module_db) as conn:
        for table, (kind, _, _) in RAW_PLAN.items():
            registered = next(t for t in RAW_TABLES if t.name == table)
            if kind != "distributed":
                continue
            assert registered.partitioned, f"{table}: the plan assumes monthly partitions"
            (default,) = conn.execute(
                "select count(*) from pg_partition_tree(%s::regclass) as t"
                " join pg_class as c on c.oid = t.relid"
                " where pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'",
                (table,),
            ).fetchone()
            assert default == 1, f"{table}: one DEFAULT partition expected"


# --------------------------------------------------------------------------- the checker itself

DIST = {"calls": "bcp_name", "users": None}


def _findings(sql: str) -> list[str]:
    return [str(f) for f in check_model(Model("m", sql), DIST, {"mart_hist_merge": False})]


P50 = "percentile_cont(0.5) within group (order by d)"


@pytest.mark.parametrize(
    "sql",
    [
        f"select tool_name, {P50} from calls group by tool_name",
        "select string_agg(distinct tool_name, ',') from calls",
        "select hour, mart_hist_merge(h) from calls group by hour",
        "select sum(d) over (partition by tool_name) from calls",
        "with w as (select * from calls) select count(*) from w join calls as c on w.id = c.id",
    ],
)
def test_checker_flags_what_would_gather_rows_on_the_coordinator(sql):
    assert _findings(sql), sql


@pytest.mark.parametrize(
    "sql",
    [
        f"select bcp_name, {P50} from calls group by bcp_name",
        "select tool_name, count(*), sum(d), max(d), count(distinct user_id)"
        " from calls group by tool_name",
        "with c as (select * from calls)"
        " select bcp_name, mart_hist_merge(h) from c group by 1, bcp_name",
        "select sum(d) over w from calls window w as (partition by bcp_name order by hour)",
        "select u.role, count(*) from calls as c join users as u on u.id = c.user_id"
        " group by u.role",
        "select count(*) from calls as a join calls as b on a.bcp_name = b.bcp_name",
    ],
)
def test_checker_passes_what_runs_on_the_shards(sql):
    assert _findings(sql) == [], sql
