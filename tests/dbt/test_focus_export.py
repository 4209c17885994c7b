"""AWS's own FOCUS exports, FOCUS_1_2_AWS and FOCUS_1_0_AWS, load into the mart beside the CURs.

The deliveries are made from the session mart's CUR-derived rows (tests/dbt/focus_exports.py) and
loaded, with the CUR exports they came from, into one warehouse: January arrives through all four
formats, February through both CURs and the FOCUS 1.0 export, March through the CURs only. FOCUS
1.0 comes out as FOCUS 1.2; every dataset has one name, which the serving layer ranks.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from decimal import Decimal

import pytest

from include.aws.columns import athena_column_name
from include.aws.settings import AWS_DATASETS
from include.focus.validator import load_allowlist, unexpected_failures, validate_mart, verdict_record
from include.serving.publish import connect_serving, publish, publish_validation, serving_ranks
from tests.conftest import FEB, JAN, S3_URI
from tests.dbt.conftest import EXPORTS as CUR_EXPORTS
from tests.dbt.conftest import dbt, query
from tests.dbt.focus_exports import ADDED_BY_1_1, ADDED_BY_1_2, COST_CATEGORY, write_focus_delivery
from tests.helpers import deliveries, load, loaded_ledger, local_export

# export → (format, FOCUS version, months delivered, the CUR export whose rows it carries)
FOCUS_EXPORTS = {
    "focus-1-2": ("focus1.2", "1.2", (JAN,), "cur2"),
    "focus-1-0": ("focus1.0", "1.0", (JAN, FEB), "legacy"),
}
FORMATS = {export: fmt for export, (fmt, *_) in FOCUS_EXPORTS.items()} | dict(CUR_EXPORTS)  # export → format
# Columns a converted FOCUS 1.0 row may not share with the CUR-derived row it was made from, and why.
CONVERTED_DIFFERENTLY = {
    "InvoiceId": "FOCUS 1.0 has no InvoiceId",
    "Tags": "gains the row's cost categories (checked on its own)",
    "CommitmentDiscountQuantity": "reservations: the 1.0 row's PricingQuantity (checked on its own)",
    "CommitmentDiscountUnit": "reservations: the 1.0 row's PricingUnit",
    "HostProviderName": "AWS's exports name AWS on every row; the CUR mapping leaves tax and adjustments null",
}


@pytest.fixture(scope="module")
def exports(focus_warehouse, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("focus-exports")
    warehouse, root = workdir / "warehouse.duckdb", workdir / "mirror"
    delivered = {}
    for export, (fmt, version, months, source) in FOCUS_EXPORTS.items():
        for month in months:
            delivered[(export, month)] = write_focus_delivery(
                focus_warehouse.path, root, export, version, month, source
            )
        for delivery in deliveries(local_export(export, fmt, root, S3_URI)):
            load(warehouse, delivery)
    for name, fmt in CUR_EXPORTS:
        for delivery in deliveries(local_export(name, fmt, focus_warehouse.root, S3_URI)):
            load(warehouse, delivery)
    dbt(warehouse, "build")
    return warehouse, delivered


@pytest.mark.parametrize(("export", "month"), [("focus-1-2", JAN), ("focus-1-0", JAN), ("focus-1-0", FEB)])
def test_focus_export_rows_reach_the_mart_with_their_money(exports, focus_warehouse, export, month):
    warehouse, delivered = exports
    datasets, rows, billed, effective = query(
        warehouse,
        "SELECT list(DISTINCT x_Dataset), count(*), sum(BilledCost), sum(EffectiveCost) FROM focus.cost_and_usage "
        "WHERE x_ExportName = ? AND x_BillingPeriod = ?",
        [export, month],
    )[0]
    fmt, _, _, source = FOCUS_EXPORTS[export]
    expected = focus_warehouse.expected[(source, f"{month:%Y-%m}")]
    assert datasets == [AWS_DATASETS[fmt]]
    assert rows == delivered[(export, month)] > 0
    assert abs(Decimal(str(billed)) - expected.billed) <= Decimal("1e-6")
    assert abs(Decimal(str(effective)) - expected.amortized) <= Decimal("1e-6")


def test_focus_1_2_tags_come_back_as_the_same_json_and_providers_are_filled(exports, focus_warehouse):
    warehouse, _ = exports
    passed_through = query(
        warehouse,
        "SELECT count(*) FILTER (WHERE Tags IS NOT NULL), count(DISTINCT Tags), "
        "bool_and(ServiceProviderName = ProviderName AND HostProviderName = ProviderName), "
        "count(DISTINCT x_RowKey) = count(*), list(DISTINCT x_SourcePartition) FROM focus.cost_and_usage "
        "WHERE x_ExportName = 'focus-1-2'",
    )[0]
    original = query(
        focus_warehouse.path,
        "SELECT count(*) FILTER (WHERE Tags IS NOT NULL), count(DISTINCT Tags) FROM focus.cost_and_usage "
        "WHERE x_ExportName = 'cur2' AND x_BillingPeriod = ?",
        [JAN],
    )[0]
    assert passed_through[:2] == original and original[0] > 0
    assert passed_through[2:] == (True, True, [f"{AWS_DATASETS['focus1.2']}/focus-1-2/2025-01"])


def _focus_columns(warehouse) -> list[str]:
    return [
        name
        for (name,) in query(
            warehouse,
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'focus' AND table_name = 'cost_and_usage' "
            "AND NOT starts_with(column_name, 'x_') ORDER BY column_index",
        )
    ]


def test_focus_1_0_rows_are_the_focus_1_2_rows_they_were_made_from(exports, focus_warehouse):
    """What FOCUS 1.1 and 1.2 added is derived again, equal to the CUR mapping's values."""
    warehouse, _ = exports
    compared = [name for name in _focus_columns(warehouse) if name not in CONVERTED_DIFFERENTLY]
    assert set(ADDED_BY_1_1 + ADDED_BY_1_2) - set(CONVERTED_DIFFERENTLY) <= set(compared)
    select = f"SELECT {', '.join(f'"{name}"' for name in compared)}, x_UsageType, x_ServiceCode, x_Operation"
    where = "WHERE x_BillingPeriod IN (?, ?)"
    converted = query(
        warehouse, f"{select} FROM focus.cost_and_usage {where} AND x_ExportName = 'focus-1-0'", [JAN, FEB]
    )
    original = query(
        focus_warehouse.path, f"{select} FROM focus.cost_and_usage {where} AND x_ExportName = 'legacy'", [JAN, FEB]
    )
    assert Counter(converted) == Counter(original)


def test_focus_1_0_cost_categories_join_the_resource_tags(exports, focus_warehouse):
    warehouse, _ = exports
    key = f"costCategory/{athena_column_name(COST_CATEGORY)}"
    select = "SELECT ChargeCategory, SubAccountId, Tags FROM focus.cost_and_usage WHERE x_BillingPeriod IN (?, ?)"
    converted = query(warehouse, f"{select} AND x_ExportName = 'focus-1-0'", [JAN, FEB])
    original = query(focus_warehouse.path, f"{select} AND x_ExportName = 'legacy'", [JAN, FEB])
    expected = Counter(
        json.dumps(json.loads(tags or "{}") | ({key: f"bu-{account}"} if category == "Usage" else {}), sort_keys=True)
        for category, account, tags in original
    )
    assert Counter(json.dumps(json.loads(tags or "{}"), sort_keys=True) for *_, tags in converted) == expected
    assert any(tags for *_, tags in original)  # resource tags were there to keep


def test_focus_1_0_commitments_are_counted_in_their_pricing_unit_or_currency(exports):
    warehouse, _ = exports
    rows = query(
        warehouse,
        "SELECT CommitmentDiscountCategory, ChargeCategory, CommitmentDiscountQuantity, CommitmentDiscountUnit, "
        "PricingQuantity, PricingUnit, BillingCurrency, BilledCost, EffectiveCost FROM focus.cost_and_usage "
        "WHERE x_ExportName = 'focus-1-0' AND CommitmentDiscountId IS NOT NULL",
    )
    assert {category for category, *_ in rows} == {"Usage", "Spend"}
    for category, charge, quantity, unit, pricing_quantity, pricing_unit, currency, billed, effective in rows:
        if category == "Spend":
            assert (quantity, unit) == (billed if charge == "Purchase" else effective, currency)
        else:  # a reservation in what AWS priced (none where the 1.0 row has no PricingQuantity)
            assert (quantity, unit) == (pricing_quantity, pricing_unit if pricing_quantity is not None else None)
    assert any(quantity is not None for category, _, quantity, *_ in rows if category == "Usage")


@pytest.fixture(scope="module")
def validation(exports, tmp_path_factory):
    warehouse, _ = exports
    return validate_mart(warehouse, tmp_path_factory.mktemp("validator"))


def test_the_mart_with_every_aws_format_fails_no_validator_rule_beyond_the_allowlist(validation):
    assert validation.evaluated > 500 and unexpected_failures(validation, load_allowlist()) == {}


def test_each_dataset_has_one_name_in_the_ledger_the_source_views_the_mart_and_the_serving_preference(exports):
    warehouse, _ = exports
    registered = dict(query(warehouse, "SELECT DISTINCT export, dataset FROM finops_meta.load_ledger"))
    views = {
        name for (name,) in query(warehouse, "SELECT view_name FROM duckdb_views() WHERE schema_name = 'sources_aws'")
    }
    produced = dict(
        query(warehouse, "SELECT x_ExportName, any_value(x_Dataset) FROM focus.cost_and_usage GROUP BY ALL")
    )
    assert registered == produced == {export: AWS_DATASETS[fmt] for export, fmt in FORMATS.items()}
    assert views == set(produced.values()) == set(AWS_DATASETS.values())
    assert set(AWS_DATASETS.values()) <= set(serving_ranks())  # every format has its rank


def test_dashboards_read_a_focus_export_rather_than_a_cur_of_the_same_account(exports, validation, tmp_path):
    warehouse, _ = exports
    # each month, the most preferred of the datasets whose exports delivered it
    datasets = defaultdict(set)
    for export, month, *_ in loaded_ledger(warehouse):
        datasets[month].add(AWS_DATASETS[FORMATS[export]])
    chosen = {month: min(offered, key=serving_ranks().__getitem__) for month, offered in datasets.items()}
    months = sorted(chosen)
    assert len(set(chosen.values())) > 1  # the months are served from different datasets
    serving = tmp_path / "serving"
    publish_validation(serving, verdict_record(validation, load_allowlist(), months))
    publish(warehouse, serving, months)
    with connect_serving(serving) as con:
        served = con.execute(
            "SELECT billing_period, BillingAccountId, list(DISTINCT x_Dataset), count(*) FROM cost_and_usage "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    in_mart = dict(
        ((f"{month:%Y-%m}", account, dataset), rows)
        for month, account, dataset, rows in query(
            warehouse,
            "SELECT x_BillingPeriod, BillingAccountId, x_Dataset, count(*) FROM focus.cost_and_usage GROUP BY ALL",
        )
    )
    accounts = {account for _, account, _ in in_mart}
    assert len(accounts) > 1
    assert served == [
        (month, account, [chosen[month]], in_mart[(month, account, chosen[month])])
        for month in months
        for account in sorted(accounts)
    ]
