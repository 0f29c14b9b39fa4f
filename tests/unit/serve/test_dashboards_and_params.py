"""Dashboard YAML validation and metric-query building, without a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventlake.serve.catalog import Catalog
from eventlake.serve.dashboards import DashboardError, DashboardSet, parse_dashboard
from eventlake.serve.params import BadParameter, parse_metric_query

CATALOG = Catalog.parse(
    json.dumps(
        {
            "metrics": [
                {
                    "name": "revenue_daily",
                    "description": "d",
                    "relation": "metrics.revenue_daily",
                    "date_column": "activity_date",
                    "dimensions": ["platform"],
                    "measures": [{"name": "revenue", "agg": "sum"}],
                    "columns": [
                        {"name": "activity_date", "type": "DATE", "description": ""},
                        {"name": "platform", "type": "VARCHAR", "description": ""},
                        {"name": "revenue", "type": "DOUBLE", "description": ""},
                    ],
                }
            ]
        }
    ).encode(),
    "v1",
)
METRIC = CATALOG.metrics["revenue_daily"]


def test_packaged_default_dashboard_is_valid() -> None:
    boards = DashboardSet(None).all()
    assert [b.slug for b in boards] == ["game"]
    assert boards[0].error is None and boards[0].spec is not None
    types = {c["type"] for c in boards[0].spec["charts"]}
    assert types == {"kpi", "line", "bar", "heatmap", "funnel", "table"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: x\n", "'charts' must be a non-empty list"),
        ("charts: [{type: pie, metric: m}]", "charts[0].type"),
        ("charts: [{type: line, metric: m, x: d}]", "charts[0].y"),
        ("charts: [{type: line, metric: m, x: d, y: [a], colour: red}]", "unknown key 'colour'"),
        ("charts: [{type: kpi, metric: 'm; drop', value: v}]", "charts[0].metric"),
        ("charts: [{type: kpi, metric: m, value: {ratio: [a]}}]", "ratio"),
        ("charts: [{type: funnel, metric: m, stages: [a]}]", "stages"),
        (
            "charts: [{id: a, type: kpi, metric: m, value: v}, {id: a, type: kpi, metric: m, "
            "value: v}]",
            "used twice",
        ),
        ("charts: [\n  - {", "invalid YAML"),
        ("filters: {dimensions: [{name: p, colour: 1}]}\ncharts: []", "unknown key"),
    ],
)
def test_invalid_dashboards_name_file_and_key(text: str, message: str) -> None:
    with pytest.raises(DashboardError, match="board.yaml") as info:
        parse_dashboard(text, "board.yaml")
    assert message in str(info.value)


def test_query_binds_every_value_and_quotes_only_catalog_names() -> None:
    q = parse_metric_query(
        METRIC,
        [("platform", "iOS' OR 1=1 --"), ("start", "2026-01-01"), ("sort", "-revenue")],
        max_limit=1000,
    )
    assert "iOS" not in q.sql and "2026" not in q.sql
    assert q.params[0].isoformat() == "2026-01-01" and q.params[1] == "iOS' OR 1=1 --"
    assert 'FROM "metrics"."revenue_daily"' in q.sql
    assert 'ORDER BY "revenue" DESC NULLS LAST' in q.sql
    assert q.params[-2:] == (1001, 0)


def test_group_by_sums_measures() -> None:
    q = parse_metric_query(METRIC, [("group_by", "platform")], max_limit=10)
    assert q.columns == ("platform", "revenue")
    assert 'SUM("revenue") AS "revenue"' in q.sql and 'GROUP BY "platform"' in q.sql


def test_a_measure_without_declared_aggregation_is_never_aggregated() -> None:
    spec = json.loads(json.dumps({"metrics": [METRIC.to_json()]}))
    spec["metrics"][0]["measures"] = ["revenue"]  # an older catalog: names only
    old = Catalog.parse(json.dumps(spec).encode(), "v0").metrics["revenue_daily"]
    rows = parse_metric_query(old, [("platform", "iOS")], max_limit=10)
    assert "SUM" not in rows.sql
    with pytest.raises(BadParameter, match="declares no aggregation") as info:
        parse_metric_query(old, [("group_by", "platform")], max_limit=10)
    assert info.value.param == "group_by"


def test_bad_parameter_names_itself() -> None:
    with pytest.raises(BadParameter) as info:
        parse_metric_query(METRIC, [("limit", "5000")], max_limit=1000)
    assert info.value.param == "limit"


def test_catalog_rejects_unsafe_identifiers() -> None:
    from eventlake.errors import ServeError

    bad = {"metrics": [{"name": "x", "columns": [{"name": 'a"b'}]}]}
    with pytest.raises(ServeError, match="not a valid identifier"):
        Catalog.parse(json.dumps(bad).encode(), "v")


def test_date_range_casts_only_a_timestamp_date_column() -> None:
    on_date = parse_metric_query(
        METRIC, [("start", "2026-01-01"), ("end", "2026-01-31")], max_limit=10
    )
    assert '"activity_date" >= ? AND "activity_date" <= ?' in on_date.sql
    assert "CAST" not in on_date.sql
    spec = json.loads(json.dumps({"metrics": [METRIC.to_json()]}))
    spec["metrics"][0]["columns"][0]["type"] = "TIMESTAMP WITH TIME ZONE"
    stamped = Catalog.parse(json.dumps(spec).encode(), "v2").metrics["revenue_daily"]
    on_ts = parse_metric_query(stamped, [("end", "2026-01-31")], max_limit=10)
    assert 'CAST("activity_date" AS DATE) <= ?' in on_ts.sql


def test_a_map_chart_names_its_scope_places_and_value() -> None:
    spec = parse_dashboard(
        "filters: {date: month, dimensions: [state]}\n"
        "charts:\n"
        "  - {id: us, type: map, metric: m, locations: state, value: points}\n"
        "  - {id: w, type: map, metric: m, scope: world, locations: iso3, text: country,\n"
        "     value: {ratio: [points, players], label: per player}, colorscale: Viridis}\n",
        "board.yaml",
    )
    us, world = spec["charts"]
    assert spec["filters"]["date"] == "month"
    assert us["scope"] == "usa" and us["locationmode"] == "USA-states" and us["width"] == 2
    assert us["value"] == {"column": "points", "label": "points"}
    assert world["locationmode"] == "ISO-3" and world["text"] == "country"
    assert world["value"]["ratio"] == ["points", "players"] and world["colorscale"] == "Viridis"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("charts: [{type: map, metric: m, scope: mars, locations: s, value: v}]", "scope"),
        ("charts: [{type: map, metric: m, value: v}]", "charts[0].locations"),
        ("charts: [{type: map, metric: m, locations: s}]", "charts[0].value"),
        ("filters: {date: week}\ncharts: [{type: kpi, metric: m, value: v}]", "filters.date"),
    ],
)
def test_invalid_maps_and_date_filters_name_the_key(text: str, message: str) -> None:
    with pytest.raises(DashboardError, match="board.yaml") as info:
        parse_dashboard(text, "board.yaml")
    assert message in str(info.value)


def test_a_project_without_events_is_not_offered_the_game_dashboard(tmp_path: Path) -> None:
    (tmp_path / "own.yaml").write_text("title: Own\ncharts: [{type: kpi, metric: m, value: v}]")
    assert [b.slug for b in DashboardSet(tmp_path).all()] == ["game", "own"]
    assert [b.slug for b in DashboardSet(tmp_path, packaged=False).all()] == ["own"]


def test_every_example_dashboard_is_valid() -> None:
    examples = Path(__file__).resolve().parents[3] / "examples"
    files = sorted(examples.glob("*/dashboards/*.yaml"))
    assert {f.parent.parent.name for f in files} == {"pinball", "students"}
    for path in files:
        spec = parse_dashboard(path.read_text(), str(path))
        assert spec["charts"]
    pinball = parse_dashboard((examples / "pinball/dashboards/pinball.yaml").read_text(), "p")
    assert {c["type"] for c in pinball["charts"]} >= {"map", "kpi", "bar", "line", "table"}
