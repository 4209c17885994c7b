{#
  The CUR columns the FOCUS models use, in one shape for legacy CUR (Athena-style names, as the
  loader stores them) and CUR 2.0 (the same names natively). Optional columns become typed nulls,
  empty text becomes null (CUR 2.0 Parquet writes '' where legacy CSV leaves a field empty).
#}
{% macro aws_cur_line_item_columns(columns) %}
    {%- set money = 'decimal(38, 18)' -%}
    {%- set wanted = [
        ('identity_line_item_id', 'varchar', 'line_item_id'),
        ('identity_time_interval', 'varchar', 'time_interval'),
        ('bill_invoice_id', 'varchar', 'invoice_id'),
        ('bill_invoicing_entity', 'varchar', 'invoicing_entity'),
        ('bill_billing_entity', 'varchar', 'billing_entity'),
        ('bill_payer_account_id', 'varchar', 'payer_account_id'),
        ('bill_payer_account_name', 'varchar', 'payer_account_name'),
        ('bill_billing_period_start_date', 'timestamp', 'billing_period_start'),
        ('bill_billing_period_end_date', 'timestamp', 'billing_period_end'),
        ('line_item_usage_account_id', 'varchar', 'usage_account_id'),
        ('line_item_usage_account_name', 'varchar', 'usage_account_name'),
        ('line_item_line_item_type', 'varchar', 'line_item_type'),
        ('line_item_usage_start_date', 'timestamp', 'usage_start'),
        ('line_item_usage_end_date', 'timestamp', 'usage_end'),
        ('line_item_product_code', 'varchar', 'product_code'),
        ('line_item_usage_type', 'varchar', 'usage_type'),
        ('line_item_operation', 'varchar', 'operation'),
        ('line_item_availability_zone', 'varchar', 'availability_zone'),
        ('line_item_resource_id', 'varchar', 'resource_id'),
        ('line_item_usage_amount', money, 'usage_amount'),
        ('line_item_normalized_usage_amount', money, 'normalized_usage_amount'),
        ('line_item_currency_code', 'varchar', 'currency_code'),
        ('line_item_unblended_rate', money, 'unblended_rate'),
        ('line_item_unblended_cost', money, 'unblended_cost'),
        ('line_item_line_item_description', 'varchar', 'line_item_description'),
        ('line_item_tax_type', 'varchar', 'tax_type'),
        ('line_item_legal_entity', 'varchar', 'legal_entity'),
        ('product_servicecode', 'varchar', 'service_code'),
        ('product_region_code', 'varchar', 'region_code'),
        ('product_instance_type', 'varchar', 'instance_type'),
        ('product_product_family', 'varchar', 'product_family'),
        ('product_sku', 'varchar', 'sku_id'),
        ('pricing_rate_code', 'varchar', 'rate_code'),
        ('pricing_public_on_demand_cost', money, 'public_on_demand_cost'),
        ('pricing_public_on_demand_rate', money, 'public_on_demand_rate'),
        ('pricing_term', 'varchar', 'pricing_term'),
        ('pricing_unit', 'varchar', 'pricing_unit'),
        ('reservation_reservation_a_r_n', 'varchar', 'reservation_arn'),
        ('reservation_effective_cost', money, 'reservation_effective_cost'),
        ('reservation_unused_amortized_upfront_fee_for_billing_period', money, 'reservation_unused_amortized_upfront_fee'),
        ('reservation_unused_recurring_fee', money, 'reservation_unused_recurring_fee'),
        ('reservation_unused_quantity', money, 'reservation_unused_quantity'),
        ('reservation_total_reserved_normalized_units', money, 'reservation_normalized_units'),
        ('reservation_unused_normalized_unit_quantity', money, 'reservation_unused_normalized_units'),
        ('reservation_start_time', 'varchar', 'reservation_start_time'),
        ('reservation_end_time', 'varchar', 'reservation_end_time'),
        ('savings_plan_savings_plan_a_r_n', 'varchar', 'savings_plan_arn'),
        ('savings_plan_savings_plan_effective_cost', money, 'savings_plan_effective_cost'),
        ('savings_plan_total_commitment_to_date', money, 'savings_plan_total_commitment'),
        ('savings_plan_used_commitment', money, 'savings_plan_used_commitment'),
        ('savings_plan_start_time', 'varchar', 'savings_plan_start_time'),
        ('savings_plan_end_time', 'varchar', 'savings_plan_end_time'),
    ] -%}
    {#- Product attributes CUR 2.0 may keep only in its `product` map: (legacy column, map key, alias). #}
    {%- set product_attributes = [
        ('product_product_name', 'product_name', 'product_name'),
        ('product_region', 'region', 'product_region'),
        ('product_from_region_code', 'from_region_code', 'from_region_code'),
        ('product_location', 'location', 'product_location'),
    ] -%}
    {%- for column, type, alias in wanted %}
        {%- if type == 'varchar' %}
        nullif({{ column_value_or_null(columns, column, type) }}, '') as {{ alias }},
        {%- else %}
        {{ column_or_null(columns, column, type, alias) }},
        {%- endif %}
    {%- endfor %}
    {%- for column, key, alias in product_attributes %}
        coalesce(
            nullif({{ column_value_or_null(columns, column, 'varchar') }}, ''),
            {% if 'product' in columns %}nullif(map_extract_value(product, '{{ key }}'), ''){% else %}null{% endif %}
        ) as {{ alias }}{{ ',' if not loop.last }}
    {%- endfor %}
{% endmacro %}
