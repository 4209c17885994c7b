-- AWS's FOCUS 1.0 export as FOCUS 1.2. FOCUS 1.1 and 1.2 only added columns (FOCUS_Spec changelog);
-- they are derived here from the 1.0 columns, and x_CostCategories goes into Tags as AWS's own
-- FOCUS 1.2 export does (x_UsageType became its SkuMeter). Derivations: models/marts/_marts__models.yml.
with focus_1_0 as (

    select
        *,
        case
            when CommitmentDiscountId is null or ChargeCategory not in ('Usage', 'Purchase') then null
            -- Savings Plans count in currency: what the purchase bills, what covered usage consumes
            when CommitmentDiscountCategory = 'Spend' and ChargeCategory = 'Purchase' then BilledCost
            when CommitmentDiscountCategory = 'Spend' then EffectiveCost
            else PricingQuantity
        end as commitment_quantity
    from {{ ref('stg_aws__focus_1_0') }}

)

select
    focus_1_0.* exclude (Tags, x_CostCategories, commitment_quantity),
    cast(null as varchar) as CapacityReservationId,
    cast(null as varchar) as CapacityReservationStatus,
    commitment_quantity as CommitmentDiscountQuantity,
    case
        when commitment_quantity is null then null
        when CommitmentDiscountCategory = 'Spend' then BillingCurrency
        else PricingUnit
    end as CommitmentDiscountUnit,
    -- the seed's subcategory where AWS's category agrees with the seed's, else the category's "Other"
    case
        when services.service_category = focus_1_0.ServiceCategory then services.service_subcategory
        else 'Other (' || coalesce(focus_1_0.ServiceCategory, 'Other') || ')'
    end as ServiceSubcategory,
    case when SkuId is not null then x_UsageType end as SkuMeter,
    cast(null as varchar) as SkuPriceDetails,
    case when BillingAccountId is not null then 'Payer Account' end as BillingAccountType,
    cast(null as varchar) as InvoiceId,
    BillingCurrency as PricingCurrency,
    ContractedUnitPrice as PricingCurrencyContractedUnitPrice,
    EffectiveCost as PricingCurrencyEffectiveCost,
    ListUnitPrice as PricingCurrencyListUnitPrice,
    case when SubAccountId is not null then 'Linked Account' end as SubAccountType,
    {{ tags_json([
        'map_entries(Tags)',
        "list_transform(map_entries(x_CostCategories), lambda category: {'key': "
            ~ aws_cost_category_tag_key('category.key') ~ ", 'value': category.value})",
    ]) }} as Tags,
    ProviderName as ServiceProviderName,
    ProviderName as HostProviderName
from focus_1_0
left join {{ ref('aws_services') }} as services on focus_1_0.x_ServiceCode = services.product_code
