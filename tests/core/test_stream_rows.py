"""core.db.stream_rows: a read's rows as tuples, streamed; the connection is the stream's
until its last row (a query meanwhile is refused, not left waiting), usable again after it,
also when the caller stops early."""

import pytest
from django.db import connection, transaction

from annotation.models import Project
from core.db import StreamBusyError, fetch_all, stream_rows

SERIES = "SELECT n, 'row ' || n FROM generate_series(1, %s) AS n ORDER BY n"


def test_every_row_comes_in_order_as_plain_tuples(require_postgres):
    rows = list(stream_rows(SERIES, [12_345], chunk=1_000))

    assert rows == [(n, f"row {n}") for n in range(1, 12_346)]


def test_a_query_on_the_connection_while_it_streams_is_refused_and_the_stream_goes_on(
    require_postgres, project
):
    rows = stream_rows(SERIES, [10], chunk=3)
    first = next(rows)

    with pytest.raises(StreamBusyError, match="streaming rows"):
        Project.objects.count()
    with pytest.raises(StreamBusyError, match="streaming rows"):
        fetch_all("SELECT count(*) FROM annotation_project", [])

    assert [first, *rows] == [(n, f"row {n}") for n in range(1, 11)]
    assert Project.objects.count() == 1  # the connection is free again after the last row
    assert fetch_all("SELECT count(*) FROM annotation_project", []) == [(1,)]


@pytest.mark.django_db(transaction=True)
def test_stopped_early_the_query_is_cancelled_and_the_connection_serves_again(require_postgres):
    rows = stream_rows(SERIES, [5_000_000], chunk=1_000)
    assert next(rows) == (1, "row 1")

    rows.close()  # long before the 5,000,000th row

    with connection.cursor() as cursor:
        cursor.execute("SELECT 41 + 1")
        assert cursor.fetchone() == (42,)


@pytest.mark.django_db(transaction=True)
def test_stopped_early_inside_a_transaction_it_rolls_back_and_the_connection_serves_again(
    require_postgres,
):
    with pytest.raises(ValueError, match="stop"), transaction.atomic():
        for row in stream_rows(SERIES, [5_000_000], chunk=1_000):
            if row[0] == 3:
                raise ValueError("stop")

    assert not connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute("SELECT 41 + 1")
        assert cursor.fetchone() == (42,)
