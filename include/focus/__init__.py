"""FOCUS conformance: checking our FOCUS output with the FinOps Foundation's focus-validator."""
