{#-
    on-run-start (dbt_project.yml): every model whose config declares meta.ledger_sources is
    registered with the database function mart_register_sources(mart, sources)
    (bootstrap_sql/050), so the late-data triggers mark buckets for it. Marts that follow other
    marts are registered after them. Each call commits on its own, before any model runs: the
    first build of a new mart then sees every row whose writer did not mark it. Only `dbt run`,
    `build` and `retry` register (a freshness check or a test run writes nothing). Renders no SQL.
-#}
{% macro mart_register_sources() %}
    {#- only the commands that build models: `dbt test` or `source freshness` change nothing -#}
    {%- if execute and flags.WHICH in ('run', 'build', 'retry') -%}
        {%- set raw_schema = var('raw_schema', 'public') -%}
        {%- set declared = {} -%}
        {%- for node in graph.nodes.values()
              if node.resource_type == 'model' and 'ledger_sources' in node.config.meta -%}
            {%- set sources = assert_identifiers(
                node.config.meta.ledger_sources, 'mart_register_sources',
                'meta.ledger_sources of ' ~ node.name) -%}
            {%- do declared.update({node.alias or node.name: sources}) -%}
        {%- endfor -%}
        {%- if declared -%}
            {%- set function = raw_schema ~ '.mart_register_sources(text, text[])' -%}
            {%- if run_query("select to_regprocedure('" ~ function ~ "')").columns[0].values()[0] is none -%}
                {{ exceptions.raise_compiler_error(
                    'mart_register_sources: the database has no ' ~ function
                    ~ ' (bootstrap_sql/050): run `mcp-analytics bootstrap`') }}
            {%- endif -%}
            {%- for mart in mart_registration_order(declared) -%}
                {%- set added = run_committed(
                    'select ' ~ raw_schema ~ ".mart_register_sources('" ~ mart ~ "', array['"
                    ~ declared[mart] | join("', '") ~ "']::text[])").columns[0].values()[0] -%}
                {%- if added -%}
                    {{ log('ledger: ' ~ mart ~ ' now follows ' ~ declared[mart] | join(', '), info=True) }}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
