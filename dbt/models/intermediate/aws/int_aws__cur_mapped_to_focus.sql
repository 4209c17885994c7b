-- CUR line items (plus the split-off Unused commitment rows) as FOCUS 1.2 columns.
-- Column-by-column derivation: models/marts/_marts__models.yml.
with charges as (

    select * from {{ ref('int_aws__cur_line_items_classified') }}
    union all by name
    select * from {{ ref('int_aws__commitments_unused_split') }}

),

commitments as (

    select
        charges.*,
        -- the first region the line names (data transfer often names only its source region);
        -- tax and global charges have none
        case
            when row_kind <> 'tax' and lower(coalesce(region_code, product_region, from_region_code, '')) <> 'global'
                then coalesce(region_code, product_region, from_region_code, located.region_id)
        end as region_id,
        -- commitment columns describe a known commitment: a line without its ARN gets none
        case
            when row_kind in ('reservation_usage', 'reservation_recurring_fee', 'reservation_upfront_fee',
                              'unused_reservation') and has_reservation then 'reservation'
            when row_kind in ('savings_plan_usage', 'savings_plan_recurring_fee', 'savings_plan_upfront_fee',
                              'unused_savings_plan') and has_savings_plan then 'savings_plan'
        end as commitment_kind
    from charges
    -- a line without region codes may still name its region (product/location, Price List or SDK spelling);
    -- one seed row per spelling, so the join adds no row
    left join {{ ref('aws_region_locations') }} as located on charges.product_location = located.location

)

select
    availability_zone as AvailabilityZone,
    billed_cost as BilledCost,
    payer_account_id as BillingAccountId,
    -- legacy CUR carries no account names: the id stands in as the display name
    coalesce(payer_account_name, payer_account_id) as BillingAccountName,
    'Payer Account' as BillingAccountType,
    currency_code as BillingCurrency,
    billing_period_end as BillingPeriodEnd,
    billing_period_start as BillingPeriodStart,
    cast(null as varchar) as CapacityReservationId,
    cast(null as varchar) as CapacityReservationStatus,
    charge_category as ChargeCategory,
    charge_class as ChargeClass,
    line_item_description as ChargeDescription,
    charge_frequency as ChargeFrequency,
    -- an upfront fee pays for the commitment's whole term
    case
        when row_kind = 'reservation_upfront_fee' then cast(reservation_end_time as timestamp)
        when row_kind = 'savings_plan_upfront_fee' then cast(savings_plan_end_time as timestamp)
        else usage_end
    end as ChargePeriodEnd,
    case
        when row_kind = 'reservation_upfront_fee' then cast(reservation_start_time as timestamp)
        when row_kind = 'savings_plan_upfront_fee' then cast(savings_plan_start_time as timestamp)
        else usage_start
    end as ChargePeriodStart,
    case commitment_kind when 'reservation' then 'Usage' when 'savings_plan' then 'Spend' end
        as CommitmentDiscountCategory,
    case commitment_kind when 'reservation' then reservation_arn when 'savings_plan' then savings_plan_arn end
        as CommitmentDiscountId,
    case commitment_kind
        when 'reservation' then regexp_extract(reservation_arn, '[^/:]+$')
        when 'savings_plan' then regexp_extract(savings_plan_arn, '[^/:]+$')
    end as CommitmentDiscountName,
    -- reservations are counted in hours (normalized hours when AWS reports size-flexible units),
    -- Savings Plans in the commitment's currency
    case
        when commitment_kind is null then null
        when row_kind = 'reservation_usage' then coalesce(normalized_usage_amount, usage_amount)
        when row_kind = 'unused_reservation' then coalesce(reservation_unused_normalized_units, reservation_unused_quantity)
        when row_kind = 'reservation_recurring_fee' then coalesce(reservation_normalized_units, usage_amount)
        when row_kind = 'reservation_upfront_fee'
            then usage_amount * date_diff('hour', cast(reservation_start_time as timestamp),
                                          cast(reservation_end_time as timestamp))
        when row_kind = 'savings_plan_usage' then savings_plan_effective_cost
        when commitment_kind = 'savings_plan' then coalesce(nullif(billed_cost, 0), effective_cost)
    end as CommitmentDiscountQuantity,
    case
        when commitment_kind is null then null
        when row_kind in ('reservation_usage', 'savings_plan_usage') then 'Used'
        when row_kind in ('unused_reservation', 'unused_savings_plan') then 'Unused'
    end as CommitmentDiscountStatus,
    case commitment_kind when 'reservation' then 'Reserved Instance' when 'savings_plan' then 'Savings Plan' end
        as CommitmentDiscountType,
    case
        when commitment_kind = 'savings_plan' then currency_code
        when commitment_kind = 'reservation' and coalesce(
            normalized_usage_amount, reservation_unused_normalized_units, reservation_normalized_units
        ) is not null then 'Normalized Hour'
        when commitment_kind = 'reservation' then 'Hour'
    end as CommitmentDiscountUnit,
    case when charge_category = 'Usage' and row_kind in ('usage', 'reservation_usage', 'savings_plan_usage')
        and charge_class is null then usage_amount end as ConsumedQuantity,
    case when charge_category = 'Usage' and row_kind in ('usage', 'reservation_usage', 'savings_plan_usage')
        and charge_class is null then {{ focus_unit('pricing_unit') }} end as ConsumedUnit,
    contracted_cost as ContractedCost,
    contracted_unit_price as ContractedUnitPrice,
    effective_cost as EffectiveCost,
    invoice_id as InvoiceId,
    -- CURs from before bill/InvoicingEntity existed: AWS, who invoices every line of a CUR
    coalesce(invoicing_entity, 'AWS') as InvoiceIssuerName,
    list_cost as ListCost,
    list_unit_price as ListUnitPrice,
    pricing_category as PricingCategory,
    -- AWS prices in the billing currency
    currency_code as PricingCurrency,
    contracted_unit_price as PricingCurrencyContractedUnitPrice,
    effective_cost as PricingCurrencyEffectiveCost,
    list_unit_price as PricingCurrencyListUnitPrice,
    case
        when row_kind in ('usage', 'reservation_usage', 'savings_plan_usage', 'reservation_recurring_fee',
                          'savings_plan_recurring_fee', 'fee') then usage_amount
        when row_kind = 'unused_reservation' then reservation_unused_quantity
    end as PricingQuantity,
    case when row_kind in ('usage', 'reservation_usage', 'savings_plan_usage', 'reservation_recurring_fee',
                           'savings_plan_recurring_fee', 'fee', 'unused_reservation')
        then {{ focus_unit('pricing_unit') }} end as PricingUnit,
    'AWS' as ProviderName,
    case when billing_entity = 'AWS Marketplace' then coalesce(legal_entity, billing_entity) else 'AWS' end
        as PublisherName,
    commitments.region_id as RegionId,
    regions.region_name as RegionName,
    case
        when commitment_kind is not null and row_kind not in ('reservation_usage', 'savings_plan_usage')
            then coalesce(reservation_arn, savings_plan_arn)
        else nullif(resource_id, '')
    end as ResourceId,
    cast(null as varchar) as ResourceName,
    case
        when commitment_kind = 'reservation' and row_kind not in ('reservation_usage') then 'Reserved Instance'
        when commitment_kind = 'savings_plan' and row_kind not in ('savings_plan_usage') then 'Savings Plan'
        when nullif(resource_id, '') is not null then coalesce(product_family, services.service_name, commitments.product_code)
    end as ResourceType,
    coalesce(services.service_category, 'Other') as ServiceCategory,
    coalesce(services.service_name, commitments.product_name, commitments.product_code) as ServiceName,
    coalesce(services.service_subcategory, 'Other (Other)') as ServiceSubcategory,
    sku_id as SkuId,
    case when sku_id is not null then usage_type end as SkuMeter,
    cast(null as varchar) as SkuPriceDetails,
    -- the rate code is one price of one SKU (AWS shares a RateId across SKUs); the SKU stands in without one
    case when sku_id is not null then coalesce(rate_code, sku_id) end as SkuPriceId,
    usage_account_id as SubAccountId,
    coalesce(usage_account_name, usage_account_id) as SubAccountName,
    'Linked Account' as SubAccountType,
    tags as Tags,
    'AWS' as ServiceProviderName,
    case when charge_category not in ('Tax', 'Adjustment') then 'AWS' end as HostProviderName,
    x_Dataset,
    x_ExportName,
    x_BillingPeriod,
    x_SourcePartition,
    x_ExportName || '/' || line_item_id || '/' || coalesce(time_interval, '') as x_RowKey,
    line_item_type as x_LineItemType,
    commitments.product_code as x_ServiceCode,
    usage_type as x_UsageType,
    operation as x_Operation,
    x_SourceFile,
    x_ManifestVersion
from commitments
left join {{ ref('aws_services') }} as services on commitments.product_code = services.product_code
left join {{ ref('aws_regions') }} as regions on commitments.region_id = regions.region_id
