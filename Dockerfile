# Astro Runtime 3.3 (Airflow 3.3.x, Python 3.12). Astro's ONBUILD steps copy the project and install
# packages.txt and requirements.txt; dbt-core and dbt-duckdb land in the runtime's environment.
FROM astrocrpublic.azurecr.io/runtime:3.3-1

# No usage telemetry from Cosmos (its default is on).
ENV AIRFLOW__COSMOS__ENABLE_TELEMETRY=False

# Cosmos renders the dbt task group from this manifest, so parsing the DAG never runs dbt.
RUN cd dbt && dbt parse --profiles-dir . --quiet
