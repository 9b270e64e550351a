"""Two imports of the same new items at the same moment, with real threads on PostgreSQL: the
items are written once, and the import that loses the race is a 409 that writes nothing (the
unique violation raised inside its COPY is not a 500)."""

import threading
import time

import pytest
from django.db import connection, transaction

from annotation.importing import item_import
from annotation.models import Item, Role
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = [
    {"external_id": f"same-{n}", "kind": "instruction", "data": {"prompt": f"Say {n}."}}
    for n in range(50)
]


def _someone_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_the_loser_of_two_imports_of_the_same_new_items_is_a_409(require_postgres, make_api):
    project = ProjectFactory()
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    api = make_api(lead)
    api.raise_request_exception = False  # a 500 is an answer to assert on, not a thread's crash
    url = f"/api/v1/projects/{project.pk}/items/"
    wrote, commit = threading.Event(), threading.Event()
    answers = {}

    def first():  # writes the items and holds its transaction open until told
        try:
            with transaction.atomic():
                item_import(project=project, rows=ROWS, actor=lead)
                wrote.set()
                assert commit.wait(30)
        finally:
            connection.close()

    def second():  # the same rows through the API while the first has not committed
        try:
            assert wrote.wait(30)
            answers["second"] = api.post(url, ROWS, format="json")
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while not _someone_waits_for_a_lock():  # the second waits on the first's new rows
        assert time.monotonic() < deadline, "the second import never waited for the first"
        time.sleep(0.05)
    commit.set()
    for thread in threads:
        thread.join(30)

    response = answers["second"]
    assert response.status_code == 409, response.content
    assert "nothing from this request was written" in response.json()["detail"]
    assert Item.objects.filter(project=project).count() == len(ROWS)
    # sent again, it finds the items there and changes nothing
    again = api.post(url, ROWS, format="json")
    assert again.status_code == 200, again.content
    assert Item.objects.filter(project=project).count() == len(ROWS)
