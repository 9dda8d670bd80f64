{#-
    Shared by the partition and retention macros: turn a user-supplied table name into a quoted
    relation, refusing anything that is not a plain [schema.]identifier (no injection through
    --args). An unqualified name is looked up in var('raw_schema', 'public').
-#}
{% macro retention_relation(table) %}
    {% if table is not string or table | length == 0 %}
        {{ exceptions.raise_compiler_error(
            'expected a table name like "tool_usage_logs" or "analytics.hourly_tool_usage_summary", got '
            ~ table) }}
    {% endif %}
    {% set parts = table.split('.') %}
    {% if parts | length > 2 %}
        {{ exceptions.raise_compiler_error('invalid table name ' ~ table ~ ': at most schema.table') }}
    {% endif %}
    {% for part in parts %}
        {% if not modules.re.fullmatch('[a-z_][a-z0-9_$]{0,62}', part) %}
            {{ exceptions.raise_compiler_error(
                'invalid table name ' ~ table ~ ': ' ~ part ~ ' is not a plain identifier') }}
        {% endif %}
    {% endfor %}
    {% set schema = parts[0] if parts | length == 2 else var('raw_schema', 'public') %}
    {{ return(api.Relation.create(
        database=target.database, schema=schema, identifier=parts[-1], type='table')) }}
{% endmacro %}


{#- A relation as a SQL string literal naming it for to_regclass: '"schema"."name"'. -#}
{% macro sql_text(relation) %}
    {{ return("'" ~ (relation.include(database=false) | string | replace("'", "''")) ~ "'") }}
{% endmacro %}


{#-
    Run one statement in its own explicit transaction and commit it: run_query never begins a
    transaction and `dbt run-operation` never commits, so a change must not rely on either.
-#}
{% macro run_committed(sql) %}
    {% call statement('mcpa_committed', fetch_result=true, auto_begin=true) %}
        {{ sql }}
    {% endcall %}
    {% set table = load_result('mcpa_committed').table %}
    {% do adapter.commit() %}
    {{ return(table) }}
{% endmacro %}
