"""Independent pandas answers to every metric, computed from the raw Parquet files only.

Nothing here reads the warehouse or the dbt SQL: the rules (first arrival wins, identity
stitching through identify and alias, 30-minute sessions, a user-day's attributes from its
first event, windows counted in the combination of the latest active day) are re-derived
from the Parquet rows, so a bug in a model shows up as a difference.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds

DIMS = ["platform", "country", "host_provider"]
#: the sample exchange rates shipped with the models (read here with csv, not through dbt)
RATES_CSV = (
    Path(__file__).resolve().parents[3] / "eventlake" / "models" / "seeds" / "exchange_rates.csv"
)


class Rates:
    """The rate in force on a day: the latest rate dated on or before it, else the
    currency's earliest one; amounts convert through US dollars."""

    def __init__(self, path: Path = RATES_CSV, reporting: str = "USD") -> None:
        import csv

        self.reporting = reporting
        self.by_currency: dict[str, list[tuple[dt.date, float]]] = {}
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                self.by_currency.setdefault(row["currency"].upper(), []).append(
                    (dt.date.fromisoformat(row["rate_date"]), float(row["usd_per_unit"]))
                )
        for rates in self.by_currency.values():
            rates.sort()

    def usd(self, currency: str, day: dt.date) -> float:
        rates = self.by_currency[currency.upper()]
        value = rates[0][1]
        for when, rate in rates:
            if when <= day:
                value = rate
        return value

    def convert(self, amount: float, currency: str, day: dt.date) -> float:
        return amount * self.usd(currency, day) / self.usd(self.reporting, day)


def read_lake_events(lake_root: Path) -> pd.DataFrame:
    """Every row of <lake>/events as pandas, with event_date as datetime.date."""
    dataset = ds.dataset(str(lake_root / "events"), format="parquet", partitioning="hive")
    df = dataset.to_table().to_pandas()
    df["event_date"] = pd.to_datetime(df["event_date"].astype(str)).dt.date
    for col in (
        "message_id",
        "type",
        "event",
        "name",
        "user_id",
        "anonymous_id",
        "previous_id",
        "properties",
        "traits",
        "context",
        "source",
        "host",
    ):
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def deduplicate(raw: pd.DataFrame) -> pd.DataFrame:
    ordered = raw.sort_values(["received_at", "bus_partition", "bus_offset", "event_date"])
    return ordered.drop_duplicates("message_id", keep="first").reset_index(drop=True)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def identity_keys(raw: pd.DataFrame) -> dict[str, str]:
    """Node ('a:'/'u:' id) -> user_key: the alias chain's end, else the anonymous id."""
    uf = _UnionFind()
    for anon, user in raw[["anonymous_id", "user_id"]].itertuples(index=False):
        if anon is not None:
            uf.find("a:" + anon)
        if user is not None:
            uf.find("u:" + user)
        if anon is not None and user is not None:
            uf.union("a:" + anon, "u:" + user)
    aliases = raw[(raw["type"] == "alias") & raw["previous_id"].notna() & raw["user_id"].notna()]
    alias_sources = set(aliases["previous_id"])
    for prev, user in aliases[["previous_id", "user_id"]].itertuples(index=False):
        uf.union("u:" + prev, "u:" + user)
        uf.union("a:" + prev, "u:" + user)
    users_by_root: dict[str, list[str]] = {}
    for user in set(raw["user_id"].dropna()):
        users_by_root.setdefault(uf.find("u:" + user), []).append(user)
    keys = {}
    for node in list(uf.parent):
        root = uf.find(node)
        users = users_by_root.get(root, [])
        ends = sorted(u for u in users if u not in alias_sources)
        if ends:
            keys[node] = ends[0]
        elif users:
            keys[node] = sorted(users)[0]
        else:
            keys[node] = root[2:]
    return keys


def _ctx(context: str | None, *path: str) -> str | None:
    value: object = json.loads(context) if context else None
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return None if value is None else str(value)


def events_table(raw: pd.DataFrame, rates: Rates | None = None) -> pd.DataFrame:
    """Deduplicated events with user_key and the dimension attributes; revenue in the
    reporting currency of ``rates`` (the shipped sample, USD, by default)."""
    rates = rates or Rates()
    keys = identity_keys(raw)
    ev = deduplicate(raw)
    ev["user_key"] = [
        keys["u:" + u] if u is not None else keys["a:" + a]
        for u, a in ev[["user_id", "anonymous_id"]].itertuples(index=False)
    ]
    ev["platform"] = [_ctx(c, "os", "name") or "unknown" for c in ev["context"]]
    ev["country"] = [_ctx(c, "location", "country") or "unknown" for c in ev["context"]]
    ev["host_provider"] = [(h.split(":")[0].lower() if h else "unknown") for h in ev["host"]]
    ev["event_name"] = [
        e if t == "track" else (n if t in ("page", "screen") else t)
        for t, e, n in ev[["type", "event", "name"]].itertuples(index=False)
    ]
    ev["source"] = ev["source"].fillna("unknown")
    props = [json.loads(p) if p else {} for p in ev["properties"]]
    purchase = (ev["type"] == "track") & (ev["event"] == "Item Purchased")
    ev["revenue_original"] = [
        (float(p.get("price", 0)) * int(p.get("quantity", 1))) if is_p else 0.0
        for p, is_p in zip(props, purchase, strict=True)
    ]
    ev["revenue"] = [
        rates.convert(amount, p["currency"], day) if is_p else 0.0
        for amount, p, is_p, day in zip(
            ev["revenue_original"], props, purchase, ev["event_date"], strict=True
        )
    ]
    ev["is_purchase"] = purchase.astype(int)
    ev["is_level_completed"] = (
        (ev["type"] == "track") & (ev["event"] == "Level Completed")
    ).astype(int)
    ev["guild_id"] = [p.get("guild_id") for p in props]
    ev["guild_name"] = [p.get("guild_name") for p in props]
    return ev


def dim_users(raw: pd.DataFrame, ev: pd.DataFrame) -> pd.DataFrame:
    """One row per stitched user: first/last seen, events, identified or not, the
    distinct anonymousIds of every arrived row attributed to them (duplicates included),
    and the email and name of the traits of their latest identify call that has traits
    (latest by event time, then messageId)."""
    keys = identity_keys(raw)
    users = ev.groupby("user_key", as_index=False).agg(
        first_seen_at=("timestamp", "min"),
        last_seen_at=("timestamp", "max"),
        first_seen_date=("event_date", "min"),
        last_seen_date=("event_date", "max"),
        event_count=("message_id", "size"),
    )
    identified = set(raw["user_id"].dropna())
    users["is_identified"] = users["user_key"].isin(identified)
    anon = raw.loc[raw["anonymous_id"].notna(), "anonymous_id"].drop_duplicates()
    per_user = pd.Series([keys["a:" + a] for a in anon]).value_counts()
    users["anonymous_ids"] = users["user_key"].map(per_user).fillna(0).astype(int)
    identifies = ev[(ev["type"] == "identify") & ev["traits"].notna()]
    latest = identifies.sort_values(["timestamp", "message_id"]).drop_duplicates(
        "user_key", keep="last"
    )
    traits = {k: json.loads(t) for k, t in latest[["user_key", "traits"]].itertuples(index=False)}
    for field in ("email", "name"):
        users[field] = [traits.get(k, {}).get(field) for k in users["user_key"]]
    return users


def sessions_table(ev: pd.DataFrame, timeout_minutes: int = 30) -> pd.DataFrame:
    rows = []
    for user, grp in ev.sort_values(["timestamp", "message_id"]).groupby("user_key", sort=True):
        start = None
        prev = None
        count = 0
        for ts, day, mid in grp[["timestamp", "event_date", "message_id"]].itertuples(index=False):
            if prev is None or (ts - prev).total_seconds() > timeout_minutes * 60:
                if start is not None:
                    rows.append(start + (prev, count))
                start = (mid, user, ts, day)
                count = 0
            count += 1
            prev = ts
        if start is not None:
            rows.append(start + (prev, count))
    return pd.DataFrame(
        rows,
        columns=[
            "session_id",
            "user_key",
            "session_start_at",
            "session_date",
            "session_end_at",
            "event_count",
        ],
    )


def user_days(ev: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    ordered = ev.sort_values(["timestamp", "message_id"])
    firsts = ordered.groupby(["user_key", "event_date"], as_index=False).first()[
        ["user_key", "event_date", *DIMS]
    ]
    counts = ev.groupby(["user_key", "event_date"], as_index=False).agg(
        events=("message_id", "size"),
        levels_completed=("is_level_completed", "sum"),
        purchases=("is_purchase", "sum"),
        revenue=("revenue", "sum"),
    )
    sess = (
        sessions.groupby(["user_key", "session_date"], as_index=False)
        .size()
        .rename(columns={"session_date": "event_date", "size": "sessions"})
    )
    ud = firsts.merge(counts, on=["user_key", "event_date"]).merge(
        sess, on=["user_key", "event_date"], how="left"
    )
    ud["sessions"] = ud["sessions"].fillna(0).astype(int)
    return ud.rename(columns={"event_date": "activity_date"})


def calendar(ud: pd.DataFrame) -> list[dt.date]:
    """Every day from the first to the last day of data, active or not."""
    first, last = min(ud["activity_date"]), max(ud["activity_date"])
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _window_counts(ud: pd.DataFrame, days: int, name: str) -> pd.DataFrame:
    out = []
    attrs = ud.set_index(["user_key", "activity_date"])[DIMS]
    for m in calendar(ud):
        lo = m - dt.timedelta(days=days - 1)
        win = ud[(ud["activity_date"] >= lo) & (ud["activity_date"] <= m)]
        last = win.groupby("user_key")["activity_date"].max()
        for user, day in last.items():
            out.append((m, *attrs.loc[(user, day)]))
    df = pd.DataFrame(out, columns=["activity_date", *DIMS])
    return (
        df.groupby(["activity_date", *DIMS], as_index=False).size().rename(columns={"size": name})
    )


def daily_active_users(ev: pd.DataFrame, ud: pd.DataFrame) -> pd.DataFrame:
    keys = ["activity_date", *DIMS]
    dau = ud.groupby(keys, as_index=False).size().rename(columns={"size": "dau"})
    first_seen = ev.groupby("user_key")["event_date"].min()
    new = ud[ud["activity_date"] == ud["user_key"].map(first_seen)]
    new = new.groupby(keys, as_index=False).size().rename(columns={"size": "new_users"})
    out = dau
    for frame in (_window_counts(ud, 7, "wau"), _window_counts(ud, 30, "mau"), new):
        out = out.merge(frame, on=keys, how="outer")
    for col in ("dau", "wau", "mau", "new_users"):
        out[col] = out[col].fillna(0).astype(int)
    return out[[*keys, "dau", "wau", "mau", "new_users"]]


def rolling_active_users_28d(ud: pd.DataFrame) -> pd.DataFrame:
    return _window_counts(ud, 28, "active_users_28d")


def revenue_daily(ud: pd.DataFrame) -> pd.DataFrame:
    g = ud.assign(purchaser=(ud["purchases"] > 0).astype(int)).groupby(
        ["activity_date", *DIMS], as_index=False
    )
    out = g.agg(
        revenue=("revenue", "sum"),
        purchases=("purchases", "sum"),
        purchasers=("purchaser", "sum"),
        dau=("user_key", "size"),
    )
    out["user_days"] = out["dau"]
    out["arpdau"] = out["revenue"] / out["user_days"]
    out["arppu"] = [
        r / p if p else None for r, p in zip(out["revenue"], out["purchasers"], strict=True)
    ]
    return out


def funnel_daily(ud: pd.DataFrame) -> pd.DataFrame:
    s = ud["sessions"] > 0
    lc = s & (ud["levels_completed"] > 0)
    pu = lc & (ud["purchases"] > 0)
    f = ud.assign(s=s.astype(int), lc=lc.astype(int), pu=pu.astype(int))
    return f.groupby(["activity_date", *DIMS], as_index=False).agg(
        active_users=("user_key", "size"),
        session_users=("s", "sum"),
        level_completed_users=("lc", "sum"),
        purchase_users=("pu", "sum"),
    )


def host_providers_daily(ud: pd.DataFrame) -> pd.DataFrame:
    return ud.groupby(["activity_date", "host_provider"], as_index=False).agg(
        active_users=("user_key", "size"),
        sessions=("sessions", "sum"),
        events=("events", "sum"),
        revenue=("revenue", "sum"),
    )


def events_daily(ev: pd.DataFrame) -> pd.DataFrame:
    e = ev.rename(columns={"type": "event_type"})
    return e.groupby(
        ["event_date", "event_type", "event_name", "source", "platform"], as_index=False
    ).agg(events=("message_id", "size"), users=("user_key", "nunique"))


def guild_joins_daily(ev: pd.DataFrame) -> pd.DataFrame:
    g = ev[(ev["type"] == "track") & (ev["event"] == "Guild Joined")].rename(
        columns={"event_date": "join_date"}
    )
    return g.groupby(["join_date", "guild_id", "guild_name", "platform"], as_index=False).agg(
        joins=("message_id", "size"), users=("user_key", "nunique")
    )


def purchases_by_item_daily(ev: pd.DataFrame) -> pd.DataFrame:
    p = ev[(ev["type"] == "track") & (ev["event"] == "Item Purchased")].copy()
    props = [json.loads(x) if x else {} for x in p["properties"]]
    p["item"] = [x.get("item") for x in props]
    p["units"] = [int(x.get("quantity", 1)) for x in props]
    p = p.rename(columns={"event_date": "purchase_date"})
    return p.groupby(["purchase_date", "item", *DIMS], as_index=False, dropna=False).agg(
        purchases=("message_id", "size"),
        units=("units", "sum"),
        revenue=("revenue", "sum"),
        purchasers=("user_key", "nunique"),
    )


def _monday(d: dt.date) -> dt.date:
    return d - dt.timedelta(days=d.weekday())


def retention_cohorts(ev: pd.DataFrame, ud: pd.DataFrame) -> pd.DataFrame:
    """Every cohort x every week from its signup week to the last week of data."""
    cohort = ev.groupby("user_key")["event_date"].min().map(_monday)
    sizes = cohort.value_counts()
    weeks = ud.assign(week=ud["activity_date"].map(_monday))[["user_key", "week"]]
    weeks = weeks.drop_duplicates()
    weeks["cohort_week"] = weeks["user_key"].map(cohort)
    weeks["weeks_since_signup"] = [
        (w - c).days // 7 for w, c in zip(weeks["week"], weeks["cohort_week"], strict=True)
    ]
    retained = weeks.groupby(["cohort_week", "weeks_since_signup"]).size()
    last_week = _monday(max(ud["activity_date"]))
    rows = []
    for c, n in sizes.items():
        for k in range((last_week - c).days // 7 + 1):
            rows.append((c, k, int(n), int(retained.get((c, k), 0))))
    out = pd.DataFrame(
        rows, columns=["cohort_week", "weeks_since_signup", "cohort_users", "retained_users"]
    )
    out["retention_rate"] = out["retained_users"] / out["cohort_users"]
    return out[
        ["cohort_week", "weeks_since_signup", "cohort_users", "retained_users", "retention_rate"]
    ]


STEP_EVENTS = {"Session Started": 1, "Level Completed": 2, "Item Purchased": 3}


def funnel_steps(ev: pd.DataFrame) -> pd.DataFrame:
    """The step events of the conversion funnel (one row per event)."""
    f = ev[(ev["type"] == "track") & ev["event"].isin(list(STEP_EVENTS))].copy()
    f["step"] = f["event"].map(STEP_EVENTS)
    f = f.rename(columns={"event_date": "activity_date", "timestamp": "event_at"})
    return f[["message_id", "user_key", "event_at", "activity_date", "step", *DIMS]]


def ordered_funnel(
    steps: pd.DataFrame,
    start: dt.date | None,
    end: dt.date | None,
    window_days: int,
    filters: dict[str, list[str]] | None = None,
) -> dict[tuple[str, ...] | None, list[int]]:
    """Users per step, by the dimensions of their entry: a user enters at their first
    step-1 event in [start, end] matching the filters; reaches step 2 with a step-2 event at
    or after it within the window; step 3 with a step-3 event at or after that step-2 event
    (the first one) within the window from entry. Written from the definition with plain
    Python loops over each user's events."""
    window = dt.timedelta(days=window_days)
    by_user: dict[str, list[tuple[object, int, str, tuple[str, ...]]]] = {}
    for row in steps.itertuples(index=False):
        by_user.setdefault(row.user_key, []).append(
            (row.event_at, row.step, row.message_id, tuple(getattr(row, d) for d in DIMS))
        )
    counts: dict[tuple[str, ...] | None, list[int]] = {}
    for events in by_user.values():
        events.sort(key=lambda e: (e[0], e[2]))
        entry = None
        for at, step, _mid, dims in events:
            day = at.date()
            if step != 1 or (start and day < start) or (end and day > end):
                continue
            if filters and any(dims[DIMS.index(k)] not in v for k, v in filters.items() if v):
                continue
            entry = (at, dims)
            break
        if entry is None:
            continue
        t1, dims = entry
        reached = [1, 0, 0]
        t2 = next(
            (at for at, step, _m, _d in events if step == 2 and t1 <= at <= t1 + window), None
        )
        if t2 is not None:
            reached[1] = 1
            if any(step == 3 and t2 <= at <= t1 + window for at, step, _m, _d in events):
                reached[2] = 1
        acc = counts.setdefault(dims, [0, 0, 0])
        for i in range(3):
            acc[i] += reached[i]
    return counts
