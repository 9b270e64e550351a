"""Indexes for the items search in response texts and by external_id prefix (PostgreSQL only).

annotation.search searches the texts of the model responses an item shows (each kind's
`response_text_paths`, joined into one text) with `UPPER((...)::text) LIKE UPPER('%term%')`,
and external ids with `external_id LIKE 'term%'`. A GIN trigram index on exactly that
expression, and a text_pattern_ops b-tree on external_id (a prefix match under any collation),
answer them without reading every item. The expression is written out here as it was when
this migration was made; tests/console/test_items_search.py fails if the search's expression
and the index's part (a kind with new response fields needs a new migration).

Built CONCURRENTLY, as in 0005, so a large project keeps working while they are built; without
pg_trgm (0005 said so) the trigram index is left out and the search scans.
"""

from django.db import DatabaseError, migrations, transaction

RESPONSES = (
    "UPPER((COALESCE(data ->> 'draft', '') || ' ' || "
    "COALESCE(data ->> 'model_response', '') || ' ' || "
    "COALESCE(data ->> 'reference', '') || ' ' || "
    "COALESCE(data -> 'response' ->> 'text', '') || ' ' || "
    "COALESCE(data -> 'responses' -> 0 ->> 'text', '') || ' ' || "
    "COALESCE(data -> 'responses' -> 1 ->> 'text', ''))::text)"
)


def _has_trgm(schema_editor) -> bool:
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        print(f"\n  pg_trgm is not available ({exc}); the responses search will scan instead.")
        return False
    return True


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS item_external_id_prefix ON annotation_item "
        "(external_id text_pattern_ops)"
    )
    if _has_trgm(schema_editor):
        schema_editor.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS item_search_responses ON annotation_item "
            f"USING gin ({RESPONSES} gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in ("item_search_responses", "item_external_id_prefix"):
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("annotation", "0011_near_duplicate_threshold")]

    operations = [migrations.RunPython(create, drop)]
