-- Metrics samples (seed: "Performance Metrics Table").
create table performance_metrics (
    id bigserial primary key,
    metric_name varchar(100) not null,
    metric_value decimal(15, 4) not null,
    labels jsonb default '{}',
    "timestamp" timestamp with time zone default current_timestamp,
    aggregation_period varchar(20) not null, -- '1m', '5m', '15m', '1h', '1d', '1w'

    -- metadata
    measurement_type varchar(50), -- 'counter', 'gauge', 'histogram', 'summary'
    unit varchar(20), -- 'ms', 'bytes', 'percent', 'count'

    -- additional context
    service varchar(50) default 'mcp-server',
    environment varchar(20) default 'production',

    constraint chk_aggregation_period check (
        aggregation_period in ('1m', '5m', '15m', '1h', '1d', '1w')
    )
);

create index idx_performance_metrics_name_time on performance_metrics (
    metric_name, "timestamp" desc
);
create index idx_performance_metrics_period_time on performance_metrics (
    aggregation_period, "timestamp" desc
);
create index idx_performance_metrics_labels_gin on performance_metrics using gin (labels);

-- One sample per metric, period, instant and label set.
create unique index idx_performance_metrics_unique on performance_metrics (
    metric_name, aggregation_period, "timestamp", coalesce(md5(labels::text), 'null')
);
