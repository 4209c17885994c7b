# Astro Runtime 3.3 (Airflow 3.3.x, Python 3.12). Astro's ONBUILD steps install packages.txt and
# requirements.txt; dbt-core and dbt-duckdb land in the runtime's environment, so Cosmos finds
# the `dbt` executable on PATH without a separate virtualenv.
FROM astrocrpublic.azurecr.io/runtime:3.3-1

ENV FINOPS_DBT_PROJECT_DIR=/usr/local/airflow/dbt
