"""Run the FinOps Foundation's focus-validator on a FOCUS file and judge its JUnit report.

focus-validator 2.2.1 pins duckdb<2 and numpy<2, so it cannot share the project's venv: it lives in
`.venv-focus` (`make focus-validator`) and runs as a subprocess; nothing here imports it. It exits 0
even when rules fail, so the verdict comes from its JUnit XML report. Rules known to fail on correct
data are listed, each with the upstream issue that explains it, in `validator_allowlist.csv`.

The JUnit report names a failing rule and little else, so the validator also writes, beside it,
what it found for each rule that did not pass (its message, the violation count and sample rows),
and each failure is reported with the rule's text from the validator's rule model.
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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from include.periods import is_month
from include.serving.publish import month_fingerprints
from include.settings import PROJECT_ROOT
from include.sql import sql_identifier, sql_literal

VALIDATOR_VERSION = "2.2.1"
FOCUS_VERSION = "1.2"
# The FOCUS 1.2 rule model inside the 2.2.1 wheel; with --block-download no other is fetched.
RULE_MODEL_FILE = "model-1.2.0.1.json"
PYTHON_ENV_VAR = "FINOPS_FOCUS_VALIDATOR_PYTHON"
ALLOWLIST_PATH = Path(__file__).with_name("validator_allowlist.csv")
MART = "focus.cost_and_usage"
# What one validation writes into its report folder.
JUNIT_FILE = "focus-validator.xml"  # every rule: passed, failed, errored or skipped
FINDINGS_FILE = "violations.json"  # each rule that did not pass: the validator's message, count, sample rows
EXAMPLES_PER_RULE = 3

_RULE_ID = re.compile(r"[A-Za-z]+-[A-Z]-\d{3}-[A-Z]")
_ALLOWLIST_COLUMNS = ["rule_id", "defect", "upstream"]
_DATA_SUFFIXES = (".csv", ".parquet")
# Left to its defaults the validator writes a DEBUG log into its working directory (its own
# site-packages); warnings on stderr instead end up in our error messages.
_LOGGING_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "root": {"level": "WARNING", "handlers": ["stderr"]},
}
# Runs the validator in its own interpreter as its command line does (the same Validator, the same
# JUnit report), with --show-violations' sample rows on, and writes down what the JUnit report drops.
# argv: data file, JUnit path, findings path, rule set folder, FOCUS version, logging config (JSON).
_DRIVER = """
import json, logging.config, sys
from focus_validator.validator import Validator

data, junit, findings, rules, version, logging_config = sys.argv[1:]
logging.config.dictConfig(json.loads(logging_config))
results = Validator(
    data_filename=data, output_type="unittest", output_destination=junit, rule_set_path=rules,
    rules_version=version, focus_dataset="CostAndUsage", rules_block_remote_download=True,
    applicability_criteria="ALL", show_violations=True,
).validate()

def samples(found):
    rows = found["failure_cases"].to_dict("records") if "failure_cases" in found else []
    return rows + [row for child in found.get("children", []) if not child.get("ok", True) for row in samples(child)]

failing = {}
for rule_id, entry in results.by_rule_id.items():
    found = entry.get("details") or {}
    if not entry.get("ok") and not found.get("skipped"):
        failing[rule_id] = {key: found.get(key) for key in ("message", "violations")} | {"samples": samples(found)}
with open(findings, "w", encoding="utf-8") as handle:
    json.dump(failing, handle, default=str)
"""
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
class RuleFinding:
    """What a person needs to act on one failing rule."""

    text: str  # the rule as the FOCUS rule model states it (its MustSatisfy)
    message: str  # what the validator said: the check that failed, or why it could not check
    violations: int | None = None  # rows (or groups of rows) that break it, as the validator counted them
    examples: tuple[str, ...] = ()  # a few offending values, "Column='value', ..."


@dataclass(frozen=True)
class ValidatorReport:
    """What one focus-validator run found.

    `evaluated` counts every rule in the report, skipped ones included, as the validator's own
    total does. `failed` counts rules that failed or errored; `failures` maps each to its message.
    `errored` are those among them that could not be checked at all (a column they read, or a rule
    they depend on, is missing), so no allowlisted defect explains them. `skipped` rules were not
    checked: the model's cross-row ("Dynamic") rules and their dependants. `composite_children` maps
    each failing composite rule to the rules it is made of, so that a composite failing only because
    of allowlisted parts is not held against the data. `findings` says more about each failure: the
    rule's text and, after a real run, the validator's count and examples. `fingerprints`, after
    `validate_mart`, says what the mart held for each month validated (month_fingerprints), and
    `rows` how many rows it judged (0: none, so no rule was evaluated).
    """

    evaluated: int
    failed: int
    skipped: int
    failures: dict[str, str]
    errored: frozenset[str] = frozenset()
    composite_children: dict[str, tuple[str, ...]] = field(default_factory=dict)
    findings: dict[str, RuleFinding] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    rows: int | None = None


def validator_python() -> Path:
    """The interpreter of the venv that has focus-validator: `$FINOPS_FOCUS_VALIDATOR_PYTHON` or `.venv-focus`."""
    override = os.environ.get(PYTHON_ENV_VAR)
    return Path(override) if override else PROJECT_ROOT / ".venv-focus" / "bin" / "python"


def validator_available() -> bool:
    return validator_python().is_file()


def run_validator(data_path: Path, report_dir: Path) -> ValidatorReport:
    """Check a FOCUS 1.2 Cost and Usage file (.parquet or .csv) with every applicability criterion.

    Writes the JUnit report (JUNIT_FILE) and the findings on each failing rule (FINDINGS_FILE) into
    `report_dir`, replacing them if present, and reads both. Raises ValidatorError when the
    validator cannot run, exits non-zero or writes no report.
    """
    data_path = Path(data_path).resolve()
    report_dir = Path(report_dir).resolve()
    if not data_path.is_file():
        raise ValidatorError(f"FOCUS data file {data_path} does not exist")
    if data_path.suffix not in _DATA_SUFFIXES:
        raise ValidatorError(f"focus-validator reads only {' or '.join(_DATA_SUFFIXES)} files, not {data_path}")
    python = validator_python()
    site_packages = _site_packages(python)
    rules_dir = site_packages / "focus_validator" / "rules"
    if not (rules_dir / RULE_MODEL_FILE).is_file():
        raise ValidatorError(f"{rules_dir} has no {RULE_MODEL_FILE}: reinstall with `make focus-validator`")

    report_dir.mkdir(parents=True, exist_ok=True)
    junit, findings = report_dir / JUNIT_FILE, report_dir / FINDINGS_FILE
    for stale in (junit, findings):
        stale.unlink(missing_ok=True)
    arguments = [str(data_path), str(junit), str(findings), str(rules_dir), FOCUS_VERSION, json.dumps(_LOGGING_CONFIG)]
    # The project's PYTHONPATH must not leak into the validator's venv.
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    # It opens focus_validator/rules/currency_codes.csv by a relative path: run it from site-packages.
    command = [str(python), "-c", _DRIVER, *arguments]
    completed = subprocess.run(command, cwd=site_packages, env=env, capture_output=True, text=True, check=False)
    output = _tail(completed.stderr or completed.stdout)
    if completed.returncode != 0:
        raise ValidatorError(f"focus-validator failed on {data_path} (exit {completed.returncode}):\n{output}")
    for written in (junit, findings):
        if not written.is_file():
            raise ValidatorError(f"focus-validator wrote no {written} for {data_path}:\n{output}")
    rules = _read_rule_model(rules_dir / RULE_MODEL_FILE)
    report = parse_junit(junit, rules)
    return replace(report, findings=_findings(report, findings, rules, data_path))


def validate_mart(warehouse_path: Path, report_dir: Path, billing_periods: Sequence[str] = ()) -> ValidatorReport:
    """Export the FOCUS mart (or only the given YYYY-MM months) to Parquet, read-only, and validate it.

    The report says what the mart held for each month exported (`fingerprints`), as read in the
    same connection. The reports go to `report_dir`; the exported file is removed after. Months
    without rows (restated to nothing, or withdrawn) leave nothing to judge: the validator does not
    run, `report_dir` gets no report, and the verdict says that no rows were judged.
    """
    months = [month for month in billing_periods if is_month(month)]
    export, parameters = f"SELECT * FROM {MART}", []
    if months:
        export += " WHERE x_BillingPeriod IN (SELECT unnest(?::DATE[]))"
        parameters = [[f"{month}-01" for month in months]]
    with tempfile.TemporaryDirectory(prefix="focus-validation-") as workdir:
        parquet = Path(workdir) / "cost_and_usage.parquet"
        # A read-only connection keeps writers out until it closes: the fingerprints are of the rows exported.
        with duckdb.connect(str(warehouse_path), read_only=True) as con:
            [(exported,)] = con.execute(
                f"COPY ({export}) TO {sql_literal(str(parquet))} (FORMAT parquet)", parameters
            ).fetchall()
            fingerprints = month_fingerprints(con, months or None)
        if not exported:  # focus-validator 2.2.1 fails its value-list rules on a file without rows
            return ValidatorReport(evaluated=0, failed=0, skipped=0, failures={}, fingerprints=fingerprints, rows=0)
        return replace(run_validator(parquet, report_dir), fingerprints=fingerprints, rows=exported)


def parse_junit(path: Path, rules: dict[str, dict] | None = None) -> ValidatorReport:
    """Read focus-validator's JUnit XML; `rules` (its rule model's ModelRules) tell composites' parts, rules' text."""
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
    rules = rules or {}
    composites = _composite_children(rules)
    return ValidatorReport(
        evaluated=len(seen),
        failed=len(failures),
        skipped=skipped,
        failures=failures,
        errored=frozenset(errored),
        composite_children={rule_id: parts for rule_id, parts in composites.items() if rule_id in failures},
        findings={rule_id: RuleFinding(_rule_text(rules, rule_id), message) for rule_id, message in failures.items()},
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
    """One line for a log, a task summary or the served history, naming every unexpected failure."""
    if report.rows == 0:
        return (
            f"focus-validator {VALIDATOR_VERSION} (FOCUS {FOCUS_VERSION}): no rows judged, no rule evaluated "
            "(the months validated hold no rows: restated to nothing, or withdrawn)"
        )
    unexpected = unexpected_failures(report, allowlist)
    line = (
        f"focus-validator {VALIDATOR_VERSION} (FOCUS {FOCUS_VERSION}): {report.evaluated} rules evaluated, "
        f"{len(unexpected)} failed beyond {report.failed - len(unexpected)} allowlisted, {report.skipped} skipped"
    )
    if unexpected:
        line += f": {', '.join(sorted(unexpected))}"
    return line


def failing_rules(report: ValidatorReport, allowlist: dict[str, str]) -> list[str]:
    """One line per unexpected failure: the rule, its text, what the validator said, a few offending values."""
    lines = []
    for rule_id in sorted(unexpected_failures(report, allowlist)):
        finding = report.findings.get(rule_id) or RuleFinding("", report.failures[rule_id])
        checked = rule_id not in report.errored
        parts = [
            f"{rule_id}: {finding.text or '(rule text not in the model)'}",
            f"{'validator' if checked else 'not checked'}: {finding.message}",
        ]
        # A composite's or an unchecked rule's count only says that it failed.
        if checked and rule_id not in report.composite_children and finding.violations is not None:
            parts.append(f"{finding.violations} violation{'' if finding.violations == 1 else 's'}")
        if finding.examples:
            parts.append(f"e.g. {'; '.join(finding.examples)}")
        lines.append(" | ".join(parts))
    return lines


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
        "failing_rules": "\n".join(failing_rules(report, allowlist)),
        "fingerprints": report.fingerprints,
    }


def _findings(
    report: ValidatorReport, findings_path: Path, rules: dict[str, dict], data_path: Path
) -> dict[str, RuleFinding]:
    """Each failure with the validator's own message, count and sample rows (FINDINGS_FILE).

    The validator has no sample rows for cross-row checks; for "one B per A" rules (CheckDistinctCount)
    the offending groups are read from the validated file instead.
    """
    try:
        found = json.loads(Path(findings_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidatorError(f"cannot read focus-validator findings {findings_path}: {exc}") from exc
    findings = {}
    for rule_id, junit_message in report.failures.items():
        said = found.get(rule_id, {})
        examples = _shown_rows(said.get("samples") or [])
        requirement = rules.get(rule_id, {}).get("ValidationCriteria", {}).get("Requirement", {})
        if not examples and rule_id not in report.errored and requirement.get("CheckFunction") == "CheckDistinctCount":
            examples = _distinct_count_examples(data_path, requirement)
        findings[rule_id] = RuleFinding(
            text=_rule_text(rules, rule_id),
            message=said.get("message") or junit_message,
            violations=said.get("violations"),
            examples=examples,
        )
    return findings


def _shown_rows(rows: list[dict]) -> tuple[str, ...]:
    shown = (", ".join(f"{column}={_shown(value)}" for column, value in row.items()) for row in rows)
    return tuple(dict.fromkeys(shown))[:EXAMPLES_PER_RULE]


def _distinct_count_examples(data_path: Path, requirement: dict) -> tuple[str, ...]:
    """Values of column A with other than ExpectedCount distinct values of column B (A not null)."""
    a, b, expected = requirement["ColumnAName"], requirement["ColumnBName"], int(requirement["ExpectedCount"])
    data = sql_literal(str(data_path))
    with duckdb.connect(":memory:") as con:
        columns = {name for (name,) in con.execute(f"SELECT name FROM parquet_schema({data})").fetchall()}
        if not {a, b} <= columns:
            return ()
        parent, child = sql_identifier(a), sql_identifier(b)
        groups = con.execute(
            f"SELECT {parent}, count(DISTINCT {child}) AS found, "
            f"list(DISTINCT {child} ORDER BY {child}) FILTER (WHERE {child} IS NOT NULL)[1:?] "
            f"FROM read_parquet({data}) WHERE {parent} IS NOT NULL "
            "GROUP BY ALL HAVING found <> ? ORDER BY found DESC, 1 LIMIT ?",
            [EXAMPLES_PER_RULE, expected, EXAMPLES_PER_RULE],
        ).fetchall()
    return tuple(
        f"{a}={_shown(value)} has {found} {b}: {', '.join(_shown(child) for child in children)}"
        + (", ..." if found > len(children) else "")
        for value, found, children in groups
    )


def _shown(value) -> str:
    return "NULL" if value is None else "'" + str(value) + "'"


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


def _read_rule_model(rule_model: Path) -> dict[str, dict]:
    try:
        return json.loads(Path(rule_model).read_text(encoding="utf-8"))["ModelRules"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValidatorError(f"cannot read focus-validator rule model {rule_model}: {exc}") from exc


def _rule_text(rules: dict[str, dict], rule_id: str) -> str:
    return rules.get(rule_id, {}).get("ValidationCriteria", {}).get("MustSatisfy", "")


def _composite_children(rules: dict[str, dict]) -> dict[str, tuple[str, ...]]:
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
