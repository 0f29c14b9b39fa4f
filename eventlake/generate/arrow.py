"""The generator's columnar bus path: many events per bus record, as Arrow IPC streams.

The bus accepts two record encodings (``eventlake/bus/records.py``): one JSON event per
record, or one Arrow IPC stream holding many events as columns. For bulk generation the
second is the natural fit: the world already *is* columns, so a chunk of rows becomes one
record per bus partition with no text per event at all: ids and dimensions are ``take``s
from per-player and per-head Arrow tables, timestamps are the int64 microseconds as they
are, and only ``properties`` is joined from two pre-rendered pieces.

Rows are grouped by the partition their key (``user_id`` or else ``anonymous_id``) hashes
to, exactly as the local bus would place their JSON records, and each group's record is
appended with one of its own keys, so a player's events still share one partition and
keep their order. Rows the tracking plan rejects go through ``prepare_events`` as in the
JSON path (``BusEncoder.encode``); a test checks both paths give the same events.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from concurrent.futures import Executor, Future
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from eventlake.arrow_memory import system_memory_pool
from eventlake.bus.records import encode_arrow_batch
from eventlake.generate import catalog as C
from eventlake.generate.activity import EventFrame
from eventlake.generate.encode import BusEncoder, EncodedChunk
from eventlake.generate.text import hex_bytes, take_rows

__all__ = ["ArrowEncoder", "system_memory_pool"]

_TS = pa.timestamp("us", tz="UTC")


def _strings(values: Sequence[str | None]) -> pa.Array:
    return pa.array(values, pa.string())


class ArrowEncoder:
    """Encodes rows as Arrow bus records, one per bus partition, beside a :class:`BusEncoder`.

    ``partitions`` is the partition count of topic ``events`` (the local bus's CRC-32 of
    the key modulo it decides where a record goes); ``compression`` the IPC body
    compression of each record (``bus.arrow_compression``; ``None``: uncompressed).
    """

    def __init__(
        self, encoder: BusEncoder, partitions: int, *, compression: str | None = None
    ) -> None:
        self.encoder = encoder
        self.partitions = partitions
        self.compression = compression
        world = encoder.world
        n = world.size
        key_texts = [
            k for pair in zip(world.anonymous_ids, world.user_ids, strict=True) for k in pair
        ]
        self._key_part = np.array(
            [zlib.crc32(k.encode()) % partitions for k in key_texts], dtype=np.int64
        )
        self._user_id = _strings(
            [None if i % 2 == 0 else world.user_ids[i // 2] for i in range(2 * n)]
        )
        self._anonymous_id = _strings(world.anonymous_ids)
        self._context = _strings([encoder.context_text(u) for u in range(n)])
        self._host = _strings(world.hosts)
        self._agent = _strings(world.user_agents)
        self._ip = _strings(world.ips)
        self._source = _strings([encoder.source])
        # per prefix index (heads, identify per player, alias per player, group per guild)
        heads = [C.HEADS[h] for h in range(len(C.HEADS))]
        prefix_heads = (
            heads
            + [C.HEADS[C.H_IDENTIFY]] * n
            + [C.HEADS[C.H_ALIAS]] * n
            + [C.HEADS[C.H_GROUP]] * len(encoder.group_traits)
        )
        self._type = _strings([h[0] for h in prefix_heads])
        self._event = _strings([h[1] for h in prefix_heads])
        self._name = _strings([h[2] for h in prefix_heads])
        self._group_id = _strings(
            [None] * (len(heads) + 2 * n) + [g for g, _ in encoder.group_traits]
        )
        self._previous_id = _strings(
            [None] * (len(heads) + n) + world.anonymous_ids + [None] * len(encoder.group_traits)
        )
        self._traits = _strings(
            [None] * len(heads)
            + [encoder.traits_text(u) for u in range(n)]
            + [None] * n
            + [t for _, t in encoder.group_traits]
        )
        self._p1 = _strings(encoder.p1_text)
        self._p2 = _strings(encoder.p2_text)

    def encode(
        self,
        frame: EventFrame,
        rows: npt.NDArray[np.int64],
        executor: Executor | None = None,
    ) -> EncodedChunk:
        """Arrow records (one per partition present) for the fast rows, JSON for the rest.

        With an ``executor``, the partitions' records are built on its threads (Arrow's
        takes and compression and numpy release the GIL) while this thread encodes the
        rows for ``prepare_events``; the result is the same, in the same order.
        """
        enc = self.encoder
        fast = enc.fast_mask(frame, rows)
        fast_rows = rows[fast]
        keys: list[bytes | None] = []
        jobs: list[Future[bytes] | bytes] = []
        if len(fast_rows):
            key_idx = frame.user[fast_rows] * 2 + frame.ident[fast_rows]
            part = self._key_part[key_idx]
            for p in np.unique(part).tolist():
                sel = np.flatnonzero(part == p)
                if executor is None:
                    jobs.append(self._record(frame, fast_rows[sel]))
                else:
                    jobs.append(executor.submit(self._record, frame, fast_rows[sel]))
                keys.append(enc.key_bytes(int(key_idx[sel[0]])))
        slow = enc.encode_slow(frame, rows[~fast])
        values = [j if isinstance(j, bytes) else j.result() for j in jobs]
        return EncodedChunk(
            values + slow.values, keys + slow.keys, slow.quarantine_values, slow.quarantine_keys
        )

    def _record(self, frame: EventFrame, rows: npt.NDArray[np.int64]) -> bytes:
        enc = self.encoder
        n = len(rows)
        user = frame.user[rows]
        head = frame.head[rows]
        pre = pa.array(enc.prefix_index(frame, rows))
        mid = hex_bytes(take_rows(frame.mid, rows))
        uuid = np.empty((n, 36), np.uint8)
        uuid[:] = np.frombuffer(b"00000000-0000-0000-0000-000000000000", np.uint8)
        for src, dst, w in ((0, 0, 8), (8, 9, 4), (12, 14, 4), (16, 19, 4), (20, 24, 12)):
            uuid[:, dst : dst + w] = mid[:, src : src + w]
        offsets = np.arange(0, 36 * n + 1, 36, dtype=np.int32)
        message_id = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(uuid))
        recv, sent, orig = frame.recv[rows], frame.sent[rows], frame.orig[rows]
        users = pa.array(user)
        gpa = pa.array(enc.p1_offsets[head] + frame.pa[rows])
        gpb = pa.array(enc.p2_offsets[head] + frame.pb[rows])
        properties = pc.binary_join_element_wise(self._p1.take(gpa), self._p2.take(gpb), "")
        columns: dict[str, Any] = {
            "message_id": message_id,
            "type": self._type.take(pre),
            "event": self._event.take(pre),
            "name": self._name.take(pre),
            "user_id": self._user_id.take(pa.array(user * 2 + frame.ident[rows])),
            "anonymous_id": self._anonymous_id.take(users),
            "group_id": self._group_id.take(pre),
            "previous_id": self._previous_id.take(pre),
            "timestamp": pa.array(recv - (sent - orig), _TS),
            "original_timestamp": pa.array(orig, _TS),
            "sent_at": pa.array(sent, _TS),
            "received_at": pa.array(recv, _TS),
            "properties": properties,
            "traits": self._traits.take(pre),
            "context": self._context.take(users),
            "source": self._source.take(pa.array(np.zeros(n, np.int64))),
            "host": self._host.take(users),
            "user_agent": self._agent.take(users),
            "ip": self._ip.take(users),
        }
        return encode_arrow_batch(columns, compression=self.compression)
