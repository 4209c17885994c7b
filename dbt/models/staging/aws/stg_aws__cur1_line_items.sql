-- Legacy CUR (CSV) line items: renamed and typed into the shared CUR shape; tags folded into JSON.
-- depends_on: {{ source('aws', 'cur1') }}
{%- set relation = existing_source('aws', 'cur1') %}
{%- set columns = column_names(relation) %}
{%- set tag_columns = [] %}
{%- for column in columns if column.startswith('resource_tags_') %}{% do tag_columns.append(column) %}{% endfor %}

select
    'aws_cur1' as dataset,
    {{ aws_cur_line_item_columns(columns) }},
    {{ column_or_null(columns, 'product_product_name', 'varchar', 'product_name') }},
    {% if tag_columns -%}
    nullif(to_json(map_from_entries(list_filter([
        {%- for column in tag_columns %}
        {'key': '{{ column | replace("resource_tags_user_", "") | replace("resource_tags_", "") }}', 'value': cast("{{ column }}" as varchar)}{{ ',' if not loop.last }}
        {%- endfor %}
    ], lambda tag: tag.value is not null and tag.value <> ''))), '{}') as tags
    {%- else -%}
    cast(null as varchar) as tags
    {%- endif %}
from {{ relation_or_empty(relation) }}
