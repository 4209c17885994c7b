"""A serving layer published from generated billing data of two clouds, as `make demo` publishes it, in two
currencies: AWS (one payer switching to EUR) and Azure (an EA enrollment in USD, an MCA billing profile in
EUR), so every card is tried with the provider filter splitting real rows of both."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from include.aws.sample_data import PAYERS
from include.azure.provider import AZURE
from include.azure.sample_data import DEMO_EXPORTS, AzureSample, write_exports
from include.focus.validator import load_allowlist, validate_mart, verdict_record
from include.orchestration.focus_models import focus_build_plan
from include.serving.publish import publish, publish_validation
from include.sql import sql_qualified
from tests.dbt.conftest import dbt
from tests.helpers import load_every_delivery

MONTHS = ["2025-01", "2025-02", "2025-03"]
# The first payer switches its billing currency to EUR in February; the other payer stays in USD. So
# the latest months hold both currencies, and the EUR payer's months hold both across the year.
EUR_PAYER = next(iter(PAYERS))
EUR_FROM = "2025-02"


@pytest.fixture(scope="session")
def azure_sample(tmp_path_factory) -> AzureSample:
    """Azure's EA and MCA cost details (actual + amortized) of MONTHS, the last one open."""
    exports = tuple(spec for spec in DEMO_EXPORTS if spec.dataset in ("actual", "amortized"))
    months = [date.fromisoformat(f"{month}-01") for month in MONTHS]
    return write_exports(tmp_path_factory.mktemp("azure"), months, exports=exports, rows=300)


@pytest.fixture(scope="session")
def two_currency_warehouse(focus_warehouse, azure_sample, tmp_path_factory) -> Path:
    """A copy of `focus_warehouse` whose month tables and mart bill EUR_PAYER in EUR from EUR_FROM on, with
    `azure_sample` loaded and built beside it.

    The generator writes USD only; the loader and dbt carry lineItem/CurrencyCode through as is, so
    relabelling both is what an EUR delivery would have built (amounts are whatever AWS wrote).
    """
    path = tmp_path_factory.mktemp("two_currencies") / "warehouse.duckdb"
    shutil.copyfile(focus_warehouse.path, path)
    with duckdb.connect(str(path)) as con:
        tables = con.execute(
            "SELECT table_name FROM finops_meta.load_ledger WHERE status = 'loaded' AND provider = 'aws'"
        ).fetchall()
        for (table,) in tables:  # every AWS export here is a CUR (legacy or 2.0)
            con.execute(
                f"UPDATE {sql_qualified(*table.split('.', 1))} SET line_item_currency_code = 'EUR' "
                "WHERE bill_payer_account_id = ? AND _billing_period >= CAST(? AS DATE)",
                [EUR_PAYER, f"{EUR_FROM}-01"],
            ).fetchall()
            # and the sums per currency its load would have recorded
            con.execute(
                "UPDATE finops_meta.load_ledger SET billed_cost_by_currency = (SELECT list({'currency': currency, "
                "'billed_cost': cost} ORDER BY currency) FROM (SELECT line_item_currency_code AS currency, "
                f"sum(line_item_unblended_cost::DECIMAL(38, 18)) AS cost FROM {sql_qualified(*table.split('.', 1))} "
                "GROUP BY ALL)) WHERE status = 'loaded' AND table_name = ?",
                [table],
            ).fetchall()
        con.execute(
            "UPDATE focus.cost_and_usage SET BillingCurrency = 'EUR', "
            "PricingCurrency = CASE WHEN PricingCurrency = 'USD' THEN 'EUR' ELSE PricingCurrency END, "
            "CommitmentDiscountUnit = CASE WHEN CommitmentDiscountUnit = 'USD' THEN 'EUR' "
            "ELSE CommitmentDiscountUnit END "
            "WHERE BillingAccountId = ? AND x_BillingPeriod >= CAST(? AS DATE)",
            [EUR_PAYER, f"{EUR_FROM}-01"],
        ).fetchall()
    load_every_delivery(path, AZURE, azure_sample.settings)
    dbt(path, "build", partitions=focus_build_plan(path, [])["source_partitions"])  # Azure's: loaded, not built
    return path


@pytest.fixture(scope="session")
def served(two_currency_warehouse, tmp_path_factory) -> Path:
    """The two-currency mart validated by the real focus-validator, then published."""
    root = tmp_path_factory.mktemp("serving")
    report = validate_mart(two_currency_warehouse, tmp_path_factory.mktemp("validation"))
    verdict = verdict_record(report, load_allowlist(), MONTHS)
    publish_validation(root, verdict)
    result = publish(two_currency_warehouse, root, MONTHS)
    assert not result.held_back, f"{verdict['verdict']}\n{verdict['failing_rules']}"
    return root
