-- Each CUR line item gets its FOCUS charge attributes and the four costs.
-- SavingsPlanNegation lines are dropped: they only cancel the on-demand cost of covered usage,
-- which FOCUS books at BilledCost 0 instead (tested: per month they sum to minus that cost).
with line_items as (

    select
        *,
        coalesce(savings_plan_arn, '') <> '' as has_savings_plan,
        coalesce(reservation_arn, '') <> '' as has_reservation
    from {{ ref('int_aws__cur_line_items_unioned') }}
    where line_item_type <> 'SavingsPlanNegation'

),

kinds as (

    select
        *,
        case
            when line_item_type = 'Usage' then 'usage'
            when line_item_type = 'DiscountedUsage' then 'reservation_usage'
            when line_item_type = 'SavingsPlanCoveredUsage' then 'savings_plan_usage'
            when line_item_type = 'RIFee' then 'reservation_recurring_fee'
            when line_item_type = 'Fee' and has_reservation then 'reservation_upfront_fee'
            when line_item_type = 'SavingsPlanRecurringFee' then 'savings_plan_recurring_fee'
            when line_item_type = 'SavingsPlanUpfrontFee' then 'savings_plan_upfront_fee'
            when line_item_type = 'Fee' then 'fee'
            when line_item_type = 'Tax' then 'tax'
            when line_item_type = 'Credit' then 'credit'
            when line_item_type = 'Refund' and (has_reservation or has_savings_plan) then 'commitment_refund'
            when line_item_type = 'Refund' and tax_type is not null then 'tax'
            when line_item_type = 'Refund' then 'usage_refund'
            when line_item_type in ('BundledDiscount', 'Discount', 'EdpDiscount', 'PrivateRateDiscount')
                then 'discount'
            else 'unknown'
        end as row_kind
    from line_items

)

select
    *,
    case
        when row_kind in ('usage', 'reservation_usage', 'savings_plan_usage', 'usage_refund', 'discount') then 'Usage'
        when row_kind in ('reservation_recurring_fee', 'reservation_upfront_fee', 'savings_plan_recurring_fee',
                          'savings_plan_upfront_fee', 'fee', 'commitment_refund') then 'Purchase'
        when row_kind = 'tax' then 'Tax'
        when row_kind = 'credit' then 'Credit'
        else 'Adjustment'
    end as charge_category,
    -- a charge that ended before this billing period began corrects an invoiced period
    case when usage_end <= billing_period_start then 'Correction' end as charge_class,
    case
        when row_kind in ('reservation_upfront_fee', 'savings_plan_upfront_fee', 'credit', 'commitment_refund')
            then 'One-Time'
        when row_kind in ('reservation_recurring_fee', 'savings_plan_recurring_fee') then 'Recurring'
        when row_kind = 'fee' and product_code like 'AWSSupport%' then 'Recurring'
        when row_kind = 'fee' then 'One-Time'
        else 'Usage-Based'
    end as charge_frequency,
    case
        when row_kind = 'tax' then null
        when row_kind in ('reservation_usage', 'savings_plan_usage') then 'Committed'
        when row_kind = 'usage' and usage_type like '%SpotUsage%' then 'Dynamic'
        when row_kind in ('credit', 'unknown') then 'Other'
        else 'Standard'
    end as pricing_category,
    -- covered usage is paid by the Savings Plan's fees; its on-demand cost is negated on the invoice
    case when row_kind = 'savings_plan_usage' then 0 else unblended_cost end as billed_cost,
    case
        when row_kind = 'savings_plan_usage' then savings_plan_effective_cost
        when row_kind = 'reservation_usage' then reservation_effective_cost
        -- commitment fees pay for usage booked elsewhere (covered rows and the Unused rows)
        when row_kind in ('reservation_recurring_fee', 'reservation_upfront_fee', 'savings_plan_recurring_fee',
                          'savings_plan_upfront_fee') then 0
        else unblended_cost
    end as effective_cost,
    case
        when row_kind in ('usage', 'reservation_usage', 'savings_plan_usage')
            then coalesce(public_on_demand_cost, unblended_cost)
        -- a reservation's fee line may carry the on-demand rate of what it reserves
        when row_kind = 'reservation_recurring_fee'
            then coalesce(public_on_demand_cost, public_on_demand_rate * usage_amount, unblended_cost)
        when row_kind = 'discount' then 0
        else unblended_cost
    end as list_cost,
    case
        when row_kind = 'reservation_usage' then coalesce(public_on_demand_cost, unblended_cost)
        else unblended_cost
    end as contracted_cost,
    case
        when row_kind in ('usage', 'reservation_usage', 'savings_plan_usage', 'reservation_recurring_fee')
            then public_on_demand_rate
    end as list_unit_price,
    case
        when row_kind = 'reservation_usage' then public_on_demand_rate
        when row_kind in ('usage', 'savings_plan_usage') then unblended_rate
    end as contracted_unit_price
from kinds
