-- Cost Management's FOCUS export, versions 1.0 and 1.0r2 (which differ only in dates with or without
-- seconds): its FOCUS 1.0 columns typed, plus the x_ columns that FOCUS 1.2 renamed into FOCUS columns
-- (x_InvoiceId, x_PricingCurrency, x_SkuMeterName) or that the conversion reads; x_ lineage added.
-- int_azure__focus_1_0_as_1_2 converts it.
{%- set dataset = 'azure_focus_1_0' %}
-- depends_on: {{ source('azure', dataset) }}
{%- set relation = existing_source('azure', dataset) %}
{%- set columns = column_names(relation) %}
{%- set not_in_1_0 = focus_columns_added_after_1_0() + ['ServiceProviderName', 'HostProviderName'] %}

select
    {%- for name, type in focus_columns() if name not in not_in_1_0 %}
    {{ azure_focus_value(columns, name, type) }} as {{ sql_identifier(name) }},
    {%- endfor %}
    {%- for name in ['x_InvoiceId', 'x_PricingCurrency', 'x_SkuMeterName', 'x_PublisherCategory', 'x_SkuMeterCategory'] %}
    {{ azure_text(columns, [name]) }} as {{ name }},
    {%- endfor %}
    {{ azure_json_object(azure_text(columns, ['x_SkuDetails'])) }} as x_SkuDetails,
    {{ source_lineage_columns(dataset, columns) }}
from {{ relation_or_empty(relation) }}
