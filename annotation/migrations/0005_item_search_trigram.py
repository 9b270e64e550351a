"""Trigram indexes for the items browser's search in prompt text (PostgreSQL only).

The search (annotation.filters.ItemFilter.filter_search) is a case-insensitive
substring match, `UPPER((data ->> 'prompt')::text) LIKE UPPER('%term%')`, and the same on the
messages; without an index it reads every item of the project. These GIN indexes on exactly
those expressions (pg_trgm) answer a term of three or more characters from the index.

They are created with SQL, not declared on the model, because SQLite has neither pg_trgm nor
GIN; CONCURRENTLY (outside a transaction), so a project already holding many items keeps
taking imports and claims while they are built. Where the extension cannot be created (a managed server without pg_trgm, a role without
the right), the migration says so and carries on: the search still works, by a scan.
"""

from django.db import DatabaseError, migrations, transaction

EXPRESSIONS = {
    "item_search_prompt": "UPPER((data ->> 'prompt')::text)",
    "item_search_messages": "UPPER((data ->> 'messages')::text)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        print(f"\n  pg_trgm is not available ({exc}); the items search will scan instead.")
        return
    for name, expression in EXPRESSIONS.items():
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON annotation_item "
            f"USING gin ({expression} gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in EXPRESSIONS:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("annotation", "0004_dashboard_rollups")]

    operations = [migrations.RunPython(create, drop)]
