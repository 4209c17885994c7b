{#
  AWS pricing units in FOCUS Unit Format: "Hrs" as "Hour" (the spec's examples), `-Mo`/`-Month` as
  `-Months`, `-Hrs` as `-Hours`, `-Second` as `-Seconds` ("GB-Mo" → "GB-Months",
  "ReadCapacityUnit-Hrs" → "ReadCapacityUnit-Hours"); a qualifier before `<unit>-<time>` is dropped,
  as the format has no room for it ("Lambda-GB-Second" → "GB-Seconds"). Other units (Requests, GB,
  Metrics, ...) already conform and pass through.
#}
{% macro focus_unit(unit) -%}
    case
        when lower({{ unit }}) in ('hrs', 'hr', 'hours', 'hour') then 'Hour'
        else regexp_replace(
            regexp_replace(regexp_replace(regexp_replace(
                {{ unit }},
                '-(Hrs|Hr|hours|Hour)$', '-Hours'),
                '-(Mo|Month|month)$', '-Months'),
                '-(Second|second|Sec|seconds)$', '-Seconds'),
            '^.+-([^-]+-(Hours|Months|Seconds))$', '\1'
        )
    end
{%- endmacro %}
