"""Small helpers the tests share: load through the library and read the warehouse back."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
from upath import UPath

from include.aws.provider import AWS
from include.aws.settings import AwsExport
from include.orchestration.loading import load_delivery
from include.providers.contract import Provider
from include.providers.deliveries import Delivery, Discovery
from include.warehouse.loader import LoadResult


def local_export(name: str, fmt: str, root: Path, s3_uri: str) -> AwsExport:
    return AWS.parse_exports(json.dumps([{"name": name, "uri": root.as_uri(), "format": fmt, "s3_uri": s3_uri}]))[0]


def discovered(export: AwsExport) -> Discovery:
    """The export's folder as the DAG's discovery sees it: its deliveries, skips and refusals."""
    return AWS.discover(UPath(export.uri), export)


def deliveries(export: AwsExport) -> list[Delivery]:
    """The deliveries discovery finds, for a test whose input is good: a refusal fails it, named."""
    found = discovered(export)
    assert not found.refused, [str(refusal) for refusal in found.refused]
    return found.deliveries


def load(warehouse: Path, delivery: Delivery) -> LoadResult:
    return load_delivery(warehouse, AWS, delivery, UPath)


def load_every_delivery(warehouse: Path, provider: Provider, exports: list[dict]) -> None:
    """Discover and load every delivery of `exports` (a provider's Variable entries, file:// mirrors) as the
    DAG's tasks do; a refusal fails the test, named."""
    for export in provider.parse_exports(json.dumps(exports)):
        found = provider.discover(UPath(export.uri), export)
        assert not found.refused, [str(refusal) for refusal in found.refused]
        for delivery in found.deliveries:
            load_delivery(warehouse, provider, delivery, UPath)


def month_rows_and_cost(warehouse: Path, table: str, cost_column: str = "line_item_unblended_cost"):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows, cost = con.execute(f'SELECT count(*), sum("{cost_column}") FROM aws_cur.{table}').fetchall()[0]
    return rows, Decimal(str(cost))


def ledger(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "SELECT export, strftime(billing_period, '%Y-%m'), version, rows, billed_cost, status, error "
            "FROM finops_meta.load_ledger ORDER BY loaded_at"
        ).fetchall()


def loaded_ledger(warehouse: Path) -> list[tuple]:
    return [row[:5] for row in ledger(warehouse) if row[5] == "loaded"]


def truncate_gzip(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def assert_same_money(actual, expected, relative=Decimal("1e-9")) -> None:
    """Equal to `relative` (1e-9 by default): Parquet carries doubles, CSV carries exact decimals."""
    actual, expected = Decimal(str(actual)), Decimal(str(expected))
    assert abs(actual - expected) <= abs(expected) * relative, f"{actual} != {expected}"


def assert_layers_agree(warehouse: Path, serving_root: Path) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """Warehouse, mart and serving layer say the same about every billing month (issue 10, item 3).

    For each (export, month) the ledger has `loaded`: the month table holds the ledger's rows and cost;
    the mart holds that partition exactly when the table has rows, with Σ BilledCost = Σ source cost
    and the source's rows less SavingsPlanNegation lines plus the split-off Unused rows (FOCUS exports:
    row for row); the mart holds no other partition. The serving layer holds exactly the mart's months,
    per billing account the rows of one of the exports publish prefers (`serving_ranks`), as the mart has them.
    Returns {(export, 'YYYY-MM'): (rows, Σ cost)} of the month tables, for the caller's own expectations.
    """
    from include.aws.readers import COST_COLUMNS
    from include.aws.settings import AWS_DATASETS
    from include.serving.publish import COST_AND_USAGE_DIR, connect_serving, serving_ranks
    from include.sql import sql_identifier, sql_qualified

    format_of = {dataset: fmt for fmt, dataset in AWS_DATASETS.items()}
    month_tables: dict[tuple[str, str], tuple[int, Decimal]] = {}
    negation_lines: dict[tuple[str, str], int] = {}  # SavingsPlanNegation lines: the models drop them
    with duckdb.connect(str(warehouse), read_only=True) as con:
        loaded = con.execute(
            "SELECT ledger.export, strftime(ledger.billing_period, '%Y-%m'), ledger.table_name, ledger.rows, "
            "ledger.billed_cost, ledger.dataset FROM finops_meta.load_ledger AS ledger WHERE ledger.status = 'loaded'"
        ).fetchall()
        for export, month, table_name, ledger_rows, ledger_cost, dataset in loaded:
            assert (export, month) not in month_tables, f"{export} {month}: loaded twice in the ledger"
            fmt, (schema, table) = format_of[dataset], table_name.split(".", 1)
            columns = con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?", [schema, table]
            ).fetchall()
            # CUR line item types; a month restated to nothing has only the cost and bookkeeping columns
            negation = "line_item_line_item_type = 'SavingsPlanNegation'"
            rows, cost, negation_rows = con.execute(
                f"SELECT count(*), coalesce(sum({sql_identifier(COST_COLUMNS[fmt])}), 0), "
                f"count(*) FILTER (WHERE {negation if ('line_item_line_item_type',) in columns else 'false'}) "
                f"FROM {sql_qualified(schema, table)}"
            ).fetchall()[0]
            assert rows == ledger_rows, f"{export} {month}: {table_name} has {rows} rows, the ledger says {ledger_rows}"
            assert_same_money(cost, ledger_cost)
            month_tables[(export, month)] = (rows, Decimal(str(cost)))
            negation_lines[(export, month)] = negation_rows
        mart = {
            (export, month): (rows, billed, unused)
            for export, month, rows, billed, unused in con.execute(
                "SELECT x_ExportName, strftime(x_BillingPeriod, '%Y-%m'), count(*), sum(BilledCost), "
                "count(*) FILTER (WHERE CommitmentDiscountStatus = 'Unused' AND x_Dataset IN (?, ?)) "
                "FROM focus.cost_and_usage GROUP BY ALL",
                [AWS_DATASETS["cur1"], AWS_DATASETS["cur2"]],  # split off their fee lines; FOCUS exports have their own
            ).fetchall()
        }
        mart_by_account = con.execute(
            "SELECT strftime(x_BillingPeriod, '%Y-%m'), ProviderName, BillingAccountId, x_ExportName, x_Dataset, "
            "count(*), sum(BilledCost) FROM focus.cost_and_usage GROUP BY ALL"
        ).fetchall()

    assert set(mart) == {key for key, (rows, _) in month_tables.items() if rows}, "mart partitions ≠ loaded months"
    for key, (rows, billed, unused) in mart.items():
        source_rows, source_cost = month_tables[key]
        assert rows - unused == source_rows - negation_lines[key], f"{key}: {rows} mart rows for {source_rows}"
        assert_same_money(billed, source_cost)

    served: dict[tuple, tuple[int, Decimal]] = {}
    if any((Path(serving_root) / COST_AND_USAGE_DIR).rglob("*.parquet")):
        with connect_serving(Path(serving_root)) as con:
            served = {
                (month, provider, account, export): (rows, billed)
                for month, provider, account, export, rows, billed in con.execute(
                    "SELECT billing_period, ProviderName, BillingAccountId, x_ExportName, count(*), sum(BilledCost) "
                    "FROM cost_and_usage GROUP BY ALL"
                ).fetchall()
            }
    candidates: dict[tuple, dict[str, tuple]] = {}  # (month, provider, account) → {export: (dataset, rows, billed)}
    for month, provider, account, export, dataset, rows, billed in mart_by_account:
        candidates.setdefault((month, provider, account), {})[export] = (dataset, rows, billed)
    served_accounts = [key[:3] for key in served]
    assert sorted(served_accounts) == sorted(candidates), "served: not one export per month and account of the mart"
    for (month, provider, account, export), (rows, billed) in served.items():
        exports = candidates[(month, provider, account)]
        assert export in exports and exports[export][1:] == (rows, billed), f"{month} {account}: served ≠ mart"
        rank = {dataset: serving_ranks()[dataset] for dataset, _, _ in exports.values()}
        assert rank[exports[export][0]] == min(rank.values()), f"{month} {account}: served {export}, not preferred"
    return month_tables


def restate_to_nothing(root: Path, name: str, fmt: str, month: date, s3_uri: str) -> str:
    """Deliver `month` of export `name` again as AWS restates a month to nothing: a manifest listing no data file.

    Legacy CUR gets a new assembly; a Data Export's manifest (written by the generator) a new execution.
    Returns the new version.
    """
    import json

    from include.aws.sample_data import write_legacy_rows

    version = f"{name}-{month:%Y-%m}-restated-to-nothing"
    if fmt == "cur1":
        write_legacy_rows(root, name, month, [], s3_uri=s3_uri, version=version)
        return version
    manifest = root / name / "metadata" / f"BILLING_PERIOD={month:%Y-%m}" / f"{name}-Manifest.json"
    body = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(body | {"executionId": version, "dataFiles": []}))
    return version
