"""Reading legacy CUR CSV: records that drop their trailing empty fields, as Red Hat's `nise` writes them."""

from __future__ import annotations

import gzip
from decimal import Decimal

import pytest

from include.aws.sample_data import write_legacy_rows
from include.warehouse.loader import LoadRefused
from tests.conftest import JAN, S3_URI
from tests.helpers import deliveries, load, local_export, month_rows_and_cost

ROWS = [
    {
        "identity/LineItemId": f"line-{n}",
        "bill/PayerAccountId": "0011112222333",
        "lineItem/LineItemType": "Usage",
        "lineItem/UnblendedCost": f"0.{n}00000000000000001",
        "lineItem/CurrencyCode": "USD",
        "product/regionCode": "eu-west-1",
    }
    for n in range(1, 6)
]


def _delivery_with_short_records(root, keep_full: list[int | None]):
    """A legacy CUR delivery of ROWS in len(keep_full) files; in file n the records after the first
    keep_full[n] end at their last non-empty field (None: the file keeps every record full)."""
    listed = write_legacy_rows(
        root, "cur", JAN, ROWS, s3_uri=S3_URI, version="v1", chunk_rows=-(-len(ROWS) // len(keep_full))
    )
    assert len(listed) == len(keep_full)
    for name, full in zip(listed, keep_full, strict=True):
        if full is None:
            continue
        data = root / name
        header, *records = gzip.decompress(data.read_bytes()).decode().splitlines()
        shortened = [record if n < full else record.rstrip(",") for n, record in enumerate(records)]
        assert all(len(r) < len(f) for r, f in zip(shortened[full:], records[full:], strict=True))
        data.write_bytes(gzip.compress("\n".join([header, *shortened, ""]).encode()))
    [delivery] = deliveries(local_export("cur", "cur1", root, S3_URI))
    return delivery


def test_records_without_their_trailing_empty_fields_load_as_nulls(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    result = load(warehouse, _delivery_with_short_records(tmp_path / "mirror", keep_full=[0, None]))
    assert result.rows == len(ROWS)
    assert month_rows_and_cost(warehouse, "cur_2025_01") == (
        len(ROWS),
        sum(Decimal(row["lineItem/UnblendedCost"]) for row in ROWS),
    )


def test_a_short_record_after_full_ones_is_refused_naming_the_file(tmp_path):
    delivery = _delivery_with_short_records(tmp_path / "mirror", keep_full=[2])
    with pytest.raises(LoadRefused, match=rf"{delivery.data_files[0].listed_uri}: .*CSV Error"):
        load(tmp_path / "warehouse.duckdb", delivery)


def test_padding_is_decided_per_file_a_short_file_does_not_excuse_another(tmp_path):
    """File 1 drops trailing fields from its first record on; file 2 starts full, then drops them."""
    delivery = _delivery_with_short_records(tmp_path / "mirror", keep_full=[0, 1])
    first, second = (f.listed_uri for f in delivery.data_files)
    with pytest.raises(LoadRefused, match=rf"{second}: .*CSV Error") as refused:
        load(tmp_path / "warehouse.duckdb", delivery)
    assert first not in str(refused.value)
