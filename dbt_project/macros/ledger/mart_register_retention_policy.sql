{#- The mart's own retention is a policy row like the raw tables' (applied by apply_retention;
    time_column comes with bootstrap_sql/040). An existing row (edited by an operator) is kept. -#}
{% macro mart_register_retention_policy(time_column, retention_days) %}
    {%- do assert_identifier(
        time_column, 'mart_register_retention_policy', 'time_column') -%}
    {%- if retention_days is not number or retention_days is boolean
          or retention_days != retention_days | int or retention_days < 1 -%}
        {{ exceptions.raise_compiler_error(
            'mart_register_retention_policy: retention_days must be a whole number of days, '
            ~ 'at least 1, got ' ~ retention_days) }}
    {%- endif -%}
    {%- set raw_schema = var('raw_schema', 'public') -%}
    -- an existing row (an operator's edit) stays as it is
    insert into {{ raw_schema }}.data_retention_policies
        (table_name, retention_days, archive_before_delete, time_column)
    values (
        '{{ this.schema }}.{{ this.identifier }}', {{ retention_days | int }}, false,
        '{{ time_column }}'
    )
    on conflict (table_name) do nothing;
{% endmacro %}
