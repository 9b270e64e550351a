"""Read queries over long key lists, and streamed reads, for the bulk paths (import, export,
agreement reports); prepared statements, and model instances from the rows of hand-written
SQL, for the hot paths."""

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence, Sized
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connection, models, transaction


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
        if _busy_streaming in connection.execute_wrappers:  # not through Django's wrappers
            raise _stream_busy(sql)
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(sql: str, params: Sequence[Any] | dict[str, Any]) -> Any:
    """Run a statement of the hot paths and return Django's cursor wrapper (logged and counted
    like any other query), for fetching. On PostgreSQL the statement is prepared on the
    server: planned once per connection instead of on every request (a claim's planning took
    longer than its execution; a read of three joined tables costs as much to plan as to run).
    Parameters are bound server-side, so an untyped NULL is read as text: write a cast where
    one may be NULL. Elsewhere Django's cursor runs it."""
    if connection.vendor != "postgresql":
        cursor = connection.cursor()
        cursor.execute(sql, params)
        return cursor
    # What Django's connection.cursor() does first: the health check of a new request
    # (CONN_HEALTH_CHECKS), the connection opened if need be, the thread checked.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    if connection.connection.prepare_threshold is None:
        # Django turns automatic preparing off; only the prepared cursors here prepare
        connection.connection.prepare_threshold = 1_000_000
    raw = _PreparedCursor(connection.connection)
    cursor = (
        connection.make_debug_cursor(raw)
        if connection.queries_logged
        else connection.make_cursor(raw)
    )
    cursor.execute(sql, params)
    return cursor


def typed(sql: str, types: Mapping[str, str]) -> str:
    """`sql` with each named parameter cast to its type in `types` (one not cast already): a
    prepared statement (`execute`) takes a parameter's type from its first use, and an untyped
    NULL would be read as text."""
    return re.sub(r"%\((\w+)\)s(?!::)", lambda m: f"{m.group(0)}::{types[m.group(1)]}", sql)


def read_one(sql: str, params: Sequence[Any] | dict[str, Any]) -> tuple | None:
    """The first row of a statement run by `execute` (prepared on PostgreSQL), or None."""
    with execute(sql, params) as cursor:
        return cursor.fetchone()


class _PreparedCursor(psycopg.Cursor):
    """Server-side binding, prepared at the first execution."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        return super().execute(query, params, prepare=True, **kwargs)


def is_row_id(value: int) -> bool:
    """Whether `value` fits a bigint primary key: a URL's id beyond it names no row (and a
    prepared statement would refuse it as a parameter instead of finding nothing)."""
    return 0 < value < 2**63


def model_columns(model: type[models.Model], alias: str) -> str:
    """The model's columns qualified by `alias`, in the order model_instances reads them."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def model_width(model: type[models.Model]) -> int:
    return len(model._meta.concrete_fields)


def model_instances(row: Sequence[Any], *kinds: type[models.Model]) -> list[Any]:
    """One instance of each model from consecutive groups of `row` (each written with
    model_columns, in the same order), converted as the ORM converts its rows; the values
    after the last group follow as they are. What a select_related would build, without the
    ORM's cost of compiling the query (about a millisecond per request)."""
    found: list[Any] = []
    start = 0
    for model in kinds:
        fields = model._meta.concrete_fields
        values = column_values(row[start : start + len(fields)], fields)
        start += len(fields)
        found.append(model.from_db(connection.alias, [f.attname for f in fields], values))
    return [*found, *row[start:]]


def column_values(row: Sequence[Any], fields: Sequence[models.Field]) -> list[Any]:
    """A row's values of these model fields' columns, converted as the ORM converts them: the
    backend's converters, then the field's (SQLite returns dates as text; Django's psycopg
    connections return JSON as text)."""
    if len(row) != len(fields):
        raise ValueError(f"{len(row)} values for {len(fields)} fields")
    wrapper = transaction.get_connection()
    values = list(row)
    for index, converters, column in _conversions(wrapper, fields):
        value = values[index]
        for converter in converters:
            value = converter(value, column, wrapper)
        values[index] = value
    return values


def _conversions(wrapper: Any, fields: Sequence[models.Field]) -> list[tuple[int, list, Any]]:
    """(position, converters, column) of each of these fields that has converters, as the
    ORM's compiler finds them; kept per connection and list of fields (a model's fields live
    as long as the process, so their ids are a stable key), as most fields have none."""
    cache = wrapper.__dict__.setdefault("_field_conversions", {})
    key = tuple(map(id, fields))
    if key not in cache:
        found = []
        for index, field in enumerate(fields):
            column = field.get_col(field.model._meta.db_table)
            converters = wrapper.ops.get_db_converters(column) + column.get_db_converters(wrapper)
            if converters:
                found.append((index, converters, column))
        cache[key] = found
    return cache[key]


STREAM_CHUNK = 5_000  # rows per message of a streamed read


def stream_rows(sql: str, params: Sequence[Any], *, chunk: int = STREAM_CHUNK) -> Iterator[tuple]:
    """The rows of a read query as plain tuples, without Django's row iterator (no converters:
    every column must be a plain value), in flat memory whatever their number.

    On PostgreSQL, one query whose rows the server sends as it produces them (psycopg's
    ``stream``; ``chunk`` rows to a message with libpq 17 or later, which psycopg's binary
    wheel bundles, else one): the server goes on computing while the caller works through the
    rows already come, as in a COPY, where a server-side cursor's FETCHes wait on the caller
    and the caller on them (bench/export.py, 1,000,000 records: 4.5 s to read them against
    5.9 s; the whole export 5.0 s against 8.9 s). Until the last row the connection is busy:
    the caller runs no other query on it meanwhile (a Django query or ``fetch_all`` raises
    StreamBusyError; psycopg's connection lock would wait forever), side queries go through
    another connection (as the export's progress does). Stopped early, the query is
    cancelled, which aborts a transaction around it."""
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        size = chunk if psycopg.pq.version() >= 170000 else 1
        with (
            connection.execute_wrapper(_busy_streaming),
            psycopg.ClientCursor(connection.connection) as cursor,
        ):
            yield from cursor.stream(sql, params, size=size)
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk):
            yield from rows


class StreamBusyError(RuntimeError):
    """A query on a connection that is still streaming a read's rows."""


def _stream_busy(sql: str) -> StreamBusyError:
    return StreamBusyError(
        "This connection is streaming rows (core.db.stream_rows) until its last row: run "
        f"other queries on another connection. Refused: {sql[:200]}"
    )


def _busy_streaming(execute: Any, sql: str, *args: Any) -> Any:
    """Django's query while ``stream_rows`` holds the connection: an error, not the wait on
    psycopg's connection lock that would never end."""
    raise _stream_busy(sql)


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
    transaction): the values listed first and the rows streamed after agree. Yields whether
    it opened that transaction: writes made inside it are not seen by others until it ends
    (so a job's progress goes through another connection). SQLite is not wrapped (its
    transactions would block writers), nor a caller already in a transaction."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield False
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # Let the one big sort work in memory where it can.
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute("SET LOCAL jit = off")
        yield True
