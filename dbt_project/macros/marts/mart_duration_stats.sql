{#- Exact latency of a group's calls or requests (column duration_ms), comma-separated, no
    trailing comma: avg_duration_ms, a continuous percentile per quantile in `quantiles`
    (median_duration_ms for 0.5, p<nn>_duration_ms for the others), max_duration_ms and
    min_duration_ms; averages and percentiles rounded to whole milliseconds. -#}
{% macro mart_duration_stats(quantiles) %}
    {%- if quantiles is string or quantiles is not iterable or not quantiles -%}
        {{ exceptions.raise_compiler_error(
            'mart_duration_stats: quantiles must be a non-empty list such as [0.5, 0.95], got '
            ~ quantiles) }}
    {%- endif -%}
    avg(duration_ms)::integer as avg_duration_ms,
    {%- for quantile in quantiles %}
        {%- if quantile is not number or quantile <= 0 or quantile >= 1 -%}
            {{ exceptions.raise_compiler_error(
                'mart_duration_stats: a quantile is a number between 0 and 1, got ' ~ quantile) }}
        {%- endif %}
        percentile_cont({{ quantile }}) within group (order by duration_ms)::integer
            as {{ 'median' if quantile == 0.5 else 'p' ~ (quantile * 100) | round | int }}_duration_ms,
    {%- endfor %}
        max(duration_ms) as max_duration_ms,
        min(duration_ms) as min_duration_ms
{%- endmacro %}
