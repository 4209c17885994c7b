-- The FOCUS models book Savings Plan covered usage at BilledCost 0 and drop SavingsPlanNegation
-- lines; that keeps Σ BilledCost equal to the invoice only while, per source partition (export and
-- month), the negation lines cancel the covered usage's on-demand cost exactly. Returns the partitions where not.
select
    x_SourcePartition,
    sum(unblended_cost) as residual
from {{ ref('int_aws__cur_line_items_unioned') }}
where line_item_type in ('SavingsPlanCoveredUsage', 'SavingsPlanNegation')
group by all
having abs(sum(unblended_cost)) > 0.000001
