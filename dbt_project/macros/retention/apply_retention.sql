{#-
    dbt run-operation apply_retention                       # apply every policy
    dbt run-operation apply_retention --args '{dry_run: true}'
    dbt run-operation apply_retention --args '{table: tool_usage_logs}'

    A thin call of the database function apply_retention(boolean, text)
    (bootstrap_sql/040_retention.sql, the one implementation): one statement, one transaction,
    committed; logs one line per policy. `mcp-analytics retention` drives the same function one
    table per transaction under the warehouse lock (docs/retention.md). Returns the report rows.
-#}
{% macro apply_retention(dry_run=false, table=none) %}
    {{ return(adapter.dispatch('apply_retention', 'mcp_analytics')(dry_run, table)) }}
{% endmacro %}


{% macro default__apply_retention(dry_run, table) %}
    {{ exceptions.raise_compiler_error(
        'apply_retention: only PostgreSQL is supported, not ' ~ adapter.type()) }}
{% endmacro %}


{% macro postgres__apply_retention(dry_run, table) %}
    {% if dry_run is not boolean %}
        {{ exceptions.raise_compiler_error(
            'apply_retention: dry_run must be true or false, got ' ~ dry_run) }}
    {% endif %}
    {% if table is none %}
        {% set table_arg = 'null' %}
    {% else %}
        {#- The policy's own spelling is matched; the name is only ever passed as a literal. -#}
        {% set table_arg = "'" ~ (table | string | replace("'", "''")) ~ "'" %}
    {% endif %}

    {% set result = run_committed(
        'select table_name, action, partitions_detached, rows_archived, rows_deleted, cutoff,'
        ~ ' duration_ms, dry_run, detail from apply_retention('
        ~ ('true' if dry_run else 'false') ~ ', ' ~ table_arg ~ ')') %}
    {% set report = [] %}
    {% for row in result.rows %}
        {{ log(retention_report_line(row), info=True) }}
        {% do report.append({
            'table_name': row['table_name'], 'action': row['action'],
            'partitions_detached': row['partitions_detached'],
            'rows_archived': row['rows_archived'], 'rows_deleted': row['rows_deleted'],
            'cutoff': row['cutoff'] | string, 'duration_ms': row['duration_ms'],
            'dry_run': row['dry_run'], 'detail': row['detail']}) %}
    {% endfor %}
    {{ log('retention' ~ (' [dry run]' if dry_run else '') ~ ': ' ~ (result.rows | length)
           ~ ' polic' ~ ('y' if result.rows | length == 1 else 'ies') ~ ', '
           ~ (result.columns['partitions_detached'].values() | sum) ~ ' partition(s), '
           ~ (result.columns['rows_deleted'].values() | sum) ~ ' row(s) '
           ~ ('would go' if dry_run else 'removed'), info=True) }}
    {{ return(report) }}
{% endmacro %}
