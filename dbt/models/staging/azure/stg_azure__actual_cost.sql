-- Cost Management actual cost details (EA or MCA, CSV or Parquet): renamed and typed into one shape
-- (macro `azure_cost_details_columns`), tags as a JSON object, x_ lineage (macro `source_lineage_columns`).
{%- set dataset = 'azure_actual' %}
-- depends_on: {{ source('azure', dataset) }}
{%- set relation = existing_source('azure', dataset) %}
{%- set columns = column_names(relation) %}

select
    {{ azure_cost_details_columns(columns) }},
    {{ source_lineage_columns(dataset, columns) }}
from {{ relation_or_empty(relation) }}
