"""Run the FinOps Foundation's focus-validator on a FOCUS file and judge its JUnit report.

focus-validator 2.2.1 pins duckdb<2 and numpy<2, so it cannot share the project's venv: it lives in
`.venv-focus` (`make focus-validator`) and runs as a subprocess; nothing here imports it. It exits 0
even when rules fail, so the verdict comes from its JUnit XML report. Rules known to fail on correct
data are listed, each with the upstream issue that explains it, in `validator_allowlist.csv`.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from include.settings import PROJECT_ROOT

VALIDATOR_VERSION = "2.2.1"
FOCUS_VERSION = "1.2"
# The FOCUS 1.2 rule model inside the 2.2.1 wheel; with --block-download no other is fetched.
RULE_MODEL_FILE = "model-1.2.0.1.json"
PYTHON_ENV_VAR = "FINOPS_FOCUS_VALIDATOR_PYTHON"
ALLOWLIST_PATH = Path(__file__).with_name("validator_allowlist.csv")
MART = "focus.cost_and_usage"

_MONTH = re.compile(r"\d{4}-\d{2}")
_RULE_ID = re.compile(r"[A-Za-z]+-[A-Z]-\d{3}-[A-Z]")
_ALLOWLIST_COLUMNS = ["rule_id", "defect", "upstream"]
_DATA_SUFFIXES = (".csv", ".parquet")
# Without LOGGING_CONFIG the validator writes a DEBUG log into its working directory (its own
# site-packages); warnings on stderr instead end up in our error messages.
_LOGGING_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "root": {"level": "WARNING", "handlers": ["stderr"]},
}
# Asks the validator's interpreter where the package is and which version, without importing it.
_PROBE = """
import importlib.metadata, importlib.util, json, pathlib
spec = importlib.util.find_spec("focus_validator")
package = pathlib.Path(next(iter(spec.submodule_search_locations)))
print(json.dumps({"site_packages": str(package.parent), "version": importlib.metadata.version("focus-validator")}))
"""


class ValidatorError(RuntimeError):
    """focus-validator could not be run, or its report cannot be read; the message says which file."""


@dataclass(frozen=True)
class ValidatorReport:
    """What one focus-validator run found.

    `evaluated` counts every rule in the report, skipped ones included, as the validator's own
    total does. `failed` counts rules that failed or errored; `failures` maps each to its message.
    `errored` are those among them that could not be checked at all (a column they read, or a rule
    they depend on, is missing), so no allowlisted defect explains them. `skipped` rules were not
    checked: the model's cross-row ("Dynamic") rules and their dependants. `composite_children` maps
    each failing composite rule to the rules it is made of, so that a composite failing only because
    of allowlisted parts is not held against the data.
    """

    evaluated: int
    failed: int
    skipped: int
    failures: dict[str, str]
    errored: frozenset[str] = frozenset()
    composite_children: dict[str, tuple[str, ...]] = field(default_factory=dict)


def validator_python() -> Path:
    """The interpreter of the venv that has focus-validator: `$FINOPS_FOCUS_VALIDATOR_PYTHON` or `.venv-focus`."""
    override = os.environ.get(PYTHON_ENV_VAR)
    return Path(override) if override else PROJECT_ROOT / ".venv-focus" / "bin" / "python"


def validator_available() -> bool:
    return validator_python().is_file()


def run_validator(data_path: Path, report_path: Path) -> ValidatorReport:
    """Check a FOCUS 1.2 Cost and Usage file (.parquet or .csv) with every applicability criterion.

    The JUnit report is written to `report_path` (replaced if present) and parsed. Raises
    ValidatorError when the validator cannot run, exits non-zero or writes no report.
    """
    data_path = Path(data_path).resolve()
    report_path = Path(report_path).resolve()
    if not data_path.is_file():
        raise ValidatorError(f"FOCUS data file {data_path} does not exist")
    if data_path.suffix not in _DATA_SUFFIXES:
        raise ValidatorError(f"focus-validator reads only {' or '.join(_DATA_SUFFIXES)} files, not {data_path}")
    python = validator_python()
    site_packages = _site_packages(python)
    rules_dir = site_packages / "focus_validator" / "rules"
    if not (rules_dir / RULE_MODEL_FILE).is_file():
        raise ValidatorError(f"{rules_dir} has no {RULE_MODEL_FILE}: reinstall with `make focus-validator`")

    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.unlink(missing_ok=True)
    command = [
        str(python),
        "-m",
        "focus_validator.main",
        "--data-file",
        str(data_path),
        "--validate-version",
        FOCUS_VERSION,
        "--applicability-criteria",
        "ALL",
        "--rule-set-path",
        str(rules_dir),
        "--block-download",
        "--output-type",
        "unittest",
        "--output-destination",
        str(report_path),
    ]
    # The project's PYTHONPATH must not leak into the validator's venv.
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    with tempfile.TemporaryDirectory(prefix="focus-validator-") as tmp:
        # The validator reads a .yaml logging config with yaml.safe_load, and JSON is YAML.
        logging_config = Path(tmp) / "logging.yaml"
        logging_config.write_text(json.dumps(_LOGGING_CONFIG))
        env["LOGGING_CONFIG"] = str(logging_config)
        # It opens focus_validator/rules/currency_codes.csv by a relative path: run it from site-packages.
        completed = subprocess.run(command, cwd=site_packages, env=env, capture_output=True, text=True, check=False)
    output = _tail(completed.stderr or completed.stdout)
    if completed.returncode != 0:
        raise ValidatorError(f"focus-validator failed on {data_path} (exit {completed.returncode}):\n{output}")
    if not report_path.is_file():
        raise ValidatorError(f"focus-validator wrote no report for {data_path} (expected {report_path}):\n{output}")
    return parse_junit(report_path, rules_dir / RULE_MODEL_FILE)


def validate_mart(
    warehouse_path: Path, workdir: Path, relation: str = MART, billing_periods: Sequence[str] = ()
) -> ValidatorReport:
    """Export the FOCUS mart (or only the given YYYY-MM months) to Parquet, read-only, and validate it."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    parquet = workdir / "cost_and_usage.parquet"
    months = [f"DATE '{month}-01'" for month in billing_periods if _MONTH.fullmatch(month)]
    where = f"WHERE x_BillingPeriod IN ({', '.join(months)})" if months else ""
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        con.execute(f"COPY (SELECT * FROM {relation} {where}) TO '{parquet}' (FORMAT parquet)").fetchall()
    return run_validator(parquet, workdir / "focus-validator.xml")


def parse_junit(path: Path, rule_model: Path | None = None) -> ValidatorReport:
    """Read focus-validator's JUnit XML; `rule_model` (its model JSON) tells composites' parts."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ValidatorError(f"cannot read focus-validator report {path}: {exc}") from exc
    failures: dict[str, str] = {}
    errored: set[str] = set()
    seen: set[str] = set()
    skipped = 0
    for case in root.iter("testcase"):
        # Test cases are named "<rule id> :: <check type>", e.g. "BilledCost-C-005-C :: Validation".
        name = case.get("name", "")
        rule_id = name.split(" :: ", 1)[0].strip()
        if not _RULE_ID.fullmatch(rule_id):
            raise ValidatorError(f"{path}: test case {name!r} does not start with a rule id")
        if rule_id in seen:
            raise ValidatorError(f"{path}: rule {rule_id} is reported twice")
        seen.add(rule_id)
        outcomes = {child.tag: child for child in case}
        if "skipped" in outcomes:
            skipped += 1
        if "failure" in outcomes:
            failures[rule_id] = outcomes["failure"].get("message") or "failed"
        elif "error" in outcomes:
            failures[rule_id] = outcomes["error"].get("message") or "errored"
            errored.add(rule_id)
    _check_totals(path, root, evaluated=len(seen), failed=len(failures), skipped=skipped)
    composites = _composite_children(rule_model) if rule_model else {}
    return ValidatorReport(
        evaluated=len(seen),
        failed=len(failures),
        skipped=skipped,
        failures=failures,
        errored=frozenset(errored),
        composite_children={rule_id: parts for rule_id, parts in composites.items() if rule_id in failures},
    )


def load_allowlist(path: Path = ALLOWLIST_PATH) -> dict[str, str]:
    """Rules known to fail on correct data → why ("<defect> (<upstream issue>)").

    Every entry must cite an upstream issue; an allowlisted rule that fails for another reason is
    still a data problem, which is why each entry names the one defect it covers.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != _ALLOWLIST_COLUMNS:
            raise ValueError(f"{path}: columns must be {','.join(_ALLOWLIST_COLUMNS)}, found {reader.fieldnames}")
        allowlist: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            rule_id, defect, upstream = ((row[column] or "").strip() for column in _ALLOWLIST_COLUMNS)
            if not _RULE_ID.fullmatch(rule_id):
                raise ValueError(f"{path} line {line}: {rule_id!r} is not a focus-validator rule id")
            if not defect or not upstream:
                raise ValueError(f"{path} line {line}: {rule_id} needs both the defect and its upstream issue")
            if rule_id in allowlist:
                raise ValueError(f"{path} line {line}: {rule_id} is listed twice")
            allowlist[rule_id] = f"{defect} ({upstream})"
    return allowlist


def unexpected_failures(report: ValidatorReport, allowlist: dict[str, str]) -> dict[str, str]:
    """Failures the allowlist does not explain: rule id → message.

    An allowlisted rule is explained only when it was checked and failed; one that errored failed
    for another reason. A failing composite whose failing parts are all explained (directly, or as
    composites themselves) is explained too: it only repeats what its parts said.
    """
    explained = (set(allowlist) & set(report.failures)) - report.errored
    grew = True
    while grew:
        grew = False
        for rule_id, parts in report.composite_children.items():
            failing_parts = [part for part in parts if part in report.failures]
            if (
                rule_id not in explained
                and rule_id not in report.errored
                and failing_parts
                and explained.issuperset(failing_parts)
            ):
                explained.add(rule_id)
                grew = True
    return {rule_id: message for rule_id, message in report.failures.items() if rule_id not in explained}


def verdict(report: ValidatorReport, allowlist: dict[str, str]) -> str:
    """One line for a log or a task summary, naming the first unexpected failures if there are any."""
    unexpected = unexpected_failures(report, allowlist)
    line = (
        f"focus-validator {VALIDATOR_VERSION} (FOCUS {FOCUS_VERSION}): {report.evaluated} rules evaluated, "
        f"{len(unexpected)} failed beyond {report.failed - len(unexpected)} allowlisted, {report.skipped} skipped"
    )
    if unexpected:
        shown = sorted(unexpected)[:5]
        more = f" and {len(unexpected) - len(shown)} more" if len(unexpected) > len(shown) else ""
        line += f": {', '.join(shown)}{more}"
    return line


def verdict_record(report: ValidatorReport, allowlist: dict[str, str], billing_periods: Sequence[str]) -> dict:
    """The verdict as one row of the served validation history (include.serving.publish)."""
    unexpected = unexpected_failures(report, allowlist)
    return {
        "validated_at": datetime.now(UTC).replace(tzinfo=None),
        "billing_periods": ",".join(billing_periods),
        "status": "failed" if unexpected else "passed",
        "rules_evaluated": report.evaluated,
        "rules_failed_allowlisted": report.failed - len(unexpected),
        "rules_failed_unexpected": len(unexpected),
        "rules_skipped": report.skipped,
        "verdict": verdict(report, allowlist),
    }


def _site_packages(python: Path) -> Path:
    try:
        completed = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ValidatorError(
            f"cannot start focus-validator's Python {python} ({exc}): "
            f"run `make focus-validator` or set {PYTHON_ENV_VAR}"
        ) from exc
    if completed.returncode != 0:
        raise ValidatorError(
            f"{python} has no usable focus-validator: run `make focus-validator` ({_tail(completed.stderr)})"
        )
    found = json.loads(completed.stdout)
    if found["version"] != VALIDATOR_VERSION:
        raise ValidatorError(
            f"{python} has focus-validator {found['version']}, but the allowlist was checked against "
            f"{VALIDATOR_VERSION}: rebuild with `rm -rf .venv-focus && make focus-validator`"
        )
    return Path(found["site_packages"])


def _check_totals(path: Path, root: ET.Element, *, evaluated: int, failed: int, skipped: int) -> None:
    """The report's own totals must match what was read, or its format changed under us."""
    stated = {name: root.get(name) for name in ("tests", "failures", "errors", "skipped")}
    if not all(value and value.isdigit() for value in stated.values()):
        return
    expected = (int(stated["tests"]), int(stated["failures"]) + int(stated["errors"]), int(stated["skipped"]))
    if expected != (evaluated, failed, skipped):
        raise ValidatorError(
            f"{path} states {expected[0]} rules, {expected[1]} failed, {expected[2]} skipped, "
            f"but lists {evaluated}, {failed}, {skipped}: has the report format changed?"
        )


def _composite_children(rule_model: Path) -> dict[str, tuple[str, ...]]:
    try:
        rules = json.loads(Path(rule_model).read_text(encoding="utf-8"))["ModelRules"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValidatorError(f"cannot read focus-validator rule model {rule_model}: {exc}") from exc
    return {
        rule_id: tuple(_referenced_rules(rule["ValidationCriteria"]["Requirement"]))
        for rule_id, rule in rules.items()
        if rule.get("Function") == "Composite"
    }


def _referenced_rules(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["ModelRuleId"]] if "ModelRuleId" in node else []
        return found + [rule_id for value in node.values() for rule_id in _referenced_rules(value)]
    if isinstance(node, list):
        return [rule_id for item in node for rule_id in _referenced_rules(item)]
    return []


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"
