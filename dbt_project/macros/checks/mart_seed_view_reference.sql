{#-
    The seed's view `view` (bootstrap_sql/009: a summary of the design document, a materialized
    view over its last 30, 90 or 7 days) as the recomputation a check compares a mart with: its
    definition read from the database when the check runs (pg_get_viewdef), its window replaced
    by what `checked` compares (mart_exactness_where on the raw "timestamp": literal ranges, so
    partitions are pruned) and its date_trunc calls made UTC, the time zone the marts bucket
    in. Returns the query; before the database can be read (parse), a placeholder that
    returns nothing.
-#}
{% macro mart_seed_view_reference(view, checked) %}
    {%- do assert_identifier(view, 'mart_seed_view_reference', 'view') -%}
    {%- if not execute -%}
        {{ return('select 1 as placeholder where false') }}
    {%- endif -%}
    {%- set relation = var('raw_schema', 'public') ~ '.' ~ view -%}
    {%- set query = "select pg_get_viewdef('" ~ relation ~ "'::regclass) as definition" -%}
    {%- set definition = run_query(query).rows[0]['definition'] -%}
    {%- set event_time = '(?:\\w+\\.)?"timestamp"' -%}
    {%- set condition = mart_exactness_where('"timestamp"', checked) -%}
    {%- set windowed = modules.re.subn(
        'WHERE \\(' ~ event_time ~ " >= \\(CURRENT_DATE - '\\d+ days'::interval\\)\\)",
        'WHERE "timestamp" IS NOT NULL AND (' ~ condition | replace('\\', '\\\\') ~ ')',
        definition) -%}
    {%- set in_utc = modules.re.subn(
        ', (' ~ event_time ~ ')\\)', ", \\1, 'UTC')",
        windowed[0]) -%}
    {%- if windowed[1] != 1 or in_utc[1] != definition.count('date_trunc(') -%}
        {{ exceptions.raise_compiler_error(
            'mart_seed_view_reference: the definition of ' ~ relation ~ ' is not a seed view '
            ~ "(one window on \"timestamp\", date_trunc on \"timestamp\"): " ~ definition) }}
    {%- endif -%}
    {{ return(in_utc[0].strip().rstrip(';')) }}
{% endmacro %}
