{#- No dbt_utils here (no package hub): the grain of a mart, one row per combination. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- if combination_of_columns is string or combination_of_columns is not iterable
          or not combination_of_columns -%}
        {{ exceptions.raise_compiler_error(
            'unique_combination_of_columns: combination_of_columns must be a non-empty list of '
            ~ 'columns, got ' ~ combination_of_columns) }}
    {%- endif -%}
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as n_rows
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
{% endtest %}
