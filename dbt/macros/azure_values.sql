{#
  Reading Azure Cost Management columns as the loader keeps them: CSV text (VARCHAR) in EA PascalCase
  or MCA camelCase, older and newer spellings of one column, or typed Parquet columns.
#}

{# The ones of `candidates` (column names, any case) the relation has, in order. #}
{% macro _azure_present(columns, candidates) %}
    {%- set present = [] -%}
    {%- for candidate in candidates if candidate | lower in columns -%}
        {%- do present.append(candidate) -%}
    {%- endfor -%}
    {{ return(present) }}
{% endmacro %}

{# The first non-empty of `candidates` as text, empty text as null; a typed null when none is present. The
   source view unions every export of a format by name, so an EA export's `BillingCurrencyCode` and an MCA
   export's `billingCurrency` are both columns of it, each null on the other's rows: all are read. #}
{% macro azure_text(columns, candidates) -%}
    {%- set present = _azure_present(columns, candidates) -%}
    {%- if present -%}
        coalesce(
            {%- for column in present -%}
            nullif(trim(cast({{ sql_identifier(column) }} as varchar)), ''){{ ', ' if not loop.last }}
            {%- endfor -%}
        )
    {%- else -%}
        cast(null as varchar)
    {%- endif -%}
{%- endmacro %}

{# `candidates` (as `azure_text`) as an exact DECIMAL(38,18): text is cast as written (never through a
   double), a Parquet double through its shortest text. #}
{% macro azure_decimal(columns, candidates) -%}
    cast({{ azure_text(columns, candidates) }} as decimal(38, 18))
{%- endmacro %}

{# `candidates` (as `azure_text`) as a timestamp: `MM/DD/YYYY` (EA CSV), ISO dates and date-times with or
   without seconds (`2024-01-01T00:00Z`, FOCUS 1.0) or a typed date/timestamp. #}
{% macro azure_timestamp(columns, candidates) -%}
    {%- set text = azure_text(columns, candidates) -%}
    case
        when {{ text }} like '__/__/____%' then strptime(left({{ text }}, 10), '%m/%d/%Y')
        else cast({{ text }} as timestamp)
    end
{%- endmacro %}

{# `a` × `b` as DECIMAL(38,18). Two DECIMAL(38,18) factors would need scale 36 and overflow past 100; at 14
   decimals each the product keeps scale 28, room for a line's amount (< 10^10), and exactness wherever the
   factors have at most 14 decimals (Azure's prices and quantities have fewer). For derived amounts only
   (ListCost, ContractedCost), never for the reconciled costs, which are taken as delivered. #}
{% macro azure_times(a, b) -%}
    cast(cast({{ a }} as decimal(38, 14)) * cast({{ b }} as decimal(38, 14)) as decimal(38, 18))
{%- endmacro %}
