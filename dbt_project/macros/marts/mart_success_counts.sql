{#- The rows of a group and how many succeeded or failed (column is_success), three
    comma-separated columns `total_<noun>`, `successful_<noun>` and `failed_<noun>` (a null
    is_success counts in the total only). No trailing comma. -#}
{% macro mart_success_counts(noun) %}
    {%- do assert_identifier(noun, 'mart_success_counts', 'noun') -%}
    count(*) as total_{{ noun }},
        count(*) filter (where is_success) as successful_{{ noun }},
        count(*) filter (where not is_success) as failed_{{ noun }}
{%- endmacro %}
