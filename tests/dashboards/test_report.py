"""The static preview (`make report`) opened in headless Chromium: every chart drawn, every page captured.

Screenshots are kept under tests/artifacts/report/ for a person to look at.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pytest

from include.dashboards.report import TABLE_ROWS, render_report
from include.dashboards.spec import CHART_DISPLAYS, load_dashboards, render_sql
from include.serving.publish import connect_serving
from tests.conftest import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts" / "report"
CURRENCY = "BillingCurrency"  # the currency of a row's amounts
DASHBOARDS = load_dashboards()
# Quiet and offline: this machine has no network, and Chromium would keep trying Google's services.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=10000",  # let the page's scripts finish before the DOM or picture is taken
]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found:
        pytest.fail("headless Chromium is needed: `make chromium` installs Debian's chromium package")
    return found


@pytest.fixture(scope="module")
def report(served, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    render_report(served, out, DASHBOARDS)
    return out


def _chromium(chromium: str, profile, *args: str) -> str:
    completed = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return completed.stdout


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.key)
def test_every_chart_of_the_dashboard_renders_in_headless_chromium(dashboard, report, chromium, tmp_path):
    page = (report / f"{dashboard.key}.html").as_uri()
    dom = _chromium(chromium, tmp_path / "profile", "--dump-dom", page)

    drawn = dict(re.findall(r'id="chart-([\w-]+)"[^>]*data-rendered-traces="(\d+)"', dom))
    charts = [card for card in dashboard.cards if card.display in CHART_DISPLAYS]
    assert sorted(drawn) == sorted(card.key.replace(".", "-") for card in charts)
    assert all(int(traces) >= 1 for traces in drawn.values()), drawn
    for card in dashboard.cards:
        assert f'data-card="{card.key}"' in dom

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / f"{dashboard.key}.png"
    screenshot.unlink(missing_ok=True)
    _chromium(chromium, tmp_path / "profile", "--window-size=1600,1800", f"--screenshot={screenshot}", page)
    assert screenshot.stat().st_size > 20_000  # a blank page is a few KB


def test_the_index_links_every_dashboard(report):
    index = (report / "index.html").read_text()
    assert all(f'href="{dashboard.key}.html"' in index for dashboard in DASHBOARDS)


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.key)
def test_amounts_show_their_currency_code_never_a_dollar_sign(dashboard, report, served):
    """The serving layer bills one payer in EUR: every card showing EUR rows names EUR, none shows "$"."""
    page = (report / f"{dashboard.key}.html").read_text()
    charts = re.search(r'<script type="application/json" id="charts">(.*?)</script>', page, re.DOTALL)
    figures = {chart["id"]: json.dumps(chart["figure"]) for chart in json.loads(charts.group(1))}
    assert "$" not in page

    with connect_serving(served) as con:
        for card in dashboard.cards:
            cursor = con.cursor()
            rows = cursor.execute(render_sql(card.sql, {})).fetchall()
            columns = [column[0] for column in cursor.description]
            if card.display == "table":
                rows = rows[:TABLE_ROWS]
            shown = {str(row[columns.index(CURRENCY)]) for row in rows} if CURRENCY in columns else set()
            rendered = figures.get(f"chart-{card.key.replace('.', '-')}") or _section(page, card.key)
            assert all(code in rendered for code in shown), (card.key, shown)
        assert "EUR" in page + "".join(figures.values())


def _section(page: str, card_key: str) -> str:
    return html.unescape(re.search(rf'data-card="{re.escape(card_key)}".*?</section>', page, re.DOTALL).group(0))
