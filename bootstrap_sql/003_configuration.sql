-- Retention policies and system configuration (seed: "Data Retention Policies Table",
-- "System Configuration Table"), with the seed's default rows.
create table data_retention_policies (
    table_name varchar(100) primary key,
    retention_days integer not null check (retention_days > 0),
    archive_before_delete boolean default true,
    cleanup_enabled boolean default true,

    -- execution tracking
    last_cleanup timestamp with time zone,
    last_cleanup_count bigint default 0,
    last_cleanup_duration_ms integer,

    -- policy configuration
    cleanup_batch_size integer default 1000,
    cleanup_interval_hours integer default 24,

    -- metadata
    created_at timestamp with time zone default current_timestamp,
    updated_at timestamp with time zone default current_timestamp,
    updated_by integer references users (id)
);

insert into data_retention_policies (table_name, retention_days, archive_before_delete) values
('tool_usage_logs', 90, true),
('mcp_request_logs', 60, true),
('error_logs', 365, true),
('performance_metrics', 30, false),
('sessions', 7, false);

create table system_configuration (
    config_key varchar(255) primary key,
    config_value jsonb not null,
    description text,
    config_type varchar(50) default 'general',

    -- metadata
    created_at timestamp with time zone default current_timestamp,
    updated_at timestamp with time zone default current_timestamp,
    updated_by integer references users (id),

    -- validation
    is_encrypted boolean default false,
    is_sensitive boolean default false,
    validation_schema jsonb
);

create index idx_system_config_type on system_configuration (config_type);
create index idx_system_config_sensitive on system_configuration (is_sensitive)
where is_sensitive = true;

insert into system_configuration (config_key, config_value, description, config_type) values
('analytics.enabled', 'true', 'Enable analytics collection', 'feature'),
('analytics.batch_size', '50', 'Batch size for analytics collection', 'performance'),
('analytics.flush_interval_ms', '5000', 'Flush interval for analytics buffers', 'performance'),
('dashboard.refresh_interval_ms', '10000', 'Dashboard auto-refresh interval', 'ui'),
('auth.session_timeout_hours', '24', 'Session timeout in hours', 'security'),
('auth.max_login_attempts', '5', 'Maximum login attempts before lockout', 'security'),
('auth.lockout_duration_minutes', '15', 'Account lockout duration', 'security');
