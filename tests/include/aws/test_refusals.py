"""A delivery is checked before it can count as loaded, and every refusal is a failed ledger row.

Each case starts from two loaded months of the generator's output, restates February, breaks the
restatement the way a real delivery can be broken, and runs it the way `find_deliveries` and
`load_billing_month` do: refused (at discovery or in the loader) naming export, month, file and
column, January and the loaded February untouched, the attempt in the ledger as `failed`. Some
cases are deliveries the checks must let through: types named otherwise, a column null throughout.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from include.aws.provider import AWS
from include.orchestration.deliveries import plan_deliveries
from include.orchestration.loading import record_refusals
from include.warehouse.ledger import ensure_ledger
from include.warehouse.loader import LoadRefused
from tests.aws_layouts import period_manifest, to_athena
from tests.conftest import FEB, JAN, S3_URI
from tests.helpers import assert_same_money, ledger, load, loaded_ledger, local_export, month_rows_and_cost


def _loaded_jan_and_feb(write_sample, warehouse, name: str, fmt: str, layout=None):
    """January and February loaded; returns the export and what a refusal must leave unchanged."""
    for month in (JAN, FEB):
        write_sample(name, fmt, month)
        if layout:
            layout(write_sample.root, name, month)
    export = local_export(name, fmt, write_sample.root, S3_URI)
    for delivery in plan_deliveries(AWS, export, warehouse, []).to_load:
        load(warehouse, delivery)
    return export, _state(warehouse, name)


def _state(warehouse, name: str):
    months = [month_rows_and_cost(warehouse, f"{name}_{m:%Y_%m}") for m in (JAN, FEB)]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        view = con.execute(f"SELECT count(*) FROM aws_cur.{name}").fetchall()
    return months, view, loaded_ledger(warehouse)


def _run_restatement(warehouse, export) -> str:
    """What a run does with the restated month: discovery's refusal, or the loader's; returns the error."""
    plan = plan_deliveries(AWS, export, warehouse, [])
    if plan.refused:
        assert plan.to_load == []
        record_refusals(warehouse, AWS, plan.refused)
        [refusal] = plan.refused
        return str(refusal)
    [restated] = plan.to_load
    with pytest.raises(LoadRefused) as refused:  # bad input: fails at once, no retry
        load(warehouse, restated)
    return str(refused.value)


def _failed_rows(warehouse) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "SELECT export, billing_period, version, delivery_uri, files, error FROM finops_meta.load_ledger "
            "WHERE status = 'failed' ORDER BY loaded_at"
        ).fetchall()


def _data_file(root: Path, name: str) -> Path:
    return root / name


def _rewrite_csv(path: Path, edit) -> None:
    records = list(csv.reader(io.StringIO(gzip.decompress(path.read_bytes()).decode())))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(edit(records))
    path.write_bytes(gzip.compress(out.getvalue().encode()))


def _manifest_of(root: Path, name: str, fmt: str) -> Path:
    if fmt == "cur1":
        return period_manifest(root, name, FEB)
    return root / name / "metadata" / "BILLING_PERIOD=2025-02" / f"{name}-Manifest.json"


def _uri(path: Path) -> str:
    """As discovery names a local file: `file://` and the path as it is (no %-escapes, unlike as_uri)."""
    return f"file://{path}"


@pytest.mark.parametrize(("fmt", "files_key"), [("cur1", "reportKeys"), ("cur2", "dataFiles")])
def test_a_manifest_listing_a_file_twice_is_refused_at_discovery_and_recorded(write_sample, warehouse, fmt, files_key):
    export, before = _loaded_jan_and_feb(write_sample, warehouse, "cur", fmt)
    restated = write_sample("cur", fmt, FEB, revision=2)
    manifest = _manifest_of(write_sample.root, "cur", fmt)
    body = json.loads(manifest.read_text())
    body[files_key].append(body[files_key][0])
    manifest.write_text(json.dumps(body))

    error = _run_restatement(warehouse, export)

    duplicated = f"{S3_URI}/{restated.files[0]}"
    assert error.startswith("export cur 2025-02 refused: ")
    assert f"{_uri(manifest)}: manifest lists the data file {duplicated} 2 times" in error
    assert _state(warehouse, "cur") == before
    [(name, period, version, where, files, recorded)] = _failed_rows(warehouse)
    assert (name, period, version, where, recorded) == ("cur", FEB, restated.version, _uri(manifest), error)
    assert files == [f"{S3_URI}/{f}" for f in restated.files] + [duplicated]  # as listed, twice


@pytest.mark.parametrize("fmt", ["cur1", "cur2"])
def test_files_holding_no_row_are_refused_instead_of_emptying_the_month(write_sample, warehouse, fmt):
    export, before = _loaded_jan_and_feb(write_sample, warehouse, "cur", fmt)
    restated = write_sample("cur", fmt, FEB, revision=2)
    for name in restated.files:  # every chunk keeps its header (CSV) or schema (Parquet), no row
        path = _data_file(write_sample.root, name)
        if fmt == "cur1":
            _rewrite_csv(path, lambda records: records[:1])
        else:
            pq.write_table(pq.read_table(path).slice(0, 0), path)

    error = _run_restatement(warehouse, export)

    assert error.startswith(f"cur 2025-02 ({_uri(_manifest_of(write_sample.root, 'cur', fmt))})")
    assert "delivery holds no rows: refusing to empty 2025-02" in error
    assert f"{len(restated.files)} listed file(s) {S3_URI}/{restated.files[0]}" in error
    assert _state(warehouse, "cur") == before
    assert [row[:3] + row[5:] for row in _failed_rows(warehouse)] == [("cur", FEB, restated.version, error)]


@pytest.mark.parametrize(("fmt", "files_key"), [("cur1", "reportKeys"), ("cur2", "dataFiles")])
def test_a_manifest_listing_no_file_restates_the_month_to_nothing(write_sample, warehouse, fmt, files_key):
    export, (months, view_rows, _) = _loaded_jan_and_feb(write_sample, warehouse, "cur", fmt)
    restated = write_sample("cur", fmt, FEB, revision=2)
    manifest = _manifest_of(write_sample.root, "cur", fmt)
    body = json.loads(manifest.read_text())
    body[files_key] = []
    manifest.write_text(json.dumps(body))

    [delivery] = plan_deliveries(AWS, export, warehouse, []).to_load
    result = load(warehouse, delivery)

    assert (result.rows, result.billed_cost) == (0, 0)
    assert month_rows_and_cost(warehouse, "cur_2025_01") == months[0]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        [(feb_rows, feb_cost)] = con.execute(
            "SELECT count(*), sum(line_item_unblended_cost) FROM aws_cur.cur_2025_02"
        ).fetchall()
        [(in_view,)] = con.execute("SELECT count(*) FROM aws_cur.cur").fetchall()
    assert (feb_rows, feb_cost) == (0, None)
    assert in_view == view_rows[0][0] - months[1][0]  # the view holds January only
    assert loaded_ledger(warehouse)[-1] == ("cur", "2025-02", restated.version, 0, 0)


def test_a_cost_column_written_as_text_is_refused_naming_file_column_and_types(write_sample, warehouse):
    export, before = _loaded_jan_and_feb(write_sample, warehouse, "cur2", "cur2")
    restated = write_sample("cur2", "cur2", FEB, revision=2)
    assert len(restated.files) > 1
    broken = _data_file(write_sample.root, restated.files[1])  # the first file is fine: name the right one
    table = pq.read_table(broken)
    column = table.schema.get_field_index("line_item_unblended_cost")
    pq.write_table(table.set_column(column, "line_item_unblended_cost", pc.cast(table[column], pa.string())), broken)

    error = _run_restatement(warehouse, export)

    manifest = _manifest_of(write_sample.root, "cur2", "cur2")
    assert error == (
        f"cur2 2025-02 ({_uri(manifest)}): {S3_URI}/{restated.files[1]}: column line_item_unblended_cost is "
        "VARCHAR, expected a number (the manifest declares double); refusing the month"
    )
    assert _state(warehouse, "cur2") == before
    assert [row[:3] + row[5:] for row in _failed_rows(warehouse)] == [("cur2", FEB, restated.version, error)]


def test_a_column_unlike_the_export_s_earlier_months_is_refused_without_a_manifest(write_sample, warehouse):
    """Athena-integrated CUR without a manifest declares no types: the earlier months say what a column is."""

    def athena(root, name, month):
        to_athena(root, name, month, manifest=None)

    export, before = _loaded_jan_and_feb(write_sample, warehouse, "cur", "cur1", layout=athena)
    write_sample("cur", "cur1", FEB, revision=2)
    [broken, *_] = to_athena(write_sample.root, "cur", FEB, manifest=None)
    table = pq.read_table(broken)
    column = table.schema.get_field_index("line_item_usage_amount")
    earlier_type = str(table[column].type)
    pq.write_table(table.set_column(column, "line_item_usage_amount", pc.cast(table[column], pa.string())), broken)

    error = _run_restatement(warehouse, export)

    listed = f"{S3_URI}/cur/cur/year=2025/month=2/{broken.name}"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        [(view_type,)] = con.execute(
            "SELECT data_type FROM duckdb_columns() WHERE table_name = 'cur' AND column_name = 'line_item_usage_amount'"
        ).fetchall()
    assert earlier_type == "double" and view_type == "DOUBLE"
    assert error.startswith("cur 2025-02 (") and f"): {listed}: column line_item_usage_amount is VARCHAR" in error
    assert "expected a number (the export's earlier months have DOUBLE)" in error
    assert _state(warehouse, "cur") == before
    assert [row[:2] + row[5:] for row in _failed_rows(warehouse)] == [("cur", FEB, error)]


def _column_types(warehouse, table: str) -> dict[str, str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(
            con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'aws_cur' AND table_name = ?",
                [table],
            ).fetchall()
        )


def test_a_legacy_manifest_naming_number_and_time_types_otherwise_loads_them_as_such(write_sample, warehouse):
    """AWS's legacy manifests say BigDecimal and DateTime; Double, Date or Timestamp are cast as those, not text."""
    export, ([(jan_rows, _), _], _, _) = _loaded_jan_and_feb(write_sample, warehouse, "cur", "cur1")
    restated = write_sample("cur", "cur1", FEB, revision=2)
    retyped = {
        "lineItem/UnblendedCost": "Double",
        "lineItem/UsageAmount": "OptionalDouble",
        "lineItem/UsageStartDate": "Timestamp",
        "bill/BillingPeriodStartDate": "Date",
    }
    manifest = _manifest_of(write_sample.root, "cur", "cur1")
    body = json.loads(manifest.read_text())
    for column in body["columns"]:
        column["type"] = retyped.get(f"{column['category']}/{column['name']}", column.get("type"))
    manifest.write_text(json.dumps(body))
    usage = Decimal(0)
    for name in restated.files:
        text = gzip.decompress(_data_file(write_sample.root, name).read_bytes()).decode()
        records = list(csv.reader(io.StringIO(text)))
        at = records[0].index("lineItem/UsageAmount")
        usage += sum((Decimal(record[at]) for record in records[1:] if record[at]), Decimal(0))

    [delivery] = plan_deliveries(AWS, export, warehouse, []).to_load
    result = load(warehouse, delivery)

    assert (result.rows, result.billed_cost) == (restated.rows, restated.billed)  # exact: cast to DECIMAL
    types = _column_types(warehouse, "cur_2025_02")
    assert [types[c] for c in ("line_item_unblended_cost", "line_item_usage_amount")] == ["DECIMAL(38,18)"] * 2
    assert [types[c] for c in ("line_item_usage_start_date", "bill_billing_period_start_date")] == ["TIMESTAMP"] * 2
    with duckdb.connect(str(warehouse), read_only=True) as con:
        [(feb_usage, period_starts)] = con.execute(
            "SELECT sum(line_item_usage_amount), list(DISTINCT bill_billing_period_start_date) FROM aws_cur.cur_2025_02"
        ).fetchall()
        [(in_view,)] = con.execute("SELECT count(*) FROM aws_cur.cur").fetchall()
    assert feb_usage == usage and [start.date() for start in period_starts] == [FEB]
    assert in_view == jan_rows + restated.rows
    assert loaded_ledger(warehouse)[-1] == ("cur", "2025-02", restated.version, restated.rows, restated.billed)


def _athena_without_manifest(root, name, month):
    to_athena(root, name, month, manifest=None)


@pytest.mark.parametrize(
    ("fmt", "layout"), [("cur2", None), ("cur1", _athena_without_manifest)], ids=["cur2", "athena"]
)
def test_a_column_null_throughout_a_month_fits_the_type_it_had(write_sample, warehouse, fmt, layout):
    """Parquet written with the null type for a column holding no value (as pyarrow writes an all-null
    column): the manifest's `double` (CUR 2.0) or the earlier months' DOUBLE (Athena) is not contradicted."""
    export, ([(jan_rows, _), _], _, _) = _loaded_jan_and_feb(write_sample, warehouse, "cur", fmt, layout=layout)
    restated = write_sample("cur", fmt, FEB, revision=2)
    if layout:
        files = to_athena(write_sample.root, "cur", FEB, manifest=None)
    else:
        files = [_data_file(write_sample.root, name) for name in restated.files]
    rows, cost = 0, 0.0
    for path in files:
        table = pq.read_table(path)
        column = table.schema.get_field_index("reservation_effective_cost")
        assert table.schema.field(column).type == pa.float64()
        pq.write_table(table.set_column(column, "reservation_effective_cost", pa.nulls(len(table))), path)
        rows, cost = rows + len(table), cost + pc.sum(table["line_item_unblended_cost"]).as_py()

    [delivery] = plan_deliveries(AWS, export, warehouse, []).to_load
    result = load(warehouse, delivery)

    assert result.rows == rows
    assert_same_money(result.billed_cost, cost)
    assert _column_types(warehouse, "cur_2025_02")["reservation_effective_cost"] == '"NULL"'
    assert _column_types(warehouse, "cur")["reservation_effective_cost"] == "DOUBLE"  # the view keeps January's
    with duckdb.connect(str(warehouse), read_only=True) as con:
        [(in_view, feb_values)] = con.execute(
            "SELECT count(*), count(reservation_effective_cost) FILTER (WHERE _billing_period = ?) FROM aws_cur.cur",
            [FEB],
        ).fetchall()
    assert (in_view, feb_values) == (jan_rows + rows, 0)
    assert _failed_rows(warehouse) == []


def test_na_in_a_csv_cost_cell_names_the_file_without_duckdb_s_sniffing_advice(write_sample, warehouse):
    export, before = _loaded_jan_and_feb(write_sample, warehouse, "cur", "cur1")
    restated = write_sample("cur", "cur1", FEB, revision=2)

    def cost_not_available(records):
        records[3][records[0].index("lineItem/UnblendedCost")] = "N/A"
        return records

    _rewrite_csv(_data_file(write_sample.root, restated.files[1]), cost_not_available)

    error = _run_restatement(warehouse, export)

    assert error.startswith(f"cur 2025-02 ({_uri(period_manifest(write_sample.root, 'cur', FEB))}): ")
    assert f"{S3_URI}/{restated.files[1]}: Conversion Error: CSV Error on Line: 4" in error
    assert 'converting column "lineItem/UnblendedCost". Could not convert string "N/A"' in error
    for misleading in ("auto-detected", "Possible solutions", "sample_size", "Original Line", "file = "):
        assert misleading not in error
    assert _state(warehouse, "cur") == before
    assert [row[:3] + row[5:] for row in _failed_rows(warehouse)] == [("cur", FEB, restated.version, error)]


def _invalid_json(root, manifest):
    manifest.write_text('{"assemblyId": "x", "reportKeys": [')


def _zip_files(root, manifest):
    """Listed and delivered as ZIP, which legacy CUR offers and no reader takes."""
    body = json.loads(manifest.read_text())
    for key in body["reportKeys"]:
        chunk = root / key.removeprefix("exports/")
        chunk.rename(chunk.with_name(chunk.name.replace(".csv.gz", ".csv.zip")))
    body["reportKeys"] = [key.replace(".csv.gz", ".csv.zip") for key in body["reportKeys"]]
    manifest.write_text(json.dumps(body))


def _outside_the_period(root, manifest):
    body = json.loads(manifest.read_text())
    body["reportKeys"][0] = "exports/cur/20250301-20250401/x/cur-00001.csv.gz"
    manifest.write_text(json.dumps(body))


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (_invalid_json, "cur-Manifest.json: invalid manifest JSON"),
        (_outside_the_period, "cur-00001.csv.gz is outside the export's billing-period folders for 2025-02"),
        (_zip_files, "unsupported data files for format cur1"),
    ],
    ids=["invalid-json", "file-outside-the-period", "unsupported-files"],
)
def test_a_refusal_before_the_load_is_a_failed_ledger_row(write_sample, warehouse, break_it, message):
    export, before = _loaded_jan_and_feb(write_sample, warehouse, "cur", "cur1")
    write_sample("cur", "cur1", FEB, revision=2)
    manifest = period_manifest(write_sample.root, "cur", FEB)
    break_it(write_sample.root, manifest)

    error = _run_restatement(warehouse, export)

    assert "cur 2025-02" in error and message in error
    assert _state(warehouse, "cur") == before
    [(name, period, version, where, _, recorded)] = _failed_rows(warehouse)
    assert (name, period, where, recorded) == ("cur", FEB, _uri(manifest), error)
    assert version  # the assemblyId, or the manifest's key@modification time when it cannot be read


def test_an_export_folder_refused_as_a_whole_is_recorded_without_a_billing_period(write_sample, warehouse):
    """A ledger written before refusals were recorded requires a billing period: the next write lifts that."""
    with duckdb.connect(str(warehouse)) as con:
        ensure_ledger(con)
        con.execute("ALTER TABLE finops_meta.load_ledger ALTER COLUMN billing_period SET NOT NULL").fetchall()
        con.execute("ALTER TABLE finops_meta.load_ledger ALTER COLUMN version SET NOT NULL").fetchall()
    write_sample("legacy", "cur2", JAN)  # Data Exports folders, configured as legacy CUR
    export = local_export("legacy", "cur1", write_sample.root, S3_URI)

    plan = plan_deliveries(AWS, export, warehouse, [])
    record_refusals(warehouse, AWS, plan.refused)

    [refusal] = plan.refused
    assert plan.to_load == [] and refusal.billing_period is None
    assert str(refusal).startswith("export legacy (the export's folder) refused: ")
    assert "holds [data, metadata] but no legacy CUR layout" in str(refusal)
    [(name, period, version, where, files, recorded)] = _failed_rows(warehouse)
    assert (name, period, version, files, recorded) == ("legacy", None, None, [], str(refusal))
    assert where == _uri(write_sample.root / "legacy")
    assert ledger(warehouse)[0][1] is None  # the helper's strftime copes, as the serving ledger's does
