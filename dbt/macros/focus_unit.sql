{#
  AWS pricing units in FOCUS Unit Format: "Hrs" as "Hour" (the spec's examples), `-Mo`/`-Month` as
  `-Months`, `-Hrs` as `-Hours` ("GB-Mo" → "GB-Months", "ReadCapacityUnit-Hrs" → "ReadCapacityUnit-Hours").
  Other units (Requests, GB, Metrics, ...) already conform and pass through.
#}
{% macro focus_unit(unit) -%}
    case
        when lower({{ unit }}) in ('hrs', 'hr', 'hours', 'hour') then 'Hour'
        else regexp_replace(regexp_replace({{ unit }}, '-(Hrs|Hr|hours|Hour)$', '-Hours'), '-(Mo|Month|month)$', '-Months')
    end
{%- endmacro %}
