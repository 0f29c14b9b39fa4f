"""Pagination styles of the REST API source: from one response to the next request(s).

Pure functions, no I/O. :func:`next_request` follows a chain one page at a time (every
style); :func:`remaining_requests` turns the first page of a ``page_number`` or ``offset``
resource whose response tells the total into every other page at once, so they can be
fetched in parallel.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from eventlake.errors import SourceError
from eventlake.sources.api.spec import PaginationSpec

__all__ = [
    "PageRequest",
    "dotted",
    "first_request",
    "next_link_header",
    "next_request",
    "records_of",
    "remaining_requests",
]

_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One page to fetch: a URL and its query parameters."""

    url: str
    params: dict[str, Any] = field(default_factory=dict)


def dotted(obj: Any, path: str | None) -> Any:
    """``obj['a']['b']`` for ``path='a.b'``; ``None`` when any step is missing."""
    if not path:
        return obj
    for part in path.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def records_of(body: Any, record_path: str | None, url: str) -> list[dict[str, Any]]:
    """The list of records in a response body.

    Raises:
        SourceError: the path does not lead to a list of objects.
    """
    found = dotted(body, record_path)
    if found is None:
        return []
    if isinstance(found, dict):
        found = [found]
    if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
        raise SourceError(
            f"GET {url}: record_path {record_path or '(body)'!r} is not a list of objects"
        )
    return found


def first_request(spec: PaginationSpec, url: str, params: dict[str, Any]) -> PageRequest:
    """The request for the first page."""
    p = dict(params)
    if spec.size_param and spec.size:
        p[spec.size_param] = spec.size
    if spec.type == "page_number":
        p[spec.page_param] = spec.start_page
    elif spec.type == "offset":
        p[spec.offset_param] = 0
    return PageRequest(url, p)


def _page_size(spec: PaginationSpec, n_records: int) -> int:
    return spec.size or n_records


def remaining_requests(
    spec: PaginationSpec, first: PageRequest, body: Any, n_records: int
) -> list[PageRequest] | None:
    """Every page after ``first`` when the first response tells the total, else ``None``."""
    if spec.type not in ("page_number", "offset"):
        return None
    size = _page_size(spec, n_records)
    pages: int | None = None
    total_pages = dotted(body, spec.total_pages_path) if spec.total_pages_path else None
    total = dotted(body, spec.total_path) if spec.total_path else None
    if isinstance(total_pages, int):
        pages = total_pages
    elif isinstance(total, int) and size > 0:
        pages = math.ceil(total / size)
    if pages is None:
        return None
    if spec.max_pages is not None:
        pages = min(pages, spec.max_pages)
    out = []
    for i in range(1, pages):
        p = dict(first.params)
        if spec.type == "page_number":
            p[spec.page_param] = spec.start_page + i
        else:
            p[spec.offset_param] = i * size
        out.append(PageRequest(first.url, p))
    return out


def next_link_header(headers: httpx.Headers) -> str | None:
    """The ``rel="next"`` URL of an RFC 8288 ``Link`` header, if any."""
    for value in headers.get_list("link"):
        for m in _LINK.finditer(value):
            rels = re.findall(r'rel\s*=\s*"?([^";]+)"?', m.group(2))
            if any("next" in r.split() for r in rels):
                return m.group(1)
    return None


def next_request(
    spec: PaginationSpec,
    req: PageRequest,
    body: Any,
    headers: httpx.Headers,
    n_records: int,
) -> PageRequest | None:
    """The page after ``req`` in a one-at-a-time chain, or ``None`` at the end."""
    kind = spec.type
    if kind == "none":
        return None
    if kind in ("page_number", "offset"):
        if n_records == 0 or (spec.size and n_records < spec.size):
            return None
        p = dict(req.params)
        if kind == "page_number":
            p[spec.page_param] = int(p[spec.page_param]) + 1
        else:
            p[spec.offset_param] = int(p[spec.offset_param]) + _page_size(spec, n_records)
        return PageRequest(req.url, p)
    if kind == "cursor":
        cursor = dotted(body, spec.cursor_path)
        if cursor in (None, "", False):
            return None
        return PageRequest(req.url, {**req.params, spec.cursor_param: cursor})
    if kind == "next_link":
        link = dotted(body, spec.next_path)
        if not link or not isinstance(link, str):
            return None
        return PageRequest(str(httpx.URL(req.url).join(link)), {})
    link = next_link_header(headers)
    if not link:
        return None
    return PageRequest(str(httpx.URL(req.url).join(link)), {})
