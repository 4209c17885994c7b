"""Contract tests of the dashboard installer against a local server that checks every request against
Metabase's OpenAPI spec (a real Metabase cannot run here), with the dashboards shipped in dashboards/."""

from __future__ import annotations

import dataclasses

import pytest

from include.dashboards.spec import load_dashboards
from include.metabase.client import MetabaseClient, MetabaseSettings
from include.metabase.install import install, main
from include.serving.publish import serving_init_sql

SERVING_PATH = "/srv/finops/serving"


@pytest.fixture(scope="module")
def dashboards():
    return load_dashboards()


def _install(server, dashboards):
    with MetabaseClient(MetabaseSettings(server.url, api_key=server.api_key, backoff_s=0)) as client:
        return install(client, dashboards, SERVING_PATH)


def _card_count(dashboards) -> int:
    return sum(len(dashboard.cards) for dashboard in dashboards)


def test_contract_first_install_creates_database_collection_cards_and_dashboards(fake_metabase, dashboards):
    report = _install(fake_metabase, dashboards)

    [database] = fake_metabase.databases.values()
    assert (database["name"], database["engine"]) == ("Open FinOps", "duckdb")
    assert database["details"]["init_sql"] == serving_init_sql(SERVING_PATH)
    assert [c["name"] for c in fake_metabase.collections.values()] == ["Open FinOps"]
    assert len(fake_metabase.cards) == _card_count(dashboards) >= 25
    assert len(fake_metabase.dashboards) == len(dashboards) == 6
    assert set(report.changed.values()) == {"created"}

    for card in fake_metabase.cards.values():
        query = card["dataset_query"]
        assert query["type"] == "native" and query["database"] == database["id"]
        assert card["collection_id"] == report.collection_id
        for tag, spec in query["native"]["template-tags"].items():
            assert "{{" + tag + "}}" in query["native"]["query"] and spec["type"] == "text"


def test_contract_dashboard_filters_are_wired_to_each_card_that_uses_them(fake_metabase, dashboards):
    _install(fake_metabase, dashboards)
    overview = next(d for d in fake_metabase.dashboards.values() if d["name"] == "FinOps: Cost overview")
    assert [p["slug"] for p in overview["parameters"]] == ["billing_period", "provider", "account", "currency"]
    spec = next(d for d in dashboards if d.key == "cost_overview")
    assert len(overview["dashcards"]) == len(spec.cards)
    for dashcard in overview["dashcards"]:
        tags = fake_metabase.cards[dashcard["card_id"]]["dataset_query"]["native"]["template-tags"]
        mapped = {m["parameter_id"]: m["target"] for m in dashcard["parameter_mappings"]}
        assert mapped == {tag: ["variable", ["template-tag", tag]] for tag in tags}
    trend = next(dc for dc in overview["dashcards"] if fake_metabase.cards[dc["card_id"]]["name"] == "Monthly trend")
    # a trend spans months: every filter but the billing period
    assert {m["parameter_id"] for m in trend["parameter_mappings"]} == {"provider", "account", "currency"}


def test_contract_second_install_sends_no_write_and_changes_nothing(fake_metabase, dashboards):
    _install(fake_metabase, dashboards)
    before = fake_metabase.snapshot()
    fake_metabase.requests.clear()

    report = _install(fake_metabase, dashboards)

    assert fake_metabase.writes() == []
    assert fake_metabase.snapshot() == before
    assert report.changed == {}
    assert len(fake_metabase.requests) == 4  # databases, collections, then the cards and the dashboards in it


def test_contract_a_changed_card_is_updated_in_place_and_a_dropped_one_archived(fake_metabase, dashboards):
    _install(fake_metabase, dashboards)
    cards_before = {card["id"]: card["name"] for card in fake_metabase.cards.values()}
    overview = next(d for d in dashboards if d.key == "cost_overview")
    renamed = dataclasses.replace(overview.cards[0], name="Invoiced cost")
    changed = dataclasses.replace(overview, cards=(renamed, *overview.cards[2:]))  # card 2 dropped
    fake_metabase.requests.clear()

    report = _install(fake_metabase, [changed if d.key == "cost_overview" else d for d in dashboards])

    assert report.changed == {
        "card:cost_overview.billed_cost": "updated",
        "dashboard:cost_overview": "updated",
        "card:cost_overview.effective_cost": "archived",
    }
    assert set(fake_metabase.cards) == set(cards_before)  # nothing created
    updated = next(c for c in fake_metabase.cards.values() if c["name"] == "Invoiced cost")
    assert cards_before[updated["id"]] == "Billed cost"
    archived = [c["name"] for c in fake_metabase.cards.values() if c["archived"]]
    assert archived == ["Effective cost"]
    assert {w.method for w in fake_metabase.writes()} == {"PUT"}


def test_contract_install_repoints_the_database_when_the_serving_path_changes(fake_metabase, dashboards):
    _install(fake_metabase, dashboards)
    with MetabaseClient(MetabaseSettings(fake_metabase.url, api_key=fake_metabase.api_key)) as client:
        report = install(client, dashboards, "/elsewhere")
    [database] = fake_metabase.databases.values()
    assert database["details"]["init_sql"] == serving_init_sql("/elsewhere")
    assert report.changed == {"database:Open FinOps": "updated"}


def test_contract_cli_installs_and_reports(fake_metabase, capsys):
    argv = ["--url", fake_metabase.url, "--api-key", fake_metabase.api_key, "--serving-path", SERVING_PATH]
    assert main(argv) == 0
    assert main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1].startswith("0 changed")


def test_contract_cli_fails_clearly_on_a_wrong_key(fake_metabase, capsys):
    assert main(["--url", fake_metabase.url, "--api-key", "wrong", "--serving-path", SERVING_PATH]) == 1
    assert "API key is wrong or revoked" in capsys.readouterr().err
