"""The two encodings of a bus record value, and the helpers every producer and reader uses.

A record on topic ``events`` (or ``quarantine``) is either

- **JSON**: one UTF-8 JSON object, one event, keys = the lake's input columns (the lake
  schema minus ``bus_partition``/``bus_offset``); it starts with ``{`` (or whitespace); or
- **Arrow**: one Arrow IPC *stream* (schema message, one or more record batches,
  end-of-stream marker) holding MANY events as columns with the same names; timestamps
  ``timestamp[us, UTC]``, nested envelope fields as JSON text; its buffers may be LZ4- or
  Zstandard-compressed (IPC body compression, which readers undo transparently). An IPC
  stream starts with the continuation marker ``0xFFFFFFFF``, which no JSON text can, so a
  reader tells the two apart by the first bytes of each record (:func:`is_arrow`).

Both may be mixed on one partition. Offsets count records, not events: every row of an
Arrow record lands with that record's offset in ``bus_offset``, and rows keep their order.

    value = encode_arrow_batch({"message_id": [...], "type": [...], ...})   # producer
    table = decode_arrow_record(value)          # reader: input-schema table, zero-copy
    n = record_rows(value)                      # events in a record (1 for JSON)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from eventlake.errors import BusError
from eventlake.lake import EVENT_SCHEMA, QUARANTINE_SCHEMA

__all__ = [
    "ARROW_COMPRESSIONS",
    "ARROW_MARKER",
    "EVENT_INPUT_SCHEMA",
    "QUARANTINE_INPUT_SCHEMA",
    "REQUEST_MARKER",
    "RecordFormatError",
    "decode_arrow_record",
    "encode_arrow_batch",
    "input_schema",
    "is_arrow",
    "is_request_record",
    "record_events",
    "record_rows",
]

#: First four bytes of an Arrow IPC stream (the continuation marker of its first message).
ARROW_MARKER = b"\xff\xff\xff\xff"
#: First four bytes of a collector request record (``bus/request_records.py``).
REQUEST_MARKER = b"\xfeELR"

#: Body compressions an Arrow record may use ("none": uncompressed). Readers need no flag:
#: the IPC reader decompresses transparently.
ARROW_COMPRESSIONS = ("zstd", "lz4", "none")

_WRITE_OPTIONS: dict[str | None, ipc.IpcWriteOptions] = {
    None: ipc.IpcWriteOptions(),
    "none": ipc.IpcWriteOptions(),
    "zstd": ipc.IpcWriteOptions(compression="zstd"),
    "lz4": ipc.IpcWriteOptions(compression="lz4"),
}

_BUS_COLUMNS = frozenset({"bus_partition", "bus_offset"})


def _without_bus_columns(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f for f in schema if f.name not in _BUS_COLUMNS])


#: Columns of an ``events`` record (the lake's columns minus where the lander read it).
EVENT_INPUT_SCHEMA = _without_bus_columns(EVENT_SCHEMA)
#: Columns of a ``quarantine`` record.
QUARANTINE_INPUT_SCHEMA = _without_bus_columns(QUARANTINE_SCHEMA)


class RecordFormatError(BusError):
    """A record claims to be Arrow but is not a readable IPC stream of the expected columns."""


def input_schema(topic: str) -> pa.Schema:
    """The record columns of ``topic`` (``quarantine`` or anything else = events)."""
    return QUARANTINE_INPUT_SCHEMA if topic == "quarantine" else EVENT_INPUT_SCHEMA


def is_arrow(value: bytes | memoryview) -> bool:
    """True when ``value`` is an Arrow IPC stream (else it is a JSON record)."""
    return bytes(value[:4]) == ARROW_MARKER


def encode_arrow_batch(
    data: pa.Table | pa.RecordBatch | Mapping[str, Sequence[Any] | pa.Array],
    schema: pa.Schema = EVENT_INPUT_SCHEMA,
    *,
    compression: str | None = None,
) -> bytes:
    """One bus record value holding every row of ``data`` as an Arrow IPC stream.

    Args:
        data: a table/record batch, or a mapping column name -> values (Python values or
            Arrow arrays). Columns of ``schema`` that are missing are written as nulls;
            others are ignored. Timestamps may be aware datetimes or any Arrow timestamp.
        schema: the record columns (``EVENT_INPUT_SCHEMA`` or ``QUARANTINE_INPUT_SCHEMA``).
        compression: IPC body compression of the column buffers, one of
            :data:`ARROW_COMPRESSIONS` (``None`` = "none"). Producers pass the
            ``bus.arrow_compression`` setting (default "lz4": generated events ~4x
            smaller, "zstd" ~7x); a large fsynced append waits for its bytes.

    Returns:
        The IPC stream bytes.

    Raises:
        RecordFormatError: a column cannot be converted to its schema type.
        ValueError: an unknown ``compression``.
    """
    options = _WRITE_OPTIONS.get(compression)
    if options is None:
        raise ValueError(
            f"Arrow record compression must be one of {', '.join(ARROW_COMPRESSIONS)}, "
            f"got {compression!r}"
        )
    if isinstance(data, pa.Table | pa.RecordBatch):
        n = data.num_rows
        names = set(data.schema.names)
        get = data.column
    else:
        n = len(next(iter(data.values()))) if data else 0
        names = set(data)
        get = data.__getitem__
    arrays: list[pa.Array] = []
    try:
        for f in schema:
            if f.name not in names:
                arrays.append(pa.nulls(n, f.type))
                continue
            col = get(f.name)
            if isinstance(col, pa.ChunkedArray):
                col = col.combine_chunks()
            arr = col if isinstance(col, pa.Array) else pa.array(col, f.type)
            arrays.append(arr if arr.type == f.type else arr.cast(f.type))
        batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise RecordFormatError(f"cannot encode an Arrow bus record: {exc}") from exc
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, schema, options=options) as writer:
        writer.write_batch(batch)
    out: bytes = sink.getvalue().to_pybytes()
    return out


def decode_arrow_record(value: bytes | memoryview | pa.Buffer, topic: str = "events") -> pa.Table:
    """The rows of one Arrow record as a table of ``input_schema(topic)``.

    Zero-copy where the buffers are aligned (the table references ``value``). Extra columns
    are ignored, missing nullable ones become nulls, timestamps are cast to ``us, UTC``.

    Raises:
        RecordFormatError: not an IPC stream, a required column missing or null, or a
            column of an incompatible type.
    """
    schema = input_schema(topic)
    buf = value if isinstance(value, pa.Buffer) else pa.py_buffer(value)
    try:
        table = ipc.open_stream(buf).read_all()
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise RecordFormatError(f"not an Arrow IPC stream: {str(exc).splitlines()[0]}") from exc
    if table.schema.equals(schema):
        columns = table.columns
    else:
        columns = []
        for f in schema:
            if f.name in table.schema.names:
                col = table.column(f.name)
                if col.type != f.type:
                    try:
                        col = col.cast(f.type)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                        raise RecordFormatError(
                            f"column {f.name!r} is {col.type}, expected {f.type}"
                        ) from exc
                columns.append(col)
            elif f.nullable:
                columns.append(pa.chunked_array([pa.nulls(table.num_rows, f.type)]))
            else:
                raise RecordFormatError(f"required column {f.name!r} is missing")
    for f, col in zip(schema, columns, strict=True):
        if not f.nullable and col.null_count:
            raise RecordFormatError(f"required column {f.name!r} is null")
    return pa.Table.from_arrays(columns, schema=schema)


def is_request_record(value: bytes | memoryview) -> bool:
    """Whether a bus record value is a collector request record (``bus/request_records.py``)."""
    return bytes(value[:4]) == REQUEST_MARKER


def record_rows(value: bytes | memoryview) -> int:
    """Events in one record: 1 for JSON, the row count of an Arrow record.

    Zero-copy: reads the record batch headers, never converts the column data.

    Raises:
        RecordFormatError: an Arrow record that is not a readable IPC stream.
    """
    if is_request_record(value):
        from eventlake.bus.request_records import request_record_rows

        return request_record_rows(value)
    if not is_arrow(value):
        return 1
    try:
        return sum(batch.num_rows for batch in ipc.open_stream(pa.py_buffer(value)))
    except (pa.ArrowInvalid, OSError) as exc:
        raise RecordFormatError(f"not an Arrow IPC stream: {str(exc).splitlines()[0]}") from exc


def record_events(value: bytes | memoryview, topic: str = "events") -> list[dict[str, Any]]:
    """The events of one record (either encoding) as dicts in the JSON record form.

    Timestamps become ISO-8601 UTC text with microseconds and ``Z``, as in a JSON record.
    For tools and tests; the lander reads records columnar instead.
    """
    if is_request_record(value):
        from eventlake.bus.request_records import expand_request_record

        return [json.loads(r) for r in expand_request_record(value).records]
    if not is_arrow(value):
        decoded = json.loads(bytes(value))
        if not isinstance(decoded, dict):
            raise RecordFormatError("a JSON record must be an object")
        return [decoded]
    table = decode_arrow_record(value, topic)
    columns = []
    for f, col in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(f.type):
            col = pc.strftime(col, format="%Y-%m-%dT%H:%M:%SZ")
        columns.append(col)
    rows: list[dict[str, Any]] = pa.Table.from_arrays(columns, names=table.schema.names).to_pylist()
    return rows
