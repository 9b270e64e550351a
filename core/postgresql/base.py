"""Django's PostgreSQL backend, with a cheaper health check.

With ``CONN_HEALTH_CHECKS`` Django asks ``is_usable()`` before the first query of each
request, and the PostgreSQL backend answers with a ``SELECT 1``: one round trip per request,
two of the ten in an annotator's claim + submit cycle. Here a connection idle outside a
transaction is usable unless something is waiting on its socket: a server that ended the
session (a restart, ``pg_terminate_backend``, the server process killed) sends its error and
closes the socket, which then reads as ready. Only then, or when the connection is not idle,
is Django's ``SELECT 1`` asked. A connection that dies between the check and the query fails
that query, as it could after a ``SELECT 1``: core.middleware retries a GET once and answers
anything else 503.
"""

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed:
            return False
        if connection.info.transaction_status == TransactionStatus.IDLE:
            try:
                waiting, _, _ = select.select([connection.fileno()], [], [], 0)
            except (OSError, ValueError):  # the socket is gone
                return False
            if not waiting:
                return True
        return super().is_usable()
