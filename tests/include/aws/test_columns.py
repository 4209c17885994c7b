from include.aws.columns import DECIMAL_TYPE, athena_column_name, legacy_cur_columns


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
            ("product/sku", None),
            ("savingsPlan/SavingsPlanEffectiveCost", None),
            ("bill/BillingPeriodStartDate", None),
        ]
    )
    assert [(c.name, c.sql_type) for c in columns] == [
        ("line_item_unblended_cost", DECIMAL_TYPE),
        ("line_item_usage_start_date", "TIMESTAMP"),
        ("product_sku", "VARCHAR"),
        ("savings_plan_savings_plan_effective_cost", DECIMAL_TYPE),
        ("bill_billing_period_start_date", "TIMESTAMP"),
    ]


def test_tag_spellings_that_normalise_alike_merge_and_keep_every_source_key():
    [column] = legacy_cur_columns([("resourceTags/user:team", "String"), ("resourceTags/user:Team", "String")])
    assert column.name == "resource_tags_user_team"
    assert column.sources == ("resourceTags/user:team", "resourceTags/user:Team")
