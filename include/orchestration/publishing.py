"""After dbt: gate the rebuilt months on focus-validator, then serve them (include.serving)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from airflow.sdk.exceptions import AirflowFailException

from include.focus.validator import (
    FOCUS_VERSION,
    load_allowlist,
    validate_mart,
    validator_available,
    validator_python,
    verdict_record,
)
from include.serving.publish import publish, publish_validation

log = logging.getLogger(__name__)


def months_of(plan: dict) -> list[str]:
    return [month for month in plan["billing_periods"].split(",") if month]


def validate_rebuilt_months(plan: dict, serving_root: Path) -> dict:
    """Run focus-validator on the months dbt rebuilt; the verdict is served either way.

    Fails when rules fail beyond the allowlist, so the previous (valid) data stays served.
    Without the validator's venv the check is recorded as "not run" and the data goes out.
    """
    months = months_of(plan)
    if not validator_available():
        record = {"status": "not run", "billing_periods": ",".join(months)}
        record["verdict"] = f"focus-validator not installed at {validator_python()} (make focus-validator)"
        log.warning(record["verdict"])
    else:
        with tempfile.TemporaryDirectory(prefix="focus-validation-") as workdir:
            report = validate_mart(Path(plan["warehouse"]), Path(workdir), billing_periods=months)
        record = verdict_record(report, load_allowlist(), months)
    publish_validation(serving_root, record)
    if record["status"] == "failed":  # rules failed beyond the allowlist
        raise AirflowFailException(
            f"FOCUS {FOCUS_VERSION} validation of {', '.join(months)} failed; "
            f"dashboards keep the previous data. {record['verdict']}"
        )
    log.info(record["verdict"])
    return {key: str(value) for key, value in record.items()}


def publish_rebuilt_months(plan: dict, serving_root: Path) -> dict:
    result = publish(Path(plan["warehouse"]), serving_root, months_of(plan))
    log.info("Served %s under %s (%s ledger rows)", result.months, serving_root, result.ledger_rows)
    return {"serving_path": str(serving_root), "months": result.months, "ledger_rows": result.ledger_rows}
