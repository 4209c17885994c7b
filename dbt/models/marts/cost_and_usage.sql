{#
  Incremental by source partition (dataset / export / billing month) with delete+insert: a run
  given var billing_periods rebuilds exactly those months and leaves the others untouched, in one
  transaction, so a restated month replaces the old one the way the loader replaced its source.
  A plain table would rebuild every month on each delivery; a view would recompute the
  amortization on every dashboard query.
#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='x_SourcePartition',
        on_schema_change='fail',
    )
}}

with focus_rows as (

    select * from {{ ref('int_aws_cur_mapped_to_focus') }}
    union all by name
    select * from {{ ref('int_aws_focus_export_keyed') }}

)

select {{ select_focus_columns() }}
from focus_rows
-- The months to rebuild are chosen here, where delete+insert replaces them: the ephemeral models upstream
-- are inlined into this query and stay free of run-specific filters (`dbt show` on them sees every month).
{{ billing_period_filter('x_BillingPeriod') }}
