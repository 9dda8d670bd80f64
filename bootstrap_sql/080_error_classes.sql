-- Error classes (docs/analytics.md): every tool call is ok or one of tool_error (a result with
-- isError), caller_error (the caller's JSON-RPC mistakes: -32700, -32600, -32601, -32602,
-- -32002), server_error (-32603, -32000..-32099, exception types) or transport_error
-- (timeouts, cancellations, broken connections, HTTP 5xx without a JSON-RPC answer).
--
-- The class is computed once, at ingest, by mcp_analytics/analytics/error_classes.py (every
-- path goes through ingest.events.prepare) and stored on the raw row. mcp_error_class() below
-- applies the same table (error_classes.toml; tests/analytics/test_error_classes.py holds the
-- two together) to the rows stored before this file, and to rows a writer puts in the table
-- around prepare (the marts read coalesce(error_class, mcp_error_class(success, error_code))).

alter table tool_usage_logs add column error_class varchar(20);
alter table tool_usage_logs add constraint tool_usage_logs_error_class_check check (
    error_class in ('ok', 'tool_error', 'caller_error', 'server_error', 'transport_error')
);

comment on column tool_usage_logs.error_class is
'ok, tool_error, caller_error, server_error or transport_error: computed at ingest from '
'success and error_code (docs/analytics.md, "Error classes").';

create function mcp_error_class(p_success boolean, p_error_code text)
returns varchar(20)
language sql
immutable
parallel safe
as $$
    with code as (
        -- ASCII blanks only, as the Python classifier strips
        select nullif(btrim(p_error_code, E' \t\n\r\f\v'), '') as text
    ),
    number as (
        select case
            when code.text ~ '^[+-]?[0-9]{1,9}$' then code.text::integer
            when code.text ~* '^http[ _.:/-]?[0-9]{3}$' then right(code.text, 3)::integer
        end as value
        from code
    ),
    name as (
        select lower(regexp_replace(regexp_replace(code.text, '^.*\.', ''), '[^A-Za-z0-9]+', '', 'g'))
            as value
        from code
    )
    select case
        when p_success then 'ok'
        when code.text is null then 'server_error'
        when number.value is not null then case
            -- [codes] of error_classes.toml
            when number.value in (-32700, -32600, -32601, -32602, -32002) then 'caller_error'
            when number.value = -32603 then 'server_error'
            when number.value in (-32800, 408) then 'transport_error'
            -- [[ranges]]
            when number.value between -32099 and -32000 then 'server_error'
            when number.value between 400 and 499 then 'caller_error'
            when number.value between 500 and 599 then 'transport_error'
            else 'server_error'
        end
        -- [names]
        when name.value in ('toolerror', 'iserror') then 'tool_error'
        when name.value in (
            'parseerror', 'invalidrequest', 'methodnotfound', 'invalidparams',
            'resourcenotfound', 'resourcenotfounderror'
        ) then 'caller_error'
        when name.value in (
            'timeout', 'timeouterror', 'timedout', 'requesttimeout', 'readtimeout',
            'writetimeout', 'connecttimeout', 'pooltimeout', 'deadlineexceeded',
            'cancelled', 'canceled', 'cancellederror', 'requestcancelled',
            'connectionerror', 'connectionreseterror', 'connectionabortederror',
            'connectionrefusederror', 'brokenpipeerror', 'closedresourceerror',
            'brokenresourceerror', 'endofstream', 'remoteprotocolerror', 'connecterror',
            'readerror', 'writeerror', 'serverdisconnectederror'
        ) then 'transport_error'
        else 'server_error'
    end::varchar(20)
    from code, number, name
$$;

comment on function mcp_error_class(boolean, text) is
'Error class of a tool call from success and error_code, as mcp_analytics.analytics.error_classes '
'computes it at ingest: ok, tool_error, caller_error, server_error or transport_error.';

grant execute on function mcp_error_class(boolean, text) to mcp_analyst, mcp_admin, mcp_ingest;

-- Rows stored before this file. The update marks their hours for the marts (the late-data
-- triggers), so the marts' new error-class columns are computed for every hour still within raw
-- retention on the next build.
update tool_usage_logs
set error_class = mcp_error_class(success, error_code)
where error_class is null;

-- Marts built before this file get the columns their models now produce (dbt's
-- on_schema_change is `fail`); the hours marked above fill them in.
do $$
declare
    mart text;
begin
    foreach mart in array array['hourly_tool_usage_summary', 'daily_tool_usage_summary'] loop
        if to_regclass(format('analytics.%I', mart)) is not null then
            execute format(
                'alter table analytics.%I add column if not exists tool_error_calls bigint,'
                ' add column if not exists caller_error_calls bigint,'
                ' add column if not exists server_error_calls bigint,'
                ' add column if not exists transport_error_calls bigint',
                mart
            );
        end if;
    end loop;
end;
$$;
