-- The unused part of each reservation and Savings Plan, split off its recurring fee line as a
-- FOCUS Usage row with CommitmentDiscountStatus 'Unused' (BilledCost 0; EffectiveCost = the
-- amortized commitment nobody used). AWS books this amount on the RIFee / SavingsPlanRecurringFee
-- line itself; FOCUS keeps purchases at EffectiveCost 0.
with fees as (

    select
        *,
        case
            when row_kind = 'reservation_recurring_fee'
                then coalesce(reservation_unused_amortized_upfront_fee, 0) + coalesce(reservation_unused_recurring_fee, 0)
            when row_kind = 'savings_plan_recurring_fee'
                then coalesce(savings_plan_total_commitment, 0) - coalesce(savings_plan_used_commitment, 0)
        end as unused_cost
    from {{ ref('int_aws__cur_line_items_classified') }}
    where row_kind in ('reservation_recurring_fee', 'savings_plan_recurring_fee')

)

select * exclude (unused_cost) replace (
    case when row_kind = 'reservation_recurring_fee' then 'unused_reservation' else 'unused_savings_plan' end as row_kind,
    line_item_id || '#unused' as line_item_id,
    'Usage' as charge_category,
    'Usage-Based' as charge_frequency,
    'Committed' as pricing_category,
    cast(0 as decimal(38, 18)) as billed_cost,
    unused_cost as effective_cost,
    coalesce(public_on_demand_rate * reservation_unused_quantity, 0) as list_cost,
    cast(0 as decimal(38, 18)) as contracted_cost,
    case when row_kind = 'reservation_recurring_fee' then public_on_demand_rate end as list_unit_price,
    cast(null as decimal(38, 18)) as contracted_unit_price
)
from fees
where unused_cost <> 0
