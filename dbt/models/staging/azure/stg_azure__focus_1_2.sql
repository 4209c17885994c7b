-- Cost Management's FOCUS export, versions 1.2-preview and 1.2: already FOCUS 1.2, so each mart column is
-- read by its own name and typed (text from CSV, or Parquet's types); the PricingCurrency* prices Azure
-- leaves out, and FOCUS 1.3's ServiceProviderName and HostProviderName, are derived; x_ lineage added.
{%- set dataset = 'azure_focus_1_2' %}
-- depends_on: {{ source('azure', dataset) }}
{%- set relation = existing_source('azure', dataset) %}
{%- set columns = column_names(relation) %}
{%- set derived = ['PricingCurrencyContractedUnitPrice', 'PricingCurrencyEffectiveCost',
                   'PricingCurrencyListUnitPrice', 'ServiceProviderName', 'HostProviderName'] %}

with focus_1_2 as (

    select
        {%- for name, type in focus_columns() if name not in derived %}
        {{ azure_focus_value(columns, name, type) }} as {{ sql_identifier(name) }},
        {%- endfor %}
        {{ azure_text(columns, ['x_PublisherCategory']) }} as x_PublisherCategory,
        {{ azure_text(columns, ['x_SkuMeterCategory']) }} as x_ServiceCode,
        {{ source_lineage_columns(dataset, columns) }}
    from {{ relation_or_empty(relation) }}

)

select
    * exclude (x_PublisherCategory),
    {{ azure_pricing_currency_prices() }},
    -- a Marketplace vendor sells the service; Microsoft hosts it and invoices it
    case when x_PublisherCategory = 'Vendor' then PublisherName else ProviderName end as ServiceProviderName,
    ProviderName as HostProviderName,
    cast(null as varchar) as x_UsageType,
    cast(null as varchar) as x_Operation,
    cast(null as varchar) as x_LineItemType
from focus_1_2
