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
