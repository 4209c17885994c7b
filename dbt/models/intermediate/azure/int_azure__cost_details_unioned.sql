-- Actual and amortized cost details in one relation, each row with the FOCUS billing account it bills to and
-- whether it involves a reservation or savings plan (what decides if its month can convert alone).
with cost_details as (

    select * from {{ ref('stg_azure__actual_cost') }}
    union all by name
    select * from {{ ref('stg_azure__amortized_cost') }}

)

select
    *,
    -- EA enrollments are numbers; an MCA billing account id is not, and MCA invoices per billing profile
    case
        when regexp_full_match(coalesce(billing_account_id, ''), '[0-9]+') then 'EA'
        else 'MCA'
    end as agreement,
    case
        when regexp_full_match(coalesce(billing_account_id, ''), '[0-9]+') then billing_account_id
        else coalesce(billing_profile_id, billing_account_id)
    end as focus_billing_account_id,
    -- Azure spells it `SavingsPlan`; `On Demand` and `OnDemand` both occur
    lower(replace(coalesce(pricing_model, ''), ' ', '')) as pricing_model_key,
    lower(replace(coalesce(pricing_model, ''), ' ', '')) in ('reservation', 'savingsplan')
        or charge_type in ('UnusedReservation', 'UnusedSavingsPlan') as involves_commitment
from cost_details
