{#- The bucket of a performance metric sample (the seed's performance_metrics_summary): its
    time truncated in UTC to the minute for '1m' samples, the day for '1d', the hour otherwise. -#}
{% macro mart_metric_time_bucket(aggregation_period, measured_at) %}
    {%- for argument in (aggregation_period, measured_at) -%}
        {%- if argument is not string or not argument.strip() -%}
            {{ exceptions.raise_compiler_error(
                'mart_metric_time_bucket: aggregation_period and measured_at must be columns, got '
                ~ argument) }}
        {%- endif -%}
    {%- endfor -%}
    date_trunc(
        case
            when {{ aggregation_period }} = '1m' then 'minute'
            when {{ aggregation_period }} = '1h' then 'hour'
            when {{ aggregation_period }} = '1d' then 'day'
            else 'hour'
        end,
        {{ measured_at }},
        'UTC'
    )
{%- endmacro %}
