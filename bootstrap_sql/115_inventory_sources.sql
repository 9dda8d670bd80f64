-- Tool inventory from every source (docs/analytics.md, "Tool inventory"): the servers the
-- Dagster asset inventory/snapshots reads on its schedule, and snapshots that read only some
-- kinds of definitions (the SDK instrumentation records the tools/list, prompts/list, ...
-- results it serves, one list at a time).

-- The servers the scheduled asset snapshots: a list of {"url": "http://host/mcp"} or
-- {"command": "python server.py", "env": {...}} entries (plain URL strings too), empty by
-- default. Sensitive: a URL or an env may hold a credential (never stored with a snapshot).
insert into system_configuration (
    config_key, config_value, description, config_type, is_sensitive, validation_schema
) values (
    'analytics.inventory_servers',
    '[]',
    'MCP servers whose tools/prompts/resources lists the Dagster asset inventory/snapshots '
    'reads on its schedule: [{"url": "http://host/mcp"} or {"command": "python server.py", '
    '"env": {...}, "timeout": 30}]. Empty: nothing is snapshotted.',
    'analytics',
    true,
    '{"type": "array", "items": {"anyOf": [
        {"type": "string", "pattern": "^https?://"},
        {"type": "object", "required": ["url"],
         "properties": {"url": {"type": "string", "pattern": "^https?://"},
                        "timeout": {"type": "number", "exclusiveMinimum": 0}}},
        {"type": "object", "required": ["command"],
         "properties": {"command": {"type": "string", "minLength": 1},
                        "env": {"type": "object", "additionalProperties": {"type": "string"}},
                        "timeout": {"type": "number", "exclusiveMinimum": 0}}}]}}'
) on conflict (config_key) do nothing;

-- Stores one snapshot (p_snapshot: {bcp_name, server_version, protocol_version, source,
-- endpoint, taken_at, error, kinds, definitions: [{kind, name, fingerprint, definition}]}) and
-- returns its id. Snapshots of one server are stored one at a time (advisory lock), each against
-- the server's latest earlier snapshot that succeeded. SECURITY DEFINER: the ingest role (the SDK
-- instrumentation) records what it serves without any right on the tables (082's tables).
-- "kinds" (optional) are the kinds of definitions the snapshot read (default: all four). A
-- definition of a kind it did not read is carried over from the server's previous snapshot: its
-- period goes on to this snapshot (last_snapshot_id) without counting as seen (last_seen_at and
-- times_seen unchanged), so the versions listed by a server's latest snapshot stay the complete
-- set it advertises, whichever source took it. The snapshot's count of a kind it did not read is
-- null.
create or replace function mcp_record_inventory(p_snapshot jsonb)
returns bigint
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_id bigint;
    v_previous bigint;
    v_taken timestamp with time zone;
    v_bcp text := p_snapshot ->> 'bcp_name';
    v_definitions jsonb := coalesce(p_snapshot -> 'definitions', '[]'::jsonb);
    v_all constant text[] := array['tool', 'prompt', 'resource', 'resource_template'];
    v_kinds text[];
begin
    if jsonb_typeof(v_definitions) <> 'array' then
        raise exception 'mcp_record_inventory: definitions must be an array, got %',
            jsonb_typeof(v_definitions)
            using errcode = 'invalid_parameter_value';
    end if;
    if v_bcp is null and p_snapshot ->> 'error' is null then
        raise exception 'mcp_record_inventory: a snapshot without an error needs bcp_name'
            using errcode = 'invalid_parameter_value';
    end if;
    if p_snapshot -> 'kinds' is null or jsonb_typeof(p_snapshot -> 'kinds') = 'null' then
        v_kinds := v_all;
    elsif jsonb_typeof(p_snapshot -> 'kinds') <> 'array' then
        raise exception 'mcp_record_inventory: kinds must be an array, got %',
            jsonb_typeof(p_snapshot -> 'kinds')
            using errcode = 'invalid_parameter_value';
    else
        select coalesce(array_agg(k), array[]::text[]) into v_kinds
        from jsonb_array_elements_text(p_snapshot -> 'kinds') as k;
        if not v_kinds <@ v_all or cardinality(v_kinds) = 0 then
            raise exception 'mcp_record_inventory: kinds must be some of %, got %',
                v_all, p_snapshot -> 'kinds'
                using errcode = 'invalid_parameter_value';
        end if;
    end if;
    if exists (
        select 1 from jsonb_array_elements(v_definitions) as d
        where not (d ->> 'kind') = any(v_kinds)
    ) then
        raise exception 'mcp_record_inventory: a definition of a kind outside kinds %', v_kinds
            using errcode = 'invalid_parameter_value';
    end if;
    if v_bcp is not null then
        perform pg_advisory_xact_lock(hashtext('mcp_analytics.inventory'), hashtext(v_bcp));
    end if;
    v_taken := coalesce((p_snapshot ->> 'taken_at')::timestamptz, now());

    select s.id into v_previous
    from public.mcp_inventory_snapshots as s
    where s.bcp_name = v_bcp and s.error is null
    order by s.taken_at desc, s.id desc
    limit 1;

    insert into public.mcp_inventory_snapshots (
        bcp_name, server_version, protocol_version, source, endpoint, taken_at, tools, prompts,
        resources, resource_templates, error
    )
    select
        v_bcp,
        p_snapshot ->> 'server_version',
        p_snapshot ->> 'protocol_version',
        coalesce(p_snapshot ->> 'source', 'cli'),
        p_snapshot ->> 'endpoint',
        v_taken,
        case when 'tool' = any(v_kinds) then count(*) filter (where d ->> 'kind' = 'tool') end,
        case when 'prompt' = any(v_kinds) then count(*) filter (where d ->> 'kind' = 'prompt') end,
        case
            when 'resource' = any(v_kinds) then count(*) filter (where d ->> 'kind' = 'resource')
        end,
        case
            when 'resource_template' = any(v_kinds)
                then count(*) filter (where d ->> 'kind' = 'resource_template')
        end,
        p_snapshot ->> 'error'
    from jsonb_array_elements(v_definitions) as d
    returning id into v_id;

    if p_snapshot ->> 'error' is not null then
        return v_id;
    end if;

    -- the kinds this snapshot did not read: what the previous snapshot listed goes on
    update public.mcp_definition_versions as v
    set last_snapshot_id = v_id
    where
        v.bcp_name = v_bcp
        and v.last_snapshot_id = v_previous
        and not v.kind = any(v_kinds);

    -- the same version as in the previous snapshot: its period goes on
    update public.mcp_definition_versions as v
    set last_seen_at = v_taken, last_snapshot_id = v_id, times_seen = v.times_seen + 1
    from jsonb_array_elements(v_definitions) as d
    where
        v.bcp_name = v_bcp
        and v.kind = d ->> 'kind'
        and v.name = d ->> 'name'
        and v.fingerprint = d ->> 'fingerprint'
        and v.last_snapshot_id = v_previous;

    -- anything else (new, changed, or back after an absence) opens a period
    insert into public.mcp_definition_versions (
        bcp_name, kind, name, fingerprint, definition, first_seen_at, last_seen_at,
        first_snapshot_id, last_snapshot_id
    )
    select v_bcp, d ->> 'kind', d ->> 'name', d ->> 'fingerprint', d -> 'definition', v_taken,
        v_taken, v_id, v_id
    from jsonb_array_elements(v_definitions) as d
    where not exists (
        select 1
        from public.mcp_definition_versions as v
        where
            v.bcp_name = v_bcp
            and v.kind = d ->> 'kind'
            and v.name = d ->> 'name'
            and v.last_snapshot_id = v_id
    );
    return v_id;
end;
$$;

comment on function mcp_record_inventory(jsonb) is
'Stores one MCP inventory snapshot and its definitions (version periods); returns its id. '
'"kinds" (optional): the kinds it read; the others are carried over from the previous snapshot.';

-- The ingest role (SDK instrumentation) and mcp_admin record snapshots; nobody else.
revoke execute on function mcp_record_inventory(jsonb) from public;
grant execute on function mcp_record_inventory(jsonb) to mcp_ingest, mcp_admin;
