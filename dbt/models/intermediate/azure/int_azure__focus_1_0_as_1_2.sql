-- Cost Management's FOCUS 1.0 / 1.0r2 export as FOCUS 1.2. Azure's 1.2 export renamed three of its x_ columns
-- into FOCUS columns (x_InvoiceId → InvoiceId, x_PricingCurrency → PricingCurrency, x_SkuMeterName → SkuMeter)
-- and moved x_SkuDetails into SkuPriceDetails; the other columns FOCUS 1.1 and 1.2 added are derived here
-- from the 1.0 columns, or null where 1.0 carries nothing to derive them from. Derivations: _int_azure__models.yml.
with focus_1_0 as (

    select
        *,
        case
            when CommitmentDiscountId is null or ChargeCategory not in ('Usage', 'Purchase') then null
            -- savings plans count in money: what the purchase bills, what covered usage consumes
            when CommitmentDiscountCategory = 'Spend' and ChargeCategory = 'Purchase' then BilledCost
            when CommitmentDiscountCategory = 'Spend' then EffectiveCost
            else PricingQuantity
        end as commitment_quantity
    from {{ ref('stg_azure__focus_1_0') }}

),

-- a service name the seed maps to one subcategory
subcategories_by_service as (

    select service_name, any_value(service_category) as service_category, any_value(service_subcategory) as service_subcategory
    from {{ ref('azure_services') }}
    group by 1
    having count(distinct (service_category, service_subcategory)) = 1

),

converted as (

    select
        focus_1_0.* exclude (
            commitment_quantity, x_InvoiceId, x_PricingCurrency, x_SkuMeterName, x_SkuDetails, x_PublisherCategory,
            x_SkuMeterCategory
        ),
        cast(null as varchar) as CapacityReservationId,
        cast(null as varchar) as CapacityReservationStatus,
        commitment_quantity as CommitmentDiscountQuantity,
        case
            when commitment_quantity is null then null
            when CommitmentDiscountCategory = 'Spend' then BillingCurrency
            else PricingUnit
        end as CommitmentDiscountUnit,
        -- the seed's subcategory where it agrees with the row's category and FOCUS 1.2 lists it, else the category's "Other"
        coalesce(subcategories.service_subcategory, 'Other (' || coalesce(focus_1_0.ServiceCategory, 'Other') || ')')
            as ServiceSubcategory,
        x_SkuMeterName as SkuMeter,
        case when SkuPriceId is not null then x_SkuDetails end as SkuPriceDetails,
        case when BillingAccountId is not null then
            case when regexp_full_match(BillingAccountId, '.*/billingprofiles/[^/]+', 'i') then 'Billing Profile' else 'Billing Account' end
        end as BillingAccountType,
        x_InvoiceId as InvoiceId,
        coalesce(x_PricingCurrency, BillingCurrency) as PricingCurrency,
        case when SubAccountId is not null then 'Subscription' end as SubAccountType,
        case when x_PublisherCategory = 'Vendor' then PublisherName else ProviderName end as ServiceProviderName,
        ProviderName as HostProviderName,
        x_SkuMeterCategory as x_ServiceCode,
        cast(null as varchar) as x_UsageType,
        cast(null as varchar) as x_Operation,
        cast(null as varchar) as x_LineItemType
    from focus_1_0
    left join subcategories_by_service as by_service on focus_1_0.ServiceName = by_service.service_name
    left join {{ ref('focus_service_subcategories') }} as subcategories
        on by_service.service_subcategory = subcategories.service_subcategory
        and focus_1_0.ServiceCategory = by_service.service_category
        and focus_1_0.ServiceCategory = subcategories.service_category

)

select *, {{ azure_pricing_currency_prices() }}
from converted
