"""Loads through the real loader into a real DuckDB file, checked against the generator's totals."""

import csv
import gzip
import io
import json
from pathlib import Path

import duckdb
import pytest

from include.sql import sql_identifier
from include.warehouse.loader import LoadRefused
from tests.conftest import FEB, JAN, S3_URI
from tests.helpers import (
    assert_same_money,
    deliveries,
    ledger,
    load,
    loaded_ledger,
    local_export,
    month_rows_and_cost,
    truncate_gzip,
)


@pytest.mark.parametrize("fmt", ["cur1", "cur2"])
def test_each_month_holds_exactly_the_generated_rows_and_cost(write_sample, warehouse, fmt):
    expected = {JAN: write_sample("cur", fmt, JAN), FEB: write_sample("cur", fmt, FEB)}
    for delivery in deliveries(local_export("cur", fmt, write_sample.root, S3_URI)):
        result = load(warehouse, delivery)
        totals = expected[delivery.billing_period]
        assert result.rows == totals.rows
        assert_same_money(result.billed_cost, totals.billed)
    for month, totals in expected.items():
        rows, cost = month_rows_and_cost(warehouse, f"cur_{month:%Y_%m}")
        assert rows == totals.rows
        assert_same_money(cost, totals.billed)
    assert [row[1:4] for row in loaded_ledger(warehouse)] == [
        ("2025-01", expected[JAN].version, expected[JAN].rows),
        ("2025-02", expected[FEB].version, expected[FEB].rows),
    ]


def test_folder_names_of_a_local_mirror_add_no_columns(write_sample, warehouse):
    """`BILLING_PERIOD=2025-01/` (CUR 2.0) or `year=2025/month=1/` (Athena CUR) are folders, not data."""
    write_sample("cur", "cur2", JAN)
    [delivery] = deliveries(local_export("cur", "cur2", write_sample.root, S3_URI))
    assert "BILLING_PERIOD=" in delivery.data_files[0].read_uri
    load(warehouse, delivery)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = {
            name for (name,) in con.execute("SELECT name FROM pragma_table_info('aws_cur.cur_2025_01')").fetchall()
        }
    assert not columns & {"BILLING_PERIOD", "billing_period", "year", "month"}


def test_legacy_csv_keeps_cost_exact_and_tag_keys_recoverable(write_sample, warehouse):
    totals = write_sample("cur", "cur1", FEB)
    [delivery] = deliveries(local_export("cur", "cur1", write_sample.root, S3_URI))
    load(warehouse, delivery)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cost_type, exact = con.execute(
            "SELECT any_value(typeof(line_item_unblended_cost)), sum(line_item_unblended_cost) FROM aws_cur.cur_2025_02"
        ).fetchall()[0]
        tags = dict(
            con.execute(
                "SELECT column_name, comment FROM duckdb_columns() "
                "WHERE table_name = 'cur_2025_02' AND column_name LIKE 'resource_tags_%'"
            ).fetchall()
        )
        per_row = con.execute("SELECT DISTINCT _billing_period, _manifest_version FROM aws_cur.cur_2025_02").fetchall()
    assert cost_type.startswith("DECIMAL") and exact == totals.billed  # exact, not approximately
    assert tags["resource_tags_user_cost_center"] == "resourceTags/user:CostCenter"
    assert tags["resource_tags_user_project"] == "resourceTags/user:Project"
    assert per_row == [(FEB, totals.version)]


def test_restated_month_replaces_only_that_month(write_sample, warehouse):
    write_sample("cur", "cur1", JAN)
    feb = write_sample("cur", "cur1", FEB)
    export = local_export("cur", "cur1", write_sample.root, S3_URI)
    for delivery in deliveries(export):
        load(warehouse, delivery)
    jan_before = month_rows_and_cost(warehouse, "cur_2025_01")

    restated = write_sample("cur", "cur1", FEB, revision=2, rows=650)
    [feb_delivery] = [d for d in deliveries(export) if d.billing_period == FEB]
    load(warehouse, feb_delivery)

    assert month_rows_and_cost(warehouse, "cur_2025_01") == jan_before
    assert month_rows_and_cost(warehouse, "cur_2025_02") == (restated.rows, restated.billed)
    statuses = [(row[1], row[2], row[5]) for row in ledger(warehouse) if row[1] == "2025-02"]
    assert statuses == [("2025-02", feb.version, "superseded"), ("2025-02", restated.version, "loaded")]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        view_rows = con.execute("SELECT count(*) FROM aws_cur.cur").fetchall()[0][0]
    assert view_rows == jan_before[0] + restated.rows


def test_export_view_unions_months_with_different_columns_by_name(write_sample, warehouse):
    write_sample("cur", "cur1", JAN)
    write_sample("cur", "cur1", FEB)  # has the Project tag January lacks
    for delivery in deliveries(local_export("cur", "cur1", write_sample.root, S3_URI)):
        load(warehouse, delivery)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tagged = con.execute(
            "SELECT strftime(_billing_period, '%Y-%m'), count(resource_tags_user_project) "
            "FROM aws_cur.cur GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert tagged[0] == ("2025-01", 0) and tagged[1][1] > 0


def _load_jan_then_break_feb(write_sample, warehouse, fmt="cur1"):
    """Load January and February, restate February, and return (export, the restated delivery)."""
    write_sample("cur", fmt, JAN)
    write_sample("cur", fmt, FEB)
    export = local_export("cur", fmt, write_sample.root, S3_URI)
    for delivery in deliveries(export):
        load(warehouse, delivery)
    write_sample("cur", fmt, FEB, revision=2)
    [restated] = [d for d in deliveries(export) if d.billing_period == FEB]
    return restated


def _assert_nothing_changed(warehouse, before_rows, before_ledger):
    assert month_rows_and_cost(warehouse, "cur_2025_02") == before_rows
    assert loaded_ledger(warehouse) == before_ledger
    with duckdb.connect(str(warehouse), read_only=True) as con:
        leftovers = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_loading_%'").fetchall()
    assert leftovers == [(0,)]


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda f: f.unlink(), r"-00002\.csv\.gz: listed in the manifest but missing"),
        (truncate_gzip, r"-00002\.csv\.gz: .*(gzip|GZIP|compress|EOF|truncat)"),
        (lambda f: f.write_bytes(b"not gzip at all"), r"-00002\.csv\.gz: cannot read the CSV header"),
    ],
    ids=["missing-file", "truncated-gzip", "not-gzip"],
)
def test_broken_data_file_is_refused_by_name_and_loses_nothing(write_sample, warehouse, break_it, message):
    restated = _load_jan_then_break_feb(write_sample, warehouse)
    before = month_rows_and_cost(warehouse, "cur_2025_02"), loaded_ledger(warehouse)
    break_it(write_sample.root / restated.data_files[1].listed_uri.removeprefix(S3_URI + "/"))
    with pytest.raises(LoadRefused, match=message):
        load(warehouse, restated)
    _assert_nothing_changed(warehouse, *before)


def test_csv_header_that_disagrees_with_the_manifest_is_refused(write_sample, warehouse):
    restated = _load_jan_then_break_feb(write_sample, warehouse)
    before = month_rows_and_cost(warehouse, "cur_2025_02"), loaded_ledger(warehouse)
    manifest = Path(restated.delivery_uri.removeprefix("file://"))
    body = json.loads(manifest.read_text())
    body["columns"] = [c for c in body["columns"] if c["name"] != "UnblendedRate"]
    manifest.write_text(json.dumps(body))
    [broken] = [d for d in deliveries(restated.export) if d.billing_period == FEB]
    with pytest.raises(
        LoadRefused, match=r"-00001\.csv\.gz: CSV header disagrees.*unexpected \['lineItem/UnblendedRate'\]"
    ):
        load(warehouse, broken)
    _assert_nothing_changed(warehouse, *before)


def test_failed_load_is_recorded_as_failed_without_moving_the_loaded_version(write_sample, warehouse):
    restated = _load_jan_then_break_feb(write_sample, warehouse)
    (write_sample.root / restated.data_files[0].listed_uri.removeprefix(S3_URI + "/")).unlink()
    with pytest.raises(LoadRefused):
        load(warehouse, restated)
    failed = [row for row in ledger(warehouse) if row[5] == "failed"]
    assert len(failed) == 1 and failed[0][2] == restated.version and "missing" in failed[0][6]


@pytest.mark.parametrize(("fmt", "reader"), [("cur1", "LegacyCsvReader"), ("cur2", "ParquetReader")])
def test_row_count_that_disagrees_with_the_files_is_refused(write_sample, warehouse, monkeypatch, fmt, reader):
    restated = _load_jan_then_break_feb(write_sample, warehouse, fmt=fmt)
    before = month_rows_and_cost(warehouse, "cur_2025_02"), loaded_ledger(warehouse)
    from include.aws import readers

    # A reader that silently drops rows (as a lenient CSV option would) must not get through.
    def lossy_select(self, files):
        return f"SELECT * FROM ({original(self, files)}) WHERE line_item_line_item_type <> 'Tax'"

    original = getattr(readers, reader).select_sql
    monkeypatch.setattr(getattr(readers, reader), "select_sql", lossy_select)
    with pytest.raises(LoadRefused, match=r"holds \d+ rows but \d+ were read; refusing a partial month"):
        load(warehouse, restated)
    _assert_nothing_changed(warehouse, *before)


def test_a_load_killed_before_the_swap_leaves_the_previous_month(write_sample, warehouse, monkeypatch):
    restated = _load_jan_then_break_feb(write_sample, warehouse, fmt="cur2")
    before = month_rows_and_cost(warehouse, "cur_2025_02"), loaded_ledger(warehouse)
    from include.warehouse import loader

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # what SIGINT/SIGTERM handling raises mid-load

    monkeypatch.setattr(loader, "_swap_in", killed)
    with pytest.raises(KeyboardInterrupt):
        load(warehouse, restated)
    monkeypatch.undo()
    assert month_rows_and_cost(warehouse, "cur_2025_02") == before[0]
    assert loaded_ledger(warehouse) == before[1]
    # The next attempt clears the abandoned staging table and succeeds.
    result = load(warehouse, restated)
    assert month_rows_and_cost(warehouse, "cur_2025_02")[0] == result.rows


def test_quoted_line_break_inside_a_csv_field_is_one_record(write_sample, warehouse):
    totals = write_sample("cur", "cur1", JAN)
    [delivery] = deliveries(local_export("cur", "cur1", write_sample.root, S3_URI))
    chunk = write_sample.root / delivery.data_files[0].listed_uri.removeprefix(S3_URI + "/")
    with gzip.open(chunk, "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    rows[1][rows[0].index("lineItem/LineItemDescription")] = "first line\nsecond line"
    with gzip.open(chunk, "wt", newline="") as handle:
        csv.writer(handle).writerows(rows)

    result = load(warehouse, delivery)

    assert result.rows == totals.rows
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = con.execute(
            "SELECT count(*) FROM aws_cur.cur_2025_01 "
            "WHERE line_item_line_item_description = 'first line' || chr(10) || 'second line'"
        ).fetchall()
    assert found == [(1,)]


def _rewrite_csv_files(delivery, rewrite_text):
    """Rewrite every listed gzip CSV of a local delivery through `rewrite_text(text) -> text`."""
    for data_file in delivery.data_files:
        path = Path(data_file.read_uri.removeprefix("file://"))
        path.write_bytes(gzip.compress(rewrite_text(gzip.decompress(path.read_bytes()).decode("utf-8")).encode()))


def test_a_byte_order_mark_before_the_csv_header_loads_the_month_exactly(write_sample, warehouse):
    totals = write_sample("cur", "cur1", FEB)
    [delivery] = deliveries(local_export("cur", "cur1", write_sample.root, S3_URI))
    _rewrite_csv_files(delivery, lambda text: "\ufeff" + text)  # as Excel and some exporters write UTF-8
    result = load(warehouse, delivery)
    assert result.rows == totals.rows
    assert_same_money(result.billed_cost, totals.billed)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        [(ids,)] = con.execute("SELECT count(DISTINCT identity_line_item_id) FROM aws_cur.cur_2025_02").fetchall()
    assert ids > 0  # the first column kept its name, not "\ufeffidentity/LineItemId"


def test_five_hundred_tag_columns_load_as_columns_with_their_keys(write_sample, warehouse):
    totals = write_sample("cur", "cur1", FEB, rows=500)
    [delivery] = deliveries(local_export("cur", "cur1", write_sample.root, S3_URI))
    keys = [f"resourceTags/user:team-{index:03d}" for index in range(500)]

    def widen(text: str) -> str:
        header, *body = csv.reader(io.StringIO(text, newline=""))
        written = io.StringIO()
        writer = csv.writer(written, lineterminator="\n")
        writer.writerow(header + keys)
        writer.writerows(row + [f"v{number % 7}" if number % 3 else "" for number in range(500)] for row in body)
        return written.getvalue()

    _rewrite_csv_files(delivery, widen)
    manifest = Path(delivery.delivery_uri.removeprefix("file://"))
    body = json.loads(manifest.read_text())
    body["columns"] += [{"category": "resourceTags", "name": key.split("/", 1)[1], "type": "String"} for key in keys]
    manifest.write_text(json.dumps(body))
    [widened] = deliveries(delivery.export)

    result = load(warehouse, widened)
    assert result.rows == totals.rows
    assert_same_money(result.billed_cost, totals.billed)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        comments = dict(
            con.execute(
                "SELECT comment, column_name FROM duckdb_columns() "
                "WHERE table_name = 'cur_2025_02' AND comment LIKE 'resourceTags/user:team-%'"
            ).fetchall()
        )
        assert set(comments) == set(keys)
        [(filled,)] = con.execute(
            f"SELECT count(*) FROM aws_cur.cur_2025_02 WHERE {sql_identifier(comments[keys[1]])} = 'v1'"
        ).fetchall()
    assert filled == totals.rows
