import json
import tempfile
from dataclasses import replace

import duckdb
import pytest

from include.focus import validator as validator_module
from include.focus.validator import (
    EXAMPLES_PER_RULE,
    FINDINGS_FILE,
    JUNIT_FILE,
    PYTHON_ENV_VAR,
    RULE_MODEL_FILE,
    ValidatorError,
    ValidatorReport,
    _site_packages,
    failing_rules,
    load_allowlist,
    parse_junit,
    run_validator,
    unexpected_failures,
    validate_mart,
    validator_python,
    verdict,
    verdict_record,
)
from include.orchestration import publishing
from include.orchestration.publishing import validate_rebuilt_months
from include.serving.publish import VALIDATION_DIR, month_fingerprints, newest_version
from include.settings import PROJECT_ROOT
from tests.include.focus.focus_files import (
    BROKEN_CHARGE_CATEGORY,
    SHARED_SKU_PRICE_ID,
    write_focus_file,
    write_focus_mart,
)

# Shaped like focus-validator 2.2.1's own output: errored rules first, in a "Base" suite, named
# "<rule> :: None"; the others one suite per rule, named "<rule> :: <check type>".
REPORT = """<?xml version='1.0' encoding='utf-8'?>
<testsuites name="FOCUS Validations" tests="6" failures="3" errors="1" skipped="1" assertions="None" time="0">
  <testsuite name="Base-Unknown" time="0">
    <testcase name="CommitmentDiscountStatus-C-004-C :: None" time="0">
      <error message="Validation rule CommitmentDiscountStatus-C-004-C failed [Upstream dependency failed: x]" />
    </testcase>
  </testsuite>
  <testsuite name="BilledCost-C-000-BilledCost" time="0">
    <testcase name="BilledCost-C-000-M :: Composite" time="0">
      <failure name="BilledCost-C-000-M" message="Composite check for BilledCost">Failed</failure>
    </testcase>
  </testsuite>
  <testsuite name="BilledCost-C-005-BilledCost" time="0">
    <testcase name="BilledCost-C-005-C :: Validation" time="0">
      <failure name="BilledCost-C-005-C" message="Validation check for BilledCost">Failed</failure>
    </testcase>
  </testsuite>
  <testsuite name="ChargeCategory-C-001-ChargeCategory" time="0">
    <testcase name="ChargeCategory-C-001-M :: Type" time="0" />
  </testsuite>
  <testsuite name="ChargeCategory-C-003-ChargeCategory" time="0">
    <testcase name="ChargeCategory-C-003-M :: Validation" time="0">
      <failure name="ChargeCategory-C-003-M" message="Validation check for ChargeCategory">Failed</failure>
    </testcase>
  </testsuite>
  <testsuite name="ListCost-C-005-ListCost" time="0">
    <testcase name="ListCost-C-005-M :: Validation" time="0">
      <skipped message="Validation check for ListCost" />
    </testcase>
  </testsuite>
</testsuites>
"""

RULE_MODEL = {
    "ModelRules": {
        "BilledCost-C-000-M": {
            "Function": "Composite",
            "ValidationCriteria": {
                "Requirement": {
                    "CheckFunction": "AND",
                    "Items": [
                        {"CheckFunction": "CheckModelRule", "ModelRuleId": "BilledCost-C-004-M"},
                        {"CheckFunction": "CheckModelRule", "ModelRuleId": "BilledCost-C-005-C"},
                    ],
                }
            },
        },
        "BilledCost-C-005-C": {"Function": "Validation", "ValidationCriteria": {"Requirement": {}}},
        "ChargeCategory-C-003-M": {
            "Function": "Validation",
            "ValidationCriteria": {
                "MustSatisfy": "ChargeCategory MUST be one of the allowed values.",
                "Requirement": {},
            },
        },
    }
}

ALLOWLIST = {"BilledCost-C-005-C": "known defect", "CommitmentDiscountStatus-C-004-C": "known defect"}


@pytest.fixture
def report(tmp_path):
    (tmp_path / "report.xml").write_text(REPORT)
    return parse_junit(tmp_path / "report.xml", RULE_MODEL["ModelRules"])


def test_report_counts_failed_errored_and_skipped_rules_by_rule_id(report):
    assert (report.evaluated, report.failed, report.skipped) == (6, 4, 1)
    assert report.failures == {
        "CommitmentDiscountStatus-C-004-C": (
            "Validation rule CommitmentDiscountStatus-C-004-C failed [Upstream dependency failed: x]"
        ),
        "BilledCost-C-000-M": "Composite check for BilledCost",
        "BilledCost-C-005-C": "Validation check for BilledCost",
        "ChargeCategory-C-003-M": "Validation check for ChargeCategory",
    }
    assert report.errored == {"CommitmentDiscountStatus-C-004-C"}
    assert report.composite_children == {"BilledCost-C-000-M": ("BilledCost-C-004-M", "BilledCost-C-005-C")}


def test_allowlisted_failure_and_the_composite_it_fails_are_expected(report):
    # An allowlisted rule that errored was never checked, so its known defect cannot explain it.
    assert set(unexpected_failures(report, ALLOWLIST)) == {"ChargeCategory-C-003-M", "CommitmentDiscountStatus-C-004-C"}


def test_composite_with_an_unexplained_failing_part_is_unexpected(report):
    also_failing = {**report.failures, "BilledCost-C-004-M": "Validation check for BilledCost"}
    worse = ValidatorReport(7, 5, 1, also_failing, report.errored, report.composite_children)
    assert {"BilledCost-C-000-M", "BilledCost-C-004-M"} <= set(unexpected_failures(worse, ALLOWLIST))


def test_without_the_rule_model_composites_are_not_excused(tmp_path):
    (tmp_path / "report.xml").write_text(REPORT)
    assert "BilledCost-C-000-M" in unexpected_failures(parse_junit(tmp_path / "report.xml"), ALLOWLIST)


def test_failing_rules_give_each_unexpected_failure_with_its_text_from_the_rule_model(report):
    assert failing_rules(report, ALLOWLIST) == [
        "ChargeCategory-C-003-M: ChargeCategory MUST be one of the allowed values. | "
        "validator: Validation check for ChargeCategory",
        "CommitmentDiscountStatus-C-004-C: (rule text not in the model) | not checked: Validation rule "
        "CommitmentDiscountStatus-C-004-C failed [Upstream dependency failed: x]",
    ]


def test_verdict_names_every_unexpected_failure(report):
    many = {f"ChargeCategory-C-{number:03d}-M": "Validation check for ChargeCategory" for number in range(10, 22)}
    worse = replace(report, evaluated=6 + len(many), failed=4 + len(many), failures={**report.failures, **many})
    named = verdict(worse, ALLOWLIST).split(" skipped: ", 1)[1].split(", ")
    assert named == sorted(unexpected_failures(worse, ALLOWLIST)) and len(named) == len(many) + 2


def test_verdict_names_the_unexpected_failures(report):
    assert verdict(report, ALLOWLIST) == (
        "focus-validator 2.2.1 (FOCUS 1.2): 6 rules evaluated, 2 failed beyond 2 allowlisted, 1 skipped: "
        "ChargeCategory-C-003-M, CommitmentDiscountStatus-C-004-C"
    )
    clean = ValidatorReport(6, 2, 1, {"BilledCost-C-005-C": "x", "BilledCost-C-000-M": "y"}, frozenset(), {})
    assert verdict(clean, ALLOWLIST) == (
        "focus-validator 2.2.1 (FOCUS 1.2): 6 rules evaluated, 1 failed beyond 1 allowlisted, 1 skipped: "
        "BilledCost-C-000-M"
    )


def test_report_whose_totals_disagree_with_its_test_cases_is_refused(tmp_path):
    (tmp_path / "report.xml").write_text(REPORT.replace('failures="3"', 'failures="2"'))
    with pytest.raises(ValidatorError, match="states 6 rules, 3 failed"):
        parse_junit(tmp_path / "report.xml")


def test_test_case_not_named_after_a_rule_is_refused(tmp_path):
    (tmp_path / "report.xml").write_text(REPORT.replace("ChargeCategory-C-001-M :: Type", "Type check"))
    with pytest.raises(ValidatorError, match="'Type check' does not start with a rule id"):
        parse_junit(tmp_path / "report.xml")


def test_shipped_allowlist_is_the_known_1_2_defects_each_with_its_upstream_issue():
    allowlist = load_allowlist()
    citations = {
        "CommitmentDiscountStatus-C-005-M": "FOCUS_Spec #2418, #2421",
        "CommitmentDiscountStatus-C-004-C": "FOCUS_Spec #2393",
        "BilledCost-C-005-C": "FINDINGS.md",
        "CapacityReservationStatus-C-004-C": "focus_validator #142",
        "EffectiveCost-C-005-C": "FOCUS_Spec #2673",
        "InvoiceId-C-004-C": "FOCUS_Spec #2394",
        "InvoiceId-C-005-C": "FOCUS_Spec #2394",
    }
    assert set(allowlist) == set(citations)
    for rule, citation in citations.items():
        assert citation in allowlist[rule], rule


def test_allowlist_entry_without_upstream_issue_is_refused(tmp_path):
    path = tmp_path / "allowlist.csv"
    path.write_text("rule_id,defect,upstream\nBilledCost-C-005-C,seems wrong,\n")
    with pytest.raises(ValueError, match="line 2: BilledCost-C-005-C needs both the defect and its upstream issue"):
        load_allowlist(path)


def test_validator_python_is_the_focus_venv_unless_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv(PYTHON_ENV_VAR, raising=False)
    assert validator_python() == PROJECT_ROOT / ".venv-focus" / "bin" / "python"
    monkeypatch.setenv(PYTHON_ENV_VAR, str(tmp_path / "python"))
    assert validator_python() == tmp_path / "python"


def test_the_months_exported_for_the_validator_are_those_fingerprinted_in_its_report(tmp_path, monkeypatch):
    data = write_focus_file(tmp_path / "focus.parquet")
    months = ["2026-10", "2026-11", "2026-12"]
    warehouse = write_focus_mart(tmp_path / "warehouse" / "finops.duckdb", data, months)
    quoted = tmp_path / "operator's temp"  # TMPDIR is the operator's: the export path is quoted, not spliced
    quoted.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(quoted))
    exported = []

    def run_validator(data_path, report_dir):
        with duckdb.connect() as con:
            query = "SELECT strftime(x_BillingPeriod, '%Y-%m'), count(*) FROM read_parquet(?) GROUP BY ALL ORDER BY 1"
            exported.extend(con.execute(query, [str(data_path)]).fetchall())
        return ValidatorReport(evaluated=0, failed=0, skipped=0, failures={})

    monkeypatch.setattr(validator_module, "run_validator", run_validator)
    report = validate_mart(warehouse, tmp_path / "report", billing_periods=months[1:])

    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert report.fingerprints == month_fingerprints(con, months[1:])
        in_mart = con.execute(
            "SELECT strftime(x_BillingPeriod, '%Y-%m'), count(*) FROM focus.cost_and_usage "
            "WHERE x_BillingPeriod >= ? GROUP BY ALL ORDER BY 1",
            [f"{months[1]}-01"],
        ).fetchall()
    assert exported == in_mart and [month for month, _ in exported] == months[1:]
    assert verdict_record(report, {}, months[1:])["fingerprints"] == report.fingerprints


def test_months_without_rows_are_judged_on_nothing_and_their_report_folder_says_so(tmp_path, monkeypatch):
    """A run that rebuilt only a month now empty (restated to nothing): no validator run, and the report
    folder the served verdict points to holds the verdict, which says that no rows were judged."""
    months = ["2026-10", "2026-11"]
    warehouse = write_focus_mart(
        tmp_path / "warehouse" / "finops.duckdb", write_focus_file(tmp_path / "f.parquet"), months
    )
    monkeypatch.setattr(publishing, "validator_available", lambda: True)  # whether or not .venv-focus is here
    monkeypatch.setattr(validator_module, "run_validator", lambda *_: pytest.fail("the validator ran on no rows"))
    serving_root = tmp_path / "serving"

    summary = validate_rebuilt_months({"warehouse": str(warehouse), "billing_periods": "2026-12"}, serving_root)

    [folder] = (warehouse.parent / publishing.VALIDATION_DIR).iterdir()
    assert [path.name for path in folder.iterdir()] == [publishing.VERDICT_FILE]
    written = (folder / publishing.VERDICT_FILE).read_text()
    assert "no rows judged, no rule evaluated" in written and written == summary["verdict"] + "\n"
    with duckdb.connect() as con:
        served = con.execute(
            "SELECT status, report_path, rules_evaluated, verdict FROM read_parquet(?)",
            [str(newest_version(serving_root / VALIDATION_DIR))],
        ).fetchall()
    assert served == [("passed", str(folder), 0, summary["verdict"])]


def test_missing_data_file_is_named(tmp_path):
    with pytest.raises(ValidatorError, match="nope.parquet does not exist"):
        run_validator(tmp_path / "nope.parquet", tmp_path / "report")


def test_missing_validator_says_how_to_install_it(monkeypatch, tmp_path):
    data = write_focus_file(tmp_path / "focus.parquet")
    monkeypatch.setenv(PYTHON_ENV_VAR, str(tmp_path / "no-venv" / "bin" / "python"))
    with pytest.raises(ValidatorError, match="make focus-validator"):
        run_validator(data, tmp_path / "report")


needs_validator = pytest.mark.skipif(
    not validator_python().exists(), reason=f"{validator_python()} is absent: run `make focus-validator`"
)


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory):
    """A real focus-validator run on deliberately broken FOCUS data, and the folder it reported into."""
    folder = tmp_path_factory.mktemp("broken")
    report_dir = folder / "report"
    return run_validator(write_focus_file(folder / "focus.parquet", broken=True), report_dir), report_dir


@needs_validator
def test_real_validator_reports_broken_values_and_excuses_only_the_known_defect(broken_run):
    report, report_dir = broken_run

    assert (report_dir / JUNIT_FILE).is_file() and (report_dir / FINDINGS_FILE).is_file()
    # Every 1.2 rule, and far fewer skipped than the 441 without --applicability-criteria ALL.
    assert (report.evaluated, report.skipped) == (578, 210)
    unexpected = unexpected_failures(report, load_allowlist())
    assert "ChargeCategory-C-003-M" in unexpected  # allowed values
    assert "BillingCurrency-C-006-M" in unexpected  # ISO 4217, read from the validator's relative-path CSV
    assert "SkuPriceId-C-008-M" in unexpected  # one parent SkuId per SkuPriceId
    assert "ChargeCategory-C-002-M" not in report.failures  # not null: holds
    # "AWS" issues no invoice of its own: the known BilledCost-C-005-C defect, and its composite.
    assert {"BilledCost-C-005-C", "BilledCost-C-000-M"} <= set(report.failures)
    assert not {"BilledCost-C-005-C", "BilledCost-C-000-M"} & set(unexpected)


@needs_validator
def test_a_failed_verdict_lists_every_failing_rule_with_its_text_and_offending_values(broken_run):
    report, _ = broken_run
    allowlist = load_allowlist()
    unexpected = unexpected_failures(report, allowlist)
    model = json.loads((_site_packages(validator_python()) / "focus_validator" / "rules" / RULE_MODEL_FILE).read_text())
    lines = {line.split(": ", 1)[0]: line for line in failing_rules(report, allowlist)}

    assert sorted(lines) == sorted(unexpected)  # every one, none left out
    for rule_id, line in lines.items():
        assert line.startswith(f"{rule_id}: {model['ModelRules'][rule_id]['ValidationCriteria']['MustSatisfy']} | ")
    # the validator's own sample rows: every row of the broken column has the same bad value
    assert report.findings["ChargeCategory-C-003-M"].violations == 3
    assert report.findings["ChargeCategory-C-003-M"].examples == (f"ChargeCategory='{BROKEN_CHARGE_CATEGORY}'",)
    assert lines["ChargeCategory-C-003-M"].endswith(f"| 3 violations | e.g. ChargeCategory='{BROKEN_CHARGE_CATEGORY}'")
    # a cross-row rule, which the validator has no sample rows for: the offending group, read from the file
    assert report.findings["SkuPriceId-C-008-M"].examples == (
        f"SkuPriceId='{SHARED_SKU_PRICE_ID}' has 2 SkuId: 'sku-1', 'sku-2'",
    )
    assert all(len(finding.examples) <= EXAMPLES_PER_RULE for finding in report.findings.values())
    # and all of it in the served verdict
    record = verdict_record(report, allowlist, ["2026-11"])
    assert record["status"] == "failed" and record["failing_rules"].splitlines() == list(lines.values())
    assert record["verdict"].endswith(": " + ", ".join(sorted(unexpected)))
