{#
  SQL text built from data (column names of a delivery, tag keys): the only quoting helpers on the
  dbt side, as include/sql.py is on the Python side. dbt's `adapter.quote` and `string_literal` do
  not escape, so a name holding a quote would end the identifier or the string early.
#}

{# A single-quoted SQL string literal of `text` ('' escaping). #}
{% macro sql_literal(text) -%}
    {{ return("'" ~ (text | string | replace("'", "''")) ~ "'") }}
{%- endmacro %}

{# A double-quoted SQL identifier of `name` ("" escaping). #}
{% macro sql_identifier(name) -%}
    {{ return('"' ~ (name | string | replace('"', '""')) ~ '"') }}
{%- endmacro %}
