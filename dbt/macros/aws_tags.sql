{#
  Tags of AWS rows: resource tags and cost categories in one flat JSON object, as AWS's FOCUS 1.2
  export folds them together. A cost category is keyed `costCategory/<name>`, the name in AWS's
  normalised spelling (`costCategory/Cost Center` → `costCategory/cost_center`), so legacy CUR,
  CUR 2.0 and FOCUS 1.0 give the same key. Resource tag keys are normalised to [a-z0-9_], so a key
  holding `/` never collides with one.
#}

{# The Tags key of a cost category named by the SQL expression `name`. #}
{% macro aws_cost_category_tag_key(name) -%}
    'costCategory/' || {{ aws_normalised_name(name) }}
{%- endmacro %}

{# AWS's Athena rule for names (include/aws/columns.py: athena_column_name), in SQL. #}
{% macro aws_normalised_name(text) -%}
    trim(regexp_replace(lower(regexp_replace({{ text }}, '([A-Z])', '_\1', 'g')), '[^a-z0-9]+', '_', 'g'), '_')
{%- endmacro %}

{# Entries of the SQL lists of {'key', 'value'} structs with a non-empty value, as one JSON object; null when none. #}
{% macro tags_json(entry_lists) -%}
    nullif(to_json(map_from_entries(list_filter(
        flatten([{%- for entries in entry_lists %}coalesce({{ entries }}, []){{ ', ' if not loop.last }}{% endfor %}]),
        lambda tag: tag.value is not null and tag.value <> ''
    ))), '{}')
{%- endmacro %}
