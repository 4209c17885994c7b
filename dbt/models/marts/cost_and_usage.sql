{#
  Incremental by billing month: a run given var billing_periods replaces exactly those months and
  leaves the others untouched, so a restated month costs one month, not the history. The pre-hook
  empties the months being rebuilt — every source partition of them, including one whose source no
  longer has rows (restated to nothing, or withdrawn) — and the query appends what the sources hold
  for them now. dbt runs the hook inside the model's transaction, so a failed run keeps the old rows.
  Without the var every month is rebuilt. A plain table would rebuild every month on each delivery;
  a view would recompute the amortization on every dashboard query.
#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{% if is_incremental() %}delete from {{ this }} {{ billing_period_filter('x_BillingPeriod') }}{% endif %}",
    )
}}

with focus_rows as (

    select * from {{ ref('int_aws_cur_mapped_to_focus') }}
    union all by name
    select * from {{ ref('int_aws_focus_export_keyed') }}

)

select {{ select_focus_columns() }}
from focus_rows
-- The months to rebuild are chosen here and in the pre-hook, by the same macro: the ephemeral models upstream
-- are inlined into this query and stay free of run-specific filters (`dbt show` on them sees every month).
{{ billing_period_filter('x_BillingPeriod') }}
