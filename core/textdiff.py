"""A word-level difference between two texts, for a reviewer comparing two answers."""

import difflib
import re

_TOKENS = re.compile(r"\s+|[^\s]+")
MAX_TOKENS = 20_000  # beyond this the texts are compared as wholes (difflib is quadratic)


def word_diff(first: str, second: str) -> list[dict[str, str]]:
    """`first` turned into `second` as runs of words: {"op": "equal" | "delete" | "insert",
    "text": ...}, whitespace kept, so the runs read as the two texts interleaved."""
    a, b = _TOKENS.findall(first or ""), _TOKENS.findall(second or "")
    if len(a) + len(b) > MAX_TOKENS:
        a, b = [first or ""], [second or ""]
    parts: list[dict[str, str]] = []

    def add(op: str, tokens: list[str]) -> None:
        if not tokens:
            return
        if parts and parts[-1]["op"] == op:
            parts[-1]["text"] += "".join(tokens)
        else:
            parts.append({"op": op, "text": "".join(tokens)})

    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            add("equal", a[i1:i2])
        else:
            add("delete", a[i1:i2])
            add("insert", b[j1:j2])
    return parts
