"""The README's fault suite names tests that exist, so the table cannot drift from the suite."""

import re
from pathlib import Path

from tests.conftest import PROJECT_ROOT

FAULT_SUITE_HEADING = "## Bad deliveries: the fault suite"


def _fault_table_rows() -> list[str]:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(FAULT_SUITE_HEADING, 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| case ")]


def test_every_test_the_fault_table_names_exists():
    rows = _fault_table_rows()
    named = [ref for row in rows for ref in re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)", row)]
    assert len(named) >= len(rows) / 2  # most rows name a test in full; the rest continue the row above (`…[id]`)
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not (PROJECT_ROOT / path).is_file()
        or not re.search(rf"^def {name}\(", Path(PROJECT_ROOT / path).read_text(), re.M)
    ]
    assert missing == []


def test_every_row_names_a_test():
    unnamed = [row for row in _fault_table_rows() if "test_" not in row and "`…[" not in row]
    assert unnamed == []
