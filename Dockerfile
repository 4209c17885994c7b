# Astro Runtime 3.3 (Airflow 3.3.x, Python 3.12). Astro's ONBUILD steps copy the project and install
# packages.txt and requirements.txt; dbt-core and dbt-duckdb land in the runtime's environment.
FROM astrocrpublic.azurecr.io/runtime:3.3-1

# No usage telemetry from Cosmos (its default is on).
ENV AIRFLOW__COSMOS__ENABLE_TELEMETRY=False

# Cosmos renders the dbt task group from this manifest, so parsing the DAG never runs dbt.
RUN cd dbt && dbt parse --profiles-dir . --quiet

# focus-validator pins duckdb<2 and numpy<2, so it gets a venv of its own; the validate_focus task
# finds it here (without it the task records "not run" and the data is published unvalidated).
RUN python -m venv .venv-focus \
    && .venv-focus/bin/pip install --no-cache-dir --quiet focus-validator==2.2.1 'pyarrow<20'
