from include.aws.columns import DECIMAL_TYPE, athena_column_name, legacy_cur_columns
from include.warehouse.loader import type_kind


def test_legacy_names_follow_the_athena_rule():
    assert athena_column_name("lineItem/UnblendedCost") == "line_item_unblended_cost"
    assert athena_column_name("reservation/ReservationARN") == "reservation_reservation_a_r_n"
    assert athena_column_name("resourceTags/user:Cost Center") == "resource_tags_user_cost_center"
    assert athena_column_name("resourceTags/aws:createdBy") == "resource_tags_aws_created_by"


def test_types_come_from_the_manifest_and_untyped_amounts_stay_exact():
    columns = legacy_cur_columns(
        [
            ("lineItem/UnblendedCost", "BigDecimal"),
            ("lineItem/UsageStartDate", "DateTime"),
            ("identity/TimeInterval", "Interval"),
            ("bill/InvoiceId", "OptionalString"),
            ("product/sku", None),
            ("savingsPlan/SavingsPlanEffectiveCost", None),
            ("bill/BillingPeriodStartDate", None),
        ]
    )
    assert [(c.name, c.sql_type) for c in columns] == [
        ("line_item_unblended_cost", DECIMAL_TYPE),
        ("line_item_usage_start_date", "TIMESTAMP"),
        ("identity_time_interval", "VARCHAR"),
        ("bill_invoice_id", "VARCHAR"),
        ("product_sku", "VARCHAR"),
        ("savings_plan_savings_plan_effective_cost", DECIMAL_TYPE),
        ("bill_billing_period_start_date", "TIMESTAMP"),
    ]


def test_a_csv_column_is_cast_to_the_kind_the_loader_checks_for_its_manifest_type():
    """One reading of type names: the CSV cast and the loader's type check never disagree."""
    numbers, times, texts = ["BigDecimal", "OptionalDouble", "Integer", "Long"], ["DateTime", "Date"], ["Interval"]
    declared = numbers + times + texts
    columns = legacy_cur_columns([(f"lineItem/Column{n}", kind) for n, kind in enumerate(declared)])
    assert [type_kind(c.sql_type) for c in columns] == [type_kind(kind) for kind in declared]
    assert [c.sql_type for c in columns] == [DECIMAL_TYPE] * len(numbers) + ["TIMESTAMP"] * len(times) + ["VARCHAR"]


def test_tag_spellings_that_normalise_alike_merge_and_keep_every_source_key():
    [column] = legacy_cur_columns([("resourceTags/user:team", "String"), ("resourceTags/user:Team", "String")])
    assert column.name == "resource_tags_user_team"
    assert column.sources == ("resourceTags/user:team", "resourceTags/user:Team")
