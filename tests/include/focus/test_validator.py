import json
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from include.focus.validator import (
    PYTHON_ENV_VAR,
    ValidatorError,
    ValidatorReport,
    load_allowlist,
    parse_junit,
    run_validator,
    unexpected_failures,
    validator_python,
    verdict,
)
from include.settings import PROJECT_ROOT

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
    }
}

ALLOWLIST = {"BilledCost-C-005-C": "known defect", "CommitmentDiscountStatus-C-004-C": "known defect"}


@pytest.fixture
def report(tmp_path):
    (tmp_path / "report.xml").write_text(REPORT)
    (tmp_path / "model.json").write_text(json.dumps(RULE_MODEL))
    return parse_junit(tmp_path / "report.xml", tmp_path / "model.json")


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


def test_missing_data_file_is_named(tmp_path):
    with pytest.raises(ValidatorError, match="nope.parquet does not exist"):
        run_validator(tmp_path / "nope.parquet", tmp_path / "report.xml")


def test_missing_validator_says_how_to_install_it(monkeypatch, tmp_path):
    data = _write_focus_file(tmp_path / "focus.parquet")
    monkeypatch.setenv(PYTHON_ENV_VAR, str(tmp_path / "no-venv" / "bin" / "python"))
    with pytest.raises(ValidatorError, match="make focus-validator"):
        run_validator(data, tmp_path / "report.xml")


@pytest.mark.skipif(
    not validator_python().exists(), reason=f"{validator_python()} is absent: run `make focus-validator`"
)
def test_real_validator_reports_broken_values_and_excuses_only_the_known_defect(tmp_path):
    data = _write_focus_file(tmp_path / "focus.parquet", broken=True)

    report = run_validator(data, tmp_path / "out" / "report.xml")

    assert (tmp_path / "out" / "report.xml").is_file()
    # Every 1.2 rule, and far fewer skipped than the 441 without --applicability-criteria ALL.
    assert (report.evaluated, report.skipped) == (578, 210)
    unexpected = unexpected_failures(report, load_allowlist())
    assert "ChargeCategory-C-003-M" in unexpected  # allowed values
    assert "BillingCurrency-C-006-M" in unexpected  # ISO 4217, read from the validator's relative-path CSV
    assert "ChargeCategory-C-002-M" not in report.failures  # not null: holds
    # "AWS" issues no invoice of its own: the known BilledCost-C-005-C defect, and its composite.
    assert {"BilledCost-C-005-C", "BilledCost-C-000-M"} <= set(report.failures)
    assert not {"BilledCost-C-005-C", "BilledCost-C-000-M"} & set(unexpected)


def _write_focus_file(path, broken=False):
    """Three FOCUS 1.2 rows: an EC2 hour, a Savings Plan fee and tax, with the mandatory columns."""
    categories = ["Usage", "Purchase", "Tax"]
    currencies = ["USD", "USD", "USD"]
    if broken:
        # focus-validator 2.2.1 checks allowed values against the whole column (any row allowed
        # passes), so only an all-bad column fails; ISO 4217 is checked row by row.
        categories = ["Bogus"] * 3
        currencies = ["USD", "XYZ", "USD"]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    hours = [datetime(2026, 11, 1, h, tzinfo=UTC) for h in (1, 2, 3)]
    amounts = [Decimal("1.5"), Decimal("2.25"), Decimal("0.3")]
    columns = {
        "BilledCost": pa.array(amounts, pa.decimal128(18, 6)),
        "BillingAccountId": ["111122223333"] * 3,
        "BillingAccountName": ["Payer"] * 3,
        "BillingCurrency": currencies,
        "BillingPeriodStart": [start] * 3,
        "BillingPeriodEnd": [datetime(2026, 12, 1, tzinfo=UTC)] * 3,
        "ChargeCategory": categories,
        "ChargeClass": pa.nulls(3, pa.string()),
        "ChargeDescription": ["m5.large hour", "Savings Plan fee", "Tax"],
        "ChargeFrequency": ["Usage-Based", "Recurring", "One-Time"],
        "ChargePeriodStart": hours,
        "ChargePeriodEnd": [datetime(2026, 11, 1, h + 1, tzinfo=UTC) for h in (1, 2, 3)],
        "ContractedCost": pa.array(amounts, pa.decimal128(18, 6)),
        "EffectiveCost": pa.array(amounts, pa.decimal128(18, 6)),
        "InvoiceIssuerName": ["Amazon Web Services, Inc."] * 3,
        "ListCost": pa.array(amounts, pa.decimal128(18, 6)),
        "PricingQuantity": pa.array([Decimal(1), Decimal(1), None], pa.decimal128(18, 6)),
        "PricingUnit": ["Hours", "Hours", None],
        "ProviderName": ["AWS"] * 3,
        "PublisherName": ["AWS"] * 3,
        "ServiceCategory": ["Compute"] * 3,
        "ServiceName": ["Amazon EC2"] * 3,
        "ServiceSubcategory": ["Virtual Machines"] * 3,
    }
    pq.write_table(pa.table(columns), path)
    return path
