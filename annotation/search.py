"""The items search: a case-insensitive substring of the prompt, the conversation or the texts
of the model responses an item shows, or a prefix of its external_id.

On PostgreSQL each part is answered from an index (migrations annotation 0005 and 0009): GIN
trigram indexes (pg_trgm) on exactly the expressions below, and a `text_pattern_ops` b-tree
on external_id for the prefix; a term of three or more characters reads the indexes (a
BitmapOr of the four), not every item. Where the response texts sit in `data` is each kind's
`response_text_paths`; model names are never searched.
"""

import re

from django.db.models import Q, QuerySet, TextField
from django.db.models.expressions import RawSQL

from annotation import kinds

_KEY = re.compile(r"^[a-z_]+$")


def _path_sql(path: tuple[str | int, ...]) -> str:
    """`data -> 'responses' -> 0 ->> 'text'` for ("responses", 0, "text")."""
    sql = "data"
    for position, step in enumerate(path):
        if isinstance(step, int):
            key = str(step)
        else:
            if not _KEY.match(step):
                raise ValueError(f"not a data key: {step!r}")
            key = f"'{step}'"
        sql += f" {'->>' if position == len(path) - 1 else '->'} {key}"
    return sql


def response_paths() -> list[tuple[str | int, ...]]:
    """Every kind's response text paths, once each, in a stable order."""
    return sorted(
        {tuple(path) for kind in kinds.registry for path in kind.response_text_paths},
        key=lambda path: [str(step) for step in path],
    )


def responses_sql() -> str:
    """The response texts of an item as one text ("" for a kind without responses): only
    immutable operators (`||`, COALESCE), so PostgreSQL can index the expression."""
    return " || ' ' || ".join(f"COALESCE({_path_sql(path)}, '')" for path in response_paths())


def search(queryset: QuerySet, value: str, *, external_id: bool = True) -> QuerySet:
    """Items whose prompt, conversation or response texts hold `value` (any case), or, with
    `external_id`, whose external_id starts with it."""
    value = value.strip()
    if not value:
        return queryset
    # The SQL comes from the kinds' constant paths (keys checked by _KEY), never from input.
    responses = RawSQL(responses_sql(), [], output_field=TextField())  # noqa: S611
    matches = (
        Q(data__prompt__icontains=value)
        | Q(data__messages__icontains=value)
        | Q(_responses__icontains=value)
    )
    if external_id:
        matches |= Q(external_id__startswith=value)
    return queryset.alias(_responses=responses).filter(matches)
