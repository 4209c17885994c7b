-- Legacy CUR line items: renamed and typed into the shared CUR shape; resource tags and cost
-- categories folded into one JSON object.
{%- set dataset = 'aws_cur1' %}
-- depends_on: {{ source('aws', dataset) }}
{%- set relation = existing_source('aws', dataset) %}
{%- set columns = column_names(relation) %}
{#- (Tags key as SQL, column): user tags lose `user_`, AWS tags keep `aws_`; cost categories as `costCategory/<name>` #}
{%- set tag_entries = [] %}
{%- for column in columns %}
    {%- if column.startswith('resource_tags_') %}
        {%- do tag_entries.append(("'" ~ column | replace('resource_tags_user_', '') | replace('resource_tags_', '') ~ "'", column)) %}
    {%- elif column.startswith('cost_category_') %}
        {%- do tag_entries.append((aws_cost_category_tag_key("'" ~ column[14:] ~ "'"), column)) %}
    {%- endif %}
{%- endfor %}

select
    '{{ dataset }}' as dataset,
    {{ aws_cur_line_item_columns(columns) }},
    {% if tag_entries -%}
    {%- set entries -%}
    [{% for key, column in tag_entries %}{'key': {{ key }}, 'value': cast("{{ column }}" as varchar)}{{ ', ' if not loop.last }}{% endfor %}]
    {%- endset -%}
    {{ tags_json([entries]) }} as tags
    {%- else -%}
    cast(null as varchar) as tags
    {%- endif %}
from {{ relation_or_empty(relation) }}
