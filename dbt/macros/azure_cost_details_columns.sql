{#
  The actual and amortized cost details' columns the FOCUS models use, in one shape for EA and MCA
  (`include/azure` loads them with their delivered names): each output column takes the first of
  its source spellings the export has (names match in any case: EA `CostInBillingCurrency`, MCA
  `costInBillingCurrency`, older EA `Cost`), typed; a column the export lacks becomes a typed null,
  empty text null. Source: the EA and MCA cost details schemas (Microsoft Learn, "Cost and usage
  details file schema"), summarised in ../shared/formats/azure.md §2.1.
#}
{% macro azure_cost_details_columns(columns) %}
    {%- set text_columns = [
        ('billing_account_id', ['BillingAccountId']),
        ('billing_account_name', ['BillingAccountName']),
        ('billing_profile_id', ['BillingProfileId']),
        ('billing_profile_name', ['BillingProfileName']),
        ('partner_name', ['PartnerName']),
        ('invoice_id', ['InvoiceId']),
        ('subscription_id', ['SubscriptionId', 'SubscriptionGuid']),
        ('subscription_name', ['SubscriptionName']),
        ('billing_currency', ['BillingCurrencyCode', 'BillingCurrency']),
        ('pricing_currency', ['PricingCurrencyCode', 'PricingCurrency']),
        ('charge_type', ['ChargeType']),
        ('frequency', ['Frequency']),
        ('pricing_model', ['PricingModel']),
        ('benefit_id', ['BenefitId']),
        ('benefit_name', ['BenefitName']),
        ('reservation_id', ['ReservationId']),
        ('reservation_name', ['ReservationName']),
        ('product_order_id', ['ProductOrderId']),
        ('product_order_name', ['ProductOrderName']),
        ('term', ['Term']),
        ('resource_id', ['ResourceId', 'InstanceName', 'InstanceId']),
        ('resource_name', ['ResourceName']),
        ('resource_group', ['ResourceGroup', 'ResourceGroupName']),
        ('resource_location', ['ResourceLocation']),
        ('resource_location_normalized', ['ResourceLocationNormalized', 'Location']),
        ('availability_zone', ['AvailabilityZone']),
        ('consumed_service', ['ConsumedService']),
        ('meter_id', ['MeterId']),
        ('meter_name', ['MeterName']),
        ('meter_category', ['MeterCategory']),
        ('meter_subcategory', ['MeterSubCategory', 'MeterSubcategory']),
        ('meter_region', ['MeterRegion']),
        ('product_id', ['ProductId']),
        ('product_name', ['ProductName', 'Product']),
        ('part_number', ['PartNumber']),
        ('unit_of_measure', ['UnitOfMeasure']),
        ('publisher_type', ['PublisherType']),
        ('publisher_name', ['PublisherName']),
        ('plan_name', ['PlanName']),
        ('additional_info', ['AdditionalInfo']),
    ] -%}
    {%- set money_columns = [
        ('cost', ['CostInBillingCurrency', 'Cost', 'PreTaxCost']),
        ('cost_in_pricing_currency', ['CostInPricingCurrency']),
        ('payg_cost', ['PaygCostInBillingCurrency']),
        ('exchange_rate', ['ExchangeRatePricingToBilling']),
        ('quantity', ['Quantity']),
        ('unit_price', ['UnitPrice']),
        ('effective_price', ['EffectivePrice']),
        ('payg_price', ['PayGPrice']),
    ] -%}
    {%- set time_columns = [
        ('billing_period_start', ['BillingPeriodStartDate']),
        ('billing_period_end', ['BillingPeriodEndDate']),
        ('charge_date', ['Date', 'UsageDate']),
    ] -%}
    {%- for alias, candidates in text_columns %}
        {{ azure_text(columns, candidates) }} as {{ alias }},
    {%- endfor %}
    {%- for alias, candidates in money_columns %}
        {{ azure_decimal(columns, candidates) }} as {{ alias }},
    {%- endfor %}
    {%- for alias, candidates in time_columns %}
        {{ azure_timestamp(columns, candidates) }} as {{ alias }},
    {%- endfor %}
        {{ azure_tags(azure_text(columns, ['Tags'])) }} as tags
{%- endmacro %}
