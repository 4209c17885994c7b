"""The allowlisted InvoiceId rules fail exactly where their encoding defect says, on files made by hand.

focus-validator 2.2.1 encodes InvoiceId-C-004-C and InvoiceId-C-005-C without their conditions: C-004
becomes "InvoiceId always null", C-005 "never null". AWS leaves `bill/InvoiceId` empty until the
invoice is issued, so an open month fails C-005 and a closed (invoiced) month fails C-004. The same
proof through the DAG, on the generator's data: tests/dags/test_open_month.py.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from include.focus.validator import load_allowlist, run_validator, unexpected_failures, validator_python
from tests.include.focus.focus_files import write_focus_file

INVOICED, OPEN, BOTH = "invoiced", "open", "both"
INVOICE_IDS = {INVOICED: ["INV-202611-001"] * 3, OPEN: [None] * 3, BOTH: ["INV-202611-001", None, None]}


@pytest.fixture(scope="module")
def invoice_id_failures(tmp_path_factory) -> dict[str, tuple[set[str], set[str]]]:
    """Per file: (InvoiceId rules that failed, those of them the allowlist does not explain)."""
    if not validator_python().exists():
        pytest.skip(f"{validator_python()} is absent: run `make focus-validator`")
    folder = tmp_path_factory.mktemp("invoice-id")
    allowlist = load_allowlist()
    found = {}
    for name, invoice_ids in INVOICE_IDS.items():
        data = write_focus_file(folder / f"{name}.parquet")
        pq.write_table(pq.read_table(data).append_column("InvoiceId", pa.array(invoice_ids, pa.string())), data)
        report = run_validator(data, folder / f"{name}-report")
        unexpected = unexpected_failures(report, allowlist)
        found[name] = tuple(
            {rule for rule in rules if rule.startswith("InvoiceId-")} for rules in (report.failures, unexpected)
        )
    return found


def test_invoiced_rows_fail_only_c004_and_rows_not_invoiced_yet_only_c005(invoice_id_failures):
    assert invoice_id_failures[INVOICED][0] == {"InvoiceId-C-004-C"}
    assert invoice_id_failures[OPEN][0] == {"InvoiceId-C-005-C"}


def test_no_file_passes_both_not_even_their_or_composite(invoice_id_failures):
    assert {"InvoiceId-C-003-C", "InvoiceId-C-004-C", "InvoiceId-C-005-C"} <= invoice_id_failures[BOTH][0]


def test_the_allowlist_explains_every_invoice_id_failure(invoice_id_failures):
    assert {name: unexpected for name, (_, unexpected) in invoice_id_failures.items()} == dict.fromkeys(
        INVOICE_IDS, set()
    )
