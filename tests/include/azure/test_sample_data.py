"""The Azure generator's deliveries hold the totals it reports and the quirks of real exports.

Everything is read back from the written files through their manifests (csv, gzip and pyarrow, never the
generator's own rows), so a change that breaks a total or loses a quirk fails here, not silently in the
tests and the demo that rely on it.
"""

from __future__ import annotations

import calendar
import csv
import json
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from include.azure.sample_data import (
    CONTAINER,
    DEMO_EXPORTS,
    EA_SCOPE,
    MCA_SCOPE,
    ROOT_FOLDER_PATH,
    write_exports,
    write_run,
)
from tests.conftest import FEB, JAN, MAR
from tests.include.azure.runs import read_part

REFERENCE = Path(__file__).resolve().parents[3] / ".." / "shared" / "reference" / "azure"
MONTHS = [JAN, FEB, MAR]  # March is the open month
EXPORTS = {export.name: export for export in DEMO_EXPORTS}
CHARGE_TYPES = {"Usage", "Purchase", "Refund", "UnusedReservation", "UnusedSavingsPlan", "RoundingAdjustment"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("azure")
    return write_exports(root, MONTHS, rows=400, part_rows=300)


def _runs(sample, export: str, month) -> list[tuple[Path, dict]]:
    """(folder, manifest) of every run in the month's folder, oldest submitted first."""
    period = (
        sample.export_root / export / f"{month:%Y%m%d}-{month:%Y%m}{calendar.monthrange(month.year, month.month)[1]}"
    )
    runs = [(path.parent, json.loads(path.read_text())) for path in period.rglob("manifest.json")]
    return sorted(runs, key=lambda run: run[1]["runInfo"]["submittedTime"])


def _local(sample, blob_name: str) -> Path:
    """A blob's file in the mirror of the container."""
    return sample.root / blob_name


def _rows(sample, export: str, month, run: int = -1) -> list[dict]:
    """The rows of one run (the latest by default), read from the parts its manifest lists."""
    _, manifest = _runs(sample, export, month)[run]
    return [row for blob in manifest["blobs"] for row in read_part(_local(sample, blob["blobName"]))]


def _value(row: dict, column: str):
    """A column by name whatever its case (EA PascalCase, MCA camelCase); None for an empty CSV cell."""
    value = next(v for k, v in row.items() if k.lower() == column.lower())
    return None if value == "" else value


def _sum(rows: list[dict], column: str) -> Decimal:
    return sum((Decimal(str(_value(row, column))) for row in rows), Decimal(0))


@pytest.mark.parametrize("export", [e.name for e in DEMO_EXPORTS])
def test_each_months_totals_are_the_sums_of_its_files(sample, export):
    for month in MONTHS:
        rows = _rows(sample, export, month)
        totals = sample.latest(export, month).totals
        dataset = EXPORTS[export].dataset
        if dataset == "focus":
            assert (_sum(rows, "BilledCost"), _sum(rows, "EffectiveCost")) == (totals.actual, totals.amortized)
            assert len(rows) == totals.focus_rows
        else:
            expected = totals.actual if dataset == "actual" else totals.amortized
            assert _sum(rows, "CostInBillingCurrency") == expected
            assert len(rows) == (totals.actual_rows if dataset == "actual" else totals.amortized_rows)
        assert totals.actual != totals.amortized  # commitments make the two differ


def test_actual_and_amortized_totals_of_a_scope_come_from_its_two_exports(sample):
    for month in MONTHS:
        ea, mca = sample.totals[("ea", month)], sample.totals[("mca", month)]
        assert _sum(_rows(sample, "ea-actual", month), "CostInBillingCurrency") == ea.actual
        assert _sum(_rows(sample, "ea-amortized", month), "CostInBillingCurrency") == ea.amortized
        assert _sum(_rows(sample, "mca-actual", month), "costInBillingCurrency") == mca.actual
        assert _sum(_rows(sample, "mca-amortized", month), "costInBillingCurrency") == mca.amortized
        assert (ea.currency, mca.currency) == ("USD", "EUR")


@pytest.mark.parametrize("export", ["ea-amortized", "mca-amortized", "focus-cost", "focus-cost-1-0r2"])
def test_each_commitment_is_used_plus_unused_in_the_amortized_data(sample, export):
    focus = EXPORTS[export].dataset == "focus"
    for month in MONTHS:
        used, unused = defaultdict(Decimal), defaultdict(Decimal)
        for row in _rows(sample, export, month):
            benefit = _value(row, "CommitmentDiscountId" if focus else "benefitId")
            if benefit is None or _value(row, "ChargeCategory" if focus else "ChargeType") == "Purchase":
                continue
            cost = Decimal(str(_value(row, "EffectiveCost" if focus else "CostInBillingCurrency")))
            is_unused = (
                _value(row, "CommitmentDiscountStatus") == "Unused"
                if focus
                else _value(row, "ChargeType").startswith("Unused")
            )
            (unused if is_unused else used)[benefit] += cost
        commitments = sample.latest(export, month).totals.commitments
        assert set(used) == set(unused) == set(commitments) and len(commitments) == 2  # a reservation, a plan
        for benefit, commitment in commitments.items():
            assert (used[benefit], unused[benefit]) == (commitment.used, commitment.unused)
            assert used[benefit] + unused[benefit] == commitment.amortized
            assert unused[benefit] > 0


def test_the_actual_data_has_the_purchases_and_the_covered_usage_at_zero(sample):
    rows = _rows(sample, "ea-actual", JAN)
    covered = [r for r in rows if r["ChargeType"] == "Usage" and r["PricingModel"] in ("Reservation", "SavingsPlan")]
    assert covered and {Decimal(r["CostInBillingCurrency"]) for r in covered} == {0}
    purchases = {r["PricingModel"] for r in rows if r["ChargeType"] == "Purchase" and r["benefitId"]}
    assert purchases == {"Reservation", "SavingsPlan"}  # the reservation is bought in the first month
    amortized = _rows(sample, "ea-amortized", JAN)
    assert not [r for r in amortized if r["ChargeType"] == "Purchase" and r["benefitId"]]
    assert not [r for r in rows if r["ChargeType"].startswith("Unused")]


@pytest.mark.parametrize("export", [e.name for e in DEMO_EXPORTS])
def test_the_manifest_lists_exactly_the_parts_written_by_their_path_in_the_container(sample, export):
    for month in MONTHS:
        for folder, manifest in _runs(sample, export, month):
            listed = [blob["blobName"] for blob in manifest["blobs"]]
            assert {_local(sample, name) for name in listed} == set(folder.iterdir()) - {folder / "manifest.json"}
            relative = folder.relative_to(sample.root).as_posix()
            assert relative.startswith(f"{sample.root_folder_path}/{export}/")
            assert all(name.startswith(f"{relative}/") for name in listed)
            assert not any(name.startswith(f"{CONTAINER}/") for name in listed)  # inside the container
            assert manifest["runInfo"]["runId"] == folder.name
            assert manifest["exportConfig"]["exportName"] == export
            assert manifest["deliveryConfig"]["rootFolderPath"] == sample.root_folder_path
            for blob in manifest["blobs"]:
                path = _local(sample, blob["blobName"])
                assert blob["byteCount"] == path.stat().st_size
                if "dataRowCount" in blob:
                    assert blob["dataRowCount"] == len(read_part(path))


def test_a_deliverys_files_are_the_blob_names_its_manifest_lists(sample):
    delivery = sample.latest("mca-actual", JAN)
    _, manifest = _runs(sample, "mca-actual", JAN)[-1]
    assert delivery.files == [blob["blobName"] for blob in manifest["blobs"]]
    assert delivery.rows_per_file == {blob["blobName"]: blob["dataRowCount"] for blob in manifest["blobs"]}
    assert (sample.root / delivery.manifest).is_file() and delivery.run_id == manifest["runInfo"]["runId"]


def test_manifests_come_in_the_current_and_the_older_shape(sample):
    _, current = _runs(sample, "ea-actual", JAN)[-1]
    assert current["manifestVersion"] == "2024-04-01"
    assert current["dataRowCount"] == sum(blob["dataRowCount"] for blob in current["blobs"])
    assert current["blobCount"] == len(current["blobs"]) and current["deliveryConfig"]["compressionMode"] == "None"
    _, older = _runs(sample, "mca-amortized", JAN)[-1]
    assert not {"manifestVersion", "byteCount", "dataRowCount"} & set(older)
    assert "compressionMode" not in older["deliveryConfig"] and "dataRowCount" not in older["blobs"][0]
    compressions = {
        _runs(sample, name, JAN)[-1][1]["deliveryConfig"].get("compressionMode")
        for name in ("ea-amortized", "focus-cost")
    }
    assert compressions == {"Gzip", "Snappy"}
    timed, _ = _runs(sample, "ea-amortized", JAN)[-1]
    assert re.fullmatch(r"\d{12}", timed.parent.name)  # the extra <export-time>/ level before the run id


def test_parquet_parts_carry_costs_as_decimals_and_focus_times_as_timestamps(sample):
    for export, cost, time in (
        ("mca-actual", "costInBillingCurrency", None),
        ("focus-cost", "BilledCost", "ChargePeriodStart"),
    ):
        _, manifest = _runs(sample, export, JAN)[-1]
        schema = pq.read_schema(_local(sample, manifest["blobs"][0]["blobName"]))
        assert str(schema.field(cost).type).startswith("decimal128(38")
        if time:
            assert str(schema.field(time).type).startswith("timestamp")


def test_without_overwrite_every_run_stays_and_the_later_one_restates_the_month(sample):
    runs = _runs(sample, "mca-actual", JAN)
    assert len(runs) == 2 and len(_runs(sample, "ea-actual", JAN)) == 1
    early, late = (_rows(sample, "mca-actual", JAN, run) for run in (0, 1))
    assert len(early) < len(late)
    assert [run[1]["runInfo"]["endDate"][:10] for run in runs] == ["2025-01-15", "2025-01-31"]
    assert {_value(row, "invoiceId") for row in early} == {None}  # the month was not invoiced mid-month


def test_an_overwriting_export_keeps_only_the_newest_run(tmp_path):
    export = EXPORTS["ea-actual"]
    first = write_run(tmp_path, export, JAN, rows=100)
    second = write_run(tmp_path, export, JAN, rows=100, revision=2)
    period = tmp_path / ROOT_FOLDER_PATH / "ea-actual" / "20250101-20250131"
    assert first.run_id != second.run_id
    assert [path.parent.name for path in period.rglob("manifest.json")] == [second.run_id]


def test_the_same_arguments_write_the_same_bytes(tmp_path):
    def tree(root):
        write_exports(root, [JAN, FEB], rows=150, part_rows=100)
        return {path.relative_to(root): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}

    first = tree(tmp_path / "one")
    assert first == tree(tmp_path / "two")
    assert any(name.suffix == ".gz" for name in first) and any(name.suffix == ".parquet" for name in first)


def test_the_ea_actual_file_has_a_bom_and_us_dates(sample):
    _, manifest = _runs(sample, "ea-actual", JAN)[-1]
    part = _local(sample, manifest["blobs"][0]["blobName"])
    assert part.read_bytes().startswith(b"\xef\xbb\xbfInvoiceSectionName,")
    rows = _rows(sample, "ea-actual", JAN)
    us_date = re.compile(r"\d\d/\d\d/2025")
    assert all(us_date.fullmatch(row[c]) for row in rows for c in ("Date", "BillingPeriodEndDate"))
    assert {row["BillingPeriodEndDate"] for row in rows} == {"01/31/2025"}
    assert (
        not _local(sample, _runs(sample, "mca-amortized", JAN)[-1][1]["blobs"][0]["blobName"])
        .read_bytes()
        .startswith(b"\xef\xbb\xbf")
    )
    assert all(re.fullmatch(r"2025-01-\d\d", row["date"]) for row in _rows(sample, "mca-amortized", JAN))


@pytest.mark.parametrize("scope", ["ea", "mca"])
def test_every_charge_type_occurs_in_a_closed_month(sample, scope):
    for month in (JAN, FEB):
        rows = _rows(sample, f"{scope}-actual", month) + _rows(sample, f"{scope}-amortized", month)
        assert {_value(row, "ChargeType") for row in rows} == CHARGE_TYPES


def test_the_focus_export_carries_every_charge_category_and_the_refund_as_a_correction(sample):
    rows = _rows(sample, "focus-cost", JAN)
    assert {row["ChargeCategory"] for row in rows} == {"Usage", "Purchase", "Adjustment"}
    refunds = [row for row in rows if row["ChargeClass"] == "Correction"]
    assert refunds and all(row["BilledCost"] < 0 for row in refunds)
    assert {row["PricingCategory"] for row in rows} == {"Standard", "Dynamic", "Committed", None}


def test_pricing_models_include_spot_commitments_and_both_on_demand_spellings(sample):
    common = {"Reservation", "SavingsPlan", "Spot"}
    assert {_value(row, "PricingModel") for row in _rows(sample, "ea-actual", JAN)} == common | {"OnDemand", None}
    assert {_value(row, "pricingModel") for row in _rows(sample, "mca-actual", JAN)} == common | {"On Demand", None}


def test_ea_tags_lack_braces_and_mca_tags_are_json(sample):
    ea_tags = {row["Tags"] for row in _rows(sample, "ea-amortized", JAN) if row["Tags"]}
    assert ea_tags and not any(tags.startswith("{") for tags in ea_tags)
    assert all(isinstance(json.loads("{" + tags + "}"), dict) for tags in ea_tags)
    assert '"env": "prod","team": "platform"' in ea_tags
    mca_tags = {row["tags"] for row in _rows(sample, "mca-amortized", JAN) if row["tags"]}
    assert mca_tags and all(tags.startswith("{") and isinstance(json.loads(tags), dict) for tags in mca_tags)


@pytest.mark.parametrize("export", ["ea-amortized", "mca-amortized", "mca-actual"])
def test_unused_commitment_and_rounding_rows_have_no_subscription(sample, export):
    rows = _rows(sample, export, JAN)
    unattached = [row for row in rows if _value(row, "ChargeType").startswith("Unused")]
    unattached += [row for row in rows if _value(row, "ChargeType") == "RoundingAdjustment"]
    assert unattached and {_value(row, "SubscriptionId") for row in unattached} == {None}
    assert all(_value(row, "SubscriptionId") for row in rows if _value(row, "ChargeType") == "Usage")


def test_the_mca_profile_is_billed_in_euros_at_its_exchange_rate(sample):
    rows = _rows(sample, "mca-amortized", JAN)
    assert {(r["billingCurrency"], r["pricingCurrency"], r["exchangeRatePricingToBilling"]) for r in rows} == {
        ("EUR", "USD", MCA_SCOPE.exchange_rate)
    }
    for row in rows:
        if row["chargeType"] != "RoundingAdjustment":
            converted = Decimal(row["costInPricingCurrency"]) * Decimal(row["exchangeRatePricingToBilling"])
            assert abs(converted - Decimal(row["costInBillingCurrency"])) <= Decimal("1e-10")
    assert EA_SCOPE.billing_currency == "USD"


@pytest.mark.parametrize("export, column", [("mca-actual", "invoiceId"), ("focus-cost", "InvoiceId")])
def test_closed_months_carry_one_invoice_and_the_open_month_none(sample, export, column):
    for month in (JAN, FEB):
        invoices = {row[column] for row in _rows(sample, export, month)}
        assert len(invoices) == 1 and None not in invoices
    assert {row[column] for row in _rows(sample, export, MAR)} == {None}
    assert not [
        r
        for r in _rows(sample, export, MAR)
        if _value(r, "ChargeType" if "mca" in export else "ChargeCategory") == "RoundingAdjustment"
    ]


def test_the_open_month_is_month_to_date(sample):
    _, manifest = _runs(sample, "ea-actual", MAR)[-1]
    assert manifest["runInfo"]["endDate"] == "2025-03-20T00:00:00Z"
    assert max(row["Date"] for row in _rows(sample, "ea-actual", MAR)) == "03/20/2025"


def test_refunds_of_an_invoiced_purchase_name_its_invoice(sample):
    refunds = [row for row in _rows(sample, "mca-actual", FEB) if row["chargeType"] == "Refund"]
    january_invoice = {row["invoiceId"] for row in _rows(sample, "mca-actual", JAN)}
    assert refunds and {row["previousInvoiceId"] for row in refunds} == january_invoice


def test_marketplace_rows_name_a_third_party_publisher(sample):
    for export, kind, name in (
        ("ea-actual", "PublisherType", "PublisherName"),
        ("mca-actual", "publisherType", "publisherName"),
    ):
        marketplace = [row for row in _rows(sample, export, JAN) if row[kind] == "Marketplace"]
        assert {row[name] for row in marketplace} - {"Microsoft", "Microsoft Corporation", None}
        assert {_value(row, "ChargeType") for row in marketplace} == {"Usage", "Purchase", "Refund"}


def test_units_and_regions_come_in_several_spellings(sample):
    rows = _rows(sample, "ea-actual", JAN)
    assert {"1 Hour", "10 Hours", "100 Hours", "1 GB/Month", "10K"} <= {row["UnitOfMeasure"] for row in rows}
    assert {"US East", "eastus", "EastUS", ""} <= {row["ResourceLocation"] for row in rows}


def test_services_units_and_locations_are_in_the_toolkits_reference_tables(sample):
    def reference(name):
        with (REFERENCE / name).open(encoding="utf-8-sig", newline="") as text:
            return list(csv.DictReader(text))

    services = {(r["ConsumedService"].lower(), r["ResourceType"].lower()) for r in reference("Services.csv")}
    units = {
        (r["UnitOfMeasure"], t.strip()) for r in reference("PricingUnits.csv") for t in r["AccountTypes"].split(",")
    }
    regions = {r["OriginalValue"].lower() for r in reference("Regions.csv")}
    for export, agreement in (("ea-amortized", "EA"), ("mca-actual", "MCA"), ("ea-actual", "EA")):
        for row in _rows(sample, export, JAN):
            if _value(row, "ResourceId"):
                assert (_value(row, "ConsumedService").lower(), _resource_type(_value(row, "ResourceId"))) in services
            if _value(row, "UnitOfMeasure"):
                assert (_value(row, "UnitOfMeasure"), agreement) in units
            for column in ("ResourceLocation", "MeterRegion", "location" if agreement == "MCA" else "ResourceLocation"):
                if _value(row, column):
                    assert _value(row, column).lower() in regions


def _resource_type(resource_id: str) -> str:
    """`…/providers/Microsoft.Sql/servers/s1/databases/d1` → `microsoft.sql/servers/databases`."""
    namespace, *rest = resource_id.rsplit("/providers/", 1)[1].split("/")
    return "/".join([namespace, *rest[0::2]]).lower()


def test_focus_exports_have_the_column_sets_of_their_versions(sample):
    metadata = json.loads((REFERENCE / "FocusCost_1.2-preview.json").read_text())
    _, manifest = _runs(sample, "focus-cost", JAN)[-1]
    part = _local(sample, manifest["blobs"][0]["blobName"])
    assert pq.read_schema(part).names == [column["ColumnName"] for column in metadata["Columns"]]
    assert manifest["exportConfig"]["dataVersion"] == "1.2-preview"
    _, older = _runs(sample, "focus-cost-1-0r2", JAN)[-1]
    row = _rows(sample, "focus-cost-1-0r2", JAN)[0]
    assert older["exportConfig"]["dataVersion"] == "1.0r2" and len(row) == 96
    assert {"x_InvoiceId", "x_PricingCurrency", "x_SkuMeterName"} <= set(row)
    assert not {"InvoiceId", "PricingCurrency", "SkuMeter", "ServiceSubcategory"} & set(row)
    assert row["ChargePeriodStart"] == "2025-01-01T00:00:00Z"  # 1.0r2 writes seconds, 1.0 did not


def test_settings_entries_point_at_the_mirror_with_each_format(sample):
    assert [(e["name"], e["format"]) for e in sample.settings] == [
        ("ea-actual", "actual"),
        ("ea-amortized", "amortized"),
        ("mca-actual", "actual"),
        ("mca-amortized", "amortized"),
        ("focus-cost", "focus1.2"),
        ("focus-cost-1-0r2", "focus1.0"),
    ]
    assert {e["uri"] for e in sample.settings} == {(sample.root / sample.root_folder_path).resolve().as_uri()}
    assert all((sample.root / sample.root_folder_path / e["name"]).is_dir() for e in sample.settings)
    remote = sample.storage_settings("azurite")
    assert {(e["uri"], e["conn_id"]) for e in remote} == {(f"abfs://{CONTAINER}/{sample.root_folder_path}", "azurite")}
