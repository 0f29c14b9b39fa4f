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
2. :func:`run_query` runs the statement on the warehouse's sandboxed reader
   (``Warehouse.reader(sandbox_options(...))``) on every engine, read-only by construction
   and held to ``warehouse.query_timeout`` and ``warehouse.query_memory_mb``. DuckDB: the
   file ATTACHed ``READ_ONLY`` in a private instance with external access off (except the
   lake's ``sources/`` folder, which batch-source views read), the configuration locked and
   a ``memory_limit``. PostgreSQL: a ``READ ONLY`` transaction rolled back after every
   statement, ``statement_timeout``, ``work_mem`` and ``temp_file_limit``, and the
   ``pg_read_all_data`` role where the login may switch to it. So a statement the guard
   missed can neither write the warehouse, nor touch a file, nor loosen its limits.

The guard also knows PostgreSQL's dangerous functions (``set_config``, ``pg_read_file``,
advisory locks, ``query_to_xml``...), so it protects every engine alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from eventlake.config import Settings, WarehouseConfig
from eventlake.errors import QueryRefusedError
from eventlake.warehouse.base import ReaderOptions, WarehouseReader

__all__ = [
    "QueryResult",
    "check_read_only",
    "run_query",
    "sandbox_options",
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

# Scalar functions that leak the host's environment or secrets, read or write server files,
# change settings, run SQL given as text, or hold locks past the statement (DuckDB's and
# PostgreSQL's: the guard protects every engine).
_REFUSED_FUNCTIONS = frozenset(
    {
        "getenv",
        "current_setting",
        "duckdb_secrets",
        "which_secret",
        "read_text",
        "read_blob",
        "set_config",
        "pg_stat_file",
        "pg_current_logfile",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_promote",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_notify",
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "ts_stat",
    }
)
# Families of such functions: server files, large objects (lo_import reads a server file),
# advisory locks (a session lock outlives the statement and could block the pipeline's
# writer), other databases.
_REFUSED_FUNCTION_PREFIXES = (
    "pg_read_",
    "pg_ls_",
    "pg_file_",
    "lo_",
    "pg_advisory_",
    "pg_try_advisory_",
    "dblink",
)

# Catalog views that show the warehouse file's absolute path (duckdb_databases.path,
# pragma_database_list.file) or settings holding paths (pg_settings): a client of the data
# API has no business knowing where the file lives. Refused wherever they are named.
_PATH_REVEALING_RELATIONS = frozenset(
    {
        "duckdb_databases",
        "pragma_database_list",
        "pg_settings",
        "duckdb_settings",
        # PostgreSQL: configuration files, the server's paths (also SHOW <setting>)
        "pg_file_settings",
        "pg_hba_file_rules",
        "pg_ident_file_mappings",
        "pg_config",
        "data_directory",
        "config_file",
        "hba_file",
        "ident_file",
        "external_pid_file",
        "unix_socket_directories",
        "log_directory",
    }
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
        if name in _REFUSED_FUNCTIONS or name.startswith(_REFUSED_FUNCTION_PREFIXES):
            yield f"function {name}() (reads the environment, files or settings, or locks)"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def sandbox_options(config: WarehouseConfig) -> ReaderOptions:
    """The reader options of SQL typed by users: ``warehouse.query_timeout`` and
    ``warehouse.query_memory_mb``, with the engine's sandbox on."""
    return ReaderOptions(
        connections=2,
        timeout=config.query_timeout,
        memory_mb=config.query_memory_mb,
        sandbox=True,
    )


def run_query(source: Settings | WarehouseReader, sql: str, limit: int = 10_000) -> QueryResult:
    """Check ``sql`` with :func:`check_read_only` and run it on a sandboxed reader.

    Args:
        source: the eventlake Settings (a sandboxed reader of its warehouse is opened and
            closed), or a reader opened with :func:`sandbox_options` (the data API's,
            kept open; it is not closed).
        sql: one read-only statement.
        limit: the most rows returned (negative: all); ``truncated`` says whether there
            were more.

    Raises:
        QueryRefusedError: the statement is not read-only, or reaches past the sandbox.
        WarehouseMissingError: nothing is published yet.
        QueryError: the statement failed (its timeout, memory limit, a missing table...).
        WarehouseError: the warehouse cannot be reached.
    """
    text = check_read_only(sql)
    if isinstance(source, Settings):
        from eventlake.warehouse.factory import open_warehouse

        reader = open_warehouse(source).reader(sandbox_options(source.warehouse))
        own = True
    else:
        reader, own = source, False
    try:
        result = reader.execute(text, limit=limit if limit >= 0 else None)
    finally:
        if own:
            reader.close()
    notes = [f"showing the first {limit} rows"] if result.truncated else []
    return QueryResult(result.columns, result.types, result.rows, result.truncated, notes)
