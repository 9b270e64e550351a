"""Read queries over long key lists, and streamed reads, for the bulk paths (import, export,
agreement reports)."""

import json
from collections.abc import Callable, Iterator, Sequence, Sized
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

from django.db import connection, transaction


def member_of(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """`column IN values` as SQL and its parameters, with the whole list as one parameter."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    sql = f"{column} IN (SELECT value FROM json_each(%s))"  # noqa: S608 (a column name of ours)
    return sql, [json.dumps(list(values))]


def fetch_all(sql: str, params: Sequence[Any]) -> list[tuple]:
    """Run a read query in the current transaction. On PostgreSQL the parameters are bound
    server-side (Django binds client-side), so a list of 10,000 keys is sent as one binary
    array instead of being quoted into the SQL text."""
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        import psycopg

        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


STREAM_CHUNK = 5_000  # rows per round trip of a streamed read


def stream_rows(
    sql: str, params: Sequence[Any], *, chunk: int = STREAM_CHUNK, prefetch: bool = False
) -> Iterator[tuple]:
    """The rows of a read query as plain tuples, ``chunk`` at a time, without Django's row
    iterator (no converters: every column must be a plain value).

    On PostgreSQL through a server-side (named) cursor, so memory stays flat whatever the
    number of rows: inside a transaction the rows come as the query produces them; outside
    one, Django declares the cursor WITH HOLD, which makes the server compute the whole result
    first, so a long read opens a transaction around it (``snapshot``). ``prefetch``: the next
    chunk is fetched while the caller works through this one (``_prefetched``)."""
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            if not prefetch:
                while rows := cursor.fetchmany(chunk):
                    yield from rows
                return
            yield from _prefetched(cursor.cursor, chunk)
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk):
            yield from rows


def _prefetched(cursor: Any, chunk: int) -> Iterator[tuple]:
    """The cursor's rows, fetched ``chunk`` at a time ahead of the caller (``read_ahead``)."""
    for rows in read_ahead(partial(cursor.fetchmany, chunk)):
        yield from rows


def read_ahead[T: Sized](read: Callable[[], T]) -> Iterator[T]:
    """``read()``'s results up to the first empty one, the next read by a helper thread while
    the caller works through this one, so the server's work (or psycopg's loop over its
    messages) and the caller's overlap. The caller must not use the connection meanwhile: a
    psycopg connection is safe to share between threads one statement at a time."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as helper:
        upcoming = helper.submit(read)
        try:
            while result := upcoming.result():
                upcoming = helper.submit(read)
                yield result
        finally:
            # Stopped early: let a read in flight finish before the cursor or COPY is closed.
            upcoming.cancel() or upcoming.exception()


@contextmanager
def snapshot() -> Iterator[bool]:
    """On PostgreSQL, read everything from one snapshot (a read-only REPEATABLE READ
    transaction): the values listed first and the rows streamed after agree, and a streamed
    read (``stream_rows``) gets its rows as the query produces them. Yields whether it opened
    that transaction: writes made inside it are not seen by others until it ends (so a job's
    progress goes through another connection). SQLite is not wrapped (its transactions would
    block writers), nor a caller already in a transaction."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield False
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # Every row is read: plan for the whole result, not for the first rows (a cursor's
            # default), and let the one big sort work in memory where it can.
            cursor.execute("SET LOCAL cursor_tuple_fraction = 1")
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute("SET LOCAL jit = off")
        yield True
