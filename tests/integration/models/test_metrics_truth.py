"""Analytical truth: every metrics model equals an independent pandas computation.

One full ``dbt build`` over the generated game lake (duplicates, late events, clock skew,
anonymous players who identify later, alias merges and chains); each metric is then
compared row by row with the answer ``truth.py`` derives from the raw Parquet files.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import eventlake_tests_support as support
import pandas as pd
import pytest

from eventlake.config import Settings
from eventlake.warehouse.dbt import BuildResult

pytestmark = pytest.mark.integration

build_models = support.build_duckdb_in_place

USER_MODEL = """
select activity_date, sum(dau) as dau
from {{ ref('daily_active_users') }}
group by activity_date
"""
USER_MODEL_YAML = """
version: 2
models:
  - name: my_daily_totals
    description: A user's own metric built in the same run.
    config:
      meta:
        eventlake: {date_column: activity_date, dimensions: []}
    columns:
      - name: activity_date
        description: The day.
      - name: dau
        description: Active users.
"""


class Built:
    def __init__(self, settings: Settings, db: Path, result: BuildResult, raw: pd.DataFrame):
        self.settings = settings
        self.db = db
        self.result = result
        self.raw = raw

    def frame(self, relation: str) -> pd.DataFrame:
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return con.execute(f"select * from {relation}").df()
        finally:
            con.close()


@pytest.fixture(scope="module")
def built(
    game_lake: Any,
    truth: Any,
    settings_factory: Callable[..., Settings],
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    project = tmp_path_factory.mktemp("project")
    user_models = project / "models"
    user_models.mkdir()
    (user_models / "my_daily_totals.sql").write_text(USER_MODEL)
    (user_models / "my_daily_totals.yml").write_text(USER_MODEL_YAML)
    settings = settings_factory(project)
    db = project / "warehouse.duckdb"
    game_lake.load_raw(db)
    result = build_models(db, settings)
    raw = truth.read_lake_events(Path(game_lake.lake.root))
    return Built(settings, db, result, raw)


@pytest.fixture(scope="module")
def expected(built: Built, truth: Any) -> dict[str, Any]:
    ev = truth.events_table(built.raw)
    sessions = truth.sessions_table(ev)
    ud = truth.user_days(ev, sessions)
    return {"events": ev, "sessions": sessions, "user_days": ud}


def _normalise(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if col.endswith("_date") or col in ("cohort_week",):
            out[col] = pd.to_datetime(out[col]).dt.date
    return out.sort_values(keys).reset_index(drop=True)


def assert_same(actual: pd.DataFrame, wanted: pd.DataFrame, keys: list[str]) -> None:
    assert set(actual.columns) == set(wanted.columns), (actual.columns, wanted.columns)
    assert len(wanted) > 0
    a = _normalise(actual[list(wanted.columns)], keys)
    w = _normalise(wanted, keys)
    pd.testing.assert_frame_equal(a, w, check_dtype=False, check_exact=False, rtol=1e-9)


def test_dataset_has_the_properties_the_models_must_handle(built: Built) -> None:
    raw = built.raw
    assert raw["message_id"].duplicated().sum() > 20
    late = raw["received_at"].dt.date > raw["event_date"]
    assert late.sum() > 20
    skewed = raw["original_timestamp"] != raw["timestamp"]
    assert skewed.sum() > 50
    assert (raw["type"] == "alias").sum() >= 4
    pre_identify = raw[
        raw["user_id"].isna()
        & raw["anonymous_id"].isin(raw.loc[raw["user_id"].notna(), "anonymous_id"])
    ]
    assert len(pre_identify) > 20


def test_build_reports_models_and_tests(built: Built) -> None:
    assert "stg_events" in built.result.models_built
    assert "my_daily_totals" in built.result.models_built
    assert len(built.result.models_built) >= 26
    assert built.result.tests_passed >= 28  # one grain or key + row checks per model
    assert built.result.failures == []


def test_stg_events_keeps_first_arrival_of_each_message(built: Built, truth: Any) -> None:
    want = truth.deduplicate(built.raw)
    got = built.frame("staging.stg_events")
    assert len(got) == built.raw["message_id"].nunique() == len(want)
    merged = got.merge(want, on="message_id")
    assert (merged["received_at_x"] == merged["received_at_y"]).all()
    assert (merged["bus_partition_x"] == merged["bus_partition_y"]).all()


def test_stg_events_ip_is_the_events_context_ip_else_the_requests(built: Built, truth: Any) -> None:
    want = truth.deduplicate(built.raw)
    want["want_ip"] = [
        truth._ctx(c, "ip") or ip for c, ip in zip(want["context"], want["ip"], strict=True)
    ]
    merged = built.frame("staging.stg_events").merge(want, on="message_id")
    assert len(merged) == len(want)
    assert (merged["ip_x"] == merged["want_ip"]).all()
    assert merged["ip_x"].str.startswith("203.0.113.").sum() > len(merged) / 2


def test_staging_splits_by_call_type(built: Built) -> None:
    stg = built.frame("staging.stg_events")
    for view, kind in [
        ("stg_tracks", "track"),
        ("stg_identifies", "identify"),
        ("stg_pages", "page"),
        ("stg_screens", "screen"),
        ("stg_aliases", "alias"),
        ("stg_groups", "group"),
    ]:
        got = built.frame(f"staging.{view}")
        assert len(got) == (stg["event_type"] == kind).sum()


def test_planned_properties_are_typed_columns(built: Built) -> None:
    con = duckdb.connect(str(built.db), read_only=True)
    try:
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'staging' and table_name = 'stg_events'"
            ).fetchall()
        )
        price = con.execute(
            "select sum(prop_price) from staging.stg_events where event_name = 'Item Purchased'"
        ).fetchone()
    finally:
        con.close()
    assert types["prop_level"] == "BIGINT"
    assert types["prop_price"] == "DOUBLE"
    assert types["prop_item"] == "VARCHAR"
    assert price is not None and price[0] > 0


def test_dim_users_stitches_identities(built: Built, expected: dict[str, Any], truth: Any) -> None:
    got = built.frame("marts.dim_users")
    want = truth.dim_users(built.raw, expected["events"])
    assert_same(got[list(want.columns)], want, ["user_key"])
    got = got.set_index("user_key")
    # the end of an alias chain wins, and the older ids' events belong to it
    assert "user-005" in got.index and "old-005" not in got.index and "mid-005" not in got.index
    assert "legacy-003" not in got.index
    assert got.loc["user-005", "is_identified"]
    assert got.loc["user-005", "anonymous_ids"] >= 1
    # a later identify (name only), on a second device or the same day, replaces the
    # first one's traits
    for suffix in ("(tablet)", "(renamed)"):
        later = got["name"].fillna("").str.endswith(suffix)
        assert later.any() and got.loc[later, "email"].isna().all(), suffix


def test_fct_events_attributes_pre_identify_events(built: Built, expected: dict[str, Any]) -> None:
    fct = built.frame("marts.fct_events")
    ev = expected["events"]
    merged = fct.merge(ev[["message_id", "user_key"]], on="message_id")
    assert len(merged) == len(ev) == len(fct)
    assert (merged["user_key_x"] == merged["user_key_y"]).all()
    anon_only = fct[fct["user_id"].isna() & fct["anonymous_id"].str.startswith("anon-000")]
    if len(anon_only):
        assert set(anon_only["user_key"]) <= {"user-000", "anon-000-a", "anon-000-b"}


def test_fct_sessions(built: Built, expected: dict[str, Any]) -> None:
    got = built.frame("marts.fct_sessions")
    want = expected["sessions"]
    assert_same(
        got[["session_id", "user_key", "session_date", "event_count"]],
        want[["session_id", "user_key", "session_date", "event_count"]],
        ["session_id"],
    )
    crossing = got[
        pd.to_datetime(got["session_end_at"]).dt.date > pd.to_datetime(got["session_date"]).dt.date
    ]
    assert len(crossing) > 0


def test_fct_purchases_revenue(built: Built, expected: dict[str, Any]) -> None:
    got = built.frame("marts.fct_purchases")
    ev = expected["events"]
    want = ev[ev["is_purchase"] == 1]
    assert len(got) == len(want)
    assert got["revenue"].sum() == pytest.approx(want["revenue"].sum())
    assert got["quantity"].min() >= 1


def test_dim_date_calendar(built: Built) -> None:
    got = built.frame("marts.dim_date").set_index("date_day")
    row = got.loc[pd.Timestamp("2026-02-28")]
    assert row["is_last_day_of_month"]
    assert row["day_of_week"] == 6
    assert pd.Timestamp(row["week_start"]).date() == dt.date(2026, 2, 23)
    assert not got.loc[pd.Timestamp("2026-03-02"), "is_last_day_of_month"]
    # both ends included (dbt's date_spine excludes its end)
    assert got.index.min() == pd.Timestamp("2000-01-01")
    assert got.index.max() == pd.Timestamp("2050-12-31")
    assert got.loc[pd.Timestamp("2050-12-31"), "is_last_day_of_month"]


def test_data_coverage(built: Built, expected: dict[str, Any]) -> None:
    got = built.frame("marts.data_coverage")
    ud = expected["user_days"]
    assert len(got) == 1
    assert pd.Timestamp(got.loc[0, "first_day"]).date() == min(ud["activity_date"])
    assert pd.Timestamp(got.loc[0, "last_day"]).date() == max(ud["activity_date"])
    assert got.loc[0, "active_days"] == ud["activity_date"].nunique()


def test_daily_series_have_every_day(built: Built, expected: dict[str, Any], truth: Any) -> None:
    days = truth.calendar(expected["user_days"])
    for relation in ("metrics.daily_active_users", "metrics.rolling_active_users_28d"):
        got = built.frame(relation)
        assert sorted(set(pd.to_datetime(got["activity_date"]).dt.date)) == days, relation


def test_conversion_funnel_steps(built: Built, expected: dict[str, Any], truth: Any) -> None:
    want = truth.funnel_steps(expected["events"])
    got = built.frame("metrics.conversion_funnel")
    assert len(got) == len(want) > 0
    merged = got.merge(want, on="message_id", suffixes=("", "_want"))
    assert len(merged) == len(want)
    for col in ("user_key", "step", "platform", "country", "host_provider"):
        assert (merged[col] == merged[f"{col}_want"]).all(), col


def test_fct_purchases_keep_original_currency(built: Built, expected: dict[str, Any]) -> None:
    got = built.frame("marts.fct_purchases").set_index("purchase_id")
    ev = expected["events"]
    want = ev[ev["is_purchase"] == 1].set_index("message_id")
    assert set(got["currency"]) == {"USD", "EUR", "GBP"}
    assert (got["reporting_currency"] == "USD").all()
    joined = got.join(want[["revenue", "revenue_original"]], rsuffix="_want")
    assert joined["revenue_original"].astype(float).tolist() == pytest.approx(
        joined["revenue_original_want"].tolist()
    )
    assert joined["revenue"].astype(float).tolist() == pytest.approx(
        joined["revenue_want"].tolist(), abs=1e-6
    )
    usd = got[got["currency"] == "USD"]
    assert (usd["revenue"] == usd["revenue_original"]).all()
    eur = got[got["currency"] == "EUR"]
    assert (eur["revenue"].astype(float) > eur["revenue_original"].astype(float)).all()


def test_dim_host_provider(built: Built, expected: dict[str, Any]) -> None:
    ev = expected["events"]
    want = ev.groupby("host_provider", as_index=False).agg(
        first_seen_date=("event_date", "min"),
        last_seen_date=("event_date", "max"),
        users=("user_key", "nunique"),
        events=("message_id", "size"),
    )
    assert_same(built.frame("marts.dim_host_provider"), want, ["host_provider"])


def test_daily_active_users(built: Built, expected: dict[str, Any], truth: Any) -> None:
    want = truth.daily_active_users(expected["events"], expected["user_days"])
    assert_same(
        built.frame("metrics.daily_active_users"),
        want,
        ["activity_date", "platform", "country", "host_provider"],
    )


def test_rolling_active_users_28d(built: Built, expected: dict[str, Any], truth: Any) -> None:
    want = truth.rolling_active_users_28d(expected["user_days"])
    assert_same(
        built.frame("metrics.rolling_active_users_28d"),
        want,
        ["activity_date", "platform", "country", "host_provider"],
    )


def test_revenue_daily(built: Built, expected: dict[str, Any], truth: Any) -> None:
    want = truth.revenue_daily(expected["user_days"])
    assert_same(
        built.frame("metrics.revenue_daily"),
        want,
        ["activity_date", "platform", "country", "host_provider"],
    )


def test_funnel_daily(built: Built, expected: dict[str, Any], truth: Any) -> None:
    want = truth.funnel_daily(expected["user_days"])
    assert want["purchase_users"].sum() > 0
    assert_same(
        built.frame("metrics.funnel_daily"),
        want,
        ["activity_date", "platform", "country", "host_provider"],
    )


def test_host_providers_daily(built: Built, expected: dict[str, Any], truth: Any) -> None:
    want = truth.host_providers_daily(expected["user_days"])
    assert_same(
        built.frame("metrics.host_providers_daily"), want, ["activity_date", "host_provider"]
    )


def test_events_daily(built: Built, expected: dict[str, Any], truth: Any) -> None:
    want = truth.events_daily(expected["events"])
    assert_same(
        built.frame("metrics.events_daily"),
        want,
        ["event_date", "event_type", "event_name", "source", "platform"],
    )


def test_guild_joins_daily(built: Built, expected: dict[str, Any], truth: Any) -> None:
    want = truth.guild_joins_daily(expected["events"])
    assert_same(
        built.frame("metrics.guild_joins_daily"),
        want,
        ["join_date", "guild_id", "guild_name", "platform"],
    )


def test_purchases_by_item_daily(built: Built, expected: dict[str, Any], truth: Any) -> None:
    want = truth.purchases_by_item_daily(expected["events"])
    assert len(want) > 0
    assert_same(
        built.frame("metrics.purchases_by_item_daily"),
        want,
        ["purchase_date", "item", "platform", "country", "host_provider"],
    )


def test_retention_cohorts(built: Built, expected: dict[str, Any], truth: Any) -> None:
    want = truth.retention_cohorts(expected["events"], expected["user_days"])
    assert (want["weeks_since_signup"] > 0).any()
    assert_same(
        built.frame("metrics.retention_cohorts"), want, ["cohort_week", "weeks_since_signup"]
    )


def test_user_model_is_built_and_catalogued(built: Built) -> None:
    con = duckdb.connect(str(built.db), read_only=True)
    try:
        schemas = con.execute(
            "select table_schema from information_schema.tables "
            "where table_name = 'my_daily_totals'"
        ).fetchall()
    finally:
        con.close()
    assert schemas, "the user's model was not built"
    totals = built.frame(f"{schemas[0][0]}.my_daily_totals")
    dau = built.frame("metrics.daily_active_users")
    assert totals["dau"].sum() == dau["dau"].sum() > 0
    catalog = json.loads(built.result.catalog_path.read_text())  # type: ignore[union-attr]
    names = {m["name"] for m in catalog["metrics"]}
    assert "my_daily_totals" in names


def test_metrics_catalog_lists_every_metric_model(built: Built) -> None:
    path = built.result.catalog_path
    assert path is not None and path.name == "metrics_catalog.json"
    catalog = json.loads(path.read_text())
    by_name = {m["name"]: m for m in catalog["metrics"]}
    for name in [
        "daily_active_users",
        "events_daily",
        "revenue_daily",
        "retention_cohorts",
        "funnel_daily",
        "guild_joins_daily",
        "host_providers_daily",
        "rolling_active_users_28d",
        "purchases_by_item_daily",
    ]:
        entry = by_name[name]
        assert entry["kind"] == "table"
        assert entry["relation"] == f"metrics.{name}"
        assert entry["description"]
        assert set(entry) == {
            "name",
            "description",
            "kind",
            "relation",
            "date_column",
            "time_grain",
            "dimensions",
            "measures",
            "funnel",
            "columns",
        }
        cols = {c["name"]: c for c in entry["columns"]}
        assert entry["date_column"] in cols
        assert all(d in cols for d in entry["dimensions"])
        assert all(m["name"] in cols for m in entry["measures"]) and entry["measures"]
        # every measure of the shipped models declares how it aggregates
        assert all(m["agg"] for m in entry["measures"]), name
        assert all(c["type"] and c["description"] for c in entry["columns"])
    assert by_name["daily_active_users"]["dimensions"] == ["platform", "country", "host_provider"]
    measures = {m["name"]: m for m in by_name["daily_active_users"]["measures"]}
    assert measures["dau"] == {
        "name": "dau",
        "agg": "count_distinct",
        "entity": "user_key",
        "grain": "staging.int_user_days",
        "when_positive": [],
        "additive_across": ["platform", "country", "host_provider"],
    }
    assert measures["wau"]["agg"] == "last" and measures["wau"]["window_days"] == 7
    arpdau = {m["name"]: m for m in by_name["revenue_daily"]["measures"]}["arpdau"]
    assert (arpdau["agg"], arpdau["numerator"], arpdau["denominator"]) == (
        "ratio",
        "revenue",
        "user_days",
    )
    funnel = by_name["conversion_funnel"]
    assert funnel["kind"] == "funnel" and funnel["measures"] == []
    assert [s["step"] for s in funnel["funnel"]["steps"]] == [1, 2, 3]
    assert funnel["funnel"]["conversion_window_days"] == 7
    assert catalog["reporting_currency"] == "USD"
    assert catalog["calendar"] == "marts.dim_date"
    assert catalog["coverage"] == "marts.data_coverage"
    # the user's model declares no measures: served as rows, never aggregated
    mine = by_name["my_daily_totals"]
    assert mine["measures"] == [{"name": "dau", "agg": None}]
