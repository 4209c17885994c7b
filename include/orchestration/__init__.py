"""What every provider shares around its package: the billing DAG builder, Variables, planning and loading
deliveries, sensors, the billing-month timetable, assets, the dbt task group, validation and publishing."""
