"""The generator's deliveries have the quirks of real CURs that the models must handle.

Read back from the files it wrote (legacy CSV and CUR 2.0 Parquet), so a change to the generator
that loses a quirk fails here, not silently in the tests that rely on it.
"""

from __future__ import annotations

import duckdb
import pytest

from include.aws.sample_data import PAYERS, generate
from tests.conftest import FEB, JAN, S3_URI

# The legacy CUR columns and their CUR 2.0 counterparts (the product attributes live in its map).
COLUMNS = {
    "cur1": {
        "payer": '"bill/PayerAccountId"',
        "invoice": '"bill/InvoiceId"',
        "type": '"lineItem/LineItemType"',
        "cost": 'CAST("lineItem/UnblendedCost" AS DECIMAL(38, 8))',
        "description": '"lineItem/LineItemDescription"',
        "family": '"product/productFamily"',
        "region_code": '"product/regionCode"',
        "region": '"product/region"',
        "from_region": '"product/fromRegionCode"',
        "to_region": '"product/toRegionCode"',
        "from_location": '"product/fromLocation"',
        "sku": '"product/sku"',
        "rate_id": '"pricing/RateId"',
        "rate_code": '"pricing/RateCode"',
        "unit": '"pricing/unit"',
    },
    "cur2": {
        "payer": "bill_payer_account_id",
        "invoice": "bill_invoice_id",
        "type": "line_item_line_item_type",
        "cost": "CAST(line_item_unblended_cost AS DECIMAL(38, 8))",
        "description": "line_item_line_item_description",
        "family": "product_product_family",
        "region_code": "product_region_code",
        "region": "product['region']",
        "from_region": "product['from_region_code']",
        "to_region": "product['to_region_code']",
        "from_location": "product['from_location']",
        "sku": "product_sku",
        "rate_id": "pricing_rate_id",
        "rate_code": "pricing_rate_code",
        "unit": "pricing_unit",
    },
}
NAMES = {"cur1": "sample-cur-legacy", "cur2": "sample-cur2"}


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    """January and February in both formats, as `generate` writes them: February is still open."""
    root = tmp_path_factory.mktemp("sample")
    return root, generate(root, [JAN, FEB], rows=1_500, s3_uri=S3_URI, chunk_rows=700)


def _select(delivered, fmt: str, month, select: str, where: str = "true") -> list[tuple]:
    """`select` over one delivered month; {name} placeholders are the COLUMNS of that format."""
    root, totals = delivered
    files = [str(root / f) for f in totals[(NAMES[fmt], f"{month:%Y-%m}")].files]
    source = f"read_csv({files}, all_varchar = true)" if fmt == "cur1" else f"read_parquet({files})"
    sql = f"SELECT {select} FROM {source} WHERE {where}".format(**COLUMNS[fmt])
    with duckdb.connect() as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize("fmt", ["cur1", "cur2"])
def test_closed_months_carry_one_invoice_per_payer_and_the_open_month_none(delivered, fmt):
    per_payer = "{payer}, count(DISTINCT {invoice}), count({invoice}) = count(*)"
    assert sorted(_select(delivered, fmt, JAN, per_payer, "true GROUP BY 1")) == [(p, 1, True) for p in sorted(PAYERS)]
    assert sorted(_select(delivered, fmt, FEB, "{payer}, count({invoice})", "true GROUP BY 1")) == [
        (payer, 0) for payer in sorted(PAYERS)
    ]


@pytest.mark.parametrize("fmt", ["cur1", "cur2"])
def test_rate_ids_are_shared_by_several_skus_and_each_rate_code_is_one_price_of_one_sku(delivered, fmt):
    skus_per_rate_id = _select(delivered, fmt, JAN, "count(DISTINCT {sku})", "{rate_id} IS NOT NULL GROUP BY {rate_id}")
    assert any(skus > 1 for (skus,) in skus_per_rate_id)
    rate_codes = _select(
        delivered,
        fmt,
        JAN,
        "{rate_code}, count(DISTINCT {sku}), any_value({sku})",
        "{rate_code} IS NOT NULL GROUP BY 1",
    )
    assert rate_codes and all(skus == 1 and code.startswith(f"{sku}.") for code, skus, sku in rate_codes)
    assert _select(delivered, fmt, JAN, "count(*)", "({sku} IS NULL) <> ({rate_code} IS NULL)") == [(0,)]


@pytest.mark.parametrize("fmt", ["cur1", "cur2"])
def test_data_transfer_has_no_region_code_but_names_the_regions_it_runs_between(delivered, fmt):
    [(rows, with_code, with_region, with_from, with_location, between_regions)] = _select(
        delivered,
        fmt,
        JAN,
        "count(*), count({region_code}), count({region}), count({from_region}), count({from_location}), "
        "count({to_region})",
        "{family} = 'Data Transfer'",
    )
    assert rows > 0 and with_code == 0 and with_from == with_location == rows
    assert 0 < with_region < rows  # product/region too is missing on some: the region code is in fromRegionCode only
    assert 0 < between_regions < rows  # the free-tier lines go to the internet


@pytest.mark.parametrize("fmt", ["cur1", "cur2"])
def test_global_services_say_global_and_tax_has_no_region(delivered, fmt):
    assert _select(delivered, fmt, JAN, "DISTINCT {region_code}, {from_region}", "{region} = 'global'") == [
        (None, None)
    ]
    assert _select(delivered, fmt, JAN, "DISTINCT {region_code}, {region}, {from_region}", "{type} = 'Tax'") == [
        (None, None, None)
    ]


def test_units_come_in_aws_spellings_singular_and_plural(delivered):
    units = {unit for (unit,) in _select(delivered, "cur1", JAN, "DISTINCT {unit}")}
    assert {"Hrs", "hours", "GB", "GB-Mo", "Requests", "Request", "IOs", "Lambda-GB-Second", "Count"} <= units


@pytest.mark.parametrize("fmt", ["cur1", "cur2"])
def test_each_payer_has_a_free_tier_line_and_a_credit(delivered, fmt):
    free_tier = _select(
        delivered, fmt, JAN, "{payer}, {cost}", "{type} = 'Usage' AND {description} LIKE '%free tier%' ORDER BY 1"
    )
    assert free_tier == [(payer, 0) for payer in sorted(PAYERS)]
    credits = _select(delivered, fmt, JAN, "{payer}, bool_and({cost} < 0)", "{type} = 'Credit' GROUP BY 1 ORDER BY 1")
    assert credits == [(payer, True) for payer in sorted(PAYERS)]


def test_legacy_cur_and_cur2_carry_the_same_invoices_regions_and_prices(delivered):
    compared = "{payer}, {invoice}, {region_code}, {region}, {from_region}, {to_region}, {sku}, {rate_id}, {rate_code}"
    for month in (JAN, FEB):
        legacy = _select(delivered, "cur1", month, compared, "true ORDER BY ALL")
        assert legacy == _select(delivered, "cur2", month, compared, "true ORDER BY ALL")
