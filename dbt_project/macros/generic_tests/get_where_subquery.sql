{#-
    dbt's `where` config of a generic test (the model under test, filtered), with one
    placeholder of ours: `__rebuilt_rows__` becomes mart_rebuilt_rows_where(the model), the rows
    its last run rebuilt (the whole table with var mart_exactness_scope 'full'). A test of a
    mart whose table grows with history says `where: __rebuilt_rows__` (and tag rebuilt_rows,
    so the daily maintenance job runs it over the whole table): a build checks what it rebuilt.
    Overrides dbt's own macro of this name (a root project's macro wins).
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if not where -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- if where is not string -%}
        {{ exceptions.raise_compiler_error(
            'get_where_subquery: the where config of ' ~ model.name ~ ' must be SQL text, got '
            ~ where) }}
    {%- endif -%}
    {%- if '__rebuilt_rows__' in where -%}
        {%- set where = where | replace(
            '__rebuilt_rows__', '(' ~ mart_rebuilt_rows_where(relation) ~ ')') -%}
    {%- endif -%}
    {{ return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') as dbt_subquery') }}
{%- endmacro %}
