-- Application errors (seed: "Error Logs Table").
create table error_logs (
    id bigserial primary key,
    level error_level_enum not null,
    message text not null,
    stack_trace text,
    error_code varchar(50),

    -- context and metadata
    context jsonb not null default '{}',
    tool_context jsonb,

    -- association with other entities
    user_id integer references users (id),
    session_id varchar(255),
    request_id varchar(255),
    execution_id varchar(255),

    -- timestamps
    "timestamp" timestamp with time zone default current_timestamp,

    -- error resolution tracking
    resolved boolean default false,
    resolution_notes text,
    resolved_by integer references users (id),
    resolved_at timestamp with time zone,

    -- classification and severity
    category varchar(50), -- 'authentication', 'database', 'external_api', 'validation'
    severity integer check (severity between 1 and 5),
    impact_level varchar(20), -- 'low', 'medium', 'high', 'critical'

    -- additional metadata
    environment varchar(20) default 'production',
    service_version varchar(20),
    deployment_id varchar(50),

    -- metrics and tracking
    occurrence_count integer default 1,
    first_occurrence timestamp with time zone default current_timestamp,
    last_occurrence timestamp with time zone default current_timestamp
);

create index idx_error_logs_level_time on error_logs (level, "timestamp" desc);
create index idx_error_logs_resolved on error_logs (resolved) where resolved = false;
create index idx_error_logs_category_time on error_logs (category, "timestamp" desc);
create index idx_error_logs_severity on error_logs (severity desc, "timestamp" desc);
create index idx_error_logs_user_time on error_logs (user_id, "timestamp" desc);
create index idx_error_logs_request_id on error_logs (request_id) where request_id is not null;
create index idx_error_logs_execution_id on error_logs (execution_id)
where execution_id is not null;

create index idx_error_logs_context_gin on error_logs using gin (context);
create index idx_error_logs_tool_context_gin on error_logs using gin (tool_context);

create index idx_error_logs_message_fts on error_logs using gin (to_tsvector('english', message));
