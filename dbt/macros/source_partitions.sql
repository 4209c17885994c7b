{#
  Where each row came from, alike for every provider. The loader gives each row of every source
  view `_export`, `_billing_period`, `_source_file` and `_manifest_version`; every staging model
  turns them into the mart's lineage columns with `source_lineage_columns`. Their
  `x_SourcePartition`, `<dataset>/<export>/<YYYY-MM>`, is what one delivery replaces: the unit a
  run rebuilds (`rebuilt_partitions_filter`) and what include/orchestration/focus_models.py
  compares with the ledger.
#}

{# The lineage `x_` columns of a row of source `dataset` whose columns are `columns` (typed nulls where absent). #}
{% macro source_lineage_columns(dataset, columns) -%}
    {%- set export = column_value_or_null(columns, '_export', 'varchar') -%}
    {%- set billing_period = column_value_or_null(columns, '_billing_period', 'date') -%}
    {{ sql_literal(dataset) }} as x_Dataset,
    {{ export }} as x_ExportName,
    {{ billing_period }} as x_BillingPeriod,
    {{ sql_literal(dataset ~ '/') }} || {{ export }} || '/' || strftime({{ billing_period }}, '%Y-%m') as x_SourcePartition,
    {{ column_or_null(columns, '_source_file', 'varchar', 'x_SourceFile') }},
    {{ column_or_null(columns, '_manifest_version', 'varchar', 'x_ManifestVersion') }}
{%- endmacro %}

{#
  `where` the source partitions a run rebuilds: those the environment variable
  FINOPS_SOURCE_PARTITIONS names (comma-separated), or nothing (every partition) when it is unset
  or empty. The mart's pre-hook deletes and its query selects with this one macro, so the two
  never differ. Read only when dbt executes, never while it parses: a value that changes every
  run leaves dbt's partial parsing valid, where a `--vars` value would make dbt parse the whole
  project again. The partitions' months are named too: with them DuckDB reads no other month's
  table (the partition's text alone, built from `_billing_period`, does not reach the scans).
#}
{% macro rebuilt_partitions_filter() -%}
    {%- set named = env_var('FINOPS_SOURCE_PARTITIONS', '') if execute else '' -%}
    {%- set partitions = named.split(',') | map('trim') | reject('equalto', '') | list -%}
    {%- if partitions -%}
        {%- set months = [] -%}
        {%- for partition in partitions -%}
            {%- if not modules.re.fullmatch('[a-z][a-z0-9_]*/[^/]+/[0-9]{4}-(0[1-9]|1[0-2])', partition) -%}
                {{ exceptions.raise_compiler_error(
                    "FINOPS_SOURCE_PARTITIONS: '" ~ partition ~ "' is not <dataset>/<export>/<YYYY-MM>") }}
            {%- endif -%}
            {%- do months.append(partition.split('/')[-1] ~ '-01') -%}
        {%- endfor %}
        where x_BillingPeriod in (
            {%- for month in months | unique | sort %}cast({{ sql_literal(month) }} as date){{ ', ' if not loop.last }}{% endfor -%}
        )
        and x_SourcePartition in (
            {%- for partition in partitions | unique | sort %}{{ sql_literal(partition) }}{{ ', ' if not loop.last }}{% endfor -%}
        )
    {%- endif -%}
{%- endmacro %}
