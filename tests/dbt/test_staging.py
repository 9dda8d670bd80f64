"""The staging views: their columns (what marts, tests and analysts read) and their key tests."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from mcp_analytics.dbt.runner import run_dbt, run_results

pytestmark = pytest.mark.slow

COLUMNS = {
    "stg_mcp__tool_usage_logs": [
        "tool_call_id", "execution_id", "bcp_name", "tool_name", "operation", "error_code",
        "duration_ms", "memory_usage_mb", "cpu_usage_percent", "is_success", "tool_version",
        "user_id", "session_id", "request_id", "response_size_bytes", "is_cache_hit", "called_at",
        "error_class", "client_name", "client_version", "protocol_version", "transport",
        "trace_id", "span_id",
    ],
    "stg_mcp__mcp_request_logs": [
        "request_log_id", "request_id", "method", "path", "response_status_code",
        "response_size_bytes", "duration_ms", "queue_time_ms", "processing_time_ms", "is_success",
        "error_type", "user_id", "session_id", "client_version", "correlation_id", "trace_id",
        "requested_at",
    ],
    "stg_mcp__error_logs": [
        "error_id", "level", "message", "error_code", "user_id", "session_id", "request_id",
        "execution_id", "occurred_at", "is_resolved", "resolved_by", "resolved_at", "category",
        "severity", "impact_level", "environment", "service_version", "occurrence_count",
    ],
    "stg_mcp__performance_metrics": [
        "metric_sample_id", "metric_name", "metric_value", "labels", "measured_at",
        "aggregation_period", "measurement_type", "unit", "service", "environment",
    ],
    "stg_mcp__users": [
        "user_id", "username", "email", "user_role", "is_active", "created_at", "updated_at",
        "last_login_at", "login_attempts", "locked_until", "timezone",
    ],
    "stg_mcp__sessions": [
        "session_id", "user_id", "expires_at", "created_at", "last_accessed_at", "is_active",
        "login_method", "is_mfa_verified",
    ],
    "stg_mcp__system_configuration": [
        "config_key", "config_value", "description", "config_type", "is_encrypted",
        "is_sensitive", "created_at", "updated_at",
    ],
    "stg_mcp__mcp_inventory_snapshots": [
        "snapshot_id", "bcp_name", "server_version", "protocol_version", "snapshot_source",
        "endpoint", "taken_at", "tool_count", "prompt_count", "resource_count",
        "resource_template_count", "error_message", "is_success",
    ],
    "stg_mcp__mcp_definition_versions": [
        "definition_version_id", "bcp_name", "kind", "definition_name", "fingerprint",
        "definition", "first_seen_at", "last_seen_at", "first_snapshot_id", "last_snapshot_id",
        "times_seen",
    ],
    "stg_mcp__data_retention_policies": [
        "table_name", "retention_days", "archive_before_delete", "is_cleanup_enabled",
        "last_cleanup_at", "last_cleanup_count", "last_cleanup_duration_ms", "cleanup_batch_size",
        "cleanup_interval_hours",
    ],
}  # fmt: skip


def _dbt(url: str, target: Path, *args: str) -> dict[str, str]:
    """Run dbt; returns the status of every node it ran, by node name."""
    proc = run_dbt(list(args), url=url, target_path=target, capture=True)
    statuses = {r["unique_id"].split(".")[2]: r["status"] for r in run_results(target)["results"]}
    assert proc.returncode == (1 if "fail" in statuses.values() else 0), proc.stdout[-4000:]
    return statuses


def test_staging_views_have_their_columns_and_no_secret(module_db: str, tmp_path: Path) -> None:
    _dbt(module_db, tmp_path, "run", "--select", "staging")
    with psycopg.connect(module_db) as conn:
        for view, columns in COLUMNS.items():
            found = [
                name
                for (name,) in conn.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema = 'analytics_staging' and table_name = %s"
                    " order by ordinal_position",
                    (view,),
                )
            ]
            assert found == columns, view
        config = conn.execute(
            "insert into system_configuration (config_key, config_value, is_sensitive)"
            " values ('test.secret', to_jsonb('s3cret'::text), true) returning config_key"
        ).fetchone()[0]
        assert (
            conn.execute(
                "select config_value from analytics_staging.stg_mcp__system_configuration"
                " where config_key = %s",
                (config,),
            ).fetchone()[0]
            is None
        )


def test_key_tests_catch_a_duplicate_id_in_the_recent_window(
    module_db: str, tmp_path: Path
) -> None:
    test = "unique_stg_mcp__tool_usage_logs_tool_call_id"
    insert = (
        "insert into tool_usage_logs (id, execution_id, bcp_name, tool_name, operation,"
        ' duration_ms, success, "timestamp")'
        " values (-7, %s, 'b', 't', 'o', 1, true, now() - %s::interval)"
    )
    with psycopg.connect(module_db, autocommit=True) as conn:
        # two days and more back: outside the tested window (the key is unique per partition)
        conn.execute(insert, ("old-1", "3 days"))
        conn.execute(insert, ("old-2", "4 days"))
    assert _dbt(module_db, tmp_path, "test", "--select", "stg_mcp__tool_usage_logs")[test] == "pass"
    with psycopg.connect(module_db, autocommit=True) as conn:
        conn.execute(insert, ("new-1", "1 hour"))
        conn.execute(insert, ("new-2", "5 hours"))
    assert _dbt(module_db, tmp_path, "test", "--select", "stg_mcp__tool_usage_logs")[test] == "fail"
    with psycopg.connect(module_db, autocommit=True) as conn:
        conn.execute("delete from tool_usage_logs where id = -7")
