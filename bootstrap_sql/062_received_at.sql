-- When each telemetry row reached the warehouse, the window of event times ingest accepts, and
-- a configuration reader that hides what row-level security hides.
--
-- Event times come from clients, and clients' clocks are wrong: a row dated 9999-12-31 made
-- freshness read "fresh" for a pipeline that had stalled, and rows in year 10000 or 1 BC broke
-- dbt source freshness, the raw observation and the archive export. `received_at` is set by the
-- database (its default, now(): the start of the inserting transaction) on every raw table;
-- freshness is measured on it (dbt sources, Dagster), never on the client's "timestamp".
-- Rows that existed before this file get the time it ran.

alter table tool_usage_logs add column received_at timestamp with time zone not null default now();
alter table mcp_request_logs add column received_at timestamp with time zone not null default now();
alter table error_logs add column received_at timestamp with time zone not null default now();
alter table performance_metrics add column received_at timestamp with time zone
not null default now();

comment on column tool_usage_logs.received_at is
'When the row reached the warehouse (set by the database); freshness is measured on it.';
comment on column mcp_request_logs.received_at is
'When the row reached the warehouse (set by the database); freshness is measured on it.';
comment on column error_logs.received_at is
'When the row reached the warehouse (set by the database); freshness is measured on it.';
comment on column performance_metrics.received_at is
'When the row reached the warehouse (set by the database); freshness is measured on it.';

-- max(received_at) for freshness without a scan of the table.
create index idx_tool_usage_received_at on tool_usage_logs (received_at);
create index idx_mcp_request_received_at on mcp_request_logs (received_at);
create index idx_error_logs_received_at on error_logs (received_at);
create index idx_performance_metrics_received_at on performance_metrics (received_at);

-- The window of event times the collector and the loader accept, relative to receipt: an event
-- older than max_age_days or more than max_ahead_seconds ahead is rejected with its reason
-- (docs/ingest.md "Event times"); one more than warn_ahead_seconds ahead is stored, counted and
-- reported (a client clock running fast).
insert into system_configuration (config_key, config_value, description, config_type) values
(
    'analytics.event_time_window',
    '{"max_age_days": 3650, "max_ahead_seconds": 86400, "warn_ahead_seconds": 300}',
    'Event times accepted around receipt: rejected when older than max_age_days or more than '
    'max_ahead_seconds ahead; counted as clock skew when more than warn_ahead_seconds ahead',
    'validation'
)
on conflict (config_key) do nothing;

-- ingest_settings() (030) returned rows whose is_sensitive is null, which the row-level security
-- policies (022) treat as sensitive and hide: the function now applies the same rule, so a
-- setting of unknown sensitivity is withheld either way (fail closed).
create or replace function ingest_settings()
returns table (config_key varchar, config_value jsonb)
language sql
stable
security definer
set search_path = pg_catalog, public
as $$
    select sc.config_key, sc.config_value
    from public.system_configuration as sc
    where sc.config_key like 'analytics.%' and sc.is_sensitive is false
$$;
