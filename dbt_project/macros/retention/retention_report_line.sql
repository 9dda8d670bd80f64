{#- One readable line of the report, e.g.
    "tool_usage_logs: archived 75 row(s), 3 whole partition(s), older than 2026-08-26 23:13:10+0000 (18 ms): ..." -#}
{% macro retention_report_line(row) %}
    {% if row is none or row['table_name'] is not defined or row['action'] is not defined %}
        {{ exceptions.raise_compiler_error(
            'retention_report_line: row must be a row of apply_retention(...), got ' ~ row) }}
    {% endif %}
    {% if row['action'] == 'disabled' %}
        {{ return(row['table_name'] ~ ': skipped (cleanup disabled)') }}
    {% endif %}
    {% set verb = ('would ' if row['dry_run'] else '') ~ (
        'archive' if row['action'] == 'archive' else 'delete') ~ ('' if row['dry_run'] else 'd') %}
    {% set cutoff = row['cutoff'].strftime('%Y-%m-%d %H:%M:%S%z')
        if row['cutoff'] is not string else row['cutoff'] %}
    {{ return(
        row['table_name'] ~ ': ' ~ verb ~ ' ' ~ row['rows_deleted'] ~ ' row(s), '
        ~ row['partitions_detached'] ~ ' whole partition(s), older than ' ~ cutoff
        ~ ' (' ~ row['duration_ms'] ~ ' ms): ' ~ row['detail']) }}
{% endmacro %}
