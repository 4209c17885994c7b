-- CUR 2.0 (Data Exports) line items: the shared CUR shape; product, tag and cost category maps unpacked; x_ lineage.
{%- set dataset = 'aws_cur2' %}
-- depends_on: {{ source('aws', dataset) }}
{%- set relation = existing_source('aws', dataset) %}
{%- set columns = column_names(relation) %}
{%- set tag_lists = [] %}
{%- if 'resource_tags' in columns %}
    {%- do tag_lists.append("list_transform(map_entries(resource_tags), lambda tag: {'key': regexp_replace(tag.key, '^user_', ''), 'value': tag.value})") %}
{%- endif %}
{%- if 'cost_category' in columns %}
    {%- do tag_lists.append("list_transform(map_entries(cost_category), lambda category: {'key': " ~ aws_cost_category_tag_key('category.key') ~ ", 'value': category.value})") %}
{%- endif %}

select
    {{ aws_cur_line_item_columns(columns) }},
    {{ source_lineage_columns(dataset, columns) }},
    {% if tag_lists -%}
    {{ tags_json(tag_lists) }} as tags
    {%- else -%}
    cast(null as varchar) as tags
    {%- endif %}
from {{ relation_or_empty(relation) }}
