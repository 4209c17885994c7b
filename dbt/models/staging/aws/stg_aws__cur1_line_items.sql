-- Legacy CUR line items: renamed and typed into the shared CUR shape; resource tags and cost
-- categories folded into one JSON object; x_ lineage (macro `source_lineage_columns`).
{%- set dataset = 'aws_cur1' %}
-- depends_on: {{ source('aws', dataset) }}
{%- set relation = existing_source('aws', dataset) %}
{%- set columns = column_names(relation) %}
{#- (Tags key as SQL, column): user tags lose `user_`, AWS tags keep `aws_`; cost categories as `costCategory/<name>` #}
{%- set tag_entries = [] %}
{%- for column in column_names(relation, lower=false) %}
    {%- set lowered = column | lower %}
    {%- if lowered.startswith('resource_tags_') %}
        {%- set key = column[19:] if lowered.startswith('resource_tags_user_') else column[14:] %}
        {%- do tag_entries.append((sql_literal(key), column)) %}
    {%- elif lowered.startswith('cost_category_') %}
        {%- do tag_entries.append((aws_cost_category_tag_key(sql_literal(column[14:])), column)) %}
    {%- endif %}
{%- endfor %}

select
    {{ aws_cur_line_item_columns(columns) }},
    {{ source_lineage_columns(dataset, columns) }},
    {% if tag_entries -%}
    {%- set entries -%}
    [{% for key, column in tag_entries %}{'key': {{ key }}, 'value': cast({{ sql_identifier(column) }} as varchar)}{{ ', ' if not loop.last }}{% endfor %}]
    {%- endset -%}
    {{ tags_json([entries]) }} as tags
    {%- else -%}
    cast(null as varchar) as tags
    {%- endif %}
from {{ relation_or_empty(relation) }}
