"""The documented CUR → FOCUS rules for RegionId and SkuPriceId, restated in Python to check the models against."""

from __future__ import annotations

import csv
from functools import cache

from include.orchestration.focus_models import DBT_PROJECT


@cache
def region_ids_by_location() -> dict[str, str]:
    """Seed aws_region_locations: every spelling of a region's name in product/location → region code."""
    with open(DBT_PROJECT / "seeds" / "aws_region_locations.csv", newline="") as handle:
        return {row["location"]: row["region_id"] for row in csv.DictReader(handle)}


@cache
def region_names() -> dict[str, str]:
    """Seed aws_regions: region code → display name (RegionName)."""
    with open(DBT_PROJECT / "seeds" / "aws_regions.csv", newline="") as handle:
        return {row["region_id"]: row["region_name"] for row in csv.DictReader(handle)}


def expected_region(
    line_item_type: str, region_code: str | None, region: str | None, from_region_code: str | None, location: str | None
) -> str | None:
    """product/regionCode, else product/region, else product/fromRegionCode, else product/location in any of
    its spellings; null on tax and on global charges."""
    named = region_code or region or from_region_code or ""
    if line_item_type == "Tax" or named.lower() == "global":
        return None
    return named or region_ids_by_location().get(location or "")


def expected_sku_price_id(sku: str | None, rate_code: str | None) -> str | None:
    """pricing/RateCode (one price of one SKU), else the SKU itself; null without a SKU."""
    return (rate_code or sku) if sku else None
