{#-
    dbt run-operation create_monthly_partitions --args '{table: tool_usage_logs, months_ahead: 3}'

    Creates the monthly partitions of one or more range-partitioned tables through the database
    function create_monthly_partitions(text, int, int) (bootstrap_sql/004), which is idempotent
    and moves rows waiting in the DEFAULT partition into a new partition. Logs every partition
    created with the rows it received, then commits (run-operation does not commit by itself).
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

    {% set tables = table if (table is iterable and table is not string) else [table] %}
    {% set summary = {'created': 0} %}
    {% for one_table in tables %}
        {% set relation = retention_relation(one_table) %}
        {% set before = partition_names(relation) %}
        {% set created = run_committed(
            'select create_monthly_partitions(' ~ sql_text(relation) ~ ', '
            ~ months_ahead ~ ', ' ~ months_behind ~ ')').columns[0].values()[0] %}
        {% set after = partition_names(relation) %}
        {% for name in after if name not in before %}
            {% set part = api.Relation.create(
                database=relation.database, schema=relation.schema, identifier=name) %}
            {% set rows = run_query('select count(*) from ' ~ part).columns[0].values()[0] %}
            {{ log('created partition ' ~ relation.schema ~ '.' ~ name
                   ~ (' (' ~ rows ~ ' rows moved from DEFAULT)' if rows > 0 else ''), info=True) }}
        {% endfor %}
        {{ log(relation.schema ~ '.' ~ relation.identifier ~ ': ' ~ created
               ~ ' partition(s) created, ' ~ (after | length) ~ ' in all', info=True) }}
        {% do summary.update({'created': summary.created + created}) %}
    {% endfor %}
    {{ return(summary.created) }}
{% endmacro %}
