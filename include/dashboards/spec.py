"""Dashboards as code: read `dashboards/*.yml` into plain values, and render card SQL like Metabase.

One YAML file per dashboard (see dashboards/README.md for the format). Cards are native SQL over
the serving views (`include.serving.publish.serving_init_sql`). A card's filters are Metabase
text variables, `{{billing_period}}`, usually inside an optional clause `[[AND ... ]]` that
Metabase drops when the filter is empty; `render_sql` does the same for tests and the report.
Amounts are never formatted in one fixed currency: a row's amounts are in its `BillingCurrency`,
shown beside them, and no card adds amounts of different currencies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from include.settings import PROJECT_ROOT
from include.sql import sql_literal

DASHBOARDS_DIR = PROJECT_ROOT / "dashboards"
FILTERS_FILE = "filters.yml"
GRID_WIDTH = 24  # Metabase's dashboard grid
CHART_DISPLAYS = ("line", "bar", "row", "pie")
DISPLAYS = ("scalar", "table", *CHART_DISPLAYS)
_KEY = re.compile(r"[a-z][a-z0-9_]*")  # with fullmatch: `^…$` and match let "spend\n" through
_TAG = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_OPTIONAL = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)


class DashboardSpecError(ValueError):
    """A dashboard file is malformed; the message names the file and the card."""


@dataclass(frozen=True)
class Filter:
    key: str  # the template tag the cards use, and the dashboard parameter's slug
    name: str
    type: str  # Metabase parameter type, e.g. "string/="


@dataclass(frozen=True)
class Layout:
    row: int
    col: int
    width: int
    height: int


@dataclass(frozen=True)
class Card:
    key: str  # "<dashboard>.<card>", stable across installs: how the installer finds the card again
    name: str
    description: str
    display: str
    sql: str
    layout: Layout
    visualization: dict = field(default_factory=dict)
    # result column → the same total computed over the FOCUS mart (tests check they agree)
    totals: dict[str, str] = field(default_factory=dict)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_TAG.findall(self.sql)))


@dataclass(frozen=True)
class Dashboard:
    key: str
    name: str
    description: str
    filters: tuple[Filter, ...]
    cards: tuple[Card, ...]


def load_dashboards(folder: Path = DASHBOARDS_DIR) -> list[Dashboard]:
    folder = Path(folder)
    filters = _load_filters(folder / FILTERS_FILE)
    files = sorted(path for path in folder.glob("*.yml") if path.name != FILTERS_FILE)
    dashboards = [_load_dashboard(path, filters) for path in files]
    keys = [card.key for dashboard in dashboards for card in dashboard.cards]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:  # (dashboard keys are unique: each is its file's name)
        raise DashboardSpecError(f"{folder}: card keys must be unique within a dashboard, repeated: {duplicates}")
    return dashboards


def render_sql(sql: str, values: dict[str, str]) -> str:
    """The SQL Metabase runs for these filter values: optional clauses kept only when all their filters are set."""

    def optional_clause(match: re.Match) -> str:
        clause = match.group(1)
        return clause if all(values.get(tag) for tag in _TAG.findall(clause)) else ""

    def substitute(match: re.Match) -> str:
        tag = match.group(1)
        if not values.get(tag):
            raise DashboardSpecError(f"filter {tag!r} is required by the SQL (it is outside an optional [[...]])")
        return sql_literal(str(values[tag]))

    return _TAG.sub(substitute, _OPTIONAL.sub(optional_clause, sql))


def _load_filters(path: Path) -> dict[str, Filter]:
    raw = _read_yaml(path)
    return {key: Filter(key=key, name=entry["name"], type=entry["type"]) for key, entry in raw.items()}


def _load_dashboard(path: Path, filters: dict[str, Filter]) -> Dashboard:
    raw = _read_yaml(path)
    key = raw.get("key", "")
    if not _KEY.fullmatch(key) or path.stem != key:
        raise DashboardSpecError(f"{path}: key {key!r} must be lowercase snake_case and match the file name")
    unknown = [name for name in raw.get("filters", []) if name not in filters]
    if unknown:
        raise DashboardSpecError(f"{path}: filters {unknown} are not defined in {FILTERS_FILE}")
    dashboard_filters = tuple(filters[name] for name in raw.get("filters", []))
    cards = tuple(_load_card(path, key, entry, dashboard_filters) for entry in raw.get("cards", []))
    if not cards:
        raise DashboardSpecError(f"{path}: a dashboard needs at least one card")
    for first, second in _overlapping(cards):
        raise DashboardSpecError(f"{path}: cards {first.key!r} and {second.key!r} overlap on the grid")
    return Dashboard(key, raw["name"], raw.get("description", ""), dashboard_filters, cards)


def _load_card(path: Path, dashboard_key: str, raw: dict, filters: tuple[Filter, ...]) -> Card:
    where = f"{path} card {raw.get('key')!r}"
    if not _KEY.fullmatch(raw.get("key", "")):
        raise DashboardSpecError(f"{where}: key must be lowercase snake_case")
    if raw.get("display") not in DISPLAYS:
        raise DashboardSpecError(f"{where}: display {raw.get('display')!r} must be one of {DISPLAYS}")
    layout = raw.get("layout", ())
    if len(layout) != 4:
        raise DashboardSpecError(f"{where}: layout must be [row, col, width, height]")
    row, col, width, height = (int(value) for value in layout)
    if col < 0 or row < 0 or width < 1 or height < 1 or col + width > GRID_WIDTH:
        raise DashboardSpecError(f"{where}: layout [row, col, width, height] must fit the {GRID_WIDTH}-column grid")
    card = Card(
        key=f"{dashboard_key}.{raw['key']}",
        name=raw["name"],
        description=raw.get("description", ""),
        display=raw["display"],
        sql=raw["sql"].strip(),
        layout=Layout(row, col, width, height),
        visualization=raw.get("visualization", {}),
        totals=raw.get("totals", {}),
    )
    undeclared = set(card.tags) - {f.key for f in filters}
    if undeclared:
        raise DashboardSpecError(f"{where}: the SQL uses {sorted(undeclared)}, which the dashboard's filters lack")
    fixed_currency = [
        column
        for column, settings in card.visualization.get("column_settings", {}).items()
        if settings.get("number_style") == "currency" or "currency" in settings
    ]
    if fixed_currency:
        raise DashboardSpecError(
            f"{where}: {fixed_currency} format amounts in one fixed currency; show them as numbers beside "
            "the row's BillingCurrency instead (each row's amounts are in its own billing currency)"
        )
    return card


def _overlapping(cards: tuple[Card, ...]):
    for index, first in enumerate(cards):
        for second in cards[index + 1 :]:
            a, b = first.layout, second.layout
            rows_meet = a.row < b.row + b.height and b.row < a.row + a.height
            cols_meet = a.col < b.col + b.width and b.col < a.col + a.width
            if rows_meet and cols_meet:
                yield first, second


def _read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as err:
        raise DashboardSpecError(f"{path}: {err}") from err
