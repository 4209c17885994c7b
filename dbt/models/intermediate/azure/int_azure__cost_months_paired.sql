-- Per billing account and billing month: which of the actual and amortized cost datasets are loaded, and
-- whether the month converts to FOCUS exactly. BilledCost comes from the actual dataset, EffectiveCost from
-- the amortized one, so a month converts when both are loaded, or when only one is and it has no
-- reservation or savings plan row (then the two costs are the same number). Otherwise it is held back.
with months as (

    select
        focus_billing_account_id,
        x_BillingPeriod,
        bool_or(x_Dataset = 'azure_actual') as has_actual,
        bool_or(x_Dataset = 'azure_amortized') as has_amortized,
        bool_or(involves_commitment) as has_commitment_rows
    from {{ ref('int_azure__cost_details_unioned') }}
    group by all

)

select
    *,
    (has_actual and has_amortized) or not has_commitment_rows as converts,
    case
        when (has_actual and has_amortized) or not has_commitment_rows then null
        when has_actual then
            'only the actual cost export is loaded for this billing account and month, and it has reservation or '
            || 'savings plan rows: their EffectiveCost needs the amortized cost export of the same month; '
            || 'deliver it (or set up an amortized cost export for this scope) and the month converts'
        else
            'only the amortized cost export is loaded for this billing account and month, and it has reservation '
            || 'or savings plan rows: their BilledCost (and the commitment purchases) need the actual cost export '
            || 'of the same month; deliver it (or set up an actual cost export for this scope) and the month converts'
    end as held_back_reason
from months
