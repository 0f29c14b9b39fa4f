"""The declarative REST API source definition: the YAML a user writes, parsed and checked.

A definition names a base URL, shared client settings (auth, rate limit, concurrency,
retries, timeouts) and resources. Each resource says where its records are (path, params,
record path), how to page through them, its primary key, its incremental cursor, how nested
objects are stored, and optionally a parent resource whose keys it fans out over::

    base_url: http://127.0.0.1:8765
    auth: {type: header, env: PINBALL_TOKEN, name: Authorization, prefix: "Bearer "}
    rate_limit: 50          # requests per second, all resources together
    concurrency: 8          # requests in flight at once
    resources:
      players:
        path: /page/players
        params: {per_page: 100}
        record_path: data
        primary_key: player_id
        pagination: {type: page_number, total_pages_path: meta.total_pages}
        incremental: {cursor_field: updated_at, param: updated_since, start: "2000-01-01"}
      results:
        path: /cursor/tournaments/{tournament_id}/results
        parent: {resource: tournaments, fields: {tournament_id: tournament_id}}
        primary_key: [tournament_id, position]

:func:`load_definition` raises :class:`~eventlake.errors.ConfigError` naming the file and key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from eventlake.errors import ConfigError

__all__ = [
    "ApiDefinition",
    "AuthSpec",
    "IncrementalSpec",
    "NestedSpec",
    "PaginationSpec",
    "ParentSpec",
    "ResourceSpec",
    "load_definition",
]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthSpec(_Spec):
    """A secret read from an environment variable, sent as a header or a query parameter."""

    type: Literal["header", "query"] = Field(description="Where the secret goes.")
    env: str = Field(description="Environment variable holding the secret.")
    name: str = Field(default="Authorization", description="Header or query parameter name.")
    prefix: str = Field(default="", description="Text before the secret, e.g. 'Bearer '.")


class PaginationSpec(_Spec):
    """How to get from one page to the next.

    ``page_number`` and ``offset`` pages are fetched in parallel once the first response
    tells the total (``total_pages_path`` or ``total_path``); otherwise they, like
    ``cursor``, ``next_link`` and ``link_header``, are followed one after the other until
    an empty or short page or no next pointer.
    """

    type: Literal["none", "page_number", "offset", "cursor", "next_link", "link_header"] = Field(
        default="none", description="Pagination style."
    )
    page_param: str = Field(default="page", description="page_number: page parameter.")
    start_page: int = Field(default=1, description="page_number: first page number.")
    size_param: str | None = Field(
        default=None, description="Page size parameter (per_page, limit...), if any."
    )
    size: int | None = Field(default=None, description="Page size sent in size_param.")
    offset_param: str = Field(default="offset", description="offset: offset parameter.")
    total_pages_path: str | None = Field(
        default=None, description="Dotted path to the page count in the first response."
    )
    total_path: str | None = Field(
        default=None, description="Dotted path to the record count in the first response."
    )
    cursor_path: str | None = Field(
        default=None, description="cursor: dotted path to the next cursor in the body."
    )
    cursor_param: str = Field(default="cursor", description="cursor: parameter name.")
    next_path: str | None = Field(
        default=None, description="next_link: dotted path to the next URL in the body."
    )
    max_pages: int | None = Field(
        default=None, description="Stop after this many pages per resource or parent key."
    )


class IncrementalSpec(_Spec):
    """Fetch only records whose cursor field is at or past the saved state."""

    cursor_field: str = Field(description="Dotted path of the cursor in a record.")
    start: Any = Field(default=None, description="Cursor value of the very first run.")
    param: str | None = Field(
        default=None,
        description="Query parameter that sends the saved cursor to the API; without it "
        "records before the cursor are dropped client side.",
    )


class ParentSpec(_Spec):
    """Fan out over the records of another resource (one request chain per parent key)."""

    resource: str = Field(description="Name of the parent resource.")
    fields: dict[str, str] = Field(
        description="Path placeholder or query parameter -> dotted field of the parent "
        "record, e.g. {tournament_id: tournament_id}."
    )
    include: list[str] = Field(
        default_factory=list,
        description="Parent fields copied into each child record as parent__<field>.",
    )


class NestedSpec(_Spec):
    """How nested objects become columns: flattened with ``__`` or kept as JSON text."""

    default: Literal["flatten", "json"] = Field(
        default="flatten", description="Rule for objects not listed below."
    )
    json_fields: list[str] = Field(
        default_factory=list, description="Dotted fields always kept as JSON text."
    )
    max_depth: int = Field(
        default=3, description="Objects nested deeper than this are kept as JSON text."
    )


class ResourceSpec(_Spec):
    """One collection of records, landed as ``<lake>/sources/<name>/<resource>/``."""

    path: str = Field(description="URL path (joined to base_url), may hold {placeholders}.")
    params: dict[str, Any] = Field(default_factory=dict, description="Fixed query params.")
    record_path: str | None = Field(
        default=None, description="Dotted path to the list of records; none = the body."
    )
    primary_key: list[str] = Field(description="Dotted fields that identify a record.")
    pagination: PaginationSpec = Field(default_factory=PaginationSpec, description="Paging.")
    incremental: IncrementalSpec | None = Field(default=None, description="Cursor state.")
    parent: ParentSpec | None = Field(default=None, description="Fan-out over a parent.")
    nested: NestedSpec = Field(default_factory=NestedSpec, description="Nesting rule.")
    table: str | None = Field(
        default=None, description="Warehouse table in schema raw; default <source>__<name>."
    )

    @field_validator("primary_key", mode="before")
    @classmethod
    def _as_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class ApiDefinition(_Spec):
    """A whole REST API source."""

    base_url: str = Field(description="Scheme, host and optional path prefix.")
    headers: dict[str, str] = Field(default_factory=dict, description="Fixed headers.")
    auth: AuthSpec | None = Field(default=None, description="Secret from the environment.")
    rate_limit: float = Field(default=10.0, gt=0, description="Requests/s, all resources.")
    concurrency: int = Field(default=8, ge=1, description="Requests in flight at once.")
    retries: int = Field(default=5, ge=0, description="Retries of a 429/5xx/timeout.")
    backoff_base: float = Field(default=0.5, ge=0, description="First backoff, seconds.")
    backoff_max: float = Field(default=30.0, ge=0, description="Longest backoff, seconds.")
    max_retry_after: float = Field(
        default=300.0, description="A Retry-After longer than this fails the request."
    )
    timeout: float = Field(default=30.0, gt=0, description="Per-request timeout, seconds.")
    chunk_rows: int = Field(
        default=50_000, ge=1, description="Commit a resource's buffered rows at this count."
    )
    chunk_seconds: float = Field(
        default=10.0, gt=0, description="...or this long after the first buffered row."
    )
    resources: dict[str, ResourceSpec] = Field(description="Resources by name.")

    def ordered(self) -> list[str]:
        """Resource names, parents before their children."""
        out: list[str] = []

        def visit(name: str, trail: tuple[str, ...]) -> None:
            if name in out:
                return
            if name in trail:
                raise ConfigError(f"resource parents form a cycle: {' -> '.join(trail)}")
            parent = self.resources[name].parent
            if parent is not None:
                visit(parent.resource, (*trail, name))
            out.append(name)

        for name in self.resources:
            visit(name, ())
        return out

    def root_of(self, name: str) -> str:
        """The top-level ancestor of a resource (itself when it has no parent)."""
        while (parent := self.resources[name].parent) is not None:
            name = parent.resource
        return name


def load_definition(path: Path, *, base_url: str | None = None) -> ApiDefinition:
    """Parse and check a definition file; ``base_url`` overrides the file's.

    Raises:
        ConfigError: unreadable YAML, an unknown or invalid key (named), an unknown parent.
    """
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read API source definition {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    if base_url:
        raw["base_url"] = base_url
    try:
        definition = ApiDefinition.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: invalid key {loc!r}: {first['msg']}") from exc
    for name, res in definition.resources.items():
        if not _NAME.match(name):
            raise ConfigError(f"{path}: resource name {name!r} must be an identifier")
        if res.parent is not None and res.parent.resource not in definition.resources:
            raise ConfigError(
                f"{path}: resource {name!r} names unknown parent {res.parent.resource!r}"
            )
        p = res.pagination
        if p.type == "cursor" and not p.cursor_path:
            raise ConfigError(f"{path}: resource {name!r}: cursor pagination needs cursor_path")
        if p.type == "next_link" and not p.next_path:
            raise ConfigError(f"{path}: resource {name!r}: next_link pagination needs next_path")
        if not res.primary_key:
            raise ConfigError(f"{path}: resource {name!r} needs a primary_key")
    definition.ordered()
    return definition
