"""Turning generated event rows into what leaves the generator.

Two paths with one source of truth (``catalog.properties`` and the world's per-player
strings):

- :func:`segment_event`: one row -> the raw Segment event dict a client would send (used
  for HTTP through the tracker SDK, ``.jsonl`` files, and every row the fast path does not
  take).
- :class:`BusEncoder`: rows -> bus records (docs/architecture.md "Record format") without a
  Python dict per event. Rows that pass the tracking plan are glued from pre-rendered
  byte pieces: a per-call prefix (type, names, traits, group or previous id), a
  fixed-width numpy block with the messageId and the four timestamps, two property pieces
  from tables, and a per-player suffix (context, ids, host, user agent, ip). Rows the plan
  rejects go through :func:`eventlake.spec.prepare_events` itself, so their quarantine
  outcome is the collector's by construction; a test checks that the fast records equal
  what ``prepare_events`` makes of the same raw events.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from eventlake.generate import catalog as C
from eventlake.generate.activity import EventFrame
from eventlake.generate.text import hex_bytes, iso_timestamps, take_rows
from eventlake.generate.verdicts import plan_verdicts
from eventlake.generate.world import GUILDS, World
from eventlake.spec import CompiledPlan, prepare_events

__all__ = ["BusEncoder", "EncodedChunk", "segment_event"]

_ENC = msgspec.json.encode
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def _utc(us: int) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(microseconds=int(us))


def _iso(us: int) -> str:
    return _utc(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _mid_text(raw: npt.NDArray[np.uint8]) -> str:
    h = bytes(raw).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def segment_event(
    world: World, frame: EventFrame, i: int, *, sent_at: bool = True
) -> dict[str, Any]:
    """Row ``i`` as the raw Segment event its client sends (camelCase envelope)."""
    head = int(frame.head[i])
    user = int(frame.user[i])
    etype, event, name = C.HEADS[head]
    out: dict[str, Any] = {
        "type": etype,
        "messageId": _mid_text(frame.mid[i]),
        "anonymousId": world.anonymous_ids[user],
    }
    if frame.ident[i]:
        out["userId"] = world.user_ids[user]
    if event is not None:
        out["event"] = event
    if name is not None:
        out["name"] = name
    props = C.properties(
        head, int(frame.pa[i]), int(frame.pb[i]), int(frame.x[i]), int(frame.bad[i])
    )
    if props is not None:
        out["properties"] = props
    if head == C.H_IDENTIFY:
        out["traits"] = world.traits[user]
    elif head == C.H_ALIAS:
        out["previousId"] = world.anonymous_ids[user]
    elif head == C.H_GROUP:
        gid, gname = GUILDS[int(frame.x[i])]
        out["groupId"] = gid
        out["traits"] = {"name": gname}
    out["context"] = world.contexts[user]
    out["originalTimestamp"] = _iso(int(frame.orig[i]))
    if sent_at:
        out["sentAt"] = _iso(int(frame.sent[i]))
    return out


# -- vectorised text -------------------------------------------------------------------


_FIXED_PARTS = [
    (b',"message_id":"', 36),
    (b'","timestamp":"', 27),
    (b'","original_timestamp":"', 27),
    (b'","sent_at":"', 27),
    (b'","received_at":"', 27),
    (b'"', 0),
]
_FIXED_WIDTH = sum(len(p) + w for p, w in _FIXED_PARTS)


def _fixed_template() -> tuple[npt.NDArray[np.uint8], list[int]]:
    """The literal bytes of the fixed block and the column where each value starts."""
    row = bytearray()
    starts = []
    for lit, width in _FIXED_PARTS:
        row += lit
        starts.append(len(row))
        row += b"00000000-0000-0000-0000-000000000000" if width == 36 else b"0" * width
    return np.frombuffer(bytes(row), np.uint8), starts[:5]


_TEMPLATE, _STARTS = _fixed_template()


def _fixed_block(frame: EventFrame, rows: npt.NDArray[np.int64]) -> list[bytes]:
    """The fixed-width middle of each fast record: messageId and the four timestamps.

    One (n, width) block: the literals broadcast once, then each value written in place.
    """
    n = len(rows)
    out = np.empty((n, _FIXED_WIDTH), np.uint8)
    out[:] = _TEMPLATE
    hexed = hex_bytes(take_rows(frame.mid, rows))
    c = _STARTS[0]
    for src, dst, w in ((0, 0, 8), (8, 9, 4), (12, 14, 4), (16, 19, 4), (20, 24, 12)):
        out[:, c + dst : c + dst + w] = hexed[:, src : src + w]
    recv = frame.recv[rows]
    sent = frame.sent[rows]
    orig = frame.orig[rows]
    for start, values in zip(_STARTS[1:], (recv - (sent - orig), orig, sent, recv), strict=True):
        iso_timestamps(values, out[:, start : start + 27])
    return out.view(f"S{_FIXED_WIDTH}").ravel().tolist()


def _escaped(text: bytes) -> bytes:
    """``text`` as the inside of a JSON string (what goes between the quotes)."""
    return _ENC(text.decode())[1:-1]


@dataclass(slots=True)
class EncodedChunk:
    """Bus records of one chunk of rows, per topic, in row order."""

    values: list[bytes]
    keys: list[bytes | None]
    quarantine_values: list[bytes]
    quarantine_keys: list[bytes | None]


class BusEncoder:
    """Encodes event rows of one world as bus records, as the collector would.

    ``source`` is the write key's source name stored with each record; ``plan`` the
    tracking plan the collector validates with (``None``: accept every well-formed event).
    The plan's verdict on every property code is computed once, up front.
    """

    def __init__(self, world: World, *, source: str, plan: CompiledPlan | None) -> None:
        self.world = world
        self.source = source
        self.plan = plan
        # Prefix pieces: one per head, then per player (identify traits, alias previous
        # id) and per guild (group id and traits).
        self._heads = [self._head_prefix(h) for h in range(len(C.HEADS))]
        self._ident0 = len(self._heads)
        self._heads += [self._head_prefix(C.H_IDENTIFY, traits=t) for t in world.traits]
        self._alias0 = len(self._heads)
        self._heads += [self._head_prefix(C.H_ALIAS, previous=a) for a in world.anonymous_ids]
        self._group0 = len(self._heads)
        self._heads += [
            self._head_prefix(C.H_GROUP, group=gid, traits={"name": gname}) for gid, gname in GUILDS
        ]
        self._p1: list[bytes] = []
        self._p2: list[bytes] = []
        #: The same property pieces as plain JSON text (None: the call has no properties).
        self.p1_text: list[str | None] = []
        self.p2_text: list[str] = []
        #: Per group prefix: (group id, traits JSON text), in guild order.
        self.group_traits = [(gid, _ENC({"name": gname}).decode()) for gid, gname in GUILDS]
        self._off1 = np.zeros(len(C.HEADS), np.int64)
        self._off2 = np.zeros(len(C.HEADS), np.int64)
        for h in range(len(C.HEADS)):
            self._off1[h] = len(self._p1)
            self._off2[h] = len(self._p2)
            if h in C.NO_PROPERTIES:
                self._p1.append(b',"properties":null')
                self._p2.append(b"")
                self.p1_text.append(None)
                self.p2_text.append("")
                continue
            na, nb = C.pa_domain(h), C.pb_domain(h)
            for a in range(na):
                first, _ = C.split_properties(h, a, 0)
                text = _ENC(first)[:-1] if first else b"{"
                self._p1.append(b',"properties":"' + _escaped(text))
                self.p1_text.append(text.decode())
            for b in range(nb):
                first, second = C.split_properties(h, 0, b)
                if not second:
                    text = b"}"
                else:
                    text = (b"," if first else b"") + _ENC(second)[1:]
                self._p2.append(_escaped(text) + b'"')
                self.p2_text.append(text.decode())
        # plan verdict per property piece: 1 valid, 0 breaks the plan, -1 let
        # prepare_events decide (generate/verdicts.py)
        self._ok_p1, self._ok_p2 = plan_verdicts(
            plan, self._off1, self._off2, len(self._p1), len(self._p2)
        )
        src = _ENC(source)
        self._suffix: list[bytes] = []
        self._keys: list[bytes] = []
        for u in range(world.size):
            ctx = _ENC(_ENC(world.contexts[u]).decode())
            tail = (
                b',"context":'
                + ctx
                + b',"source":'
                + src
                + b',"host":'
                + _ENC(world.hosts[u])
                + b',"user_agent":'
                + _ENC(world.user_agents[u])
                + b',"ip":'
                + _ENC(world.ips[u])
                + b',"anonymous_id":'
                + _ENC(world.anonymous_ids[u])
            )
            self._suffix.append(tail + b',"user_id":null}')
            self._suffix.append(tail + b',"user_id":' + _ENC(world.user_ids[u]) + b"}")
            self._keys.append(world.anonymous_ids[u].encode())
            self._keys.append(world.user_ids[u].encode())
        self.p1_offsets = self._off1
        self.p2_offsets = self._off2

    def context_text(self, user: int) -> str:
        """The player's ``context`` JSON text, as the collector stores it."""
        return _ENC(self.world.contexts[user]).decode()

    def traits_text(self, user: int) -> str:
        """The player's sign-up ``traits`` JSON text."""
        return _ENC(self.world.traits[user]).decode()

    def key_bytes(self, key_index: int) -> bytes:
        """The bus key of key index ``user * 2 + identified``."""
        return self._keys[key_index]

    @staticmethod
    def _head_prefix(
        head: int,
        *,
        traits: dict[str, object] | None = None,
        previous: str | None = None,
        group: str | None = None,
    ) -> bytes:
        etype, event, name = C.HEADS[head]
        traits_text = None if traits is None else _ENC(traits).decode()
        return (
            b'{"type":'
            + _ENC(etype)
            + b',"event":'
            + _ENC(event)
            + b',"name":'
            + _ENC(name)
            + b',"group_id":'
            + _ENC(group)
            + b',"previous_id":'
            + _ENC(previous)
            + b',"traits":'
            + _ENC(traits_text)
            + b',"integrations":null'
        )

    def prefix_index(self, frame: EventFrame, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        head = frame.head[rows]
        out = head.copy()
        sel = head == C.H_IDENTIFY
        out[sel] = self._ident0 + frame.user[rows[sel]]
        sel = head == C.H_ALIAS
        out[sel] = self._alias0 + frame.user[rows[sel]]
        sel = head == C.H_GROUP
        out[sel] = self._group0 + frame.x[rows[sel]]
        return out

    def _plan_ok(self, frame: EventFrame, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Whether each fast row surely passes the plan (table lookups, no call per row)."""
        if self.plan is None:
            return np.ones(len(rows), dtype=bool)
        head = frame.head[rows]
        ok: npt.NDArray[np.bool_] = (self._ok_p1[self._off1[head] + frame.pa[rows]] == 1) & (
            self._ok_p2[self._off2[head] + frame.pb[rows]] == 1
        )
        return ok

    def encode(self, frame: EventFrame, rows: npt.NDArray[np.int64] | None = None) -> EncodedChunk:
        """Bus records for ``rows`` of ``frame`` (all rows when None), in row order."""
        if rows is None:
            rows = np.arange(len(frame), dtype=np.int64)
        fast = self.fast_mask(frame, rows)
        fast_rows = rows[fast]
        key_idx = (frame.user[rows] * 2 + frame.ident[rows]).tolist()
        keys: list[bytes | None] = [self._keys[k] for k in key_idx]
        values: list[bytes] = []
        if len(fast_rows):
            fh = frame.head[fast_rows]
            gpa = (self._off1[fh] + frame.pa[fast_rows]).tolist()
            gpb = (self._off2[fh] + frame.pb[fast_rows]).tolist()
            pre = self.prefix_index(frame, fast_rows).tolist()
            suf = (frame.user[fast_rows] * 2 + frame.ident[fast_rows]).tolist()
            heads, p1, p2, sx = self._heads, self._p1, self._p2, self._suffix
            fixed = _fixed_block(frame, fast_rows)
            join = b"".join
            values = [
                join((heads[h], f, p1[a], p2[b], sx[s]))
                for h, f, a, b, s in zip(pre, fixed, gpa, gpb, suf, strict=True)
            ]
        slow = np.flatnonzero(~fast).tolist()
        if not slow:
            return EncodedChunk(values, keys, [], [])
        # Splice the few slow rows in at their positions (list slices copy in C).
        q_values: list[bytes] = []
        q_keys: list[bytes | None] = []
        out_v: list[bytes] = []
        out_k: list[bytes | None] = []
        done = 0  # fast records consumed
        prev = 0  # row position after the previous slow row
        for pos in slow:
            take = pos - prev
            out_v.extend(values[done : done + take])
            out_k.extend(keys[prev:pos])
            done += take
            prev = pos + 1
            batch = self.prepare(frame, int(rows[pos]))
            if batch.records:
                out_v.append(batch.records[0])
                out_k.append(batch.record_keys[0])
            else:
                q_values.extend(batch.quarantine_records)
                q_keys.extend(batch.quarantine_keys)
        out_v.extend(values[done:])
        out_k.extend(keys[prev:])
        values, keys = out_v, out_k
        return EncodedChunk(values, keys, q_values, q_keys)

    def fast_mask(self, frame: EventFrame, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Rows the table path may encode: not plan-breaking by construction or by the plan."""
        fast: npt.NDArray[np.bool_] = frame.bad[rows] == 0
        fast_idx = np.flatnonzero(fast)
        fast_ok = self._plan_ok(frame, rows[fast_idx])
        fast[fast_idx[~fast_ok]] = False
        return fast

    def encode_slow(self, frame: EventFrame, rows: npt.NDArray[np.int64]) -> EncodedChunk:
        """``rows`` one by one through ``prepare_events`` (events or quarantine records)."""
        out = EncodedChunk([], [], [], [])
        for i in rows.tolist():
            batch = self.prepare(frame, int(i))
            out.values.extend(batch.records)
            out.keys.extend(batch.record_keys)
            out.quarantine_values.extend(batch.quarantine_records)
            out.quarantine_keys.extend(batch.quarantine_keys)
        return out

    def prepare(self, frame: EventFrame, i: int) -> Any:
        """Row ``i`` through :func:`eventlake.spec.prepare_events`, as the collector would."""
        user = int(frame.user[i])
        return prepare_events(
            [segment_event(self.world, frame, i)],
            received_at=_utc(int(frame.recv[i])),
            source=self.source,
            host=self.world.hosts[user],
            user_agent=self.world.user_agents[user],
            ip=self.world.ips[user],
            plan=self.plan,
        )
