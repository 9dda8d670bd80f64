{#- A timestamptz literal of `epoch` (whole seconds since 1970, UTC). -#}
{% macro mart_exactness_timestamp(epoch) %}
    {%- set utc = modules.datetime.datetime.fromtimestamp(epoch | int, modules.pytz.utc) -%}
    {{- return("'" ~ utc.strftime('%Y-%m-%d %H:%M:%S') ~ "+00'::timestamptz") -}}
{% endmacro %}
