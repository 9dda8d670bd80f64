{#- The mart's name for mart_last_rebuilt: the relation's, or else the one model the calling
    test refs. -#}
{% macro mart_exactness_mart_name(mart) %}
    {%- if mart is not string and mart.identifier is defined -%}
        {{ return(mart.identifier) }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set names = [] -%}
    {%- for ref_args in model.refs -%}
        {%- do names.append(ref_args['name'] if ref_args is mapping else ref_args[-1]) -%}
    {%- endfor -%}
    {%- if names | unique | list | length != 1 -%}
        {{ exceptions.raise_compiler_error(
            'mart exactness: ' ~ model.name ~ ' passes the mart as SQL text and refs '
            ~ (names | unique | join(', ') or 'no model') ~ ': pass ref(...) of the mart, or ref '
            ~ 'exactly one model') }}
    {%- endif -%}
    {{ return(assert_identifier(names[0], 'mart exactness', 'mart')) }}
{% endmacro %}
