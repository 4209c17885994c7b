-- Every AWS row in the mart's columns, typed: CUR line items (legacy and 2.0) mapped to FOCUS, and AWS's
-- own FOCUS exports (1.2 as delivered, 1.0 converted to 1.2). The mart unions this with the other providers'.
with focus_exports as (

    select * from {{ ref('stg_aws__focus_1_2') }}
    union all by name
    select * from {{ ref('int_aws__focus_1_0_as_1_2') }}

),

aws_rows as (

    select * from {{ ref('int_aws__cur_mapped_to_focus') }}
    union all by name
    -- A FOCUS row has no line item id: its file and place in the file key it. A file lies in one partition;
    -- partitioning by that too lets the mart's partition filter reach the scan below the window.
    select
        *,
        x_SourceFile || '#' || row_number() over (partition by x_SourcePartition, x_SourceFile) as x_RowKey
    from focus_exports

)

select {{ select_focus_columns() }}
from aws_rows
