-- The FOCUS rows of the cost details of every month that converts (int_azure__cost_months_paired), with
-- BilledCost taken from the actual dataset and EffectiveCost from the amortized one.
--
-- Where both are loaded, each actual row is paired with the amortized row describing the same charge
-- (same account, month, subscription, day, meter, resource, charge type, pricing model, commitment and
-- quantity; the n-th of identical ones with the n-th): a pair is one row (the amortized row's attributes),
-- BilledCost its actual cost, EffectiveCost its amortized cost; an actual row without a partner keeps
-- EffectiveCost 0, an amortized row without one BilledCost 0. On complete exports this is exactly the
-- finops-toolkit conversion (../shared/formats/azure.md §2.2): the actual rows left over are the
-- reservation and savings plan purchases and refunds (which amortization spreads over usage), the
-- amortized rows left over are the unused commitment (billed by that purchase), and covered usage pairs
-- with its actual row of cost 0. Unlike the toolkit's row rules it keeps both sums exact whatever the
-- exports hold: per billing account and month Σ BilledCost = Σ actual cost, Σ EffectiveCost = Σ amortized.
-- A month with one dataset only (and no commitment rows) has one cost: BilledCost = EffectiveCost = cost.
with cost_details as (

    select
        details.*,
        months.has_actual,
        months.has_amortized,
        md5(to_json({
            'account': details.focus_billing_account_id, 'month': details.x_BillingPeriod,
            'subscription': details.subscription_id, 'day': details.charge_date, 'meter': details.meter_id,
            'resource': lower(details.resource_id), 'charge_type': details.charge_type,
            'pricing_model': details.pricing_model_key, 'commitment': coalesce(details.benefit_id, details.reservation_id),
            'order': details.product_order_id, 'quantity': details.quantity, 'unit': details.unit_of_measure
        })) as charge_key
    from {{ ref('int_azure__cost_details_unioned') }} as details
    inner join {{ ref('int_azure__cost_months_paired') }} as months
        on details.focus_billing_account_id is not distinct from months.focus_billing_account_id
        and details.x_BillingPeriod = months.x_BillingPeriod
    where months.converts

),

numbered as (

    select
        *,
        row_number() over (
            partition by x_Dataset, charge_key
            order by cost, tags, additional_info, resource_location, x_SourceFile
        ) as occurrence
    from cost_details

),

paired as (

    select
        *,
        sum(case when x_Dataset = 'azure_actual' then cost end) over pair as paired_actual_cost,
        sum(case when x_Dataset = 'azure_amortized' then cost end) over pair as paired_amortized_cost,
        sum(case when x_Dataset = 'azure_amortized' then cost_in_pricing_currency end) over pair
            as paired_amortized_cost_in_pricing_currency
    from numbered
    window pair as (partition by charge_key, occurrence)
    -- one row per pair: the amortized row, which describes the charge after amortization
    qualify row_number() over (partition by charge_key, occurrence order by x_Dataset = 'azure_amortized' desc) = 1

)

select
    * exclude (paired_actual_cost, paired_amortized_cost, paired_amortized_cost_in_pricing_currency),
    case when has_actual and has_amortized then coalesce(paired_actual_cost, 0) else cost end as billed_cost,
    case when has_actual and has_amortized then coalesce(paired_amortized_cost, 0) else cost end as effective_cost,
    case
        when has_actual and has_amortized and paired_amortized_cost is null then 0
        when has_actual and has_amortized then paired_amortized_cost_in_pricing_currency
        else cost_in_pricing_currency
    end as effective_cost_in_pricing_currency
from paired
