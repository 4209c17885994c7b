"""Reading dashboards/*.yml and rendering card SQL the way Metabase does."""

from __future__ import annotations

import shutil

import pytest
import yaml

from include.dashboards.spec import DASHBOARDS_DIR, DashboardSpecError, load_dashboards, render_sql

SQL = "SELECT 1 FROM t WHERE true [[AND a = {{billing_period}}]] [[AND b = {{provider}} AND c = {{account}}]]"


def test_optional_clauses_are_kept_only_when_all_their_filters_are_set():
    assert render_sql(SQL, {}) == "SELECT 1 FROM t WHERE true  "
    assert render_sql(SQL, {"billing_period": "2025-01", "provider": "AWS"}) == (
        "SELECT 1 FROM t WHERE true AND a = '2025-01' "
    )
    both = render_sql(SQL, {"provider": "AWS", "account": "1"})
    assert both == "SELECT 1 FROM t WHERE true  AND b = 'AWS' AND c = '1'"


def test_values_are_quoted_as_sql_strings():
    assert render_sql("[[x = {{provider}}]]", {"provider": "O'Brien Cloud"}) == "x = 'O''Brien Cloud'"


def test_a_filter_outside_an_optional_clause_is_required():
    with pytest.raises(DashboardSpecError, match="'provider' is required"):
        render_sql("SELECT {{provider}}", {})


def test_the_shipped_dashboards_load_with_stable_unique_keys():
    dashboards = load_dashboards()
    keys = [card.key for dashboard in dashboards for card in dashboard.cards]
    assert len(keys) == len(set(keys)) and all(key.count(".") == 1 for key in keys)


@pytest.fixture
def dashboards_copy(tmp_path):
    folder = tmp_path / "dashboards"
    shutil.copytree(DASHBOARDS_DIR, folder)
    return folder


def _edit_first_card(folder, **changes):
    path = folder / "cost_overview.yml"
    spec = yaml.safe_load(path.read_text())
    spec["cards"][0].update(changes)
    path.write_text(yaml.safe_dump(spec))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"display": "gauge"}, "display 'gauge' must be one of"),
        ({"layout": [0, 20, 6, 3]}, "must fit the 24-column grid"),
        ({"layout": [0, 5, 2, 3]}, "'cost_overview.billed_cost' and 'cost_overview.effective_cost' overlap"),
        ({"sql": "SELECT {{team}}"}, "uses \\['team'\\], which the dashboard's filters lack"),
        ({"key": "Billed Cost"}, "key must be lowercase snake_case"),
    ],
)
def test_a_malformed_card_is_refused_naming_the_file_and_card(dashboards_copy, changes, message):
    _edit_first_card(dashboards_copy, **changes)
    with pytest.raises(DashboardSpecError, match=message) as raised:
        load_dashboards(dashboards_copy)
    assert "cost_overview.yml" in str(raised.value)
