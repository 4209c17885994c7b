"""Real Azure EA cost exports through the loader and dbt: FOCUS rows that reconcile exactly with the files.

`../shared/samples/azure/` holds one month (September 2023) of a demo EA enrollment as its actual and
its amortized cost export (finops-toolkit's test assets): on-demand usage, a reservation purchase (actual
only), reservation and savings plan usage (amortized only). Each file is wrapped as Cost Management
delivers it (one part listed by a manifest.json), discovered and loaded by the Azure provider and the
shared loader, then built by dbt once for the module. The files are excerpts, not a whole month: the
actual file holds 10 of the amortized file's 26 on-demand rows, so the other 16 have no billed side
(BilledCost 0), and the sums below hold because the conversion pairs rows rather than applying row rules.
Beside the pair, two more enrollments' months test the pairing rule: the actual file alone (it has
a reservation purchase, so the month is held back) and the actual file without its purchase, its tags
in the JSON form (it converts alone, EffectiveCost = BilledCost).
Every expectation is computed from the files with the csv module.
"""

from __future__ import annotations

import csv
import json
import shutil
import uuid
from collections import Counter, defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from include.azure.provider import AZURE
from include.focus.validator import load_allowlist, unexpected_failures, validate_mart
from tests.conftest import SHARED
from tests.dbt.azure_rules import COMMITMENT_MODELS, expected_kind, is_commitment_purchase, rows_as_converted
from tests.dbt.conftest import dbt, query
from tests.helpers import load_every_delivery

SAMPLES = SHARED / "samples" / "azure"
ACTUAL, AMORTIZED = SAMPLES / "EA_ActualCost_Small.csv", SAMPLES / "EA_AmortizedCost_Small.csv"
REGIONS = SHARED / "reference" / "azure" / "Regions.csv"
MONTH = date(2023, 9, 1)
ENROLLMENT = "8611537"  # the samples' BillingAccountId (= BillingProfileId)
# The same actual file as delivered for an enrollment without an amortized export: held back.
ACTUAL_ALONE_ENROLLMENT = "8611538"
# The actual file without its reservation purchase and with JSON tags, for another enrollment: converts alone.
NO_COMMITMENT_ENROLLMENT = "8611539"
COST = "Cost"  # these EA files predate CostInBillingCurrency
EXPORT_TYPES = {"actual": "ActualCost", "amortized": "AmortizedCost"}  # manifest exportConfig.type


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _money(text: str) -> Decimal:
    """An amount as the warehouse keeps it: DECIMAL(38,18), rounded half away from zero (the files have 28 decimals)."""
    return Decimal(text or "0").quantize(Decimal("1e-18"), rounding=ROUND_HALF_UP)


def _brace_less_tags(text: str) -> dict | None:
    """EA's Tags: an object's members without the braces (`"env": "prod","org": "trey"`)."""
    return json.loads("{" + text + "}") if text else None


def _write_copy(rows: list[dict[str, str]], path: Path, enrollment: str, json_tags: bool = False) -> Path:
    """`rows` as another enrollment's export of the same shape (BOM, header), tags optionally as JSON objects."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            tags = "{" + row["Tags"] + "}" if json_tags and row["Tags"] else row["Tags"]
            writer.writerow(row | {"BillingAccountId": enrollment, "BillingProfileId": enrollment, "Tags": tags})
    return path


def _wrap_as_delivered(source: Path, root: Path, export: str, export_type: str) -> None:
    """`source` as Cost Management delivers a month of export `export`: the file as the run's one part,
    listed by a manifest.json of the current shape (2024-04-01), under `<export>/<YYYYMMDD-YYYYMMDD>/<run-id>/`."""
    run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{export}/{source.name}"))
    blob = f"{export}/{MONTH:%Y%m%d}-{MONTH.replace(day=30):%Y%m%d}/{run_id}/part_0_0001.csv"
    part = root / blob
    part.parent.mkdir(parents=True)
    shutil.copyfile(source, part)
    rows, size = len(_rows(source)), part.stat().st_size
    manifest = {
        "manifestVersion": "2024-04-01",
        "byteCount": size,
        "blobCount": 1,
        "dataRowCount": rows,
        "exportConfig": {
            "exportName": export,
            "resourceId": f"/providers/Microsoft.Billing/billingAccounts/{ENROLLMENT}"
            f"/providers/Microsoft.CostManagement/exports/{export}",
            "dataVersion": "2021-10-01",
            "apiVersion": "2023-07-01-preview",
            "type": export_type,
            "timeFrame": "TheLastMonth",
            "granularity": "Daily",
        },
        "deliveryConfig": {
            "partitionData": True,
            "dataOverwriteBehavior": "OverwritePreviousReport",
            "fileFormat": "Csv",
            "compressionMode": "None",
            "containerUri": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/exports",
            "rootFolderPath": "",
        },
        "runInfo": {
            "executionType": "Scheduled",
            "submittedTime": "2023-10-05T04:00:00.0000000Z",
            "runId": run_id,
            "startDate": f"{MONTH:%Y-%m-%d}T00:00:00",
            "endDate": f"{MONTH.replace(day=30):%Y-%m-%d}T00:00:00Z",
        },
        "blobs": [{"blobName": blob, "byteCount": size, "dataRowCount": rows}],
    }
    (part.parent / "manifest.json").write_text(json.dumps(manifest))


def _deliver(warehouse: Path, root: Path, source: Path, export: str, fmt: str) -> None:
    """Wrap `source` as export `export` delivers it, then discover and load it as the DAG does."""
    _wrap_as_delivered(source, root, export, EXPORT_TYPES[fmt])
    load_every_delivery(warehouse, AZURE, [{"name": export, "uri": root.as_uri(), "format": fmt}])


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("real-azure")
    built, root = workdir / "warehouse.duckdb", workdir / "mirror"
    _deliver(built, root, ACTUAL, "ea-actual", "actual")
    _deliver(built, root, AMORTIZED, "ea-amortized", "amortized")
    alone = _write_copy(_rows(ACTUAL), workdir / "actual-alone.csv", ACTUAL_ALONE_ENROLLMENT)
    _deliver(built, root, alone, "ea-actual-alone", "actual")
    without = [row for row in _rows(ACTUAL) if row["PricingModel"] not in COMMITMENT_MODELS]
    no_commitment = _write_copy(without, workdir / "actual-no-commitment.csv", NO_COMMITMENT_ENROLLMENT, json_tags=True)
    _deliver(built, root, no_commitment, "ea-actual-no-commitment", "actual")
    dbt(built, "build")
    return built


def _mart(warehouse: Path, columns: str, where: str = "true", enrollment: str = ENROLLMENT) -> list[tuple]:
    """`columns` of one enrollment's mart rows that match `where`, grouped by the columns that are not aggregates."""
    sql = f"SELECT {columns} FROM focus.cost_and_usage WHERE BillingAccountId = ? AND ({where}) GROUP BY ALL"
    return query(warehouse, sql, [enrollment])


def test_billed_cost_sums_to_the_actual_file_and_effective_cost_to_the_amortized_file(warehouse):
    [(billed, effective, currencies)] = _mart(
        warehouse, "sum(BilledCost), sum(EffectiveCost), list(DISTINCT BillingCurrency)"
    )
    assert billed == sum(_money(row[COST]) for row in _rows(ACTUAL))
    assert effective == sum(_money(row[COST]) for row in _rows(AMORTIZED))
    assert currencies == ["USD"]


def test_rows_are_the_amortized_rows_plus_the_actual_commitment_purchases(warehouse):
    purchases = [row for row in _rows(ACTUAL) if is_commitment_purchase(row)]
    assert purchases, "the actual sample holds a reservation purchase"
    rows = dict(_mart(warehouse, "x_SourcePartition, count(*)"))
    assert rows == {
        "azure_amortized/ea-amortized/2023-09": len(_rows(AMORTIZED)),
        "azure_actual/ea-actual/2023-09": len(purchases),
    }
    # each purchase keeps its billed cost and is not amortized a second time
    booked = _mart(warehouse, "BilledCost, EffectiveCost, x_LineItemType, x_RowKey", "x_Dataset = 'azure_actual'")
    assert Counter(row[:3] for row in booked) == Counter((_money(row[COST]), 0, row["ChargeType"]) for row in purchases)


def test_commitment_usage_is_billed_by_its_purchase_not_again(warehouse):
    covered = [row for row in _rows(AMORTIZED) if row["PricingModel"] in COMMITMENT_MODELS]
    assert {row["PricingModel"] for row in covered} == set(COMMITMENT_MODELS)
    booked = _mart(
        warehouse, "CommitmentDiscountId, BilledCost, EffectiveCost, x_RowKey", "CommitmentDiscountStatus = 'Used'"
    )
    assert Counter(row[:3] for row in booked) == Counter((row["benefitId"], 0, _money(row[COST])) for row in covered)


def test_each_commitment_books_its_amortized_cost_on_its_used_and_unused_rows(warehouse):
    amortized = defaultdict(Decimal)
    for row in _rows(AMORTIZED):
        if row["benefitId"] and (row["ChargeType"] == "Usage" or row["ChargeType"].startswith("Unused")):
            amortized[row["benefitId"]] += _money(row[COST])
    booked = _mart(
        warehouse,
        "CommitmentDiscountId, sum(EffectiveCost)",
        "CommitmentDiscountStatus IN ('Used', 'Unused')",
    )
    assert dict(booked) == amortized and len(amortized) == 2  # a reservation and a savings plan


def test_charge_pricing_and_commitment_columns_follow_each_rows_charge_type_and_pricing_model(warehouse):
    sources = rows_as_converted(_rows(ACTUAL), _rows(AMORTIZED))
    mart = _mart(
        warehouse,
        "ChargeCategory, ChargeClass, PricingCategory, CommitmentDiscountStatus, CommitmentDiscountType, x_RowKey",
    )
    assert Counter(row[:-1] for row in mart) == Counter(expected_kind(row) for row in sources)


def test_actual_month_with_a_reservation_purchase_and_no_amortized_export_is_held_back(warehouse):
    assert _mart(warehouse, "count(*)", enrollment=ACTUAL_ALONE_ENROLLMENT) == [(0,)]
    held = query(
        warehouse,
        "SELECT provider, dataset, export, billing_period, billing_account_id, source_files, source_rows, reason "
        "FROM focus.months_held_back",
    )
    [(provider, dataset, export, month, account, files, rows, reason)] = held
    assert (provider, dataset, export, month, account) == (
        "azure",
        "azure_actual",
        "ea-actual-alone",
        MONTH,
        ACTUAL_ALONE_ENROLLMENT,
    )
    assert (
        files.startswith("ea-actual-alone/20230901-20230930/")
        and files.endswith("/part_0_0001.csv")
        and rows == len(_rows(ACTUAL))
    )
    assert "amortized cost export" in reason


def test_actual_month_without_commitments_converts_alone_with_effective_cost_equal_to_billed(warehouse):
    source = [row for row in _rows(ACTUAL) if row["PricingModel"] not in COMMITMENT_MODELS]
    mart = _mart(warehouse, "BilledCost, EffectiveCost, x_RowKey", enrollment=NO_COMMITMENT_ENROLLMENT)
    assert Counter(row[:2] for row in mart) == Counter((_money(row[COST]), _money(row[COST])) for row in source)


def _tags_as_text(tags: dict | None) -> str:
    return json.dumps(tags, sort_keys=True)


def test_tags_in_the_brace_less_and_the_json_form_become_the_same_json_objects(warehouse):
    def mart_tags(enrollment: str) -> Counter:
        rows = _mart(warehouse, "Tags, x_RowKey", "x_LineItemType = 'Usage'", enrollment)
        return Counter(_tags_as_text(json.loads(text) if text else None) for text, _ in rows)

    brace_less = [row for row in _rows(AMORTIZED) if row["ChargeType"] == "Usage"]
    assert mart_tags(ENROLLMENT) == Counter(_tags_as_text(_brace_less_tags(row["Tags"])) for row in brace_less)
    # the no-commitment enrollment's file carries the same tags wrapped in braces: JSON
    as_json = [row for row in _rows(ACTUAL) if row["PricingModel"] not in COMMITMENT_MODELS]
    assert mart_tags(NO_COMMITMENT_ENROLLMENT) == Counter(
        _tags_as_text(_brace_less_tags(row["Tags"])) for row in as_json
    )
    assert '"org":""' in "".join(text or "" for text, _ in _mart(warehouse, "Tags, x_RowKey"))  # empty values kept


def test_on_demand_rows_are_priced_from_unit_price_and_quantity_in_pricing_blocks(warehouse):
    """Azure's Quantity counts pricing blocks (cost = EffectivePrice × Quantity also for `10K` units):
    ContractedCost of an EA on-demand row, whose UnitPrice is its EffectivePrice, is its cost."""
    on_demand = [row for row in _rows(AMORTIZED) if row["PricingModel"] == "OnDemand"]
    mart = _mart(
        warehouse,
        "EffectiveCost, ContractedCost, PricingQuantity, ConsumedQuantity, PricingUnit, x_RowKey",
        "PricingCategory = 'Standard' AND x_Dataset = 'azure_amortized'",
    )
    assert Counter((effective, contracted) for effective, contracted, *_ in mart) == Counter(
        (_money(row[COST]), (_money(row["UnitPrice"]) * _money(row["Quantity"])).quantize(Decimal("1e-18")))
        for row in on_demand
    )
    assert ("10000 Units" in {row[4] for row in mart}) and all(
        consumed == quantity * 10000 for _, _, quantity, consumed, unit, _ in mart if unit == "10000 Units"
    )


def test_regions_come_from_the_toolkits_regions_table(warehouse):
    regions = {row["OriginalValue"]: (row["RegionId"], row["RegionName"]) for row in _rows(REGIONS)}
    sources = rows_as_converted(_rows(ACTUAL), _rows(AMORTIZED))
    mart = _mart(warehouse, "RegionId, RegionName, x_RowKey")
    expected = Counter(regions.get(row["ResourceLocation"].lower(), (None, None)) for row in sources)
    assert Counter(row[:2] for row in mart) == expected and (None, None) in expected  # a row without location


def test_accounts_services_and_providers_are_filled_on_every_row(warehouse):
    [(rows, *filled)] = _mart(
        warehouse,
        "count(*), list(DISTINCT BillingAccountType), list(DISTINCT SubAccountType), "
        "list(DISTINCT InvoiceIssuerName), list(DISTINCT PublisherName), list(DISTINCT HostProviderName), "
        "count(SubAccountId), count(ResourceId), count(*) FILTER (WHERE ServiceCategory <> 'Other')",
    )
    assert filled == [
        ["Billing Account"],
        ["Subscription"],
        ["Microsoft"],
        ["Microsoft"],
        ["Microsoft"],
        rows,
        rows,
        rows,
    ]


def test_converted_rows_fail_no_validator_rule_beyond_the_allowlist(warehouse, tmp_path):
    report = validate_mart(warehouse, tmp_path)
    assert report.rows == len(_rows(AMORTIZED)) + 1 + sum(
        1 for row in _rows(ACTUAL) if row["PricingModel"] not in COMMITMENT_MODELS
    )
    assert report.evaluated > 500 and unexpected_failures(report, load_allowlist()) == {}


def test_the_loader_records_each_files_exact_cost(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ledger = dict(
            con.execute(
                "SELECT export, billed_cost FROM finops_meta.load_ledger WHERE export IN ('ea-actual', 'ea-amortized')"
            ).fetchall()
        )
    assert ledger == {
        "ea-actual": sum(_money(row[COST]) for row in _rows(ACTUAL)),
        "ea-amortized": sum(_money(row[COST]) for row in _rows(AMORTIZED)),
    }
