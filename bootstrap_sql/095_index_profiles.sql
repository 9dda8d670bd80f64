-- Index profiles of the raw telemetry tables (docs/indexes.md; `mcp-analytics indexes`).
--
-- The seed's full index set stays what bootstrap creates (profile `full`). The lean profile
-- leaves out the indexes that nothing in the warehouse uses: no dbt build, retention run,
-- raw-table observation, dashboard page nor documented drill-down scanned them in the census of
-- bench/bench_index_usage.py (pg_stat_user_indexes around each workload on the demo). This
-- table lists every non-unique index of the four telemetry tables with the definition this
-- database gave it (so `indexes profile full` rebuilds exactly what bootstrap made), whether
-- the lean profile keeps it, and what uses it. Unique indexes and constraints are the writers'
-- keys (`on conflict`): never listed, never dropped.

create table index_profile_catalog (
    index_name text primary key,
    table_name text not null,
    definition text not null,
    lean boolean not null,
    used_by text not null
);

comment on table index_profile_catalog is
'Non-unique indexes of the raw telemetry tables: definition (pg_get_indexdef at bootstrap), '
'kept by the lean profile or not, and what uses it (docs/indexes.md).';

with uses (index_name, lean, used_by) as (
    values
    -- tool_usage_logs
    ('idx_tool_usage_timestamp', true, 'dbt marts (incremental rebuild of dirty hours), observation'),
    ('idx_tool_usage_received_at', true, 'freshness (dbt source freshness, Dagster observation)'),
    ('idx_tool_usage_user_time', true, 'drill-down: a user''s recent calls'),
    ('idx_tool_usage_request_id', true, 'drill-down: the tool calls of a request'),
    ('idx_tool_usage_trace_id', true, 'drill-down: the tool calls of a trace (OTLP)'),
    ('idx_tool_usage_bcp_time', false, 'nothing (the marts group by BCP)'),
    ('idx_tool_usage_tool_time', false, 'nothing (the marts group by tool)'),
    ('idx_tool_usage_operation_time', false, 'nothing (the marts group by operation)'),
    ('idx_tool_usage_success', false, 'nothing (the marts count failures)'),
    ('idx_tool_usage_duration', false, 'nothing (the marts keep latency histograms)'),
    ('idx_tool_usage_parameters_gin', false, 'nothing'),
    ('idx_tool_usage_response_gin', false, 'nothing'),
    ('idx_tool_usage_params_hash', false, 'nothing'),
    -- mcp_request_logs
    ('idx_mcp_request_timestamp', true, 'dbt marts (incremental rebuild of dirty hours), observation'),
    ('idx_mcp_request_received_at', true, 'freshness (dbt source freshness, Dagster observation)'),
    ('idx_mcp_request_error_type', true, 'dbt mart hourly_request_summary (error types per hour)'),
    ('idx_mcp_request_user_time', true, 'drill-down: a user''s recent requests'),
    ('idx_mcp_request_method_time', false, 'nothing (the marts group by method)'),
    ('idx_mcp_request_path_time', false, 'nothing (the marts group by path)'),
    ('idx_mcp_request_status_time', false, 'nothing (the marts count statuses)'),
    ('idx_mcp_request_success', false, 'nothing (the marts count failures)'),
    ('idx_mcp_request_duration', false, 'nothing (the marts keep latency histograms)'),
    ('idx_mcp_request_query_gin', false, 'nothing'),
    ('idx_mcp_request_headers_gin', false, 'nothing'),
    ('idx_mcp_request_body_gin', false, 'nothing'),
    -- error_logs
    ('idx_error_logs_timestamp', true, 'dbt marts, retention, dashboard (errors page)'),
    ('idx_error_logs_level_time', true, 'dbt mart daily_error_summary'),
    ('idx_error_logs_resolved', true, 'dashboard: unresolved errors'),
    ('idx_error_logs_message_fts', true, 'dashboard: error search'),
    ('idx_error_logs_request_id', true, 'drill-down: the errors of a request'),
    ('idx_error_logs_execution_id', true, 'drill-down: the errors of a call'),
    ('idx_error_logs_user_time', true, 'drill-down: a user''s recent errors'),
    ('idx_error_logs_received_at', false, 'nothing (error_logs declares no freshness)'),
    ('idx_error_logs_category_time', false, 'nothing (the marts group by category)'),
    ('idx_error_logs_severity', false, 'nothing'),
    ('idx_error_logs_context_gin', false, 'nothing'),
    ('idx_error_logs_tool_context_gin', false, 'nothing (the dashboard filters unresolved rows)'),
    -- performance_metrics
    ('idx_performance_metrics_timestamp', true, 'dbt marts, retention, observation'),
    ('idx_performance_metrics_received_at', true, 'freshness (dbt source freshness)'),
    ('idx_performance_metrics_period_time', true, 'dbt mart performance_metrics_summary'),
    ('idx_performance_metrics_name_time', true, 'drill-down: a metric''s recent series'),
    ('idx_performance_metrics_labels_gin', false, 'nothing')
),

present as (
    select
        ic.relname::text as index_name,
        tc.relname::text as table_name,
        pg_get_indexdef(ix.indexrelid) as definition
    from pg_index as ix
    inner join pg_class as ic on ix.indexrelid = ic.oid
    inner join pg_class as tc on ix.indrelid = tc.oid
    where
        tc.relnamespace = 'public'::regnamespace
        and tc.relname in ('tool_usage_logs', 'mcp_request_logs', 'error_logs', 'performance_metrics')
        and not ix.indisunique
)

-- An index this file does not name (added by a later file, or by hand) is kept by both
-- profiles until a later file says otherwise.
insert into index_profile_catalog (index_name, table_name, definition, lean, used_by)
select
    present.index_name,
    present.table_name,
    present.definition,
    coalesce(uses.lean, true),
    coalesce(uses.used_by, 'not in the census: kept')
from present
left join uses on present.index_name = uses.index_name;
