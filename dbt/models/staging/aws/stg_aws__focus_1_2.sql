-- AWS Data Exports FOCUS 1.2 (FOCUS_1_2_AWS): already FOCUS; typed, maps to JSON, x_ lineage added
-- (macro `source_lineage_columns`).
{%- set dataset = 'aws_focus_1_2' %}
-- depends_on: {{ source('aws', dataset) }}
{%- set relation = existing_source('aws', dataset) %}
{%- set columns = column_names(relation) %}
{%- set maps = ['tags', 'skupricedetails'] %}

select
    {%- for name, type in focus_columns() %}
    {%- if name | lower in maps and name | lower in columns %}
    nullif(to_json({{ sql_identifier(name) }}), '{}') as {{ sql_identifier(name) }},
    {%- elif name == 'ServiceProviderName' or name == 'HostProviderName' %}
    {{ column_or_null(columns, 'ProviderName', type, name) }},
    {%- else %}
    {{ column_or_null(columns, name, type) }},
    {%- endif %}
    {%- endfor %}
    {{ column_or_null(columns, 'x_ServiceCode', 'varchar') }},
    cast(null as varchar) as x_UsageType,
    {{ column_or_null(columns, 'x_Operation', 'varchar') }},
    cast(null as varchar) as x_LineItemType,
    {{ source_lineage_columns(dataset, columns) }}
from {{ relation_or_empty(relation) }}
