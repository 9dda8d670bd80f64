-- Ingest support (issue 3): the rejects table, an idempotency key for error_logs, the
-- collector's redaction setting, and a narrow window on the analytics.* settings for the
-- least-privilege ingest role.

-- Events that could not be stored, with why; nothing refused is lost. `raw` is redacted.
create table ingest_rejects (
    id bigserial primary key,
    -- md5 of (source, source_name, line_number, raw): a retried batch records a reject once.
    reject_key char(32) not null,
    rejected_at timestamp with time zone not null default current_timestamp,
    source varchar(20) not null check (source in ('loader', 'collector')),
    source_name text,
    line_number bigint,
    target_table varchar(63),
    reason text not null,
    raw text not null,
    constraint ingest_rejects_reject_key unique (reject_key)
);

create index idx_ingest_rejects_time on ingest_rejects (rejected_at desc);

-- error_logs has no natural key; a retried batch must not duplicate errors. One event = one
-- instant, level, message and request/execution/session. An index, not a new column, so the
-- seed's columns stay as they are; `on conflict do nothing` on it needs no SELECT privilege.
create unique index idx_error_logs_event_key on error_logs (
    "timestamp",
    level,
    md5(message),
    coalesce(request_id, ''),
    coalesce(execution_id, ''),
    coalesce(session_id, '')
);

insert into system_configuration (config_key, config_value, description, config_type) values
(
    'analytics.redaction',
    '{"extra_keys": [], "patterns": [], "allow_keys": [], "marker": "[REDACTED]"}',
    'Secret redaction for telemetry: extra secret keys, key regexes, keys never redacted',
    'security'
)
on conflict (config_key) do nothing;

-- The collector reads its settings through ingest_settings(), so the ingest role needs EXECUTE
-- on it rather than SELECT on system_configuration (which may hold sensitive rows). 062 defines
-- its body; here it exists for the grants (031) and returns nothing should a bootstrap stop
-- before 062. Before the first release this file defined a first body, which 062 replaced; a
-- database that ran it ends in the same state.
create function ingest_settings()
returns table (config_key varchar, config_value jsonb)
language sql
as $$ select null::varchar, null::jsonb where false $$;

revoke all on function ingest_settings() from public;
