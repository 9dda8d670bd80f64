{#- The marts of `declared` ({mart: [sources]}) in an order where every mart comes after the
    marts it follows (a source that is not itself declared is a raw table). -#}
{% macro mart_registration_order(declared) %}
    {%- if declared is not mapping -%}
        {{ exceptions.raise_compiler_error(
            'mart_registration_order: declared must map each mart to its sources, got '
            ~ declared) }}
    {%- endif -%}
    {%- set ordered = [] -%}
    {%- for _ in declared -%}
        {%- for mart, sources in declared.items() if mart not in ordered -%}
            {%- if sources | select('in', declared) | reject('in', ordered) | list | length == 0 -%}
                {%- do ordered.append(mart) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if ordered | length < declared | length -%}
        {{ exceptions.raise_compiler_error(
            'mart_registration_order: these marts follow each other in a circle: '
            ~ declared.keys() | reject('in', ordered) | join(', ')) }}
    {%- endif -%}
    {{ return(ordered) }}
{% endmacro %}
