-- Tool calls, partitioned by month (seed: "Tool Usage Logs Table (Partitioned)").
create table tool_usage_logs (
    id bigserial,
    -- The seed's `execution_id ... unique` cannot exist on a partitioned table without the
    -- partition key; uniqueness is enforced on (execution_id, timestamp) below.
    execution_id varchar(255) not null,
    bcp_name varchar(100) not null,
    tool_name varchar(100) not null,
    operation varchar(100) not null,

    -- request/response data
    parameters jsonb,
    response_data jsonb,

    -- error handling
    error_message text,
    error_stack text,
    error_code varchar(50),

    -- performance metrics
    duration_ms integer not null,
    memory_usage_mb decimal(10, 2),
    cpu_usage_percent decimal(5, 2),

    -- status and classification
    success boolean not null,
    tool_version varchar(20),

    -- context and audit
    user_id integer references users (id),
    session_id varchar(255),
    request_id varchar(255),
    "timestamp" timestamp with time zone default current_timestamp,

    -- request metadata
    ip_address inet,
    user_agent text,

    -- additional analytics
    parameters_hash varchar(64), -- SHA-256 of the canonical JSON of parameters
    response_size_bytes integer,
    cache_hit boolean default false,

    primary key (id, "timestamp")
) partition by range ("timestamp");

-- Rows outside every monthly partition (far past, far future) land here instead of failing.
create table tool_usage_logs_default partition of tool_usage_logs default;

-- Current month and the next three (the seed hard-coded 2024-08..10).
select create_monthly_partitions('tool_usage_logs', 3);

create index idx_tool_usage_bcp_time on tool_usage_logs (bcp_name, "timestamp" desc);
create index idx_tool_usage_tool_time on tool_usage_logs (tool_name, "timestamp" desc);
create index idx_tool_usage_operation_time on tool_usage_logs (operation, "timestamp" desc);
create index idx_tool_usage_user_time on tool_usage_logs (user_id, "timestamp" desc);
create index idx_tool_usage_success on tool_usage_logs (success, "timestamp" desc);
create index idx_tool_usage_duration on tool_usage_logs (duration_ms) where duration_ms > 5000;
-- The seed's unique execution_id and its plain index become one unique index that includes the
-- partition key: it enforces the key and serves lookups by execution_id alike.
create unique index idx_tool_usage_execution_id on tool_usage_logs (execution_id, "timestamp");
create index idx_tool_usage_request_id on tool_usage_logs (request_id);

create index idx_tool_usage_parameters_gin on tool_usage_logs using gin (parameters);
create index idx_tool_usage_response_gin on tool_usage_logs using gin (response_data);

create index idx_tool_usage_params_hash on tool_usage_logs (parameters_hash);
