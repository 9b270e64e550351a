"""Read queries over long key lists, for the bulk paths (import, export)."""

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection


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
