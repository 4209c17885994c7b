{#
  The FOCUS rows of every provider: the union of each provider's `int_<provider>__cost_and_usage`,
  already in the mart's columns (the providers: var `focus_providers` in dbt_project.yml).

  Incremental by source partition (`x_SourcePartition`, `<dataset>/<export>/<YYYY-MM>`: what one
  delivery replaces). A run given FINOPS_SOURCE_PARTITIONS replaces exactly those partitions and
  leaves the others untouched, so a restated month of one export costs that partition, not the
  history, and never rewrites another export's or provider's rows of the same month. The pre-hook
  empties the partitions being rebuilt — including one whose source no longer has rows (restated to
  nothing, or withdrawn) — and the query appends what the sources hold for them now. dbt runs the
  hook inside the model's transaction, so a failed run keeps the old rows. With no partition named,
  every partition is rebuilt. A plain table would rebuild everything on each delivery; a view would
  recompute the amortization on every dashboard query.
#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{% if is_incremental() %}delete from {{ this }} {{ rebuilt_partitions_filter() }}{% endif %}",
    )
}}

with focus_rows as (
    {% for provider in var('focus_providers') %}
    select * from {{ ref('int_' ~ provider ~ '__cost_and_usage') }}
    {{ 'union all by name' if not loop.last }}
    {%- endfor %}
)

select {{ select_focus_columns() }}
from focus_rows
-- The partitions to rebuild are chosen here and in the pre-hook, by the same macro: the ephemeral models upstream
-- are inlined into this query and stay free of run-specific filters (`dbt show` on them sees every partition).
{{ rebuilt_partitions_filter() }}
