"""How CUR columns are named and typed in the warehouse.

Legacy CUR headers (`lineItem/UnblendedCost`) get the Athena/Parquet name AWS itself derives
(`line_item_unblended_cost`); CUR 2.0 and FOCUS names are already final and are kept. The source
name is kept as the column's comment, so a tag key such as `resourceTags/user:CostCenter` stays
recoverable after normalisation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from include.warehouse.loader import NUMBER, TIMESTAMP, type_kind

# Wide enough for any CUR amount (20 integer digits) and for per-unit rates with many decimals.
DECIMAL_TYPE = "DECIMAL(38,18)"

# Manifest types are read as the loader reads them (type_kind), so what a CSV column is cast to is what the
# loader's type check expects. AWS's legacy manifests say String, OptionalString, BigDecimal, OptionalBigDecimal,
# DateTime and Interval; any other number or time type (Double, Integer, Date, …) is cast the same way.
_CAST_BY_KIND = {NUMBER: DECIMAL_TYPE, TIMESTAMP: "TIMESTAMP"}
# Older manifests give no types: these name endings are amounts, the rest stays text.
_UNTYPED_DECIMAL = re.compile(
    r"^(lineItem|pricing|reservation|savingsPlan|discount)/.*(Cost|Rate|Amount|Fee|Quantity|Commitment\w*|Hours)$"
)
_UNTYPED_TIMESTAMP = re.compile(r"^(bill|lineItem)/\w*Date$")


def athena_column_name(source_name: str) -> str:
    """AWS's documented rule: `_` before capitals, lower-case, other characters to `_`, collapse."""
    name = re.sub(r"([A-Z])", r"_\1", source_name).lower()
    name = re.sub(r"[^a-z0-9]+", "_", name)
    return name.strip("_")


@dataclass(frozen=True)
class WarehouseColumn:
    """One column of a month table and the source columns it is read from."""

    name: str
    sql_type: str
    sources: tuple[str, ...]


def legacy_cur_columns(manifest_columns: list[tuple[str, str | None]]) -> list[WarehouseColumn]:
    """Map `(category/name, manifest type)` pairs to warehouse columns, in manifest order.

    Source names that normalise to the same column are merged into one (as Athena does), so the
    table never has two spellings of one tag.
    """
    merged: dict[str, WarehouseColumn] = {}
    for source, manifest_type in manifest_columns:
        name = athena_column_name(source)
        sql_type = _sql_type(source, manifest_type)
        if name in merged:
            earlier = merged[name]
            merged[name] = WarehouseColumn(name, earlier.sql_type, (*earlier.sources, source))
        else:
            merged[name] = WarehouseColumn(name, sql_type, (source,))
    return list(merged.values())


def _sql_type(source: str, manifest_type: str | None) -> str:
    if manifest_type:
        return _CAST_BY_KIND.get(type_kind(manifest_type), "VARCHAR")
    if _UNTYPED_DECIMAL.match(source):
        return DECIMAL_TYPE
    if _UNTYPED_TIMESTAMP.match(source):
        return "TIMESTAMP"
    return "VARCHAR"
