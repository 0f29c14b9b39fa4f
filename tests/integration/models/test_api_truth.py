"""Every metric endpoint of the default project answers what its definition says.

The game lake is built with the real dbt project, served by the real app on a socket, and
each answer of ``/api/metrics/<name>.json`` (grouped, filtered with one and several values,
over date ranges that cross the partial first and last days, totals) is compared with an
answer computed here from the lake's Parquet rows alone (``truth.py``: deduplication,
identity stitching, sessions and user-days re-derived with pandas) and the metric's
definition (docs/metrics.md), with this module's own loops: never the model SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import eventlake_tests_support as support
import httpx
import pandas as pd
import pytest

from eventlake.config import Settings

pytestmark = pytest.mark.integration

serving = support.serving()
DIMS = ["platform", "country", "host_provider"]
Day = dt.date


@pytest.fixture(scope="module")
def world(
    game_lake: Any,
    truth: Any,
    settings_factory: Callable[..., Settings],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    project = tmp_path_factory.mktemp("api-truth")
    settings = settings_factory(project, user_models_dir=None)
    db = settings.resolve(settings.warehouse.path)
    db.parent.mkdir(parents=True, exist_ok=True)
    game_lake.load_raw(db)
    support.build_duckdb_in_place(db, settings)
    raw = truth.read_lake_events(Path(game_lake.lake.root))
    ev = truth.events_table(raw)
    ud = truth.user_days(ev, truth.sessions_table(ev))
    days = truth.calendar(ud)
    return {"settings": settings, "ev": ev, "ud": ud, "days": days, "truth": truth}


@pytest.fixture(scope="module")
def api(world: dict[str, Any]) -> Iterator[Callable[..., dict[str, Any]]]:
    settings = world["settings"]
    app_settings = serving.make_settings(settings.base_dir)
    with serving.serving(app_settings) as url, httpx.Client(base_url=url, timeout=60) as client:

        def get(name: str, params: list[tuple[str, str]], status: int = 200) -> dict[str, Any]:
            r = client.get(f"/api/metrics/{name}.json", params=[*params, ("limit", "100000")])
            assert r.status_code == status, r.text
            body: dict[str, Any] = r.json()
            return body

        yield get


def _range(days: list[Day], first: int, last: int) -> tuple[Day, Day]:
    return days[first], days[last]


def _in(df: pd.DataFrame, col: str, lo: Day, hi: Day) -> pd.DataFrame:
    return df[(df[col] >= lo) & (df[col] <= hi)]


def _keep(df: pd.DataFrame, filters: dict[str, list[str]]) -> pd.DataFrame:
    for col, values in filters.items():
        df = df[df[col].isin(values)]
    return df


def _params(
    start: Day | None, end: Day | None, filters: dict[str, list[str]], *extra: tuple[str, str]
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if start:
        out.append(("start", start.isoformat()))
    if end:
        out.append(("end", end.isoformat()))
    for col, values in filters.items():
        out += [(col, v) for v in values]
    return out + list(extra)


def _by(rows: list[dict[str, Any]], *keys: str) -> dict[Any, dict[str, Any]]:
    out = {}
    for r in rows:
        k = tuple(r[c] for c in keys)
        out[k if len(k) > 1 else k[0]] = r
    return out


# ---- definitions, written from docs/metrics.md ----------------------------------------------


def window_users(ud: pd.DataFrame, day: Day, days: int, filters: dict[str, list[str]]) -> int:
    """Users active in the `days` days ending `day`, each counted in the dimensions of their
    latest active day in that window."""
    win = _in(ud, "activity_date", day - dt.timedelta(days=days - 1), day)
    latest = win.sort_values("activity_date").groupby("user_key").tail(1)
    return len(_keep(latest, filters))


def first_seen(ev: pd.DataFrame) -> dict[str, Day]:
    return ev.groupby("user_key")["event_date"].min().to_dict()


# ---- daily_active_users / rolling_active_users_28d -----------------------------------------


@pytest.mark.parametrize(
    "filters",
    [{}, {"platform": ["ios", "web"]}, {"country": ["DE"], "host_provider": ["comcast.net"]}],
)
def test_daily_active_users_per_day(
    world: dict[str, Any], api: Callable[..., Any], filters: dict[str, list[str]]
) -> None:
    ud, ev, days = world["ud"], world["ev"], world["days"]
    start, end = _range(days, 0, 12)  # crosses the partial first day
    body = api("daily_active_users", _params(start, end, filters, ("group_by", "activity_date")))
    got = _by(body["rows"], "activity_date")
    assert sorted(got) == [d.isoformat() for d in days[:13]], "a row for every day"
    firsts = first_seen(ev)
    for day in days[:13]:
        row = got[day.isoformat()]
        on_day = _keep(ud[ud["activity_date"] == day], filters)
        assert row["dau"] == on_day["user_key"].nunique(), day
        assert row["wau"] == window_users(ud, day, 7, filters), day
        assert row["mau"] == window_users(ud, day, 30, filters), day
        new = on_day[on_day["user_key"].map(firsts) == day]
        assert row["new_users"] == len(new), day
    assert body["partial_days"] == [days[0].isoformat(), days[-1].isoformat()]


@pytest.mark.parametrize("group", ["platform", "country"])
def test_daily_active_users_over_a_range(
    world: dict[str, Any], api: Callable[..., Any], group: str
) -> None:
    ud, ev, days = world["ud"], world["ev"], world["days"]
    start, end = _range(days, 20, len(days) - 1)  # crosses the partial last day
    filters = {"host_provider": ["comcast.net", "verizon.net", "ocn.ne.jp"]}
    body = api("daily_active_users", _params(start, end, filters, ("group_by", group)))
    got = _by(body["rows"], group)
    span = _keep(_in(ud, "activity_date", start, end), filters)
    firsts = first_seen(ev)
    assert set(got) == set(span[group])
    for value, row in got.items():
        mine = span[span[group] == value]
        # distinct users over the range, never a sum of days
        assert row["dau"] == mine["user_key"].nunique(), value
        # window measures: the value on the range's last day
        both = {**filters, group: [value]}
        assert row["wau"] == window_users(ud, end, 7, both), value
        assert row["mau"] == window_users(ud, end, 30, both), value
        new = mine[mine["user_key"].map(firsts) == mine["activity_date"]]
        assert row["new_users"] == len(new), value
    assert sum(r["dau"] for r in got.values()) >= span["user_key"].nunique()


def test_daily_active_users_total(world: dict[str, Any], api: Callable[..., Any]) -> None:
    ud, days = world["ud"], world["days"]
    start, end = days[3], days[17]
    filters = {"country": ["US", "BR"]}
    body = api("daily_active_users", _params(start, end, filters, ("total", "true")))
    (row,) = body["rows"]
    span = _keep(_in(ud, "activity_date", start, end), filters)
    assert row["dau"] == span["user_key"].nunique()
    assert row["dau"] < len(span), "the world has returning users: user-days > users"
    assert row["wau"] == window_users(ud, end, 7, filters)


@pytest.mark.parametrize("filters", [{}, {"platform": ["android", "web"]}])
def test_rolling_active_users_28d(
    world: dict[str, Any], api: Callable[..., Any], filters: dict[str, list[str]]
) -> None:
    ud, days = world["ud"], world["days"]
    body = api(
        "rolling_active_users_28d", _params(None, None, filters, ("group_by", "activity_date"))
    )
    got = _by(body["rows"], "activity_date")
    assert sorted(got) == [d.isoformat() for d in days]
    for day in days:
        assert got[day.isoformat()]["active_users_28d"] == window_users(ud, day, 28, filters)
    by_country = api(
        "rolling_active_users_28d",
        _params(days[0], days[-1], filters, ("group_by", "country")),
    )
    for row in by_country["rows"]:
        want = window_users(ud, days[-1], 28, {**filters, "country": [row["country"]]})
        assert row["active_users_28d"] == want


# ---- revenue_daily, purchases_by_item_daily -------------------------------------------------


@pytest.mark.parametrize(
    ("group", "filters"),
    [("platform", {}), ("country", {"platform": ["ios", "android"]}), ("activity_date", {})],
)
def test_revenue_daily(
    world: dict[str, Any], api: Callable[..., Any], group: str, filters: dict[str, list[str]]
) -> None:
    ud, days = world["ud"], world["days"]
    start, end = days[0], days[20]
    body = api("revenue_daily", _params(start, end, filters, ("group_by", group)))
    assert body["currency"] == "USD"
    span = _keep(_in(ud, "activity_date", start, end), filters)
    got = _by(body["rows"], group)
    for value, row in got.items():
        key = dt.date.fromisoformat(value) if group == "activity_date" else value
        mine = span[span[group] == key]
        revenue = float(mine["revenue"].sum())
        users = mine["user_key"].nunique()
        payers = mine.loc[mine["purchases"] > 0, "user_key"].nunique()
        assert row["revenue"] == pytest.approx(revenue, abs=1e-4), value
        assert row["purchases"] == int(mine["purchases"].sum()), value
        assert row["dau"] == users, value
        assert row["user_days"] == len(mine), value
        assert row["purchasers"] == payers, value
        # ARPDAU: revenue per user-day; ARPPU: revenue per distinct paying player
        assert row["arpdau"] == (pytest.approx(revenue / len(mine)) if len(mine) else None)
        assert row["arppu"] == (pytest.approx(revenue / payers) if payers else None), value


def test_purchases_by_item_daily(world: dict[str, Any], api: Callable[..., Any]) -> None:
    ev, days = world["ev"], world["days"]
    start, end = days[5], days[-1]
    filters = {"platform": ["ios", "web"]}
    body = api("purchases_by_item_daily", _params(start, end, filters, ("group_by", "item")))
    p = ev[(ev["type"] == "track") & (ev["event"] == "Item Purchased")].copy()
    p["item"] = [__import__("json").loads(x).get("item") for x in p["properties"]]
    p["units"] = [int(__import__("json").loads(x).get("quantity", 1)) for x in p["properties"]]
    p = _keep(_in(p, "event_date", start, end), filters)
    got = _by(body["rows"], "item")
    assert set(got) == set(p["item"])
    for item, row in got.items():
        mine = p[p["item"] == item]
        assert row["purchases"] == len(mine)
        assert row["units"] == int(mine["units"].sum())
        assert row["revenue"] == pytest.approx(float(mine["revenue"].sum()), abs=1e-4)
        assert row["purchasers"] == mine["user_key"].nunique()


# ---- funnel_daily, host_providers_daily -----------------------------------------------------


@pytest.mark.parametrize("group", ["activity_date", "platform"])
def test_funnel_daily(world: dict[str, Any], api: Callable[..., Any], group: str) -> None:
    ud, days = world["ud"], world["days"]
    start, end = days[-10], days[-1]
    filters = {"country": ["US", "JP", "DE"]}
    body = api("funnel_daily", _params(start, end, filters, ("group_by", group)))
    span = _keep(_in(ud, "activity_date", start, end), filters)
    s = span["sessions"] > 0
    lc = s & (span["levels_completed"] > 0)
    pu = lc & (span["purchases"] > 0)
    for value, row in _by(body["rows"], group).items():
        key = dt.date.fromisoformat(value) if group == "activity_date" else value
        sel = span[group] == key
        assert row["active_users"] == span.loc[sel, "user_key"].nunique()
        assert row["session_users"] == span.loc[sel & s, "user_key"].nunique()
        assert row["level_completed_users"] == span.loc[sel & lc, "user_key"].nunique()
        assert row["purchase_users"] == span.loc[sel & pu, "user_key"].nunique()


def test_host_providers_daily(world: dict[str, Any], api: Callable[..., Any]) -> None:
    ud, days = world["ud"], world["days"]
    start, end = days[0], days[-1]
    hosts = ["comcast.net", "t-online.de"]
    body = api(
        "host_providers_daily",
        _params(start, end, {"host_provider": hosts}, ("group_by", "host_provider")),
    )
    got = _by(body["rows"], "host_provider")
    assert set(got) == set(hosts)
    for host, row in got.items():
        mine = ud[ud["host_provider"] == host]
        assert row["active_users"] == mine["user_key"].nunique()
        assert row["sessions"] == int(mine["sessions"].sum())
        assert row["events"] == int(mine["events"].sum())
        assert row["revenue"] == pytest.approx(float(mine["revenue"].sum()), abs=1e-4)
    total = api("host_providers_daily", _params(start, end, {}, ("total", "true")))["rows"][0]
    assert total["active_users"] == ud["user_key"].nunique()


# ---- events_daily, guild_joins_daily --------------------------------------------------------


def test_events_daily(world: dict[str, Any], api: Callable[..., Any]) -> None:
    ev, days = world["ev"], world["days"]
    start, end = days[1], days[9]
    filters = {"source": ["game"], "event_type": ["track", "screen"]}
    body = api("events_daily", _params(start, end, filters, ("group_by", "event_name")))
    e = _keep(_in(ev.rename(columns={"type": "event_type"}), "event_date", start, end), filters)
    got = _by(body["rows"], "event_name")
    assert set(got) == set(e["event_name"])
    for name, row in got.items():
        mine = e[e["event_name"] == name]
        assert row["events"] == len(mine)
        assert row["users"] == mine["user_key"].nunique()


def test_guild_joins_daily(world: dict[str, Any], api: Callable[..., Any]) -> None:
    ev, days = world["ev"], world["days"]
    body = api("guild_joins_daily", _params(None, None, {}, ("group_by", "guild_name")))
    g = ev[(ev["type"] == "track") & (ev["event"] == "Guild Joined")]
    got = _by(body["rows"], "guild_name")
    assert set(got) == set(g["guild_name"])
    for name, row in got.items():
        mine = g[g["guild_name"] == name]
        assert row["joins"] == len(mine)
        assert row["users"] == mine["user_key"].nunique()
    by_day = api(
        "guild_joins_daily",
        _params(days[0], days[-1], {"platform": ["web"]}, ("group_by", "join_date")),
    )
    assert len(by_day["rows"]) == len(days)  # every day, zeros included
    for row in by_day["rows"]:
        day = dt.date.fromisoformat(row["join_date"])
        mine = g[(g["event_date"] == day) & (g["platform"] == "web")]
        assert (row["joins"], row["users"]) == (len(mine), mine["user_key"].nunique())


# ---- retention_cohorts ----------------------------------------------------------------------


def test_retention_cohorts(world: dict[str, Any], api: Callable[..., Any]) -> None:
    ev, ud = world["ev"], world["ud"]
    truth = world["truth"]
    want = truth.retention_cohorts(ev, ud)
    body = api("retention_cohorts", [("group_by", "weeks_since_signup")])
    for row in body["rows"]:
        mine = want[want["weeks_since_signup"] == row["weeks_since_signup"]]
        # cohorts add up for one week: users in the cohorts old enough for it
        assert row["cohort_users"] == int(mine["cohort_users"].sum())
        assert row["retained_users"] == int(mine["retained_users"].sum())
        assert row["retention_rate"] == pytest.approx(
            mine["retained_users"].sum() / mine["cohort_users"].sum()
        )
    week1 = api("retention_cohorts", [("weeks_since_signup", "1"), ("total", "true")])["rows"][0]
    mine = want[want["weeks_since_signup"] == 1]
    assert week1["retention_rate"] == pytest.approx(
        mine["retained_users"].sum() / mine["cohort_users"].sum()
    )
    # weeks since signup do not add up: a clear 400, never a sum of overlapping cohorts
    refused = api("retention_cohorts", [("group_by", "cohort_week")], status=400)
    assert refused["parameter"] == "group_by" and "weeks_since_signup" in refused["error"]


# ---- conversion_funnel ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "window", "filters", "group"),
    [
        (0, 34, None, {}, None),
        (0, 6, 7, {"platform": ["ios", "web"]}, "country"),
        (28, 34, 1, {"country": ["US", "DE", "BR"]}, "platform"),
        (10, 20, 3, {}, "host_provider"),
    ],
)
def test_conversion_funnel(
    world: dict[str, Any],
    api: Callable[..., Any],
    first: int,
    last: int,
    window: int | None,
    filters: dict[str, list[str]],
    group: str | None,
) -> None:
    ev, days, truth = world["ev"], world["days"], world["truth"]
    start, end = days[first], days[min(last, len(days) - 1)]
    extra = [("group_by", group)] if group else []
    if window:
        extra.append(("conversion_window_days", str(window)))
    body = api("conversion_funnel", _params(start, end, filters, *extra))
    assert body["conversion_window_days"] == (window or 7)
    want = truth.ordered_funnel(truth.funnel_steps(ev), start, end, window or 7, filters)
    expected: dict[Any, list[int]] = {}
    for dims, counts in want.items():
        key = dims[DIMS.index(group)] if group else None
        acc = expected.setdefault(key, [0, 0, 0])
        for i in range(3):
            acc[i] += counts[i]
    got: dict[Any, list[int]] = {}
    for row in body["rows"]:
        got.setdefault(row[group] if group else None, []).append(row["users"])
        assert row["step_name"] in ("Started a session", "Completed a level", "Purchased")
    assert got == expected
    assert sum(c[0] for c in expected.values()) > 0
    top = body["rows"][:3]
    if not group and top[0]["users"]:
        assert top[1]["conversion"] == pytest.approx(top[1]["users"] / top[0]["users"])
        assert top[2]["conversion_total"] == pytest.approx(top[2]["users"] / top[0]["users"])


def test_funnel_counts_players_not_player_days(
    world: dict[str, Any], api: Callable[..., Any]
) -> None:
    ev = world["ev"]
    rows = api("conversion_funnel", [])["rows"]
    assert rows[0]["users"] <= ev["user_key"].nunique()
    assert rows[0]["users"] >= rows[1]["users"] >= rows[2]["users"]
    refused = api("conversion_funnel", [("group_by", "activity_date")], status=400)
    assert "not a daily series" in refused["error"]
