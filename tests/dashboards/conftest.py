"""A serving layer published from generated billing data, as `make demo` publishes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.focus.validator import load_allowlist, validate_mart, verdict_record
from include.serving.publish import publish, publish_validation

MONTHS = ["2025-01", "2025-02", "2025-03"]


@pytest.fixture(scope="session")
def served(focus_warehouse, tmp_path_factory) -> Path:
    """The FOCUS mart of `focus_warehouse` published, with a real focus-validator verdict."""
    root = tmp_path_factory.mktemp("serving")
    publish(focus_warehouse.path, root, MONTHS)
    report = validate_mart(focus_warehouse.path, tmp_path_factory.mktemp("validation"))
    publish_validation(root, verdict_record(report, load_allowlist(), MONTHS))
    return root
