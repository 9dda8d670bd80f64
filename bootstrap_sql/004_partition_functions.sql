-- Monthly range partitions (seed: "Automatic Partition Creation"), fixed:
--  * schema-aware: the parent is resolved with to_regclass (search_path or "schema.table"),
--    and a partition is looked up in the parent's schema, not by bare name in any schema;
--  * month bounds are UTC midnights, not dates read in the session's time zone;
--  * concurrent callers are serialised per parent (advisory lock), so a race is not an error;
--  * months_behind (an addition) also creates past months, for back-filled or late data;
--  * rows already waiting in the DEFAULT partition for a new month are moved into it:
--    PostgreSQL refuses to create the partition while the DEFAULT partition holds such rows.
create or replace function create_monthly_partitions(
    table_name text,
    months_ahead integer default 3,
    months_behind integer default 0
)
returns integer
language plpgsql
as $$
declare
    parent_oid oid;
    parent_schema text;
    parent_name text;
    part_key text;
    default_name text;
    col_list text;
    month_start date;
    lower_bound timestamptz;
    upper_bound timestamptz;
    partition_name text;
    moved bigint;
    created_count integer := 0;
begin
    if months_ahead is null or months_ahead < 0 or months_ahead > 120 then
        raise exception 'create_monthly_partitions: months_ahead must be between 0 and 120, got %',
            months_ahead using errcode = 'invalid_parameter_value';
    end if;
    if months_behind is null or months_behind < 0 or months_behind > 120 then
        raise exception 'create_monthly_partitions: months_behind must be between 0 and 120, got %',
            months_behind using errcode = 'invalid_parameter_value';
    end if;

    begin
        parent_oid := to_regclass(table_name);
    exception when invalid_name or syntax_error then
        -- PostgreSQL 15 raises on a malformed name where 16+ returns null: same answer here.
        parent_oid := null;
    end;
    if parent_oid is null then
        raise exception 'create_monthly_partitions: table % does not exist', table_name
            using errcode = 'undefined_table';
    end if;

    select n.nspname, c.relname into parent_schema, parent_name
    from pg_class as c
    inner join pg_namespace as n on c.relnamespace = n.oid
    where c.oid = parent_oid and c.relkind = 'p';
    if not found then
        raise exception 'create_monthly_partitions: % is not a partitioned table', table_name
            using errcode = 'wrong_object_type';
    end if;

    select a.attname into part_key
    from pg_partitioned_table as pt
    inner join pg_attribute as a on pt.partrelid = a.attrelid and a.attnum = pt.partattrs[0]
    where pt.partrelid = parent_oid and pt.partstrat = 'r' and pt.partnatts = 1;
    if part_key is null then
        raise exception 'create_monthly_partitions: % is not range-partitioned on one column',
            table_name using errcode = 'wrong_object_type';
    end if;

    perform pg_advisory_xact_lock(hashtext('mcp_analytics.partitions'), hashtext(parent_oid::text));

    select c.relname into default_name
    from pg_inherits as i
    inner join pg_class as c on i.inhrelid = c.oid
    where i.inhparent = parent_oid and pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';

    select string_agg(quote_ident(a.attname), ', ' order by a.attnum) into col_list
    from pg_attribute as a
    where a.attrelid = parent_oid and a.attnum > 0 and not a.attisdropped;

    month_start := (
        date_trunc('month', now() at time zone 'UTC') - make_interval(months => months_behind)
    )::date;
    for i in 0..(months_behind + months_ahead) loop
        lower_bound := month_start::timestamp at time zone 'UTC';
        upper_bound := (month_start + interval '1 month')::timestamp at time zone 'UTC';
        partition_name := parent_name || '_' || to_char(month_start, 'YYYY_MM');

        if not exists (
            select 1 from pg_class as c
            where c.relname = partition_name and c.relnamespace = parent_schema::regnamespace
        ) then
            moved := 0;
            if default_name is not null then
                -- Take the month's rows out of DEFAULT first, then put them back through the
                -- parent once the partition exists, all in this transaction.
                execute format(
                    'create temporary table mcpa_moved_rows on commit drop as '
                    'with moved as (delete from %I.%I where %I >= %L and %I < %L returning %s) '
                    'select %s from moved',
                    parent_schema, default_name, part_key, lower_bound, part_key, upper_bound,
                    col_list, col_list
                );
                get diagnostics moved = row_count;
            end if;

            execute format(
                'create table %I.%I partition of %I.%I for values from (%L) to (%L)',
                parent_schema, partition_name, parent_schema, parent_name, lower_bound, upper_bound
            );
            created_count := created_count + 1;

            if default_name is not null then
                if moved > 0 then
                    execute format(
                        'insert into %I.%I (%s) select %s from mcpa_moved_rows',
                        parent_schema, parent_name, col_list, col_list
                    );
                    raise notice 'Moved % rows of % from % into %',
                        moved, to_char(month_start, 'YYYY-MM'), default_name, partition_name;
                end if;
                drop table mcpa_moved_rows;
            end if;

            raise notice 'Created partition: %.%', parent_schema, partition_name;
        end if;

        month_start := (month_start + interval '1 month')::date;
    end loop;

    return created_count;
end;
$$;

comment on function create_monthly_partitions(text, integer, integer) is
'Creates the monthly partitions of a range-partitioned table for the current UTC month, the '
'next months_ahead months and the previous months_behind months; idempotent; moves rows '
'waiting in the DEFAULT partition. '
'Returns the number of partitions created.';
