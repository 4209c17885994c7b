-- AWS Data Exports FOCUS 1.0 (FOCUS_1_0_AWS): its FOCUS 1.0 columns cast to the mart's types, the
-- Tags and x_CostCategories maps kept as maps, x_ lineage added (macro `source_lineage_columns`).
-- int_aws__focus_1_0_as_1_2 converts it.
{%- set dataset = 'aws_focus_1_0' %}
-- depends_on: {{ source('aws', dataset) }}
{%- set relation = existing_source('aws', dataset) %}
{%- set columns = column_names(relation) %}
{%- set text_map = 'map(varchar, varchar)' %}
{%- set not_in_1_0 = focus_columns_added_after_1_0() + ['ServiceProviderName', 'HostProviderName'] %}

select
    {%- for name, type in focus_columns() if name not in not_in_1_0 %}
    {{ column_or_null(columns, name, text_map if name == 'Tags' else type) }},
    {%- endfor %}
    {{ column_or_null(columns, 'x_CostCategories', text_map) }},
    {{ column_or_null(columns, 'x_ServiceCode', 'varchar') }},
    {{ column_or_null(columns, 'x_UsageType', 'varchar') }},
    {{ column_or_null(columns, 'x_Operation', 'varchar') }},
    cast(null as varchar) as x_LineItemType,
    {{ source_lineage_columns(dataset, columns) }}
from {{ relation_or_empty(relation) }}
