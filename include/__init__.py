"""Open FinOps Stack library code: importable and testable without a scheduler."""
