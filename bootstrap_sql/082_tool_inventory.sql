-- Tool inventory and definition drift (docs/analytics.md, "Tool inventory"): what each MCP
-- server advertises (tools/list, prompts/list, resources/list, resources/templates/list), read
-- by `mcp-analytics inventory snapshot`, the Dagster inventory asset or the SDK instrumentation,
-- and stored under the name the server reports for itself.
--
-- One row per snapshot, and one row per *version period* of a definition: a definition whose
-- fingerprint (SHA-256 of its canonical JSON, computed by mcp_analytics/analytics/inventory.py)
-- is the one the server's previous snapshot had extends that period (last seen, times seen);
-- anything else opens a new period. So the table holds each version once per stretch of time it
-- was advertised, whatever the snapshot rate, and a definition changed back is a new period.
-- mcp_record_inventory() stores a snapshot (115). Before the first release this file also
-- defined a first version of it, which 115 replaced: a database that ran it ends in the same
-- state.

create table mcp_inventory_snapshots (
    id bigint generated always as identity primary key,
    -- serverInfo.name (null when the snapshot failed before the server named itself)
    bcp_name varchar(255),
    server_version varchar(256),
    protocol_version varchar(50),
    -- cli | schedule | instrumentation
    source varchar(20) not null check (source in ('cli', 'schedule', 'instrumentation')),
    -- the URL (no credentials, no query) or the command the snapshot connected to
    endpoint text,
    taken_at timestamp with time zone not null default now(),
    tools integer,
    prompts integer,
    resources integer,
    resource_templates integer,
    -- why the snapshot failed; null when it succeeded (then bcp_name is set)
    error text,
    check (error is not null or bcp_name is not null)
);

create index idx_mcp_inventory_snapshots_server on mcp_inventory_snapshots (bcp_name, taken_at desc);

comment on table mcp_inventory_snapshots is
'What an MCP server advertised, once per snapshot (tools/list, prompts/list, resources/list).';

create table mcp_definition_versions (
    id bigint generated always as identity primary key,
    bcp_name varchar(255) not null,
    -- tool | prompt | resource | resource_template
    kind varchar(20) not null
    check (kind in ('tool', 'prompt', 'resource', 'resource_template')),
    -- tool or prompt name, resource URI, resource template URI template
    name varchar(1000) not null,
    fingerprint varchar(64) not null check (fingerprint ~ '^[0-9a-f]{64}$'),
    -- the fingerprinted fields (a tool's name, description, inputSchema, outputSchema,
    -- annotations; see inventory.py), as the server sent them
    definition jsonb not null,
    first_seen_at timestamp with time zone not null,
    last_seen_at timestamp with time zone not null,
    first_snapshot_id bigint not null references mcp_inventory_snapshots (id),
    last_snapshot_id bigint not null references mcp_inventory_snapshots (id),
    times_seen integer not null default 1,
    unique (bcp_name, kind, name, first_snapshot_id)
);

create index idx_mcp_definition_versions_last on mcp_definition_versions (bcp_name, last_snapshot_id);

comment on table mcp_definition_versions is
'Each version of an advertised MCP definition, once per stretch of snapshots it was advertised.';
