"""The extraction engine of the REST API source: one asyncio run over every resource.

Resources form groups, a top-level resource and the resources fanning out over it. Groups
run concurrently; inside a group each parent record starts its children's request chains as
soon as it arrives, and pages of a ``page_number``/``offset`` resource whose total is known
are fetched in parallel. Every request passes the one rate limiter and concurrency bound of
:class:`~eventlake.sources.api.http.Fetcher`. Rows go to a
:class:`~eventlake.sources.api.sink.ResourceSink` per resource; a group's cursor state is
committed only after all of its data is, and never after a failed request.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable
from typing import Any

from eventlake.errors import ConfigError, EventlakeError, SourceError
from eventlake.lake import Lake
from eventlake.sources.api.http import Fetcher
from eventlake.sources.api.load import column_name
from eventlake.sources.api.normalize import flatten_record
from eventlake.sources.api.paginate import (
    PageRequest,
    dotted,
    first_request,
    next_request,
    records_of,
    remaining_requests,
)
from eventlake.sources.api.result import ApiRunResult, ResourceResult
from eventlake.sources.api.sink import ResourceSink
from eventlake.sources.api.spec import ApiDefinition, ResourceSpec
from eventlake.sources.api.state import SourceState, new_run_id, stream_name

__all__ = ["Extraction", "Progress", "table_name"]

log = logging.getLogger("eventlake.sources.api")

Progress = Callable[[int, int], None]  # (requests so far, records so far)


def table_name(source: str, resource: str, spec: ResourceSpec) -> str:
    """The raw table of a resource: its ``table`` or ``<source>__<resource>``."""
    return spec.table or f"{source}__{resource}"


class Extraction:
    """One extraction run of one source (all asyncio, one event loop); see ``execute``."""

    def __init__(
        self,
        source: str,
        d: ApiDefinition,
        lake: Lake,
        state: SourceState,
        full_refresh: bool,
        progress: Progress | None,
    ) -> None:
        self.source = source
        self.d = d
        self.lake = lake
        self.state = state
        self.full_refresh = full_refresh
        self.progress = progress
        self.run_id = new_run_id()
        self._seq = itertools.count(1)
        self.children: dict[str, list[str]] = {}
        for rname, spec in d.resources.items():
            if spec.parent is not None:
                self.children.setdefault(spec.parent.resource, []).append(rname)
        self.results: dict[str, ResourceResult] = {}
        self.sinks: dict[str, ResourceSink] = {}
        self.done_units: dict[str, set[str]] = {}
        self.start_cursor: dict[str, Any] = {}
        self.fetcher: Fetcher | None = None
        self.result = ApiRunResult(source, self.run_id, full_refresh, [])

    def _next_seq(self) -> int:
        return next(self._seq)

    def _prepare(self, rname: str) -> None:
        spec = self.d.resources[rname]
        rs = self.state.of(rname)
        gen = rs.generation + 1 if self.full_refresh else rs.generation
        if spec.incremental is None:
            start = None
        elif self.full_refresh or rs.cursor is None:
            start = spec.incremental.start
        else:
            start = rs.cursor
        self.start_cursor[rname] = start
        sink = ResourceSink(
            lake=self.lake,
            source=self.source,
            resource=rname,
            run_id=self.run_id,
            generation=gen,
            start_cursor=start,
            known_schema=rs.schema,
            chunk_rows=self.d.chunk_rows,
            chunk_seconds=self.d.chunk_seconds,
            next_seq=self._next_seq,
        )
        self.sinks[rname] = sink
        self.done_units[rname] = set(rs.done_units(gen, sink.start_cursor))
        res = ResourceResult(
            rname,
            table_name(self.source, rname, spec),
            generation=gen,
            cursor_before=rs.cursor,
        )
        self.results[rname] = res
        self.result.resources.append(res)

    async def execute(self, only: list[str] | None) -> None:
        wanted = set(only or self.d.resources)
        unknown = wanted - set(self.d.resources)
        if unknown:
            raise ConfigError(f"unknown resource(s) {sorted(unknown)} in source {self.source!r}")
        # A resource runs with its whole parent/child group: a child needs its parents, and
        # a parent whose cursor advanced without its children would never give them again.
        selected = {self.d.root_of(r) for r in wanted}
        wanted = {r for r in self.d.resources if self.d.root_of(r) in selected}
        for rname in self.d.ordered():
            if rname in wanted:
                self._prepare(rname)
        roots = [r for r in self.d.ordered() if r in wanted and self.d.resources[r].parent is None]
        async with Fetcher(self.d) as fetcher:
            self.fetcher = fetcher
            await asyncio.gather(*(self._run_group(root, wanted) for root in roots))
            self.result.requests = fetcher.requests
            self.result.retries = fetcher.retries

    def _group(self, root: str, wanted: set[str]) -> list[str]:
        out, todo = [], [root]
        while todo:
            r = todo.pop()
            out.append(r)
            todo.extend(c for c in self.children.get(r, []) if c in wanted)
        return out

    async def _run_group(self, root: str, wanted: set[str]) -> None:
        members = self._group(root, wanted)
        error: BaseException | None = None
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._fetch_unit(tg, root, None, wanted))
        except BaseExceptionGroup as eg:
            error = _first_leaf(eg)
            if not isinstance(error, Exception):
                raise
            if not isinstance(error, EventlakeError):  # a bug: report it, keep the trace
                log.error("source %s: group %s crashed", self.source, root, exc_info=error)
        # Whatever was fetched is committed (a resumed run skips it); the state only if
        # every resource of the group finished.
        for r in members:
            await self.sinks[r].flush()
            self.results[r].records = self.sinks[r].records
            self.results[r].files = self.sinks[r].files
            self.results[r].drift = list(self.sinks[r].drift)
        if error is not None:
            failed = getattr(error, "_eventlake_resource", root)
            for r in members:
                self.results[r].status = "failed"
                self.results[r].error = (
                    str(error) if r == failed else f"not committed: resource {failed!r} failed"
                )
            log.error("source %s: resource %s failed: %s", self.source, failed, error)
            return
        states: dict[str, Any] = {}
        for r in members:
            sink, res = self.sinks[r], self.results[r]
            cursor = self.start_cursor[r]
            if sink.cursor_max is not None:
                cursor = _max(cursor, sink.cursor_max)
            states[r] = {"cursor": cursor, "generation": sink.generation, "schema": sink.schema}
            res.cursor_after = cursor
            res.status = "ok"
        meta = {"kind": "state", "run_id": self.run_id, "states": states}
        commit_id = f"{self.run_id}-{self._next_seq():06d}"
        await asyncio.to_thread(
            self.lake.commit,
            stream_name(self.source),
            commit_id,
            [],
            json.loads(json.dumps(meta, default=str)),
        )

    def _report(self) -> None:
        if self.progress is not None and self.fetcher is not None:
            self.progress(self.fetcher.requests, sum(s.records for s in self.sinks.values()))

    async def _fetch_unit(
        self,
        tg: asyncio.TaskGroup,
        rname: str,
        parent: dict[str, Any] | None,
        wanted: set[str],
    ) -> None:
        try:
            await self._fetch_unit_inner(tg, rname, parent, wanted)
        except EventlakeError as exc:
            if not hasattr(exc, "_eventlake_resource"):
                exc._eventlake_resource = rname  # type: ignore[attr-defined]
                exc.args = (f"resource {rname!r}: {exc}",)
            raise

    async def _fetch_unit_inner(
        self,
        tg: asyncio.TaskGroup,
        rname: str,
        parent: dict[str, Any] | None,
        wanted: set[str],
    ) -> None:
        assert self.fetcher is not None
        spec = self.d.resources[rname]
        params = dict(spec.params)
        path = spec.path
        unit: str | None = None
        if parent is not None and spec.parent is not None:
            values = {k: dotted(parent, f) for k, f in spec.parent.fields.items()}
            unit = json.dumps([values[k] for k in sorted(values)], default=str)
            if unit in self.done_units[rname]:
                self.results[rname].units_skipped += 1
                return
            for k, v in values.items():
                if "{" + k + "}" in path:
                    path = path.replace("{" + k + "}", str(v))
                else:
                    params[k] = v
        start = self.start_cursor[rname]
        if spec.incremental is not None and spec.incremental.param and start is not None:
            params[spec.incremental.param] = start
        req = first_request(spec.pagination, self.fetcher.url(path), params)
        resp = await self.fetcher.get(req.url, req.params)
        recs = records_of(resp.body, spec.record_path, resp.url)
        await self._take(tg, rname, recs, parent, wanted)
        pages = 1
        rest = remaining_requests(spec.pagination, req, resp.body, len(recs)) if recs else None
        if rest is not None:

            async def one(r: Any) -> None:
                assert self.fetcher is not None
                got = await self.fetcher.get(r.url, r.params)
                await self._take(
                    tg, rname, records_of(got.body, spec.record_path, got.url), parent, wanted
                )

            try:
                async with asyncio.TaskGroup() as pages_tg:
                    for r in rest:
                        pages_tg.create_task(one(r))
            except BaseExceptionGroup as eg:
                raise _first_leaf(eg) from None
            pages += len(rest)
        else:
            nxt = next_request(spec.pagination, req, resp.body, resp.headers, len(recs))
            seen = {_page_key(req)}
            while nxt is not None and (
                spec.pagination.max_pages is None or pages < spec.pagination.max_pages
            ):
                if _page_key(nxt) in seen:
                    raise SourceError(
                        f"pagination does not advance: {nxt.url} {nxt.params} was already "
                        "fetched; check the pagination settings of the definition"
                    )
                seen.add(_page_key(nxt))
                resp = await self.fetcher.get(nxt.url, nxt.params)
                recs = records_of(resp.body, spec.record_path, resp.url)
                await self._take(tg, rname, recs, parent, wanted)
                pages += 1
                nxt = next_request(spec.pagination, nxt, resp.body, resp.headers, len(recs))
        self.results[rname].pages += pages
        if unit is not None:
            self.sinks[rname].unit_done(unit)
        self._report()

    async def _take(
        self,
        tg: asyncio.TaskGroup,
        rname: str,
        recs: list[dict[str, Any]],
        parent: dict[str, Any] | None,
        wanted: set[str],
    ) -> None:
        spec = self.d.resources[rname]
        sink = self.sinks[rname]
        inc = spec.incremental
        if inc is not None:
            start = self.start_cursor[rname]
            kept = []
            for rec in recs:
                value = dotted(rec, inc.cursor_field)
                if inc.param is None and start is not None and not _at_or_after(value, start):
                    continue
                sink.see_cursor(value)
                kept.append(rec)
            recs = kept
        rows = []
        include = spec.parent.include if spec.parent is not None and parent else []
        for rec in recs:
            row = flatten_record(rec, spec.nested)
            for f in include:
                row[f"parent__{column_name(f)}"] = dotted(parent, f)
            rows.append(row)
        for child in self.children.get(rname, []):
            if child in wanted:
                for rec in recs:
                    tg.create_task(self._fetch_unit(tg, child, rec, wanted))
        await sink.add(rows)


def _page_key(req: PageRequest) -> str:
    return json.dumps([req.url, req.params], sort_keys=True, default=str)


def _first_leaf(eg: BaseException) -> BaseException:
    while isinstance(eg, BaseExceptionGroup):
        eg = eg.exceptions[0]
    return eg


def _at_or_after(value: Any, start: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value >= start)
    except TypeError:
        return str(value) >= str(start)


def _max(a: Any, b: Any) -> Any:
    if a is None:
        return b
    try:
        return b if b > a else a
    except TypeError:
        return b if str(b) > str(a) else a
