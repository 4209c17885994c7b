-- AWS's own FOCUS export rows (1.2, and 1.0 converted to 1.2) with the partition and row keys the mart needs.
with exported as (

    select * from {{ ref('stg_aws__focus_1_2') }}
    union all by name
    select * from {{ ref('int_aws_focus_1_0_as_1_2') }}

)

select
    *,
    x_Dataset || '/' || x_ExportName || '/' || strftime(x_BillingPeriod, '%Y-%m') as x_SourcePartition,
    x_SourceFile || '#' || row_number() over (partition by x_SourceFile) as x_RowKey
from exported
