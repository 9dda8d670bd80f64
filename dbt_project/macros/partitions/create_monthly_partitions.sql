{#-
    dbt run-operation create_monthly_partitions --args '{table: tool_usage_logs, months_ahead: 3}'

    A thin call of the database function create_monthly_partitions(text, int, int)
    (bootstrap_sql/004) for one table: idempotent, moves rows waiting in the DEFAULT partition
    into a new partition; committed (run-operation does not commit by itself). For every
    partitioned table at once, with a report: `mcp-analytics partitions`.
-#}
{% macro create_monthly_partitions(table, months_ahead=3, months_behind=0) %}
    {{ return(adapter.dispatch('create_monthly_partitions', 'mcp_analytics')(
        table, months_ahead, months_behind)) }}
{% endmacro %}


{% macro default__create_monthly_partitions(table, months_ahead, months_behind) %}
    {{ exceptions.raise_compiler_error(
        'create_monthly_partitions: only PostgreSQL is supported, not ' ~ adapter.type()) }}
{% endmacro %}


{% macro postgres__create_monthly_partitions(table, months_ahead, months_behind) %}
    {% for arg_name, value in [('months_ahead', months_ahead), ('months_behind', months_behind)] %}
        {% if value is not number or value is boolean or value != value | int
              or value < 0 or value > 120 %}
            {{ exceptions.raise_compiler_error(
                'create_monthly_partitions: ' ~ arg_name ~ ' must be an integer between 0 and 120, got '
                ~ value) }}
        {% endif %}
    {% endfor %}
    {% if table is not string %}
        {{ exceptions.raise_compiler_error(
            'create_monthly_partitions: table must be one table name, got ' ~ table
            ~ ' (for every partitioned table: mcp-analytics partitions)') }}
    {% endif %}

    {% set relation = retention_relation(table) %}
    {% set created = run_committed(
        'select create_monthly_partitions(' ~ sql_text(relation) ~ ', '
        ~ months_ahead ~ ', ' ~ months_behind ~ ')').columns[0].values()[0] %}
    {{ log(relation.schema ~ '.' ~ relation.identifier ~ ': ' ~ created
           ~ ' partition(s) created', info=True) }}
    {{ return(created) }}
{% endmacro %}
