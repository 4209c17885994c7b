-- CUR 2.0 (Data Exports) line items: the shared CUR shape; product and tag maps unpacked.
-- depends_on: {{ source('aws', 'cur2') }}
{%- set relation = existing_source('aws', 'cur2') %}
{%- set columns = column_names(relation) %}

select
    'aws_cur2' as dataset,
    {{ aws_cur_line_item_columns(columns) }},
    {% if 'product' in columns -%}
    map_extract_value(product, 'product_name') as product_name,
    {%- else -%}
    cast(null as varchar) as product_name,
    {%- endif %}
    {% if 'resource_tags' in columns -%}
    nullif(to_json(map_from_entries(list_transform(
        list_filter(map_entries(resource_tags), lambda tag: tag.value is not null and tag.value <> ''),
        lambda tag: {'key': regexp_replace(tag.key, '^user_', ''), 'value': tag.value}
    ))), '{}') as tags
    {%- else -%}
    cast(null as varchar) as tags
    {%- endif %}
from {{ relation_or_empty(relation) }}
