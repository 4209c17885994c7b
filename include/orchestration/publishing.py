"""After dbt: gate the rebuilt months on focus-validator, then serve them (include.serving).

Each validation keeps its report in a folder of its own beside the warehouse,
`<warehouse folder>/validation/<UTC time>_<months>/` (the newest REPORTS_KEPT are kept):

    verdict.txt            the verdict and every failing rule, as the task log and the dashboards show them
    focus-validator.xml    the validator's JUnit report: every rule, passed, failed, errored or skipped
    violations.json        each rule that did not pass: the validator's message, violation count, sample rows
"""

from __future__ import annotations

import logging
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from airflow.sdk.exceptions import AirflowFailException

from include.focus.validator import (
    FOCUS_VERSION,
    load_allowlist,
    validate_mart,
    validator_available,
    validator_python,
    verdict_record,
)
from include.serving.publish import NOT_RUN, month_fingerprints, publish, publish_validation

log = logging.getLogger(__name__)

VALIDATION_DIR = "validation"
VERDICT_FILE = "verdict.txt"
REPORTS_KEPT = 30
_REPORT_FOLDER = re.compile(r"^\d{8}T\d{6}\.\d{6}Z_")


def months_of(plan: dict) -> list[str]:
    return [month for month in plan["billing_periods"].split(",") if month]


def validation_root(plan: dict) -> Path:
    """Where the reports of validations go: `validation/` beside the warehouse file."""
    return Path(plan["warehouse"]).parent / VALIDATION_DIR


def validate_rebuilt_months(plan: dict, serving_root: Path) -> dict:
    """Run focus-validator on the months dbt rebuilt; the verdict is served either way.

    Fails when rules fail beyond the allowlist, so the previous (valid) data stays served and these
    months are held back until a run validates them. When the validation does not finish (the
    validator, or a lock or IO error) an "error" verdict holds them back and the error is re-raised
    as it is. Without the validator's venv the check is recorded as "not run" and the data goes out.
    """
    months = months_of(plan)
    report_dir = new_report_dir(validation_root(plan), months) if validator_available() else None
    try:
        record = _verdict(Path(plan["warehouse"]), months, report_dir)
    except Exception as exc:  # no older verdict may stand for months rebuilt since
        verdict = f"focus-validator did not finish ({type(exc).__name__}): {exc}"
        record = {"status": "error", "billing_periods": ",".join(months), "verdict": verdict}
        _keep(record, report_dir, serving_root)
        raise
    _keep(record, report_dir, serving_root)
    if record["status"] == "failed":  # rules failed beyond the allowlist
        log.error("Rules failed beyond the allowlist:\n%s", record["failing_rules"])
        raise AirflowFailException(
            f"FOCUS {FOCUS_VERSION} validation of {', '.join(months)} failed; dashboards keep the previous data "
            f"and hold these months back until a run validates them. {record['verdict']}. Report: {report_dir}"
        )
    if record["status"] == NOT_RUN:
        log.warning(record["verdict"])
    else:
        log.info(record["verdict"])
    return _summary(record)


def publish_rebuilt_months(plan: dict, serving_root: Path) -> dict:
    result = publish(Path(plan["warehouse"]), serving_root, months_of(plan))
    log.info("Served %s under %s (%s ledger rows)", result.months, serving_root, result.ledger_rows)
    if result.held_back:
        log.warning("Held back (why): %s", result.held_back)
    return {
        "serving_path": str(serving_root),
        "months": result.months,
        "held_back": result.held_back,
        "ledger_rows": result.ledger_rows,
    }


def new_report_dir(root: Path, months: list[str]) -> Path:
    """A new folder for one validation's report, named so that names sort by time; older ones beyond REPORTS_KEPT go."""
    span = "_to_".join(dict.fromkeys([months[0], months[-1]])) if months else "all_months"
    folder = Path(root) / f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}_{span}"
    folder.mkdir(parents=True)
    reports = sorted(path for path in Path(root).iterdir() if path.is_dir() and _REPORT_FOLDER.match(path.name))
    for old in reports[:-REPORTS_KEPT]:
        shutil.rmtree(old)
    return folder


def _verdict(warehouse: Path, months: list[str], report_dir: Path | None) -> dict:
    """focus-validator's verdict on the months, or without a report folder (no validator) "not run"."""
    if report_dir is not None:
        log.info("focus-validator's report of %s goes to %s", ", ".join(months) or "the whole mart", report_dir)
        return verdict_record(validate_mart(warehouse, report_dir, billing_periods=months), load_allowlist(), months)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        fingerprints = month_fingerprints(con, months or None)
    return {
        "status": NOT_RUN,
        "billing_periods": ",".join(months),
        "verdict": f"focus-validator not installed at {validator_python()} (make focus-validator)",
        "fingerprints": fingerprints,
    }


def _keep(record: dict, report_dir: Path | None, serving_root: Path) -> None:
    """The verdict goes into the report folder, if any, and the served history."""
    if report_dir is not None:
        record["report_path"] = str(report_dir)
        text = "\n".join(filter(None, [record["verdict"], record.get("failing_rules")]))
        (report_dir / VERDICT_FILE).write_text(text + "\n", encoding="utf-8")
    publish_validation(serving_root, record)


def _summary(record: dict) -> dict:
    return {key: str(value) for key, value in record.items()}
