"""A synthetic warehouse shaped like the metrics models, for tests and the serve benchmark.

Builds, with DuckDB SQL alone, ``n_events`` game events over ``days`` days and the metric
tables the API serves, plus a metrics catalog JSON in the format the warehouse stage writes.
Names, dimensions, measures and column descriptions come from the dbt project's metrics
YAML (the catalog's source of truth); only the arithmetic here is simplified. It lets the API
and the dashboard be tested and benchmarked without running the whole pipeline; the real
models are tested against the API separately.

The same tables can then be copied, row for row and with the same types, into a PostgreSQL
database (:func:`copy_sample_to_postgres`) or Spark Parquet tables
(:func:`copy_sample_to_spark`), so that one request can be compared, or timed, on every
engine over the same data.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from eventlake.warehouse.measures import normalise_measures

__all__ = [
    "build_sample_warehouse",
    "copy_sample_to_postgres",
    "copy_sample_to_spark",
    "models_meta",
]

_PLATFORMS = "['iOS', 'Android', 'Windows', 'macOS']"
_COUNTRIES = "['US', 'DE', 'FR', 'BR', 'JP', 'IN']"
_HOSTS = "['comcast.net', 'verizon.net', 'orange.fr', 'telekom.de', 'ntt.jp', 'vivo.com.br']"
_EVENTS = (
    "['Session Started', 'Level Started', 'Level Completed', 'Level Failed', "
    "'Item Purchased', 'Guild Joined', 'Signed Up']"
)
_ITEMS = "['gems_small', 'gems_large', 'skin_dragon', 'energy_pack']"

# Shapes of the metrics models (eventlake/models/models/metrics/), computed the simple way.
# ``ud`` is one row per user and active day; ``ev`` one row per event.
_METRIC_SQL = {
    # Each (user, day) is attributed to the user's latest active day in the window, like
    # the real models; ``att`` holds one row per user and day d with that latest day t.
    "daily_active_users": """
        SELECT d AS activity_date, platform, country, host_provider,
            count(*) FILTER (WHERE d = t) AS dau,
            count(*) FILTER (WHERE d - t < 7) AS wau,
            count(*) AS mau,
            count(*) FILTER (WHERE d = t AND t = first_date) AS new_users
        FROM att WHERE d <= max_day GROUP BY 1, 2, 3, 4""",
    "rolling_active_users_28d": """
        SELECT d AS activity_date, platform, country, host_provider,
            count(*) AS active_users_28d
        FROM att WHERE d <= max_day AND d - t < 28 GROUP BY 1, 2, 3, 4""",
    "conversion_funnel": """
        SELECT message_id, user_key, event_at, event_date AS activity_date,
            CASE event_name WHEN 'Session Started' THEN 1 WHEN 'Level Completed' THEN 2
                ELSE 3 END AS step,
            platform, country, host_provider
        FROM ev
        WHERE event_name IN ('Session Started', 'Level Completed', 'Item Purchased')
        ORDER BY event_date""",
    "revenue_daily": """
        SELECT activity_date, platform, country, host_provider,
            sum(revenue) AS revenue, sum(purchases) AS purchases,
            count(*) FILTER (WHERE purchases > 0) AS purchasers, count(*) AS dau,
            count(*) AS user_days, sum(revenue) / count(*) AS arpdau,
            sum(revenue) / nullif(count(*) FILTER (WHERE purchases > 0), 0) AS arppu
        FROM ud GROUP BY 1, 2, 3, 4""",
    "funnel_daily": """
        SELECT activity_date, platform, country, host_provider, count(*) AS active_users,
            count(*) FILTER (WHERE sessions > 0) AS session_users,
            count(*) FILTER (WHERE sessions > 0 AND levels > 0) AS level_completed_users,
            count(*) FILTER (WHERE sessions > 0 AND levels > 0 AND purchases > 0)
                AS purchase_users
        FROM ud GROUP BY 1, 2, 3, 4""",
    "host_providers_daily": """
        SELECT activity_date, host_provider, count(*) AS active_users,
            sum(sessions) AS sessions, sum(events) AS events, sum(revenue) AS revenue
        FROM ud GROUP BY 1, 2""",
    "events_daily": """
        SELECT event_date, 'track' AS event_type, event_name, source, platform,
            count(*) AS events, count(DISTINCT user_id) AS users
        FROM ev GROUP BY 1, 2, 3, 4, 5""",
    "guild_joins_daily": """
        SELECT event_date AS join_date, 'g' || (user_id % 5)::VARCHAR AS guild_id,
            ['Dragons', 'Wolves', 'Owls', 'Bears', 'Foxes'][1 + (user_id % 5)::INT]
                AS guild_name,
            platform, count(*) AS joins, count(DISTINCT user_id) AS users
        FROM ev WHERE event_name = 'Guild Joined' GROUP BY 1, 2, 3, 4""",
    "retention_cohorts": """
        WITH firsts AS (SELECT user_id, date_trunc('week', min(activity_date))::DATE AS cw
                        FROM ud GROUP BY user_id),
        act AS (SELECT DISTINCT f.user_id, f.cw,
                    (date_diff('day', f.cw, date_trunc('week', u.activity_date)::DATE) // 7)
                        ::INTEGER AS weeks_since_signup
                FROM firsts f JOIN ud u USING (user_id)),
        sizes AS (SELECT cw, count(*) AS cohort_users FROM firsts GROUP BY cw)
        SELECT a.cw AS cohort_week, a.weeks_since_signup,
            any_value(s.cohort_users) AS cohort_users, count(*) AS retained_users,
            count(*)::DOUBLE / any_value(s.cohort_users) AS retention_rate
        FROM act a JOIN sizes s USING (cw) GROUP BY 1, 2""",
    "purchases_by_item_daily": """
        SELECT event_date AS purchase_date, item, platform, country, host_provider,
            count(*) AS purchases, count(*) AS units, sum(revenue) AS revenue,
            count(DISTINCT user_id) AS purchasers
        FROM ev WHERE event_name = 'Item Purchased' GROUP BY 1, 2, 3, 4, 5""",
}

# The relations the API reads besides the metrics: the user grains that distinct counts are
# recounted from, the calendar and the data's coverage (names as in the dbt project; the
# large ones clustered by day, as the models are).
_SUPPORT_SQL = {
    "staging.int_user_days": """
        SELECT user_id::VARCHAR AS user_key, activity_date, platform, country, host_provider,
            events, sessions, levels AS levels_completed, purchases, revenue
        FROM ud ORDER BY activity_date""",
    "marts.fct_events": """
        SELECT message_id, user_key, event_at, event_date, 'track' AS event_type, event_name,
            source, platform, country, host_provider
        FROM ev ORDER BY event_date""",
    "marts.fct_purchases": """
        SELECT message_id AS purchase_id, user_key, event_date AS purchase_date, item,
            platform, country, host_provider, revenue
        FROM ev WHERE event_name = 'Item Purchased'""",
    "marts.fct_guild_joins": """
        SELECT message_id AS guild_join_id, user_key, event_date AS join_date,
            'g' || (user_id % 5)::VARCHAR AS guild_id,
            ['Dragons', 'Wolves', 'Owls', 'Bears', 'Foxes'][1 + (user_id % 5)::INT]
                AS guild_name,
            platform
        FROM ev WHERE event_name = 'Guild Joined'""",
    "marts.dim_date": """
        SELECT d::DATE AS date_day, date_trunc('week', d)::DATE AS week_start
        FROM range(DATE '2000-01-01', DATE '2051-01-01', INTERVAL 1 DAY) t(d)""",
    "marts.data_coverage": """
        SELECT min(activity_date) AS first_day, max(activity_date) AS last_day FROM ud""",
}


def models_meta() -> dict[str, dict[str, Any]]:
    """Metric name -> description, date_column, dimensions, measures and column descriptions,
    read from the dbt project's metrics YAML (empty when the project has none)."""
    import yaml

    folder = resources.files("eventlake") / "models" / "models" / "metrics"
    out: dict[str, dict[str, Any]] = {}
    if not folder.is_dir():
        return out
    for entry in folder.iterdir():
        if not entry.name.endswith((".yml", ".yaml")):
            continue
        doc = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
        for model in doc.get("models") or []:
            meta = ((model.get("config") or {}).get("meta") or {}).get("eventlake") or {}
            out[model["name"]] = {
                "description": " ".join(str(model.get("description", "")).split()),
                "date_column": meta.get("date_column"),
                "dimensions": list(meta.get("dimensions") or []),
                "measures": meta.get("measures"),
                "kind": meta.get("kind", "table"),
                "meta": meta,
                "columns": {
                    c["name"]: str(c.get("description", "")) for c in model.get("columns") or []
                },
            }
    return out


_EVENTS_SQL = """CREATE TEMP TABLE ev AS
    WITH base AS (
        SELECT i, (hash(i * 7919) % {n_users})::BIGINT AS user_id,
            hash(i * 104729) % 1000 AS r
        FROM range({n_events}) t(i))
    SELECT user_id,
        DATE '{start}' + CAST(((user_id % 5) + hash(i * 31) % {days}) % {days} AS INT)
            AS event_date,
        {events}[1 + CAST(CASE WHEN r < 250 THEN 0 WHEN r < 500 THEN 1
            WHEN r < 700 THEN 2 WHEN r < 800 THEN 3 WHEN r < 850 THEN 4
            WHEN r < 900 THEN 5 ELSE 6 END AS INT)] AS event_name,
        {platforms}[1 + (user_id % 4)::INT] AS platform,
        {countries}[1 + ((user_id // 4) % 6)::INT] AS country,
        {hosts}[1 + ((user_id // 3) % 6)::INT] AS host_provider,
        CASE WHEN user_id % 10 = 0 THEN 'web' ELSE 'game' END AS source,
        {items}[1 + (i % 4)::INT] AS item,
        'm' || i::VARCHAR AS message_id,
        user_id::VARCHAR AS user_key,
        (DATE '{start}' + CAST(((user_id % 5) + hash(i * 31) % {days}) % {days} AS INT))
            + to_seconds((hash(i * 13) % 86400)::BIGINT) AS event_at,
        CASE WHEN r >= 800 AND r < 850 THEN [0.99, 4.99, 9.99, 1.99][1 + (i % 4)::INT]
            ELSE 0 END::DECIMAL(10, 2) AS revenue
    FROM base"""

_ATTRIBUTION_SQL = """CREATE TEMP TABLE att AS
    WITH nxt AS (
        SELECT *, lead(activity_date) OVER (PARTITION BY user_id ORDER BY activity_date)
                AS next_date,
            min(activity_date) OVER (PARTITION BY user_id) AS first_date,
            max(activity_date) OVER () AS max_day
        FROM ud)
    SELECT user_id, platform, country, host_provider, first_date, max_day,
        activity_date AS t, unnest(generate_series(0, least(29,
            coalesce(date_diff('day', activity_date, next_date) - 1, 29)))) AS k
    FROM nxt"""

_USER_DAYS_SQL = """CREATE TEMP TABLE ud AS SELECT user_id, event_date AS activity_date,
        any_value(platform) AS platform, any_value(country) AS country,
        any_value(host_provider) AS host_provider, count(*) AS events,
        count(*) FILTER (WHERE event_name = 'Session Started') AS sessions,
        count(*) FILTER (WHERE event_name = 'Level Completed') AS levels,
        count(*) FILTER (WHERE event_name = 'Item Purchased') AS purchases,
        sum(revenue) AS revenue
    FROM ev GROUP BY 1, 2"""


def build_sample_warehouse(
    warehouse: Path,
    catalog: Path,
    *,
    n_events: int = 20_000,
    n_users: int = 500,
    days: int = 60,
    start: str = "2026-01-01",
    empty: bool = False,
) -> dict[str, int]:
    """Write a DuckDB warehouse with ``metrics.*`` tables and its catalog JSON.

    Deterministic for the same arguments; ``empty`` creates the tables with no rows. The
    catalog is written atomically after the warehouse. Returns rows per metric table.
    """
    import duckdb

    warehouse.parent.mkdir(parents=True, exist_ok=True)
    catalog.parent.mkdir(parents=True, exist_ok=True)
    work = warehouse.with_name(warehouse.name + ".sample")
    work.unlink(missing_ok=True)
    con = duckdb.connect(str(work))
    counts: dict[str, int] = {}
    metrics = []
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("CREATE SCHEMA metrics")
        con.execute(
            _EVENTS_SQL.format(
                n_users=n_users,
                n_events=0 if empty else n_events,
                start=start,
                days=days,
                events=_EVENTS,
                platforms=_PLATFORMS,
                countries=_COUNTRIES,
                hosts=_HOSTS,
                items=_ITEMS,
            )
        )
        con.execute(_USER_DAYS_SQL)
        con.execute("CREATE SCHEMA staging")
        con.execute("CREATE SCHEMA marts")
        for relation, sql in _SUPPORT_SQL.items():
            con.execute(f"CREATE TABLE {relation} AS {sql}")
        con.execute(_ATTRIBUTION_SQL)
        con.execute("ALTER TABLE att ADD COLUMN d DATE")
        con.execute("UPDATE att SET d = t + CAST(k AS INTEGER)")
        for name, sql in _METRIC_SQL.items():
            con.execute(f"CREATE TABLE metrics.{name} AS {sql}")
            row = con.execute(f"SELECT count(*) FROM metrics.{name}").fetchone()
            counts[name] = int(row[0]) if row else 0
        meta = models_meta()
        relations = {r.split(".")[1]: r for r in _SUPPORT_SQL}
        for name in _METRIC_SQL:
            m = meta.get(name, {})
            cols = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'metrics' AND table_name = ? ORDER BY ordinal_position",
                [name],
            ).fetchall()
            descriptions = m.get("columns") or {}
            raw = m.get("meta") or {}
            funnel = None
            if m.get("kind") == "funnel":
                funnel = {k: raw[k] for k in ("entity", "time_column", "step_column", "steps")}
                funnel["conversion_window_days"] = raw.get("conversion_window_days", 7)
            metrics.append(
                {
                    "name": name,
                    "description": m.get("description", ""),
                    "kind": m.get("kind", "table"),
                    "relation": f"metrics.{name}",
                    "date_column": m.get("date_column"),
                    "time_grain": raw.get("time_grain", "day"),
                    "dimensions": m.get("dimensions", []),
                    "measures": []
                    if funnel
                    else normalise_measures(
                        name,
                        m.get("measures"),
                        [c for c, _t in cols],
                        m.get("date_column"),
                        m.get("dimensions", []),
                        relations,
                    ),
                    "funnel": funnel,
                    "columns": [
                        {"name": c, "type": t, "description": descriptions.get(c, "")}
                        for c, t in cols
                    ],
                }
            )
    finally:
        con.close()
    # Published like the warehouse stage does: a new file by atomic rename.
    work.replace(warehouse)
    tmp = catalog.with_name(catalog.name + ".tmp")
    catalog_doc = {
        "reporting_currency": "USD",
        "calendar": "marts.dim_date",
        "coverage": "marts.data_coverage",
        "metrics": metrics,
    }
    tmp.write_text(json.dumps(catalog_doc, indent=2, default=str), encoding="utf-8")
    tmp.replace(catalog)
    return counts


def _postgres_type(duckdb_type: str) -> str:
    """The PostgreSQL type holding a DuckDB column's values exactly."""
    t = duckdb_type.upper()
    simple = {
        "VARCHAR": "text",
        "DATE": "date",
        "BOOLEAN": "boolean",
        "TINYINT": "smallint",
        "SMALLINT": "smallint",
        "INTEGER": "integer",
        "BIGINT": "bigint",
        "HUGEINT": "numeric(38, 0)",
        "UBIGINT": "numeric(20, 0)",
        "FLOAT": "real",
        "DOUBLE": "double precision",
        "TIMESTAMP": "timestamp",
        "TIMESTAMP WITH TIME ZONE": "timestamptz",
    }
    if t in simple:
        return simple[t]
    if t.startswith("DECIMAL"):
        return "numeric" + t[len("DECIMAL") :]
    return "text"


#: Schemas of the sample: the metric tables and the user grain and calendar the API's
#: declared aggregations read (``serve/metric_sql.py``).
_SAMPLE_SCHEMAS = ("staging", "marts", "metrics")


def _sample_tables(warehouse: Path) -> list[tuple[str, str, list[tuple[str, str]], Any]]:
    """(schema, table, [(column, DuckDB type)], Arrow table) of every table of the sample."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            f"WHERE table_schema IN {_SAMPLE_SCHEMAS} ORDER BY 1, 2"
        ).fetchall()
        out = []
        for schema, name in names:
            cols = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema, name],
            ).fetchall()
            data = con.sql(f'SELECT * FROM "{schema}"."{name}"').to_arrow_table()
            out.append((str(schema), str(name), [(str(c), str(t)) for c, t in cols], data))
        return out
    finally:
        con.close()


def copy_sample_to_postgres(
    warehouse: Path, url: str, *, batch_rows: int = 200_000
) -> dict[str, int]:
    """Copy the sample's tables (``staging``, ``marts``, ``metrics``) into the PostgreSQL
    database of ``url``.

    Same rows, same types (DECIMAL as numeric, DOUBLE as double precision...), replacing
    those schemas; then a new reader version is published (``raw._generation``),
    as a pipeline run does. Returns rows per table. Tables stream to ``COPY`` as CSV in
    batches of ``batch_rows``.
    """
    import io
    import time

    import psycopg
    import pyarrow.csv as pacsv

    from eventlake.warehouse.postgres import publish_generation

    tables = _sample_tables(warehouse)
    for _attempt in range(100):
        counts: dict[str, int] = {}
        try:
            with psycopg.connect(url) as conn:
                # Replacing three schemas in one transaction must not deadlock with readers
                # that join tables of several schemas (the date spine, the user grain): take
                # every lock first, giving up (and retrying) rather than waiting while
                # holding some of them.
                conn.execute("SET lock_timeout = '200ms'")
                held = conn.execute(
                    "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) "
                    "FROM pg_tables WHERE schemaname = ANY(%s)",
                    [list(_SAMPLE_SCHEMAS)],
                ).fetchall()
                if held:
                    names = ", ".join(t for (t,) in held)
                    conn.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
                conn.execute("SET lock_timeout = 0")
                for schema in _SAMPLE_SCHEMAS:
                    conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                    conn.execute(f"CREATE SCHEMA {schema}")
                for schema, name, cols, data in tables:
                    ddl = ", ".join(f'"{c}" {_postgres_type(t)}' for c, t in cols)
                    conn.execute(f'CREATE TABLE {schema}."{name}" ({ddl})')
                    names = ", ".join(f'"{c}"' for c, _ in cols)
                    sql = f'COPY {schema}."{name}" ({names}) FROM STDIN (FORMAT csv, HEADER true)'
                    with conn.cursor().copy(sql) as copy:
                        for i, batch in enumerate(data.to_batches(batch_rows)):
                            # one header, on the first batch: the COPY reads one CSV stream
                            buf = io.BytesIO()
                            options = pacsv.WriteOptions(include_header=i == 0)
                            pacsv.write_csv(batch, buf, options)
                            copy.write(buf.getvalue())
                    counts[f"{schema}.{name}"] = data.num_rows
                conn.commit()
                conn.autocommit = True
                publish_generation(conn)
            return counts
        except psycopg.errors.LockNotAvailable:
            time.sleep(0.05)
    raise RuntimeError(f"could not lock the sample's tables in {url} to replace them")


def copy_sample_to_spark(warehouse: Path, config: Any) -> dict[str, int]:
    """Write the sample's tables (``staging``, ``marts``, ``metrics``) as Spark Parquet
    tables of the catalog of
    ``config`` (a resolved ``WarehouseConfig``) and publish them (``published.json``), as a
    Spark build does. Starts the process's SparkSession. Returns rows per table."""
    from eventlake.warehouse.spark import spark_session, write_published

    spark = spark_session(config)
    for schema in _SAMPLE_SCHEMAS:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {schema}")
    counts: dict[str, int] = {}
    for schema, name, _cols, data in _sample_tables(warehouse):
        frame = spark.createDataFrame(data)
        frame.write.mode("overwrite").format("parquet").saveAsTable(f"{schema}.`{name}`")
        counts[f"{schema}.{name}"] = data.num_rows
    write_published(spark, Path(config.spark_dir))
    return counts
