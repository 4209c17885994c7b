"""Reading Azure export runs into month tables: the real EA samples (a BOM, `MM/DD/YYYY` dates, the older
`Cost` column) as CSV, CSV.gz and Parquet, in one part or several, on a file:// mirror and on Blob storage
(Azurite); and the refusals that name export, month and file (truncated gzip, headers that differ, a
missing part, a row count the manifest disagrees with), leaving earlier months intact."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from upath import UPath

from include.azure.provider import AZURE
from include.orchestration.loading import load_delivery
from include.warehouse.loader import LoadRefused
from tests.azurite import running_azurite, set_connection, upload_tree
from tests.conftest import SHARED
from tests.include.azure.runs import ROOT_FOLDER, csv_text, mirror_export, run_id, write_run

SAMPLES = SHARED / "samples" / "azure"
ACTUAL, AMORTIZED = SAMPLES / "EA_ActualCost_Small.csv", SAMPLES / "EA_AmortizedCost_Small.csv"
SEP = date(2023, 9, 1)  # the samples' billing month
OCT = date(2023, 10, 1)
COST = "Cost"  # the older EA column set's cost in billing currency
# Decimals the warehouse keeps of a cost (DECIMAL(38, 18)); the amortized sample has costs with up to 28.
WAREHOUSE_PLACES = 18
PARQUET_COST = pa.decimal128(38, 28)  # holds every sample's cost exactly


def _sample(path: Path) -> tuple[list[str], list[list[str]]]:
    """A sample's header (BOM stripped) and records, as Python's csv module reads them."""
    with path.open(encoding="utf-8-sig", newline="") as stream:
        header, *records = csv.reader(stream)
    return header, records


def _total(path: Path, places: int | None = WAREHOUSE_PLACES) -> tuple[int, Decimal]:
    """Rows and Σ cost of a sample, from the file itself: each cost as the warehouse keeps it (`places`
    decimals, rounded half away from zero as DuckDB casts), or exact (None)."""
    header, records = _sample(path)
    at = header.index(COST)
    costs = [Decimal(record[at]) for record in records if record[at]]
    if places is not None:
        costs = [cost.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP) for cost in costs]
    return len(records), sum(costs, Decimal(0))


def _parts(path: Path, kind: str, count: int = 1) -> dict[str, bytes]:
    """The sample's records in `count` parts of `kind`: csv (the file's own bytes when whole), csv.gz or parquet."""
    header, records = _sample(path)
    size = -(-len(records) // count)
    chunks = [records[n : n + size] for n in range(0, len(records), size)]
    names = [f"part_0_{n + 1:04d}" for n in range(len(chunks))]
    if kind == "csv":
        if count == 1:
            return {"part_0_0001.csv": path.read_bytes()}  # byte for byte, BOM and all
        return {f"{name}.csv": csv_text(header, chunk).encode() for name, chunk in zip(names, chunks, strict=True)}
    if kind == "csv.gz":
        return {
            f"{name}.csv.gz": gzip.compress(csv_text(header, chunk).encode())
            for name, chunk in zip(names, chunks, strict=True)
        }
    return {f"{name}.snappy.parquet": _parquet(header, chunk) for name, chunk in zip(names, chunks, strict=True)}


def _parquet(header: list[str], records: list[list[str]]) -> bytes:
    """Text columns, the cost an exact decimal: as a Parquet export carries its own types."""
    columns = {}
    for at, name in enumerate(header):
        values = [record[at] or None for record in records]
        if name == COST:
            columns[name] = pa.array([Decimal(v) if v else None for v in values], PARQUET_COST)
        else:
            columns[name] = pa.array(values, pa.string())
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out, compression="snappy")
    return out.getvalue()


def _rows_per_part(parts: dict[str, bytes]) -> dict[str, int]:
    counts = {}
    for name, data in parts.items():
        if name.endswith(".parquet"):
            counts[name] = pq.read_metadata(io.BytesIO(data)).num_rows
        else:
            text = gzip.decompress(data) if name.endswith(".gz") else data
            counts[name] = sum(1 for _ in csv.reader(io.StringIO(text.decode("utf-8-sig")))) - 1
    return counts


def _deliver(container: Path, export: str, fmt: str, month: date, parts: dict[str, bytes], run: int, **kwargs):
    return write_run(
        container,
        export,
        month,
        parts,
        run=run_id(export, month, run),
        submitted=f"{month:%Y-%m}-05T0{run}:00:00Z",
        fmt=fmt,
        rows=kwargs.pop("rows", None) or _rows_per_part(parts),
        **kwargs,
    )


def _delivery(container: Path, export: str, fmt: str, month: date):
    found = AZURE.discover(UPath(mirror_export(container, export, fmt).uri), mirror_export(container, export, fmt))
    assert not found.refused, [str(r) for r in found.refused]
    return next(d for d in found.deliveries if d.billing_period == month)


def _load(warehouse: Path, delivery):
    return load_delivery(warehouse, AZURE, delivery, UPath)


def _table(warehouse: Path, table: str) -> tuple[int, Decimal, dict[str, str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows, cost = con.execute(f'SELECT count(*), sum("{COST}") FROM azure_exports.{table}').fetchall()[0]
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'azure_exports' "
                "AND table_name = ?",
                [table],
            ).fetchall()
        )
    return rows, Decimal(str(cost)), types


@pytest.mark.parametrize(("kind", "count"), [("csv", 1), ("csv", 3), ("csv.gz", 2), ("parquet", 2)])
@pytest.mark.parametrize(("sample", "fmt"), [(ACTUAL, "actual"), (AMORTIZED, "amortized")], ids=["actual", "amortized"])
def test_the_real_samples_load_with_the_rows_and_cost_of_the_file(tmp_path, sample, fmt, kind, count):
    _deliver(tmp_path, fmt, fmt, SEP, _parts(sample, kind, count), run=1)
    result = _load(tmp_path / "warehouse.duckdb", _delivery(tmp_path, fmt, fmt, SEP))
    rows, cost = _total(sample)
    assert (result.rows, result.billed_cost) == (rows, cost)  # the ledger: Σ of the costs as the warehouse keeps them
    table_rows, table_cost, types = _table(tmp_path / "warehouse.duckdb", f"{fmt}_2023_09")
    header, _ = _sample(sample)
    assert list(types)[: len(header)] == header  # the delivered names, the BOM gone from the first
    if kind == "parquet":  # its own types: the cost exact to its 28 decimals
        assert (table_rows, table_cost) == _total(sample, places=None)
        assert types[COST] == "DECIMAL(38,28)" and types["Date"] == "VARCHAR"
    else:
        assert (table_rows, table_cost) == (rows, cost)  # CSV: text but for the cost the ledger sums
        assert {types[name] for name in header if name != COST} == {"VARCHAR"} and types[COST] == "DECIMAL(38,18)"


def test_the_ledger_sums_the_cost_per_billing_currency(tmp_path):
    _deliver(tmp_path, "actual", "actual", SEP, _parts(ACTUAL, "csv"), run=1)
    _load(tmp_path / "warehouse.duckdb", _delivery(tmp_path, "actual", "actual", SEP))
    header, records = _sample(ACTUAL)
    by_currency: dict[str, Decimal] = {}
    for record in records:
        currency = record[header.index("BillingCurrency")]
        cost = Decimal(record[header.index(COST)]).quantize(Decimal(1).scaleb(-WAREHOUSE_PLACES), ROUND_HALF_UP)
        by_currency[currency] = by_currency.get(currency, Decimal(0)) + cost
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        [(dataset, billed, rows)] = con.execute(
            "SELECT dataset, billed_cost, rows FROM finops_meta.load_ledger WHERE status = 'loaded'"
        ).fetchall()
        view_rows = con.execute("SELECT count(*) FROM sources_azure.azure_actual").fetchall()[0][0]
    assert (dataset, Decimal(str(billed)), rows, view_rows) == (
        "azure_actual",
        sum(by_currency.values()),
        len(records),
        len(records),
    )


def test_mca_camel_case_cost_and_currency_columns_are_found_without_regard_to_case(tmp_path):
    header = ["date", "costInBillingCurrency", "billingCurrency"]
    records = [["2023-10-01", "0.1", "EUR"], ["2023-10-02", "2.5E-03", "EUR"]]
    _deliver(tmp_path, "mca", "amortized", OCT, {"part_0_0001.csv": csv_text(header, records).encode()}, run=1)
    result = _load(tmp_path / "warehouse.duckdb", _delivery(tmp_path, "mca", "amortized", OCT))
    assert result.billed_cost == Decimal("0.1") + Decimal("2.5E-03")


# --- refusals: they name export, month and file, and leave the months loaded before as they were --------------


def _loaded_september_then(tmp_path: Path, october: dict[str, bytes], **kwargs):
    """September loaded; October delivered as `october`: returns its delivery and September's table before."""
    warehouse = tmp_path / "warehouse.duckdb"
    _deliver(tmp_path, "actual", "actual", SEP, _parts(ACTUAL, "csv"), run=1)
    _load(warehouse, _delivery(tmp_path, "actual", "actual", SEP))
    manifest = _deliver(tmp_path, "actual", "actual", OCT, october, run=1, **kwargs)
    return manifest, _delivery(tmp_path, "actual", "actual", OCT), _table(warehouse, "actual_2023_09")


def _assert_refused(tmp_path: Path, delivery, september_before, *fragments: str) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with pytest.raises(LoadRefused) as refused:
        _load(warehouse, delivery)
    message = str(refused.value)
    assert all(fragment.lower() in message.lower() for fragment in ("actual", "2023-10", *fragments)), message
    assert _table(warehouse, "actual_2023_09") == september_before
    with duckdb.connect(str(warehouse), read_only=True) as con:
        statuses = con.execute(
            "SELECT strftime(billing_period, '%Y-%m'), status FROM finops_meta.load_ledger ORDER BY loaded_at"
        ).fetchall()
    assert statuses == [("2023-09", "loaded"), ("2023-10", "failed")]


@pytest.mark.parametrize(
    ("repeat", "kept"),
    [(1, 0.5), (3000, 0.9)],  # a small part loses its header; a large one its end, which DuckDB reads last
    ids=["header-lost", "end-lost"],
)
def test_a_truncated_gzip_part_is_refused_by_name(tmp_path, repeat, kept):
    header, records = _sample(ACTUAL)
    whole = gzip.compress(csv_text(header, records * repeat).encode())
    parts = {"part_0_0001.csv": ACTUAL.read_bytes(), "part_0_0002.csv.gz": whole[: int(len(whole) * kept)]}
    rows = {"part_0_0001.csv": len(records), "part_0_0002.csv.gz": len(records) * repeat}
    _, delivery, before = _loaded_september_then(tmp_path, parts, rows=rows)
    _assert_refused(tmp_path, delivery, before, "part_0_0002.csv.gz", "gzip")


def test_parts_of_one_run_with_different_headers_are_refused_naming_both(tmp_path):
    parts = _parts(ACTUAL, "csv", 2)
    second = parts["part_0_0002.csv"].decode().replace("MeterRegion", "MeterRegionName", 1)
    parts["part_0_0002.csv"] = second.encode()
    _, delivery, before = _loaded_september_then(tmp_path, parts)
    _assert_refused(tmp_path, delivery, before, "part_0_0002.csv: columns differ from", "part_0_0001.csv")


def test_a_part_missing_at_load_time_is_refused_by_name(tmp_path):
    manifest, delivery, before = _loaded_september_then(tmp_path, _parts(ACTUAL, "csv", 2))
    (manifest.parent / "part_0_0001.csv").unlink()  # gone after discovery listed it
    _assert_refused(tmp_path, delivery, before, "part_0_0001.csv", "missing")


def test_rows_the_manifest_states_for_a_part_must_be_the_rows_read(tmp_path):
    parts = _parts(ACTUAL, "csv", 2)
    rows = _rows_per_part(parts)
    stated = {**rows, "part_0_0002.csv": rows["part_0_0002.csv"] + 1}
    _, delivery, before = _loaded_september_then(tmp_path, parts, rows=stated)
    _assert_refused(tmp_path, delivery, before, f"part_0_0002.csv holds {stated['part_0_0002.csv']} rows but")


def test_a_part_without_the_cost_column_is_refused(tmp_path):
    parts = {"part_0_0001.csv": _parts(ACTUAL, "csv")["part_0_0001.csv"].replace(b",Cost,", b",Amount,", 1)}
    _, delivery, before = _loaded_september_then(tmp_path, parts)
    _assert_refused(tmp_path, delivery, before, "part_0_0001.csv: no cost column")


# --- Blob storage (Azurite) -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    with running_azurite(tmp_path_factory.mktemp("azurite")) as server:
        yield server


def test_a_run_on_blob_storage_loads_through_the_export_connection(azurite, tmp_path, monkeypatch):
    set_connection(monkeypatch, azurite, "azurite_readers")
    container = azurite.container("readers")
    _deliver(tmp_path / "mirror", "actual", "actual", SEP, _parts(ACTUAL, "csv.gz", 2), run=1)
    upload_tree(container, tmp_path / "mirror", "")
    entry = {"name": "actual", "uri": f"abfs://readers/{ROOT_FOLDER}", "format": "actual", "conn_id": "azurite_readers"}
    [export] = AZURE.parse_exports(json.dumps([entry]))
    [delivery] = AZURE.discover(AZURE.open_path(export.uri, export.conn_id), export).deliveries
    result = load_delivery(tmp_path / "warehouse.duckdb", AZURE, delivery)  # the provider's paths: abfs://
    assert (result.rows, result.billed_cost) == _total(ACTUAL)
    container.delete_container()
