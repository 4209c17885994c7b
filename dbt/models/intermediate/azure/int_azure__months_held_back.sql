-- The actual and amortized cost deliveries whose month is held back from FOCUS (int_azure__cost_months_paired):
-- one row per export, billing month and billing account, naming the files and why. Read through the mart
-- model `months_held_back`.
select
    'azure' as provider,
    details.x_Dataset as dataset,
    details.x_ExportName as export,
    details.x_BillingPeriod as billing_period,
    details.x_SourcePartition as source_partition,
    details.focus_billing_account_id as billing_account_id,
    string_agg(distinct details.x_SourceFile, ', ' order by details.x_SourceFile) as source_files,
    count(*) as source_rows,
    any_value(months.held_back_reason) as reason
from {{ ref('int_azure__cost_details_unioned') }} as details
inner join {{ ref('int_azure__cost_months_paired') }} as months
    on details.focus_billing_account_id is not distinct from months.focus_billing_account_id
    and details.x_BillingPeriod = months.x_BillingPeriod
where not months.converts
group by all
