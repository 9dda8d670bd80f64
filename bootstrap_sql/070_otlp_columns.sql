-- OpenTelemetry in (docs/otlp.md): what an OTLP span or metric carries beyond the seed's columns.
-- New nullable columns only: no seed column changes meaning, and rows from the collector and
-- the loader leave them null.

-- One MCP operation (a SERVER span carrying mcp.method.name): who called, how, and where the
-- span sits in its trace. Ids are lowercase hex as OTLP/JSON writes them (16 and 8 bytes).
alter table tool_usage_logs
add column client_name varchar(255),
add column client_version varchar(100),
add column protocol_version varchar(50),
add column transport varchar(50),
add column trace_id varchar(32),
add column span_id varchar(16),
add column parent_span_id varchar(16);

create index idx_tool_usage_trace_id on tool_usage_logs (trace_id) where trace_id is not null;

-- A metric data point keeps its whole distribution, not only an average: metric_value is the
-- mean (sum / count) for histograms, and these columns hold the rest. Bounds and bucket counts
-- are JSON arrays: bucket i counts values in (bounds[i-1], bounds[i]], the last one above the
-- last bound (OTLP explicit-bucket semantics; exponential histograms are converted to the same
-- shape). start_timestamp and temporality say what window a cumulative or delta point covers.
alter table performance_metrics
add column start_timestamp timestamp with time zone,
add column temporality varchar(20),
add column histogram_count numeric(20, 0),
add column histogram_sum numeric(38, 9),
add column histogram_min numeric(38, 9),
add column histogram_max numeric(38, 9),
add column histogram_bounds jsonb,
add column histogram_bucket_counts jsonb;

-- The OTLP receiver records what it could not store like the loader and the collector do.
alter table ingest_rejects drop constraint if exists ingest_rejects_source_check;
alter table ingest_rejects add constraint ingest_rejects_source_check check (
    source in ('loader', 'collector', 'otlp')
);
