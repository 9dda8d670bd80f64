{#- Names of the partitions of `relation` (none when it does not exist). -#}
{% macro partition_names(relation) %}
    {% if relation.identifier is not defined %}
        {{ exceptions.raise_compiler_error(
            'partition_names: relation must be a relation (see retention_relation), got '
            ~ relation) }}
    {% endif %}
    {% set result = run_query(
        'select c.relname from pg_inherits as i inner join pg_class as c on i.inhrelid = c.oid '
        ~ 'where i.inhparent = to_regclass(' ~ sql_text(relation) ~ ') '
        ~ 'order by c.relname') %}
    {{ return(result.columns[0].values() | list) }}
{% endmacro %}
