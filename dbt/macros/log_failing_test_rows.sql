{#
  dbt reports a failing data test as a count ("Got 2 results"). Run at the end of every invocation
  (on-run-end), this logs the first rows behind each failing or warning test; the tests that check
  deliveries return the source partition (dataset/export/month), so the log names the delivery.
#}
{% macro log_failing_test_rows(results, shown=10) %}
    {%- if execute -%}
        {%- for result in results if result.node.resource_type == 'test' and result.status in ('fail', 'warn') -%}
            {%- set rows = run_query('select * from (\n' ~ result.node.compiled_code ~ '\n) limit ' ~ shown) -%}
            {%- do log(result.node.name ~ ' (' ~ result.status ~ ', ' ~ result.failures ~ ' rows); the first '
                       ~ rows | length ~ ':', info=True) -%}
            {%- for row in rows -%}
                {%- set fields = [] -%}
                {%- for name in rows.column_names -%}
                    {%- do fields.append(name ~ '=' ~ row[name]) -%}
                {%- endfor -%}
                {%- do log('  ' ~ fields | join(', '), info=True) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}
