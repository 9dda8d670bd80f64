{#- A relation as a SQL string literal naming it for to_regclass: '"schema"."name"'. -#}
{% macro sql_text(relation) %}
    {% if relation.identifier is not defined %}
        {{ exceptions.raise_compiler_error(
            'sql_text: relation must be a relation (see retention_relation), got ' ~ relation) }}
    {% endif %}
    {{ return("'" ~ (relation.include(database=false) | string | replace("'", "''")) ~ "'") }}
{% endmacro %}
