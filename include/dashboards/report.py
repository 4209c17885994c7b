"""A static preview of the dashboards: one HTML page per dashboard, rendered from the serving layer.

Each card's SQL runs as Metabase would run it with no filter set, and is drawn in the dashboard's
24-column grid: scalars as numbers, tables as tables, charts with Plotly (its JavaScript is written
once beside the pages, so they open from disk with no network). `make report` writes data/report/.

    python -m include.dashboards.report [--serving data/serving] [--out data/report]
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from include.dashboards.spec import Card, Dashboard, load_dashboards, render_sql
from include.serving.publish import connect_serving
from include.settings import DEFAULT_SERVING_PATH, PROJECT_ROOT

DEFAULT_REPORT_PATH = PROJECT_ROOT / "data" / "report"
PLOTLY_JS = "plotly.min.js"
ROW_HEIGHT_PX = 56
TABLE_ROWS = 100

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<script src="{plotly}"></script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; background: #f6f8fa; color: #1f2328; }}
header {{ padding: 16px 24px; background: #fff; border-bottom: 1px solid #d0d7de; }}
header h1 {{ margin: 0 0 4px; font-size: 22px; }} header p {{ margin: 4px 0; color: #57606a; }}
nav a {{ margin-right: 14px; }}
.grid {{ display: grid; grid-template-columns: repeat(24, 1fr); grid-auto-rows: {row}px; gap: 8px; padding: 16px; }}
.card {{ background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 10px; overflow: auto; }}
.card h2 {{ font-size: 14px; margin: 0 0 6px; }}
.scalar {{ font-size: 34px; font-weight: 600; margin-top: 8px; }}
.chart {{ width: 100%; height: calc(100% - 26px); }}
table {{ border-collapse: collapse; font-size: 12px; width: 100%; }}
th, td {{ border-bottom: 1px solid #eaeef2; padding: 3px 6px; text-align: left; white-space: nowrap; }}
td.number {{ text-align: right; font-variant-numeric: tabular-nums; }}
</style></head>
<body><header><h1>{title}</h1><p>{description}</p>
<p>Static preview of {serving}, no filter set (the latest billing period where a card shows one), rendered {when}.</p>
<nav>{nav}</nav></header>
<main class="grid">
{cards}
</main>
<script type="application/json" id="charts">{charts}</script>
<script>
// Mark each chart once Plotly has drawn it: the tests and a reader can tell a chart really rendered.
for (const chart of JSON.parse(document.getElementById("charts").textContent)) {{
  Plotly.newPlot(chart.id, chart.figure.data, chart.figure.layout, {{displayModeBar: false, responsive: true}})
    .then(div => div.setAttribute("data-rendered-traces", div.querySelectorAll(".trace").length));
}}
</script>
</body></html>
"""


def render_report(serving_root: Path, out_dir: Path, dashboards: list[Dashboard] | None = None) -> list[Path]:
    """Write index.html and one page per dashboard to `out_dir`; returns the dashboard pages."""
    dashboards = dashboards or load_dashboards()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / PLOTLY_JS).write_text(get_plotlyjs(), encoding="utf-8")
    pages = []
    with connect_serving(serving_root) as con:
        for dashboard in dashboards:
            page = out_dir / f"{dashboard.key}.html"
            page.write_text(_dashboard_page(con, dashboard, dashboards, serving_root), encoding="utf-8")
            pages.append(page)
    index = "".join(f'<li><a href="{d.key}.html">{html.escape(d.name)}</a></li>' for d in dashboards)
    title = "<meta charset='utf-8'><title>FinOps dashboards</title><h1>FinOps dashboards</h1>"
    (out_dir / "index.html").write_text(f"<!doctype html>{title}<ul>{index}</ul>", encoding="utf-8")
    return pages


def _dashboard_page(con, dashboard: Dashboard, dashboards: list[Dashboard], serving_root: Path) -> str:
    cards, charts = [], []
    for card in dashboard.cards:
        cursor = con.cursor()
        rows = cursor.execute(render_sql(card.sql, {})).fetchall()
        columns = [column[0] for column in cursor.description]
        body, figure = _card_body(card, columns, rows)
        if figure is not None:
            charts.append({"id": _chart_id(card), "figure": json.loads(figure.to_json())})
        layout = card.layout
        cards.append(
            f'<section class="card" data-card="{card.key}" style="grid-column: {layout.col + 1} / span {layout.width}; '
            f'grid-row: {layout.row + 1} / span {layout.height}" title="{html.escape(card.description)}">'
            f"<h2>{html.escape(card.name)}</h2>{body}</section>"
        )
    nav = " ".join(f'<a href="{d.key}.html">{html.escape(d.name.removeprefix("FinOps: "))}</a>' for d in dashboards)
    return _PAGE.format(
        title=html.escape(dashboard.name),
        description=html.escape(dashboard.description),
        serving=html.escape(str(serving_root)),
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        nav=nav,
        plotly=PLOTLY_JS,
        row=ROW_HEIGHT_PX,
        cards="\n".join(cards),
        charts=json.dumps(charts).replace("</", "<\\/"),
    )


def _card_body(card: Card, columns: list[str], rows: list[tuple]) -> tuple[str, go.Figure | None]:
    if card.display == "scalar":
        field = card.visualization.get("scalar.field", columns[0])
        value = rows[0][columns.index(field)] if rows else None
        return f'<div class="scalar">{html.escape(_formatted(card, field, value))}</div>', None
    if card.display == "table" or not rows:
        return _table(card, columns, rows), None
    return f'<div class="chart" id="{_chart_id(card)}"></div>', _figure(card, columns, rows)


def _figure(card: Card, columns: list[str], rows: list[tuple]) -> go.Figure:
    settings = card.visualization

    def values(column: str) -> list:
        return [_plain(row[columns.index(column)]) for row in rows]

    if card.display == "pie":
        figure = go.Figure(go.Pie(labels=values(settings["pie.dimension"]), values=values(settings["pie.metric"])))
    else:
        dimension, *series_by = settings["graph.dimensions"]
        figure = go.Figure()
        for name, x, y in _series(rows, columns, dimension, series_by, settings["graph.metrics"]):
            if card.display == "line":
                figure.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines+markers"))
            elif card.display == "row":
                figure.add_trace(go.Bar(x=y, y=x, name=name, orientation="h"))
            else:
                figure.add_trace(go.Bar(x=x, y=y, name=name))
        stacked = settings.get("stackable.stack_type") == "stacked"
        figure.update_layout(barmode="stack" if stacked else "group")
        value_axis = {"tickformat": ".0%"} if _is_percent(card, settings["graph.metrics"][0]) else {}
        if card.display == "row":
            figure.update_yaxes(autorange="reversed", type="category")
            figure.update_xaxes(**value_axis)
        else:
            figure.update_xaxes(type="category" if card.display != "line" or not _is_date(x) else None)
            figure.update_yaxes(**value_axis)
        if card.display != "line":  # categories in the query's order, as Metabase shows them, not the first trace's
            categories = list(dict.fromkeys(_plain(row[columns.index(dimension)]) for row in rows))
            axis = figure.update_yaxes if card.display == "row" else figure.update_xaxes
            axis(categoryorder="array", categoryarray=categories)
    figure.update_layout(margin={"l": 40, "r": 10, "t": 10, "b": 30}, legend={"orientation": "h"}, autosize=True)
    return figure


def _series(rows, columns, dimension, series_by, metrics):
    """(trace name, x, y) per metric, or per value of the breakout column when there is one."""
    x_index = columns.index(dimension)
    if series_by:
        split = columns.index(series_by[0])
        metric = columns.index(metrics[0])
        for name in dict.fromkeys(row[split] for row in rows):
            picked = [row for row in rows if row[split] == name]
            yield str(name), [_plain(r[x_index]) for r in picked], [_plain(r[metric]) for r in picked]
    else:
        for metric in metrics:
            index = columns.index(metric)
            yield metric, [_plain(r[x_index]) for r in rows], [_plain(r[index]) for r in rows]


def _table(card: Card, columns: list[str], rows: list[tuple]) -> str:
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    lines = []
    for row in rows[:TABLE_ROWS]:
        cells = "".join(
            f'<td class="{"number" if isinstance(value, int | float | Decimal) else ""}">'
            f"{html.escape(_formatted(card, column, value))}</td>"
            for column, value in zip(columns, row, strict=True)
        )
        lines.append(f"<tr>{cells}</tr>")
    more = f"<p>{len(rows) - TABLE_ROWS} more rows in Metabase</p>" if len(rows) > TABLE_ROWS else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>{more}"


def _formatted(card: Card, column: str, value) -> str:
    """A value as the card's column settings show it in Metabase (percent, decimals); amounts are plain
    numbers beside their row's BillingCurrency (the spec refuses a fixed currency format)."""
    if value is None:
        return "–"
    if not isinstance(value, int | float | Decimal) or isinstance(value, bool):
        return str(value)
    settings = _column_settings(card, column)
    style, decimals = settings.get("number_style"), settings.get("decimals")
    if style == "percent":
        return f"{float(value) * 100:,.{1 if decimals is None else decimals}f} %"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):,.{2 if decimals is None else decimals}f}"


def _is_percent(card: Card, column: str) -> bool:
    return _column_settings(card, column).get("number_style") == "percent"


def _column_settings(card: Card, column: str) -> dict:
    """Metabase keys a column's formatting by a JSON reference to the column's name."""
    return card.visualization.get("column_settings", {}).get(f'["name","{column}"]', {})


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    return value.isoformat() if hasattr(value, "isoformat") else value


def _is_date(values: list) -> bool:
    return bool(values) and all(isinstance(value, str) and len(value) == 10 and value[4] == "-" for value in values)


def _chart_id(card: Card) -> str:
    return "chart-" + card.key.replace(".", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the dashboards as static HTML from the serving layer.")
    parser.add_argument("--serving", type=Path, default=DEFAULT_SERVING_PATH)
    parser.add_argument("--out", type=Path, default=DEFAULT_REPORT_PATH)
    args = parser.parse_args(argv)
    pages = render_report(args.serving, args.out)
    print(f"Rendered {len(pages)} dashboards into {args.out}: open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
