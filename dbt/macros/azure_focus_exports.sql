{#
  Reading Cost Management's own FOCUS exports (1.0, 1.0r2, 1.2-preview, 1.2), whose columns carry the
  FOCUS names: CSV gives text, Parquet its own types.
#}

{# FOCUS column `name` of the mart type `type`, from the export's column of that name (a typed null when absent). #}
{% macro azure_focus_value(columns, name, type) -%}
    {%- if name == 'Tags' -%}
        {{ azure_tags(azure_text(columns, [name])) }}
    {%- elif name == 'SkuPriceDetails' -%}
        {{ azure_json_object(azure_text(columns, [name])) }}
    {%- elif type.startswith('decimal') -%}
        {{ azure_decimal(columns, [name]) }}
    {%- elif type == 'timestamp' -%}
        {{ azure_timestamp(columns, [name]) }}
    {%- else -%}
        {{ azure_text(columns, [name]) }}
    {%- endif -%}
{%- endmacro %}

{# Azure's FOCUS exports state prices in the billing currency only: the pricing currency's equal them when
   the two currencies are the same, and are unknown (null) otherwise. #}
{% macro azure_pricing_currency_prices() -%}
    case when PricingCurrency = BillingCurrency then ContractedUnitPrice end as PricingCurrencyContractedUnitPrice,
    case when PricingCurrency = BillingCurrency then EffectiveCost end as PricingCurrencyEffectiveCost,
    case when PricingCurrency = BillingCurrency then ListUnitPrice end as PricingCurrencyListUnitPrice
{%- endmacro %}
