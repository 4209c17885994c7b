{#
  The mart's columns in order: every FOCUS 1.2 Cost and Usage column (exact name and type),
  then FOCUS 1.3's ServiceProviderName and HostProviderName. Provider-specific x_ columns follow
  in the mart itself.
#}
{% macro focus_columns() %}
    {%- set money = 'decimal(38, 18)' -%}
    {{ return([
        ('AvailabilityZone', 'varchar'),
        ('BilledCost', money),
        ('BillingAccountId', 'varchar'),
        ('BillingAccountName', 'varchar'),
        ('BillingAccountType', 'varchar'),
        ('BillingCurrency', 'varchar'),
        ('BillingPeriodEnd', 'timestamp'),
        ('BillingPeriodStart', 'timestamp'),
        ('CapacityReservationId', 'varchar'),
        ('CapacityReservationStatus', 'varchar'),
        ('ChargeCategory', 'varchar'),
        ('ChargeClass', 'varchar'),
        ('ChargeDescription', 'varchar'),
        ('ChargeFrequency', 'varchar'),
        ('ChargePeriodEnd', 'timestamp'),
        ('ChargePeriodStart', 'timestamp'),
        ('CommitmentDiscountCategory', 'varchar'),
        ('CommitmentDiscountId', 'varchar'),
        ('CommitmentDiscountName', 'varchar'),
        ('CommitmentDiscountQuantity', money),
        ('CommitmentDiscountStatus', 'varchar'),
        ('CommitmentDiscountType', 'varchar'),
        ('CommitmentDiscountUnit', 'varchar'),
        ('ConsumedQuantity', money),
        ('ConsumedUnit', 'varchar'),
        ('ContractedCost', money),
        ('ContractedUnitPrice', money),
        ('EffectiveCost', money),
        ('InvoiceId', 'varchar'),
        ('InvoiceIssuerName', 'varchar'),
        ('ListCost', money),
        ('ListUnitPrice', money),
        ('PricingCategory', 'varchar'),
        ('PricingCurrency', 'varchar'),
        ('PricingCurrencyContractedUnitPrice', money),
        ('PricingCurrencyEffectiveCost', money),
        ('PricingCurrencyListUnitPrice', money),
        ('PricingQuantity', money),
        ('PricingUnit', 'varchar'),
        ('ProviderName', 'varchar'),
        ('PublisherName', 'varchar'),
        ('RegionId', 'varchar'),
        ('RegionName', 'varchar'),
        ('ResourceId', 'varchar'),
        ('ResourceName', 'varchar'),
        ('ResourceType', 'varchar'),
        ('ServiceCategory', 'varchar'),
        ('ServiceName', 'varchar'),
        ('ServiceSubcategory', 'varchar'),
        ('SkuId', 'varchar'),
        ('SkuMeter', 'varchar'),
        ('SkuPriceDetails', 'varchar'),
        ('SkuPriceId', 'varchar'),
        ('SubAccountId', 'varchar'),
        ('SubAccountName', 'varchar'),
        ('SubAccountType', 'varchar'),
        ('Tags', 'varchar'),
        ('ServiceProviderName', 'varchar'),
        ('HostProviderName', 'varchar'),
    ]) }}
{% endmacro %}

{#
  The FOCUS 1.2 columns FOCUS 1.0 lacks: added by 1.1 (the first seven) and by 1.2 (FOCUS_Spec
  CHANGELOG.md; no 1.0 column was renamed or removed since).
#}
{% macro focus_columns_added_after_1_0() %}
    {{ return([
        'CapacityReservationId', 'CapacityReservationStatus', 'CommitmentDiscountQuantity', 'CommitmentDiscountUnit',
        'ServiceSubcategory', 'SkuMeter', 'SkuPriceDetails',
        'BillingAccountType', 'InvoiceId', 'PricingCurrency', 'PricingCurrencyContractedUnitPrice',
        'PricingCurrencyEffectiveCost', 'PricingCurrencyListUnitPrice', 'SubAccountType',
    ]) }}
{% endmacro %}

{# Provider-specific columns every FOCUS row source provides after the FOCUS columns. #}
{% macro focus_extension_columns() %}
    {{ return([
        ('x_Dataset', 'varchar'),
        ('x_ExportName', 'varchar'),
        ('x_BillingPeriod', 'date'),
        ('x_SourcePartition', 'varchar'),
        ('x_RowKey', 'varchar'),
        ('x_LineItemType', 'varchar'),
        ('x_ServiceCode', 'varchar'),
        ('x_UsageType', 'varchar'),
        ('x_Operation', 'varchar'),
        ('x_SourceFile', 'varchar'),
        ('x_ManifestVersion', 'varchar'),
    ]) }}
{% endmacro %}

{# `select` list casting a FOCUS-shaped relation's columns to the mart's types, in mart order. #}
{% macro select_focus_columns() %}
    {%- for name, type in focus_columns() + focus_extension_columns() %}
    cast({{ sql_identifier(name) }} as {{ type }}) as {{ sql_identifier(name) }}{{ ',' if not loop.last }}
    {%- endfor %}
{% endmacro %}
