-- Every Azure row in the mart's columns, typed: actual and amortized cost details converted to FOCUS (months
-- held back left out: int_azure__months_held_back), and Azure's own FOCUS exports (1.2 as delivered, 1.0 and
-- 1.0r2 converted to 1.2). The mart unions this with the other providers'.
with focus_exports as (

    select * from {{ ref('stg_azure__focus_1_2') }}
    union all by name
    select * from {{ ref('int_azure__focus_1_0_as_1_2') }}

),

-- Azure leaves a rounding adjustment's service and description empty; FOCUS requires a ServiceName and
-- ServiceCategory (the cost details' conversion falls back the same way)
focus_exports_completed as (

    select * replace (
        coalesce(ServiceName, 'Unknown') as ServiceName,
        coalesce(ServiceCategory, 'Other') as ServiceCategory,
        coalesce(ServiceSubcategory, 'Other (' || coalesce(ServiceCategory, 'Other') || ')') as ServiceSubcategory,
        coalesce(ChargeDescription, ChargeCategory) as ChargeDescription
    )
    from focus_exports

),

azure_rows as (

    select * from {{ ref('int_azure__cost_details_mapped_to_focus') }}
    union all by name
    -- A FOCUS row has no line item id: its file and place in the file key it. A file lies in one partition;
    -- partitioning by that too lets the mart's partition filter reach the scan below the window.
    select
        *,
        x_SourceFile || '#' || row_number() over (partition by x_SourcePartition, x_SourceFile) as x_RowKey
    from focus_exports_completed

)

select {{ select_focus_columns() }}
from azure_rows
