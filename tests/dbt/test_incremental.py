"""A run rebuilds exactly the source partitions it names (export × billing month): the mart is incremental by
`x_SourcePartition`, so another export's (or another provider's) rows of the same month are never rewritten."""

from __future__ import annotations

from decimal import Decimal

import pytest

from include.aws.settings import AWS_DATASETS
from include.orchestration.focus_models import source_partition
from tests.conftest import FEB, JAN
from tests.dbt.conftest import FocusWarehouse, dbt, query

MARKER = "left alone by the rebuild"
CUR2_FEB = source_partition(AWS_DATASETS["cur2"], "cur2", f"{FEB:%Y-%m}")


@pytest.fixture(scope="module")
def marked(tmp_path_factory) -> FocusWarehouse:
    """CUR 2.0 for January and February, legacy CUR for February, built; every row of the mart marked."""
    folder = tmp_path_factory.mktemp("incremental")
    built = FocusWarehouse(path=folder / "warehouse.duckdb", root=folder / "mirror")
    built.deliver("cur2", "cur2", JAN, rows=600)
    built.deliver("cur2", "cur2", FEB, rows=600)
    built.deliver("legacy", "cur1", FEB, rows=600)
    dbt(built.path, "build")
    built.mark_every_mart_row(MARKER)
    return built


@pytest.fixture
def built(marked, tmp_path) -> FocusWarehouse:
    """A copy of the marked warehouse and its mirror for one test to change."""
    return marked.copy(tmp_path / "copy")


def _partitions(built: FocusWarehouse) -> dict[str, tuple[int, Decimal, int]]:
    """x_SourcePartition → (rows, Σ BilledCost, rows still marked)."""
    rows = query(
        built.path,
        "SELECT x_SourcePartition, count(*), sum(BilledCost), count(*) FILTER (WHERE ChargeDescription = ?) "
        "FROM focus.cost_and_usage GROUP BY ALL",
        [MARKER],
    )
    return {partition: (count, Decimal(str(billed)), marked) for partition, count, billed, marked in rows}


def test_a_restated_partition_is_rebuilt_alone_not_the_other_exports_of_its_month(built):
    before = _partitions(built)
    assert len(before) == 3 and all(marked == rows > 0 for rows, _, marked in before.values())
    built.deliver("cur2", "cur2", FEB, revision=2, rows=900)
    restated = built.expected[("cur2", f"{FEB:%Y-%m}")]

    dbt(built.path, "run", partitions=CUR2_FEB)

    after = _partitions(built)
    assert {p: v for p, v in after.items() if p != CUR2_FEB} == {p: v for p, v in before.items() if p != CUR2_FEB}
    rows, billed, marked = after[CUR2_FEB]
    assert abs(billed - restated.billed) <= Decimal("1e-6") and marked == 0
    assert rows > before[CUR2_FEB][0]  # the restated delivery has more line items


def test_without_named_partitions_every_partition_is_rebuilt(built):
    dbt(built.path, "run")
    assert {marked for _, _, marked in _partitions(built).values()} == {0}


def test_a_malformed_partition_is_refused_before_anything_runs(built):
    before = _partitions(built)
    for named in (f"{CUR2_FEB}'; drop table x", "aws_cur2/cur2/2025-13", "2025-02"):
        with pytest.raises(pytest.fail.Exception, match="is not <dataset>/<export>/<YYYY-MM>"):
            dbt(built.path, "run", partitions=named)
    assert _partitions(built) == before


def test_staging_and_intermediate_models_are_inlined_so_runs_share_no_relation(built):
    """Ephemeral upstream models: concurrent runs (a backfill) have no shared view to clobber or half-see."""
    dbt(built.path, "run", partitions=CUR2_FEB)
    upstream = query(
        built.path,
        "SELECT name FROM (SELECT table_name AS name FROM duckdb_tables() "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal) "
        "WHERE name LIKE 'stg\\_%' ESCAPE '\\' OR name LIKE 'int\\_%' ESCAPE '\\'",
    )
    assert upstream == []
    assert query(built.path, "SELECT count(DISTINCT x_SourcePartition) FROM focus.cost_and_usage") == [(3,)]
