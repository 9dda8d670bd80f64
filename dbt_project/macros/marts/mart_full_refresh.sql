{#- The marts' `full_refresh` config: --full-refresh would rebuild from raw rows only and lose
    the history retention removed, so it is ignored (false) unless var mart_allow_full_refresh
    is true (then none: dbt's flag decides). -#}
{% macro mart_full_refresh() %}
    {%- set allowed = var('mart_allow_full_refresh', false) -%}
    {%- if allowed is not boolean -%}
        {{ exceptions.raise_compiler_error(
            'mart_full_refresh: var mart_allow_full_refresh must be true or false, got '
            ~ allowed) }}
    {%- endif -%}
    {{ return(none if allowed else false) }}
{% endmacro %}
