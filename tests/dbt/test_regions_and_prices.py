"""RegionId and SkuPriceId on the shapes real CURs have, in legacy CUR and CUR 2.0.

The generator's deliveries carry them: data transfer with an empty `product/regionCode` that names
its regions only in `product/region` / `product/fromRegionCode` (CUR 2.0: the `product` map),
global services, tax, and `pricing/RateId`s shared by the SKUs of several regions. Each mart row
is compared with the source line it came from, the expectation computed from that line. Lines
that name their region only by `product/location` come from a real file (Red Hat's `nise`), with
the location spellings of AWS's Price List and SDK.
"""

from __future__ import annotations

import csv
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from itertools import cycle

import pytest

from tests.conftest import S3_URI, SHARED
from tests.dbt.conftest import dbt, query
from tests.dbt.cur_files import read_cur_csv, wrap_as_legacy_cur, write_as_cur2
from tests.dbt.cur_rules import expected_region, expected_sku_price_id, region_names
from tests.helpers import deliveries, load, local_export

# Per dataset: the source view and how its line's region fields and prices are read.
SOURCE_FIELDS = {
    "aws_cur1": (
        "sources_aws.aws_cur1",
        "product_region_code, product_region, product_from_region_code, NULL, product_sku, pricing_rate_code",
    ),
    "aws_cur2": (
        "sources_aws.aws_cur2",
        "product_region_code, product['region'], product['from_region_code'], product['location'], "
        "product_sku, pricing_rate_code",
    ),
}


def _mart_rows_with_their_source_lines(focus_warehouse, dataset: str) -> list[tuple]:
    view, fields = SOURCE_FIELDS[dataset]
    return query(
        focus_warehouse.path,
        f"SELECT line_item_line_item_type, {fields}, pricing_rate_id, RegionId, SkuId, SkuPriceId "
        f"FROM focus.cost_and_usage JOIN {view} AS line "
        "ON x_RowKey = line._export || '/' || identity_line_item_id || '/' || identity_time_interval "
        "WHERE x_Dataset = ?",
        [dataset],
    )


@pytest.mark.parametrize("dataset", SOURCE_FIELDS)
def test_every_charge_gets_the_region_its_line_names(focus_warehouse, dataset):
    rows = _mart_rows_with_their_source_lines(focus_warehouse, dataset)
    by_region_fields = Counter(
        (kind, region_code, region, from_region_code, location, region_id)
        for kind, region_code, region, from_region_code, location, *_, region_id, _, _ in rows
    )
    assert {fields: expected_region(*fields[:5]) for fields in by_region_fields} == {
        fields: fields[5] for fields in by_region_fields
    }
    # the shapes are there: data transfer without a region code, named by region or by source region only
    assert any(not code and region and region != "global" for _, code, region, *_ in by_region_fields)
    assert any(not code and not region and source for _, code, region, source, *_ in by_region_fields)
    assert any(region == "global" for _, _, region, *_ in by_region_fields)


@pytest.mark.parametrize("dataset", SOURCE_FIELDS)
def test_sku_price_is_the_rate_code_one_price_of_one_sku_though_rate_ids_are_shared(focus_warehouse, dataset):
    rows = _mart_rows_with_their_source_lines(focus_warehouse, dataset)
    skus_per_rate_id, skus_per_price = {}, {}
    for *_, sku, rate_code, rate_id, _, sku_id, sku_price_id in rows:
        assert (sku_id, sku_price_id) == (sku, expected_sku_price_id(sku, rate_code))
        skus_per_rate_id.setdefault(rate_id, set()).add(sku)
        skus_per_price.setdefault(sku_price_id, set()).add(sku_id)
    assert max(len(skus) for rate_id, skus in skus_per_rate_id.items() if rate_id) > 1  # AWS shares RateIds
    assert all(len(skus) == 1 for price, skus in skus_per_price.items() if price)  # FOCUS SkuPriceId-C-008-M


# product/location as AWS spells it → the region it is. CURs use the Price List's names, which for
# Europe differ from the SDK's ("EU (Ireland)", not "Europe (Ireland)"); both must map.
LOCATIONS = {
    "EU (Ireland)": "eu-west-1",
    "EU (Frankfurt)": "eu-central-1",
    "EU (Stockholm)": "eu-north-1",
    "Europe (Ireland)": "eu-west-1",
    "US East (N. Virginia)": "us-east-1",
    "US West (Oregon)": "us-west-2",
    "Asia Pacific (Tokyo)": "ap-northeast-1",
    "AWS GovCloud (US-West)": "us-gov-west-1",
}
# Red Hat's nise writes product/location and no region code: every line names its region only by location.
LOCATION_ONLY_SAMPLE = SHARED / "samples" / "aws" / "koku_cur1_nise_generated.csv"
LOCATION_EXPORTS = {"located": "cur1", "located-cur2": "cur2"}


@pytest.fixture(scope="module")
def located(tmp_path_factory):
    """The nise file's lines with their locations cycled through LOCATIONS, as legacy CUR and as CUR 2.0."""
    workdir = tmp_path_factory.mktemp("locations")
    header, rows = read_cur_csv(LOCATION_ONLY_SAMPLE)
    assert not {"product/regionCode", "product/region", "product/fromRegionCode"} & set(header)
    for row, location in zip(rows, cycle(LOCATIONS), strict=False):
        row["product/location"] = location
    source = workdir / "located.csv"
    with open(source, "w", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
    warehouse, root = workdir / "warehouse.duckdb", workdir / "mirror"
    wrap_as_legacy_cur(source, root, "located")
    write_as_cur2(source, root, "located-cur2")
    for export, fmt in LOCATION_EXPORTS.items():
        for delivery in deliveries(local_export(export, fmt, root, S3_URI)):
            load(warehouse, delivery)
    dbt(warehouse, "build")
    return warehouse, rows


@pytest.mark.parametrize("export", LOCATION_EXPORTS)
def test_a_line_named_only_by_location_gets_its_region_in_either_spelling(located, export):
    warehouse, rows = located
    mart = query(
        warehouse,
        "SELECT split_part(x_RowKey, '/', 2), RegionId, RegionName FROM focus.cost_and_usage WHERE x_ExportName = ?",
        [export],
    )
    names = region_names()
    expected = Counter(
        (row["identity/LineItemId"], LOCATIONS[row["product/location"]], names[LOCATIONS[row["product/location"]]])
        for row in rows
    )
    assert Counter(mart) == expected
    assert {row["product/location"] for row in rows} == set(LOCATIONS)  # every spelling is in the file


@pytest.mark.parametrize("export", LOCATION_EXPORTS)
def test_looking_up_the_location_adds_no_row_and_no_cost(located, export):
    warehouse, rows = located
    [(count, billed)] = query(
        warehouse, "SELECT count(*), sum(BilledCost) FROM focus.cost_and_usage WHERE x_ExportName = ?", [export]
    )
    exact = Decimal("1e-18")  # the warehouse's DECIMAL(38, 18)
    assert (count, billed) == (
        len(rows),
        sum(Decimal(row["lineItem/UnblendedCost"]).quantize(exact, rounding=ROUND_HALF_UP) for row in rows),
    )
