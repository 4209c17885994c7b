{# Azure's JSON text columns (tags, AdditionalInfo, SkuPriceDetails) as FOCUS key-value columns. #}

{#
  Tags as one flat JSON object. Cost details carry them as JSON (`{"env": "prod"}`) or, in EA
  exports, as the object's members without braces (`"env": "prod","org": "trey"`); FOCUS exports as
  JSON. Text that is not a JSON object either way is left out (null) rather than failing the whole
  build; empty values are kept, as Azure allows a tag without a value.
#}
{% macro azure_tags(text) -%}
    case
        when {{ text }} is null then null
        when json_valid({{ text }}) then {{ _azure_object_or_null(text) }}
        when json_valid('{' || {{ text }} || '}') then {{ _azure_object_or_null("'{' || " ~ text ~ " || '}'") }}
    end
{%- endmacro %}

{# JSON text as a JSON object; null when empty, not an object, or not JSON. #}
{% macro azure_json_object(text) -%}
    case when json_valid({{ text }}) then {{ _azure_object_or_null(text) }} end
{%- endmacro %}

{# AdditionalInfo as FOCUS SkuPriceDetails, its keys prefixed `x_` as the finops-toolkit does (they are
   Azure's own, not FOCUS-defined properties). #}
{% macro azure_sku_price_details(text) -%}
    case
        when json_valid({{ text }}) and json_type(json({{ text }})) = 'OBJECT' then nullif(to_json(map_from_entries(
            list_transform(json_keys(json({{ text }})), lambda key: {'key': 'x_' || key, 'value': json({{ text }}) -> key})
        )), '{}')
    end
{%- endmacro %}

{% macro _azure_object_or_null(text) -%}
    case when json_type(json({{ text }})) = 'OBJECT' then nullif(json({{ text }})::varchar, '{}') end
{%- endmacro %}
