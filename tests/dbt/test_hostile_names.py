"""Tag keys from hostile names (tests/hostile_names.py) come through dbt into Tags, and run nothing there.

One month of three exports: a legacy CUR CSV (its header names tags and cost categories), a legacy
CUR Parquet in the Athena layout (its column names do) and a CUR 2.0 Parquet (its tag maps' keys
do), each carrying every hostile name a loader accepts in that shape. dbt's models splice the legacy
column names into SQL as identifiers and as Tags keys; dbt must build, keep every key and value,
and leave the loader's objects as they were.
"""

from __future__ import annotations

import json

import pytest

from include.aws.sample_data import write_month
from tests.conftest import JAN, S3_URI
from tests.dbt.conftest import dbt, query
from tests.helpers import deliveries, load, local_export
from tests.hostile_names import HOSTILE_NAMES, SHAPES, catalog, deliver, expected_tags

EXPORTS = {"legacy CSV": "legacy", "legacy Parquet": "athena", "CUR 2.0": "cur2"}
# A CSV header is read line by line: the loader refuses a name with a line break (tests/include/aws).
NAMES = {
    shape: [name for case, name in HOSTILE_NAMES.items() if (shape, case) != ("legacy CSV", "newline")]
    for shape in SHAPES
}
LOADER_SCHEMAS = ("main", "aws_cur", "sources_aws", "finops_meta")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The warehouse, and the loader's objects before and after `dbt build`."""
    workdir = tmp_path_factory.mktemp("hostile")
    warehouse, root = workdir / "warehouse.duckdb", workdir / "mirror"

    def write(name, fmt, month):
        return write_month(root, name, fmt, month, rows=300, s3_uri=S3_URI, chunk_rows=200, first_month=JAN)

    write.root = root
    for shape, export in EXPORTS.items():
        deliver(write, shape, export, JAN, NAMES[shape])
        [delivery] = deliveries(local_export(export, SHAPES[shape], root, S3_URI))
        load(warehouse, delivery)
    before = catalog(warehouse, LOADER_SCHEMAS)
    dbt(warehouse, "build")
    return warehouse, before, catalog(warehouse, LOADER_SCHEMAS)


@pytest.mark.parametrize("shape", EXPORTS)
def test_every_hostile_tag_key_and_value_reaches_tags_of_every_row(built, shape):
    warehouse, _, _ = built
    expected = {key: value for name in NAMES[shape] for key, value in expected_tags(shape, name).items()}
    assert len(expected) == 2 * len(NAMES[shape])  # no two names give one key
    tags = query(warehouse, "SELECT Tags FROM focus.cost_and_usage WHERE x_ExportName = ?", [EXPORTS[shape]])
    assert tags, "the export has rows in the mart"
    carried = [{key: value for key, value in json.loads(row).items() if key in expected} for (row,) in tags]
    assert carried == [expected] * len(tags)


def test_dbt_leaves_the_loaders_objects_as_they_were(built):
    _, before, after = built
    assert after == before
