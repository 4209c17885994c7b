-- AWS's own FOCUS 1.2 export rows with the partition and row keys the mart needs.
select
    * replace (
        x_Dataset || '/' || x_ExportName || '/' || strftime(x_BillingPeriod, '%Y-%m') as x_SourcePartition,
        x_SourceFile || '#' || row_number() over (partition by x_SourceFile) as x_RowKey
    )
from (
    select *, cast(null as varchar) as x_SourcePartition, cast(null as varchar) as x_RowKey
    from {{ ref('stg_aws__focus_1_2') }}
)
