"""The read-only SQL surface: a guard that refuses anything but reading the warehouse.

Used by ``eventlake query`` and by the data API's ``POST /api/query``. Two layers, so a
gap in one is caught by the other:

1. :func:`check_read_only` parses the text with DuckDB's own parser
   (``duckdb.extract_statements`` for statement types, ``json_serialize_sql`` for the syntax
   tree of a SELECT) and refuses, with a message naming what it found: more than one
   statement; any statement that is not a query (INSERT/UPDATE/DELETE/CREATE/DROP/ALTER,
   COPY, EXPORT, ATTACH/DETACH, INSTALL/LOAD, SET/RESET/USE, CALL, transactions...); a
   PRAGMA other than a few that only show things; a table function outside a small
   allow-list (so ``read_csv``, ``read_parquet``, ``read_json``, ``glob``, ``query`` and
   every reader added by an extension are refused); functions that read the environment
   (``getenv``); catalog views and functions that show where the warehouse file lives
   (``duckdb_databases``, ``PRAGMA database_list``, settings); and tables named like files
   (``FROM '/etc/passwd'``, a replacement scan). ``SHOW TABLES`` is answered with every
   schema's tables (DuckDB's own lists only the default schema, where the warehouse keeps
   none). The syntax tree is read without recursion, so a statement nested as deep as
   DuckDB's parser allows is checked, never a crash.
2. :func:`run_query` runs the statement on a private connection where the warehouse is
   attached ``READ_ONLY``, external access is disabled (except the lake's ``sources/``
   folder, which batch-source views read) and the configuration locked, so even a
   statement the guard missed can neither write the warehouse nor touch other files.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventlake.config import Settings
from eventlake.errors import QueryRefusedError, WarehouseError

__all__ = [
    "QueryResult",
    "check_read_only",
    "connect_sandboxed",
    "run_query",
]

# PRAGMAs that only report (PRAGMA show_tables...); every other one may change state.
_READ_ONLY_PRAGMAS = frozenset(
    {
        "show_tables",
        "show_tables_expanded",
        "table_info",
        "show",
        "database_size",
        "version",
        "platform",
        "functions",
        "collations",
        "storage_info",
        "metadata_info",
    }
)

# Table functions that only read the catalog or generate rows. Everything else is refused:
# an allow-list, because extensions keep adding file and network readers.
_ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "duckdb_columns",
        "duckdb_constraints",
        "duckdb_dependencies",
        "duckdb_functions",
        "duckdb_indexes",
        "duckdb_keywords",
        "duckdb_schemas",
        "duckdb_sequences",
        "duckdb_tables",
        "duckdb_types",
        "duckdb_views",
        "pragma_table_info",
        "pragma_show",
        "pragma_storage_info",
        "pragma_database_size",
        "pragma_version",
        "test_all_types",
    }
)

# Scalar functions that leak the host's environment or secrets.
_REFUSED_FUNCTIONS = frozenset(
    {"getenv", "current_setting", "duckdb_secrets", "which_secret", "read_text", "read_blob"}
)

# Catalog views that show the warehouse file's absolute path (duckdb_databases.path,
# pragma_database_list.file) or settings holding paths (pg_settings): a client of the data
# API has no business knowing where the file lives. Refused wherever they are named.
_PATH_REVEALING_RELATIONS = frozenset(
    {"duckdb_databases", "pragma_database_list", "pg_settings", "duckdb_settings"}
)

# A table name containing one of these is a file path (DuckDB's replacement scans).
_PATH_CHARS = frozenset("/\\.:*?~")

_WRITE_HINT = "eventlake query only reads the warehouse"

_SHOW_TABLES = re.compile(r"\s*show\s+tables\s*;?\s*", re.IGNORECASE)

# `SHOW TABLES` lists the default schema only, where the warehouse keeps no table: the
# obvious first command would answer "(0 rows)". This lists every schema's tables instead.
SHOW_TABLES_SQL = (
    'SELECT table_schema AS "schema", table_name AS name, '
    "CASE table_type WHEN 'VIEW' THEN 'view' ELSE 'table' END AS type "
    "FROM information_schema.tables "
    "WHERE table_catalog = current_database() "
    "AND table_schema NOT IN ('information_schema', 'pg_catalog') "
    "ORDER BY 1, 2"
)


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of one read-only query (at most ``limit``; ``truncated`` when there were more)."""

    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False
    notes: list[str] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def check_read_only(sql: str) -> str:
    """Return the single statement in ``sql`` if it only reads; raise otherwise.

    Args:
        sql: one SQL statement (a trailing semicolon is fine).

    Returns:
        The statement to run: its text as DuckDB split it, except ``SHOW TABLES``, which
        becomes :data:`SHOW_TABLES_SQL` (every schema's tables and views).

    Raises:
        QueryRefusedError: the text is empty, holds several statements, does not parse,
            or would write, attach, copy, install, change a setting or touch a file;
            the message says which.

    Example:
        >>> check_read_only("SELECT count(*) FROM metrics.daily_active_users")
        'SELECT count(*) FROM metrics.daily_active_users'
    """
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefusedError(f"query does not parse: {_first_line(exc)}") from exc
    if not statements:
        raise QueryRefusedError("empty query: give one SELECT statement")
    if len(statements) > 1:
        raise QueryRefusedError(
            f"{len(statements)} statements given: {_WRITE_HINT}, one SELECT at a time"
        )
    statement = statements[0]
    kind = statement.type.name
    text = str(statement.query).strip()
    if kind == "PRAGMA" and text.split(None, 1)[0].upper() == "PRAGMA":
        _check_pragma(text)
        return text
    if kind != "SELECT":
        raise QueryRefusedError(
            f"{_describe(kind, text)} refused: {_WRITE_HINT}; "
            "use one SELECT (or WITH, DESCRIBE, SHOW, SUMMARIZE)"
        )
    if _SHOW_TABLES.fullmatch(text):
        return SHOW_TABLES_SQL
    for problem in _scan_tree(_serialize(text)):
        raise QueryRefusedError(f"{problem} refused: {_WRITE_HINT}, never files or settings")
    return text


def _check_pragma(text: str) -> None:
    body = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
    name = body.replace("(", " ").replace("=", " ").split(None, 1)
    pragma = name[0].strip(" ;").lower() if name else ""
    if pragma == "database_list":
        raise QueryRefusedError(
            "PRAGMA database_list refused: it shows where the warehouse file is; "
            "list the tables with SHOW TABLES"
        )
    if "=" in body or pragma not in _READ_ONLY_PRAGMAS:
        raise QueryRefusedError(
            f"PRAGMA {pragma or '?'} refused: only PRAGMAs that show things are allowed "
            f"({', '.join(sorted(_READ_ONLY_PRAGMAS))})"
        )


def _describe(kind: str, text: str) -> str:
    words = [w.upper() for w in text.split()[:2]]
    first = words[0] if words else kind
    if len(words) > 1 and first in {"FORCE", "IMPORT", "EXPORT", "CREATE", "DROP", "ALTER"}:
        first = f"{first} {words[1]}"
    if kind == "COPY":
        return "COPY (writes or reads files)"
    if kind == "LOAD":
        return f"{first} (installs or loads extensions)"
    if kind in {"SET", "VARIABLE_SET"}:
        return f"{first} (changes a setting)"
    return f"{first} statement ({kind})"


def _serialize(text: str) -> Any:
    import duckdb

    conn = duckdb.connect(":memory:")
    try:
        raw = conn.execute("SELECT json_serialize_sql(?::VARCHAR)", [text]).fetchall()[0]
    finally:
        conn.close()
    tree = _decode_tree(raw[0]) if raw else {"error": True, "error_message": "no parse"}
    if not isinstance(tree, dict):
        raise QueryRefusedError("query does not parse: DuckDB returned no syntax tree")
    if tree.get("error"):
        raise QueryRefusedError(f"query does not parse: {tree.get('error_message', '?')}")
    return tree


def _decode_tree(text: str) -> Any:
    """The serialized syntax tree as Python values, however deep.

    ``json.loads`` recurses once per nesting level and gives up around Python's recursion
    limit, while DuckDB's parser accepts expressions 1,000 levels deep (three JSON levels
    each): ``SELECT 1+1+...+1`` with 401 terms is enough. Such trees are decoded by
    :func:`_decode_deep`, which keeps its own stack.
    """
    try:
        return json.loads(text)
    except RecursionError:
        return _decode_deep(text)


# One JSON token after optional whitespace: open, close, a string, a
# number, a literal. Commas and colons carry no information for well-formed input.
_JSON_TOKEN = re.compile(
    r'[\s,:]*(?:([\[{])|([\]}])|("(?:[^"\\]|\\.)*")'
    r"|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)|(true|false|null))",
    re.DOTALL,
)
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}


def _decode_deep(text: str) -> Any:
    """Decode well-formed JSON (DuckDB's own output) without recursion."""
    stack: list[Any] = []  # the containers being filled, innermost last
    keys: list[str | None] = []  # per container: the key waiting for its value
    pos = 0
    while True:
        match = _JSON_TOKEN.match(text, pos)
        if match is None:
            raise QueryRefusedError("query does not parse: DuckDB's syntax tree is not JSON")
        pos = match.end()
        opened, closed, string, number, literal = match.groups()
        value: Any
        if opened:
            container: Any = {} if opened == "{" else []
            stack.append(container)
            keys.append(None)
            continue
        if closed:
            if not stack:
                raise QueryRefusedError("query does not parse: DuckDB's syntax tree is not JSON")
            value = stack.pop()
            keys.pop()
        elif string:
            value = json.loads(string)  # a flat string: no recursion
            if stack and isinstance(stack[-1], dict) and keys[-1] is None:
                keys[-1] = value
                continue
        elif number:
            value = float(number) if any(c in number for c in ".eE") else int(number)
        else:
            value = _LITERALS[literal]
        if not stack:
            return value
        top = stack[-1]
        if isinstance(top, list):
            top.append(value)
        else:
            top[keys[-1]] = value
            keys[-1] = None


def _scan_tree(root: Any) -> Iterator[str]:
    """Yield a description of each thing in a serialized SELECT that is not allowed.

    Depth first, in document order, with an explicit stack (the tree may be 3,000 levels
    deep).
    """
    pending: list[Any] = [root]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(reversed(node))
            continue
        if not isinstance(node, dict):
            continue
        yield from _node_problems(node)
        pending.extend(v for v in reversed(node.values()) if isinstance(v, dict | list))


def _node_problems(node: dict[str, Any]) -> Iterator[str]:
    node_type = node.get("type")
    if node_type == "TABLE_FUNCTION":
        func = node.get("function") or {}
        name = str(func.get("function_name", "")).lower()
        if name in _PATH_REVEALING_RELATIONS:
            yield f"table function {name}() (shows where the warehouse file is)"
        elif name not in _ALLOWED_TABLE_FUNCTIONS:
            yield f"table function {name}() (reads files or runs other SQL)"
    elif node_type in ("BASE_TABLE", "SHOW_REF"):
        names = [node.get("catalog_name", ""), node.get("schema_name", ""), node.get("table_name")]
        for name in names:
            if name and _PATH_CHARS & set(str(name)):
                yield f"table {str(name)!r} (looks like a file path)"
        table = str(node.get("table_name") or "").strip('"').lower()
        if table in _PATH_REVEALING_RELATIONS:
            yield f"{table} (shows where the warehouse file is)"
    if "function_name" in node:
        name = str(node["function_name"]).lower()
        if name in _REFUSED_FUNCTIONS:
            yield f"function {name}() (reads the environment or files)"


def _discard_pending(conn: Any) -> None:
    """Drop the unread rest of a result so the caller's connection stays usable."""
    import duckdb

    abort = getattr(conn, "abort", None)
    if abort is not None:
        try:
            abort()
        except duckdb.Error:
            pass


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def connect_sandboxed(path: Path, *, allowed_directories: Sequence[Path] = ()) -> Any:
    """Open ``path`` read-only in a private DuckDB instance with file access disabled.

    The warehouse is ATTACHed ``READ_ONLY`` to a fresh in-memory database (so the settings
    below cannot leak into another connection of this process, which DuckDB would share an
    instance with), made the default catalog, then ``enable_external_access`` is turned
    off and the configuration locked. ``allowed_directories`` stay readable (batch-source
    views over lake files).
    """
    import duckdb

    path = Path(path)
    if not path.exists():
        raise WarehouseError(
            f"warehouse {path} does not exist yet: run `eventlake build` (or `eventlake run`)"
        )
    conn = duckdb.connect(":memory:")
    try:
        alias = path.stem.replace('"', "")
        conn.execute(f'ATTACH ? AS "{alias}" (READ_ONLY)', [str(path)])
        conn.execute(f'USE "{alias}"')
        if allowed_directories:
            dirs = [str(d).rstrip("/") + "/" for d in allowed_directories]
            conn.execute("SET allowed_directories = ?", [dirs])
        _no_python_scans(conn)
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
    except duckdb.Error as exc:
        conn.close()
        raise WarehouseError(f"cannot open warehouse {path} read-only: {exc}") from exc
    return conn


def _no_python_scans(conn: Any) -> None:
    """Stop DuckDB's Python client from resolving unknown table names to Python variables.

    Otherwise ``SELECT * FROM some_dataframe`` reads any Arrow table or DataFrame in scope
    of the calling code.
    """
    import duckdb

    try:
        conn.execute("SET python_enable_replacements = false")
    except duckdb.Error:
        pass  # a locked configuration: it was set before the lock


def _allowed_directories(settings: Settings) -> list[Path]:
    """Lake folders that views in the warehouse may read (local lakes only)."""
    uri = settings.lake_uri()
    if "://" in uri:
        return []
    from eventlake.lake import SOURCES_DIR

    return [Path(uri) / SOURCES_DIR]


def run_query(
    settings: Settings | None,
    sql: str,
    limit: int = 10_000,
    *,
    connection: Any = None,
    timeout: float | None = None,
) -> QueryResult:
    """Check ``sql`` with :func:`check_read_only` and run it on the warehouse.

    Args:
        settings: the eventlake Settings (its warehouse path is opened); None when
            ``connection`` is given.
        sql: one read-only statement.
        limit: the most rows returned; ``truncated`` says whether there were more.
        connection: a DuckDB connection or cursor to use instead of opening one (the API
            passes a cursor of its ``ReadOnlyWarehouse``); it is not closed.
        timeout: interrupt the query after this many seconds.

    Raises:
        QueryRefusedError: the statement is not read-only.
        WarehouseError: the warehouse is missing or the query failed (DuckDB's message).
    """
    import duckdb

    text = check_read_only(sql)
    own = connection is None
    if own:
        if settings is None:
            raise WarehouseError("run_query needs the settings or an open connection")
        path = settings.resolve(settings.warehouse.path)
        conn = connect_sandboxed(path, allowed_directories=_allowed_directories(settings))
    else:
        conn = connection
        _no_python_scans(conn)
    timer = threading.Timer(timeout, conn.interrupt) if timeout else None
    try:
        if timer is not None:
            timer.start()
        cursor = conn.execute(text)
        columns = [d[0] for d in cursor.description or []]
        types = [str(d[1]) for d in cursor.description or []]
        rows = cursor.fetchmany(limit + 1) if limit >= 0 else cursor.fetchall()
    except duckdb.InterruptException as exc:
        raise WarehouseError(f"query interrupted after {timeout} s") from exc
    except duckdb.Error as exc:
        raise WarehouseError(f"query failed: {_first_line(exc)}") from exc
    finally:
        if timer is not None:
            timer.cancel()
        if own:
            conn.close()
        else:
            _discard_pending(conn)
    truncated = 0 <= limit < len(rows)
    rows = rows[:limit] if truncated else rows
    notes = [f"showing the first {limit} rows"] if truncated else []
    return QueryResult(columns, types, [tuple(r) for r in rows], truncated, notes)
