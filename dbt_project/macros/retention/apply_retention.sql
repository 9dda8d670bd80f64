{#-
    dbt run-operation apply_retention                       # apply every policy
    dbt run-operation apply_retention --args '{dry_run: true}'
    dbt run-operation apply_retention --args '{table: tool_usage_logs}'

    Applies data_retention_policies through the database function apply_retention(boolean, text)
    (bootstrap_sql/040_retention.sql: the one implementation, also behind cleanup_old_data() and
    `mcp-analytics retention`), logs one line per table and commits each table on its own (a policy that fails to validate stops
    the run before anything moves). Dry-run reports what would go
    and changes nothing. Returns the report rows as a list of dicts.
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

    {% set columns = 'table_name, action, partitions_detached, rows_archived, rows_deleted, '
        ~ 'cutoff, duration_ms, dry_run, detail' %}
    {% set report = [] %}
    {% set totals = {'rows': 0, 'partitions': 0} %}
    {% if dry_run or table is not none %}
        {% set calls = ['apply_retention(' ~ ('true' if dry_run else 'false') ~ ', ' ~ table_arg ~ ')'] %}
    {% else %}
        {#- Check every policy first (a bad one fails here, before anything moves), then one
            transaction per table: a partition's exclusive lock lasts only for its own table. -#}
        {% set calls = [] %}
        {% for name in run_query('select retention_policy_tables()').columns[0].values() %}
            {% do calls.append(
                "apply_retention(false, '" ~ (name | replace("'", "''")) ~ "')") %}
        {% endfor %}
    {% endif %}

    {% for call in calls %}
        {% set result = run_committed('select ' ~ columns ~ ' from ' ~ call) %}
        {% for row in result.rows %}
            {{ log(retention_report_line(row), info=True) }}
            {% do report.append({
                'table_name': row['table_name'], 'action': row['action'],
                'partitions_detached': row['partitions_detached'],
                'rows_archived': row['rows_archived'], 'rows_deleted': row['rows_deleted'],
                'cutoff': row['cutoff'] | string, 'duration_ms': row['duration_ms'],
                'dry_run': row['dry_run'], 'detail': row['detail']}) %}
            {% do totals.update({'rows': totals.rows + row['rows_deleted'],
                                 'partitions': totals.partitions + row['partitions_detached']}) %}
        {% endfor %}
    {% endfor %}
    {{ log('retention' ~ (' [dry run]' if dry_run else '') ~ ': ' ~ (report | length)
           ~ ' polic' ~ ('y' if report | length == 1 else 'ies') ~ ', ' ~ totals.partitions
           ~ ' partition(s), ' ~ totals.rows ~ ' row(s) '
           ~ ('would go' if dry_run else 'removed'), info=True) }}
    {{ return(report) }}
{% endmacro %}
