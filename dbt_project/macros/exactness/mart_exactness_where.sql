{#-
    A where condition on `column` (a mart's time column or a raw event time, as the query names
    it) selecting what `checked` (mart_exactness_checked) compares, as literal time ranges so
    that PostgreSQL prunes partitions and scans index ranges: newer than the raw retention
    horizon, not on a pending day, and (build scope) in the checked buckets' ranges, with the
    buckets listed when the ranges had to span gaps. With `lookback_hours`, every range also
    reaches that many hours back (the raw rows a rolling window of a checked bucket reads): a
    superset to read from, not a filter to compare on.
-#}
{% macro mart_exactness_where(column, checked, lookback_hours=0) %}
    {%- if checked is not mapping or 'ranges' not in checked -%}
        {{ exceptions.raise_compiler_error(
            'mart_exactness_where: checked must be what mart_exactness_checked returns, got '
            ~ checked) }}
    {%- endif -%}
    {%- set back = mart_exactness_whole_number(
        lookback_hours, 'mart_exactness_where: lookback_hours', 'hours') * 3600 -%}
    {%- set conditions = [] -%}
    {%- if checked.horizon != '-infinity' -%}
        {%- do conditions.append(
            column ~ " >= '" ~ checked.horizon ~ "'::timestamptz"
            ~ (" - interval '" ~ lookback_hours ~ " hours'" if back else '')) -%}
    {%- endif -%}
    {%- if checked.pending and not back -%}
        {%- set pending = [] -%}
        {%- for day in checked.pending -%}
            {%- do pending.append(mart_exactness_range(column, day[0], day[1])) -%}
        {%- endfor -%}
        {%- do conditions.append('not (' ~ pending | join(' or ') ~ ')') -%}
    {%- endif -%}
    {%- if checked.scope != 'full' -%}
        {%- set ranges = [] -%}
        {%- for range in checked.ranges -%}
            {%- do ranges.append(mart_exactness_range(column, range[0] - back, range[1])) -%}
        {%- endfor -%}
        {%- do conditions.append('(' ~ (ranges | join('\n        or ') or 'false') ~ ')') -%}
        {%- if checked.buckets and not back -%}
            {%- set listed = [] -%}
            {%- for bucket in checked.buckets -%}
                {%- do listed.append(mart_exactness_timestamp(bucket)) -%}
            {%- endfor -%}
            {%- do conditions.append(
                "date_trunc('" ~ checked.grain ~ "', " ~ column ~ ", 'UTC') = any(array["
                ~ listed | join(', ') ~ "]::timestamptz[])") -%}
        {%- endif -%}
    {%- endif -%}
    {{- conditions | join('\n    and ') or 'true' -}}
{% endmacro %}
