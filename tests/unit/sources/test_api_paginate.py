"""Pagination styles: the next request(s) computed from a response."""

from __future__ import annotations

import httpx

from eventlake.sources.api.paginate import (
    PageRequest,
    dotted,
    first_request,
    next_link_header,
    next_request,
    records_of,
    remaining_requests,
)
from eventlake.sources.api.spec import PaginationSpec

NO_HEADERS = httpx.Headers()


def test_page_number_with_a_total_fans_out_every_other_page() -> None:
    spec = PaginationSpec(
        type="page_number", size_param="per_page", size=10, total_pages_path="meta.pages"
    )
    first = first_request(spec, "http://a/p", {"x": 1})
    assert first.params == {"x": 1, "per_page": 10, "page": 1}
    rest = remaining_requests(spec, first, {"meta": {"pages": 4}}, 10)
    assert rest is not None and [r.params["page"] for r in rest] == [2, 3, 4]


def test_offset_with_a_record_total_rounds_up() -> None:
    spec = PaginationSpec(type="offset", size_param="limit", size=25, total_path="total")
    first = first_request(spec, "http://a/t", {})
    rest = remaining_requests(spec, first, {"total": 60}, 25)
    assert rest is not None and [r.params["offset"] for r in rest] == [25, 50]


def test_sequential_page_chain_stops_at_a_short_or_empty_page() -> None:
    spec = PaginationSpec(type="page_number", size_param="per_page", size=10)
    req = first_request(spec, "http://a/p", {})
    assert remaining_requests(spec, req, {}, 10) is None
    nxt = next_request(spec, req, {}, NO_HEADERS, 10)
    assert nxt is not None and nxt.params["page"] == 2
    assert next_request(spec, nxt, {}, NO_HEADERS, 3) is None
    assert next_request(spec, nxt, {}, NO_HEADERS, 0) is None


def test_cursor_follows_the_body_until_it_is_empty() -> None:
    spec = PaginationSpec(type="cursor", cursor_path="next", cursor_param="c")
    req = PageRequest("http://a/r", {"limit": 5})
    nxt = next_request(spec, req, {"next": "abc"}, NO_HEADERS, 5)
    assert nxt == PageRequest("http://a/r", {"limit": 5, "c": "abc"})
    assert next_request(spec, nxt, {"next": None}, NO_HEADERS, 5) is None


def test_next_link_in_body_is_resolved_against_the_request() -> None:
    spec = PaginationSpec(type="next_link", next_path="links.next")
    req = PageRequest("http://a/v1/players", {"page": 1})
    nxt = next_request(spec, req, {"links": {"next": "/v1/players?page=2"}}, NO_HEADERS, 5)
    assert nxt == PageRequest("http://a/v1/players?page=2", {})
    assert next_request(spec, req, {"links": {}}, NO_HEADERS, 5) is None


def test_link_header_picks_rel_next_among_others() -> None:
    headers = httpx.Headers(
        {"link": '<http://a/p?page=1>; rel="first", <http://a/p?page=3>; rel="next"'}
    )
    assert next_link_header(headers) == "http://a/p?page=3"
    spec = PaginationSpec(type="link_header")
    nxt = next_request(spec, PageRequest("http://a/p"), [], headers, 5)
    assert nxt == PageRequest("http://a/p?page=3", {})
    assert next_request(spec, PageRequest("http://a/p"), [], NO_HEADERS, 5) is None


def test_record_path_and_dotted_lookups() -> None:
    body = {"data": {"items": [{"id": 1}]}, "list": [{"a": {"b": 2}}]}
    assert records_of(body, "data.items", "u") == [{"id": 1}]
    assert records_of(body, "missing", "u") == []
    assert dotted(body, "list.0.a.b") == 2
    assert dotted(body, "list.5.a") is None
