"""The DuckDB warehouse: month-partitioned raw tables, their views, and the load ledger."""
