-- HTTP requests to the MCP server, partitioned by month (seed: "MCP Request Logs Table").
create table mcp_request_logs (
    id bigserial,
    request_id varchar(255) not null,

    -- request details
    method varchar(10) not null,
    path text not null,
    query_params jsonb,
    request_headers jsonb,
    request_body jsonb,

    -- response details
    response_status_code integer not null,
    response_data jsonb,
    response_headers jsonb,
    response_size_bytes integer,

    -- performance metrics
    duration_ms integer not null,
    queue_time_ms integer,
    processing_time_ms integer,

    -- status and metadata
    success boolean not null,
    error_type varchar(50),

    -- context
    user_id integer references users (id),
    session_id varchar(255),
    "timestamp" timestamp with time zone default current_timestamp,

    -- client information
    user_agent text,
    ip_address inet,
    client_version varchar(20),

    -- additional tracking
    correlation_id varchar(255),
    trace_id varchar(255),
    span_id varchar(255),

    primary key (id, "timestamp"),
    -- The seed's `request_id ... unique`, with the partition key PostgreSQL requires.
    constraint mcp_request_logs_request_id_key unique (request_id, "timestamp")
) partition by range ("timestamp");

create table mcp_request_logs_default partition of mcp_request_logs default;

select create_monthly_partitions('mcp_request_logs', 3);

create index idx_mcp_request_method_time on mcp_request_logs (method, "timestamp" desc);
create index idx_mcp_request_path_time on mcp_request_logs (path, "timestamp" desc);
create index idx_mcp_request_status_time on mcp_request_logs (
    response_status_code, "timestamp" desc
);
create index idx_mcp_request_user_time on mcp_request_logs (user_id, "timestamp" desc);
create index idx_mcp_request_success on mcp_request_logs (success, "timestamp" desc);
create index idx_mcp_request_duration on mcp_request_logs (duration_ms) where duration_ms > 1000;
create index idx_mcp_request_error_type on mcp_request_logs (error_type)
where error_type is not null;

create index idx_mcp_request_query_gin on mcp_request_logs using gin (query_params);
create index idx_mcp_request_headers_gin on mcp_request_logs using gin (request_headers);
create index idx_mcp_request_body_gin on mcp_request_logs using gin (request_body);
