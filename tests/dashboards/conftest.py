"""A serving layer published from generated billing data, as `make demo` publishes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.focus.validator import load_allowlist, validate_mart, verdict_record
from include.serving.publish import publish, publish_validation

MONTHS = ["2025-01", "2025-02", "2025-03"]


@pytest.fixture(scope="session")
def served(focus_warehouse, tmp_path_factory) -> Path:
    """The FOCUS mart of `focus_warehouse` validated by the real focus-validator, then published."""
    root = tmp_path_factory.mktemp("serving")
    report = validate_mart(focus_warehouse.path, tmp_path_factory.mktemp("validation"))
    verdict = verdict_record(report, load_allowlist(), MONTHS)
    publish_validation(root, verdict)
    result = publish(focus_warehouse.path, root, MONTHS)
    assert not result.held_back, f"{verdict['verdict']}\n{verdict['failing_rules']}"
    return root
