"""Streamed, deterministic serialisation: JSON Lines, a JSON array, Parquet.

Each writer takes an iterable of rows and a binary file object, writes as it goes (memory stays
flat whatever the number of rows), hashes exactly the bytes it writes, and returns
``WriteStats(rows, sha256, bytes)``.

Determinism: JSON is ``sort_keys``, ``ensure_ascii=False``, compact separators, ``"\\n"`` line
ends, UTF-8, nothing time-dependent. Parquet uses one fixed schema per shape and fixed writer
options; its footer names the pyarrow version that wrote it, so byte-identity holds for the same
code and library versions (the manifest records the code version).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

import orjson

if TYPE_CHECKING:
    import pyarrow as pa

FLUSH_BYTES = 1 << 20  # JSON writers hand the file object chunks of about this size
PARQUET_ROW_GROUP_SIZE = 5_000

# Every option that changes the bytes is spelled out, so a pyarrow default changing between
# releases cannot silently change the output.
PARQUET_OPTIONS: dict[str, Any] = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
    "write_page_index": False,
    "write_page_checksum": False,
    "store_schema": True,
    "use_compliant_nested_type": True,
}

# JSON lets these stay raw inside strings, but Unicode-aware line splitters (Python's
# str.splitlines, some editors and log tools) break a JSONL row on them. Escaping them changes the
# file's bytes only: every value decodes to exactly the text that was imported.
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_LINE_BREAK_BYTES = [(char.encode(), escape.encode()) for char, escape in _LINE_BREAKS.items()]


class WriteStats(NamedTuple):
    rows: int
    sha256: str
    bytes: int


class EncodedLines(NamedTuple):
    """``rows`` rows already encoded as ``encode_json`` encodes them (or their exact equal),
    each followed by ``"\\n"``, in one bytes object: the JSON writers take it whole."""

    data: bytes
    rows: int


class HashingWriter(io.RawIOBase):
    """A write-only file that passes bytes to ``fileobj``, hashing and counting them on the way.

    Closing it leaves ``fileobj`` open: the caller owns the file.
    """

    def __init__(self, fileobj: BinaryIO) -> None:
        super().__init__()
        self._fileobj = fileobj
        self._sha256 = hashlib.sha256()
        self._aborted = False
        self.bytes_written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        size = view.nbytes
        if self._aborted:
            return size
        self._sha256.update(view)
        self._fileobj.write(view)
        self.bytes_written += size
        return size

    def tell(self) -> int:
        return self.bytes_written

    def flush(self) -> None:
        # IOBase.__del__ closes (so flushes) this wrapper when it is collected, which after a
        # failed write can be after the caller closed ``fileobj``: then there is nothing to do.
        if not self._aborted and not self.closed and not getattr(self._fileobj, "closed", False):
            self._fileobj.flush()

    def abort(self) -> None:
        """Drop whatever is written from now on (a writer failing half way must not finish a
        file that looks complete)."""
        self._aborted = True

    def hexdigest(self) -> str:
        return self._sha256.hexdigest()


def encode_json(row: Mapping[str, Any]) -> bytes:
    """One row as canonical UTF-8 JSON, without a line end.

    orjson (about five times faster, the export's hot path) writes the same bytes as
    ``json.dumps(sort_keys=True, ensure_ascii=False, separators=(",", ":"))`` for the values rows
    hold (strings, lists, objects with string keys, booleans, integers); anything it refuses
    (an integer beyond 64 bits, a key that is not a string) goes through the stdlib.
    """
    try:
        data = orjson.dumps(row, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        data = json.dumps(
            row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
    if not data.isascii():  # the line breaks to escape are all non-ASCII
        for char, escape in _LINE_BREAK_BYTES:
            if char in data:
                data = data.replace(char, escape)
    return data


class _ChunkedSink:
    """Gathers small writes into chunks of about ``FLUSH_BYTES`` before they reach the file."""

    def __init__(self, sink: HashingWriter) -> None:
        self._sink = sink
        self._parts: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if len(data) >= FLUSH_BYTES // 4:  # large enough on its own: no copy into a chunk
            self.flush()
            self._sink.write(data)
            return
        self._parts.append(data)
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            self._sink.write(b"".join(self._parts))
            self._parts.clear()
            self._size = 0


def write_jsonl(
    rows: Iterable[Mapping[str, Any] | bytes | EncodedLines], fileobj: BinaryIO
) -> WriteStats:
    """One JSON object per line, each line ending in ``"\\n"``; no rows give an empty file.
    A row given as bytes is one already encoded by ``encode_json`` (or its exact equal);
    EncodedLines are many such rows, written as they are."""
    sink = HashingWriter(fileobj)
    out = _ChunkedSink(sink)
    count = 0
    for row in rows:
        kind = type(row)
        if kind is EncodedLines:
            out.write(row.data)
            count += row.rows
            continue
        out.write((row if kind is bytes else encode_json(row)) + b"\n")
        count += 1
    out.flush()
    sink.flush()
    return WriteStats(count, sink.hexdigest(), sink.bytes_written)


def _one_by_one(rows: Iterable[Any]) -> Iterator[Any]:
    for row in rows:
        if type(row) is EncodedLines:
            yield from row.data.split(b"\n")[:-1]
        else:
            yield row


def write_json_array(
    rows: Iterable[Mapping[str, Any] | bytes | EncodedLines], fileobj: BinaryIO
) -> WriteStats:
    """A JSON array, one row per line: ``[\\n`` row ``,\\n`` row ``\\n]\\n``; no rows give
    ``[]\\n``."""
    sink = HashingWriter(fileobj)
    out = _ChunkedSink(sink)
    count = 0
    for row in _one_by_one(rows):
        out.write(
            (b"[\n" if count == 0 else b",\n") + (row if type(row) is bytes else encode_json(row))
        )
        count += 1
    out.write(b"\n]\n" if count else b"[]\n")
    out.flush()
    sink.flush()
    return WriteStats(count, sink.hexdigest(), sink.bytes_written)


def write_parquet(
    rows: Iterable[Mapping[str, Any]],
    fileobj: BinaryIO,
    *,
    schema: pa.Schema,
    row_group_size: int = PARQUET_ROW_GROUP_SIZE,
) -> WriteStats:
    """A Parquet file of ``schema``, one row group per ``row_group_size`` rows, buffered so that
    only one row group is in memory at a time; no rows give a file with the schema and 0 rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if row_group_size < 1:
        raise ValueError("row_group_size must be at least 1")
    sink = HashingWriter(fileobj)
    writer = pq.ParquetWriter(sink, schema, **PARQUET_OPTIONS)
    count = 0
    batch: list[Mapping[str, Any]] = []
    try:
        for row in rows:
            batch.append(row)
            if len(batch) == row_group_size:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema), row_group_size)
                count += len(batch)
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema), row_group_size)
            count += len(batch)
    except BaseException:
        sink.abort()
        writer.close()
        raise
    writer.close()
    sink.flush()
    return WriteStats(count, sink.hexdigest(), sink.bytes_written)
