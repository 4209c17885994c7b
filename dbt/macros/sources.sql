{#
  Helpers for sources that may be absent or whose columns vary: legacy CUR only has the
  reservation/savingsPlan/tag columns an account uses, and a format nobody exports has no view.
#}

{# The source's relation if the loader has created it, else none. #}
{% macro existing_source(source_name, table_name) %}
    {% set declared = source(source_name, table_name) %}
    {% if not execute %}{{ return(declared) }}{% endif %}
    {{ return(adapter.get_relation(declared.database, declared.schema, declared.identifier)) }}
{% endmacro %}

{# `from` target: the relation, or an empty row set so the model still builds with its columns. #}
{% macro relation_or_empty(relation) %}
    {%- if relation -%}{{ relation }}{%- else -%}(select 1 as no_source where false) as no_source{%- endif -%}
{% endmacro %}

{# The names of a relation's columns, lower-cased unless `lower` is false (empty when the relation is absent).
   DuckDB ignores case in names only for ASCII letters: SQL naming a column from data uses its own spelling. #}
{% macro column_names(relation, lower=true) %}
    {% if not execute or not relation %}{{ return([]) }}{% endif %}
    {% set names = adapter.get_columns_in_relation(relation) | map(attribute='name') %}
    {{ return((names | map('lower') if lower else names) | list) }}
{% endmacro %}

{# `column` cast to `type` when the relation has it, else a typed null; aliased to `alias`. #}
{% macro column_or_null(columns, column, type, alias=none) %}
    {{- column_value_or_null(columns, column, type) }} as {{ alias or column }}
{%- endmacro %}

{# The expression of `column_or_null`, without an alias. #}
{% macro column_value_or_null(columns, column, type) %}
    {%- if column | lower in columns -%}
        cast({{ sql_identifier(column) }} as {{ type }})
    {%- else -%}
        cast(null as {{ type }})
    {%- endif -%}
{%- endmacro %}
