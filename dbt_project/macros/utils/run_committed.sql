{#-
    Run one statement in its own explicit transaction and commit it: run_query never begins a
    transaction and `dbt run-operation` never commits, so a change must not rely on either.
-#}
{% macro run_committed(sql) %}
    {% if sql is not string or sql | trim | length == 0 %}
        {{ exceptions.raise_compiler_error('run_committed: sql must be a SQL statement, got ' ~ sql) }}
    {% endif %}
    {% call statement('mcpa_committed', fetch_result=true, auto_begin=true) %}
        {{ sql }}
    {% endcall %}
    {% set table = load_result('mcpa_committed').table %}
    {% do adapter.commit() %}
    {{ return(table) }}
{% endmacro %}
