"""The Airflow-facing half: Variables, object-storage paths, sensors and the billing timetable."""
