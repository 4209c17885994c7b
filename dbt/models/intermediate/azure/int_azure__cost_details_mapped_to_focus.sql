-- Paired cost details (int_azure__cost_details_paired) as FOCUS 1.2 columns: charge attributes per the
-- finops-toolkit's conversion rules (../shared/formats/azure.md §2.2), services, units and regions from the
-- toolkit's open data (seeds azure_services, azure_pricing_units, azure_regions).
-- Column-by-column derivation: _int_azure__models.yml.
with charges as (

    select
        *,
        case
            when charge_type in ('Usage', 'Purchase', 'Credit', 'Tax') then charge_type
            when charge_type in ('UnusedReservation', 'UnusedSavingsPlan') then 'Usage'
            when charge_type = 'Refund' then 'Purchase'
            else 'Adjustment'
        end as charge_category,
        case
            when lower(benefit_id) like '%/microsoft.capacity/%' then 'reservation'
            when lower(benefit_id) like '%/microsoft.billingbenefits/%' then 'savings_plan'
            -- exports from before BenefitId name reservations by ReservationId only
            when benefit_id is null and reservation_id is not null
                and (pricing_model_key = 'reservation' or charge_type = 'UnusedReservation') then 'reservation'
        end as commitment_kind,
        -- the ARM resource type: the provider namespace and every other segment after it (the last provider's,
        -- for extension resources), e.g. microsoft.sql/servers/databases
        regexp_extract(lower(resource_id), '.*/providers/([^/]+)/(.*)$', ['namespace', 'path']) as arm_path
    from {{ ref('int_azure__cost_details_paired') }}

),

typed as (

    select
        charges.*,
        case
            when arm_path.namespace <> ''
                then arm_path.namespace || '/'
                    || array_to_string(list_filter(string_split(arm_path.path, '/'), lambda segment, i: i % 2 = 1), '/')
        end as arm_resource_type,
        cast(units.pricing_block_size as decimal(38, 18)) as pricing_block_size,
        units.distinct_units,
        coalesce(exchange_rate, 1) as to_billing_currency,
        case when unit_price < 0 then -1 else 1 end as price_sign
    from charges
    left join {{ ref('azure_pricing_units') }} as units on charges.unit_of_measure = units.unit_of_measure

),

-- a consumed service the seed maps to one service whatever the resource type (for rows without a resource)
services_by_consumed_service as (

    select
        lower(consumed_service) as consumed_service,
        any_value(service_name) as service_name,
        any_value(service_category) as service_category,
        any_value(service_subcategory) as service_subcategory
    from {{ ref('azure_services') }}
    where consumed_service is not null
    group by 1
    having count(distinct (service_name, service_category, service_subcategory)) = 1

),

serviced as (

    select
        typed.*,
        coalesce(by_type.service_name, by_service.service_name) as seed_service_name,
        coalesce(by_type.service_category, by_service.service_category) as seed_service_category,
        coalesce(by_type.service_subcategory, by_service.service_subcategory) as seed_service_subcategory
    from typed
    left join {{ ref('azure_services') }} as by_type
        on lower(typed.consumed_service) = lower(by_type.consumed_service)
        and typed.arm_resource_type = lower(by_type.resource_type)
    left join services_by_consumed_service as by_service
        on lower(typed.consumed_service) = by_service.consumed_service

),

priced as (

    select
        serviced.*,
        coalesce(seed_service_category, 'Other') as focus_service_category,
        case
            when pricing_model_key = 'ondemand' then 'Standard'
            when pricing_model_key = 'spot' then 'Dynamic'
            when pricing_model_key in ('reservation', 'savingsplan') then 'Committed'
            when charge_category not in ('Usage', 'Purchase') then null
            when pricing_model_key = '' then 'Standard'
            else 'Other'
        end as pricing_category,
        -- a refund may state a negative price for a positive quantity: FOCUS prices are never negative
        case when quantity is not null and charge_category in ('Usage', 'Purchase') then quantity * price_sign end
            as pricing_quantity,
        case
            when pricing_block_size > 1 then cast(cast(pricing_block_size as bigint) as varchar) || ' ' || distinct_units
            else coalesce(distinct_units, unit_of_measure)
        end as pricing_unit,
        -- EA reports PayGPrice 0 on reservation usage and purchases; their UnitPrice is the price before the commitment
        coalesce(nullif(payg_price, 0), unit_price) as list_price_in_pricing_currency,
        coalesce(partner_name, 'Microsoft') as invoice_issuer,
        {{ azure_times('abs(unit_price)', 'to_billing_currency') }} as contracted_unit_price,
        {{ azure_times('abs(coalesce(nullif(payg_price, 0), unit_price))', 'to_billing_currency') }} as list_unit_price
    from serviced

)

select
    availability_zone as AvailabilityZone,
    billed_cost as BilledCost,
    focus_billing_account_id as BillingAccountId,
    case when agreement = 'EA' then billing_account_name else coalesce(billing_profile_name, billing_account_name) end
        as BillingAccountName,
    case when agreement = 'EA' then 'Billing Account' else 'Billing Profile' end as BillingAccountType,
    billing_currency as BillingCurrency,
    -- Azure's end dates are the last day, FOCUS's are exclusive
    coalesce(billing_period_end + interval 1 day, x_BillingPeriod + interval 1 month) as BillingPeriodEnd,
    coalesce(billing_period_start, x_BillingPeriod) as BillingPeriodStart,
    cast(null as varchar) as CapacityReservationId,
    cast(null as varchar) as CapacityReservationStatus,
    charge_category as ChargeCategory,
    case when charge_type = 'Refund' then 'Correction' end as ChargeClass,
    -- rounding adjustments name no product
    coalesce(product_name, charge_type) as ChargeDescription,
    case
        when frequency = 'OneTime' then 'One-Time'
        when frequency = 'Recurring' then 'Recurring'
        when frequency = 'UsageBased' then 'Usage-Based'
        when charge_category = 'Purchase' then 'One-Time'
        else 'Usage-Based'
    end as ChargeFrequency,
    coalesce(charge_date, x_BillingPeriod) + interval 1 day as ChargePeriodEnd,
    coalesce(charge_date, x_BillingPeriod) as ChargePeriodStart,
    case commitment_kind when 'reservation' then 'Usage' when 'savings_plan' then 'Spend' end
        as CommitmentDiscountCategory,
    case when commitment_kind is not null then coalesce(benefit_id, reservation_id) end as CommitmentDiscountId,
    case when commitment_kind is not null then coalesce(benefit_name, reservation_name) end as CommitmentDiscountName,
    -- reservations count what they cover in its pricing unit, savings plans in money
    case
        when commitment_kind is null or charge_category not in ('Usage', 'Purchase') then null
        when commitment_kind = 'reservation' then pricing_quantity
        when charge_category = 'Purchase' then billed_cost
        else effective_cost
    end as CommitmentDiscountQuantity,
    case
        when commitment_kind is null then null
        when charge_type in ('UnusedReservation', 'UnusedSavingsPlan') then 'Unused'
        when charge_type = 'Usage' then 'Used'
    end as CommitmentDiscountStatus,
    case commitment_kind when 'reservation' then 'Reservation' when 'savings_plan' then 'Savings Plan' end
        as CommitmentDiscountType,
    case
        when commitment_kind is null or charge_category not in ('Usage', 'Purchase') then null
        when commitment_kind = 'reservation' then pricing_unit
        else billing_currency
    end as CommitmentDiscountUnit,
    -- Quantity counts pricing blocks (cost = EffectivePrice × Quantity, also for `10K` units): × block size
    case when charge_type = 'Usage' then {{ azure_times('quantity', 'coalesce(pricing_block_size, 1)') }} end
        as ConsumedQuantity,
    case when charge_type = 'Usage' then coalesce(distinct_units, unit_of_measure) end as ConsumedUnit,
    coalesce({{ azure_times('contracted_unit_price', 'pricing_quantity') }}, billed_cost) as ContractedCost,
    contracted_unit_price as ContractedUnitPrice,
    effective_cost as EffectiveCost,
    invoice_id as InvoiceId,
    invoice_issuer as InvoiceIssuerName,
    coalesce(payg_cost, {{ azure_times('list_unit_price', 'pricing_quantity') }}, billed_cost) as ListCost,
    list_unit_price as ListUnitPrice,
    pricing_category as PricingCategory,
    coalesce(pricing_currency, billing_currency) as PricingCurrency,
    abs(unit_price) as PricingCurrencyContractedUnitPrice,
    coalesce(
        effective_cost_in_pricing_currency,
        case when coalesce(pricing_currency, billing_currency) = billing_currency then effective_cost end
    ) as PricingCurrencyEffectiveCost,
    abs(list_price_in_pricing_currency) as PricingCurrencyListUnitPrice,
    pricing_quantity as PricingQuantity,
    case when pricing_quantity is not null then pricing_unit end as PricingUnit,
    'Microsoft' as ProviderName,
    case when publisher_type = 'Marketplace' then coalesce(publisher_name, 'Marketplace') else 'Microsoft' end
        as PublisherName,
    regions.region_id as RegionId,
    regions.region_name as RegionName,
    resource_id as ResourceId,
    case
        when resource_id is not null then coalesce(resource_name, nullif(regexp_extract(resource_id, '[^/]*$'), ''))
    end as ResourceName,
    case when resource_id is not null then arm_resource_type end as ResourceType,
    focus_service_category as ServiceCategory,
    coalesce(seed_service_name, meter_category, consumed_service, 'Unknown') as ServiceName,
    -- the seed's subcategory where FOCUS 1.2 lists it under the same category, else the category's "Other"
    coalesce(subcategories.service_subcategory, 'Other (' || focus_service_category || ')') as ServiceSubcategory,
    coalesce(product_id, part_number) as SkuId,
    case when coalesce(product_id, part_number) is not null then meter_name end as SkuMeter,
    case when coalesce(product_id, part_number) is not null and meter_id is not null then {{ azure_sku_price_details('additional_info') }} end
        as SkuPriceDetails,
    case when meter_id is not null then coalesce(product_id, part_number) || '/' || meter_id end as SkuPriceId,
    subscription_id as SubAccountId,
    subscription_name as SubAccountName,
    case when subscription_id is not null then 'Subscription' end as SubAccountType,
    tags as Tags,
    case when publisher_type = 'Marketplace' then coalesce(publisher_name, 'Marketplace') else 'Microsoft' end
        as ServiceProviderName,
    case when charge_category not in ('Tax', 'Adjustment') then 'Microsoft' end as HostProviderName,
    x_Dataset,
    x_ExportName,
    x_BillingPeriod,
    x_SourcePartition,
    x_SourcePartition || '/' || charge_key || '#' || occurrence as x_RowKey,
    charge_type as x_LineItemType,
    meter_category as x_ServiceCode,
    cast(null as varchar) as x_UsageType,
    cast(null as varchar) as x_Operation,
    x_SourceFile,
    x_ManifestVersion
from priced
left join {{ ref('azure_regions') }} as regions
    on lower(coalesce(priced.resource_location, priced.resource_location_normalized)) = regions.original_value
left join {{ ref('focus_service_subcategories') }} as subcategories
    on priced.seed_service_subcategory = subcategories.service_subcategory
    and priced.focus_service_category = subcategories.service_category
