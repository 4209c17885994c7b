-- FOCUS cost rule: per commitment and month, what its Used and Unused rows carry in EffectiveCost
-- is the amortized commitment AWS reports on the fee line (RI: effective cost of covered usage +
-- unused amortized fees; Savings Plan: total commitment to date). Returns the commitments where not.
with booked as (

    select
        x_SourcePartition,
        CommitmentDiscountId,
        sum(EffectiveCost) as booked_cost
    from {{ ref('cost_and_usage') }}
    where CommitmentDiscountStatus in ('Used', 'Unused')
        and x_Dataset in ('aws_cur1', 'aws_cur2')  -- AWS's FOCUS export has no CUR fee lines to compare with
    group by all

),

expected as (

    select
        x_SourcePartition,
        coalesce(nullif(savings_plan_arn, ''), reservation_arn) as CommitmentDiscountId,
        sum(
            case line_item_type
                when 'SavingsPlanRecurringFee' then savings_plan_total_commitment
                when 'RIFee' then coalesce(reservation_unused_amortized_upfront_fee, 0)
                    + coalesce(reservation_unused_recurring_fee, 0)
                when 'DiscountedUsage' then reservation_effective_cost
                else 0
            end
        ) as expected_cost
    from {{ ref('int_aws__cur_line_items_unioned') }}
    where line_item_type in ('SavingsPlanRecurringFee', 'RIFee', 'DiscountedUsage')
    group by all

)

select *
from expected
full outer join booked using (x_SourcePartition, CommitmentDiscountId)
where abs(coalesce(expected_cost, 0) - coalesce(booked_cost, 0)) > 0.000001
