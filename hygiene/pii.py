"""Personal data in text: regular expressions, each match checked before it counts.

Pure Python (no Django). Types and their checks:

- ``EMAIL``: an address with a dotted domain whose last label is 2+ letters.
- ``CARD``: 13 to 19 digits, optionally grouped by single spaces or dashes, passing the Luhn
  check (a Luhn-invalid number is not a card number).
- ``IBAN``: a country code, two check digits and 11 to 30 letters or digits (grouped by
  spaces or not), passing the ISO 13616 mod-97 check.
- ``SSN``: a US social security number written ``AAA-GG-SSSS``, with the area not 000, 666 or
  9xx, the group not 00 and the serial not 0000.
- ``API_KEY``: common secret shapes: AWS access key ids, GitHub, GitLab, Slack, Stripe,
  OpenAI, Anthropic and Google API keys, and PEM private key headers.
- ``PHONE``: a run of digits and separators that the ``phonenumbers`` library (Google's
  libphonenumber) finds and validates as a possible, valid number, in international form
  (``+44 ...``) or national form for ``region``.

Finding is ``scan(text)``; redacting is ``redact(text)``, which puts ``[EMAIL]``, ``[CARD]``,
... in place of each finding. ``RowScanner`` walks every string of an export row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import phonenumbers

EMAIL, PHONE, CARD, IBAN, SSN, API_KEY = "EMAIL", "PHONE", "CARD", "IBAN", "SSN", "API_KEY"
TYPES = (EMAIL, PHONE, CARD, IBAN, SSN, API_KEY)
ITEM_IDS_MAX = 1_000  # item ids listed per type in a manifest

_PATTERNS = {
    API_KEY: (
        r"\bAKIA[0-9A-Z]{16}\b"
        r"|\bgh[pousr]_[A-Za-z0-9]{36,255}\b"
        r"|\bgithub_pat_[A-Za-z0-9_]{60,255}\b"
        r"|\bglpat-[A-Za-z0-9_-]{20,}"
        r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"
        r"|\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b"
        r"|\bsk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{32,}"
        r"|\bAIza[0-9A-Za-z_-]{35}"
        r"|-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"
    ),
    EMAIL: r"\b[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}\b",
    IBAN: r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b",
    SSN: r"\b\d{3}-\d{2}-\d{4}\b",
    CARD: r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])",
}
# One pass over the text finds every shape; an alternation tries the named groups in order,
# so an API key or an IBAN is not read again as a card number.
_ALL = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _PATTERNS.items()))
# Where a phone number may be: a run of 7+ digits with the separators numbers are written
# with. Only such runs go to phonenumbers, whose matcher is slow on long text.
_PHONE_RUN = re.compile(r"(?:\+|\b)\d[\d ().\-/]{5,20}\d\b")
_QUICK = re.compile(r"[@\d]|-----BEGIN|AKIA|gh|xox|sk|AIza|glpat")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def ssn_valid(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _valid(kind: str, text: str) -> bool:
    if kind == CARD:
        digits = text.replace(" ", "").replace("-", "")
        return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_valid(digits)
    if kind == IBAN:
        return iban_valid(text)
    if kind == SSN:
        return ssn_valid(text)
    return True


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    start: int
    end: int
    text: str


class Scanner:
    """``scan(text)`` and ``redact(text)`` with phone numbers read for ``region`` (an ISO
    3166 code such as ``US``; numbers in international form are found whatever it is)."""

    def __init__(self, *, region: str = "US") -> None:
        self.region = region.upper() if region else None

    def scan(self, text: str) -> list[Finding]:
        if not text or not _QUICK.search(text):
            return []
        found: list[Finding] = []
        for match in _ALL.finditer(text):
            kind = match.lastgroup
            assert kind is not None
            value = match.group()
            if _valid(kind, value):
                found.append(Finding(kind, match.start(), match.end(), value))
        taken = [(f.start, f.end) for f in found]
        for run in _PHONE_RUN.finditer(text):
            if any(start < run.end() and run.start() < end for start, end in taken):
                continue
            found.extend(self._phones(text, run.start(), run.end()))
        found.sort(key=lambda f: (f.start, f.end))
        return found

    def _phones(self, text: str, start: int, end: int) -> Iterator[Finding]:
        # A little context either side lets the matcher see a "+" or a bracket it needs.
        left = max(start - 1, 0)
        window = text[left : end + 1]
        try:
            matches = phonenumbers.PhoneNumberMatcher(
                window, self.region, leniency=phonenumbers.Leniency.VALID, max_tries=10
            )
            for match in matches:
                yield Finding(PHONE, left + match.start, left + match.end, match.raw_string)
        except phonenumbers.NumberParseException:
            return

    def redact(self, text: str, findings: list[Finding] | None = None) -> str:
        findings = self.scan(text) if findings is None else findings
        if not findings:
            return text
        parts, last = [], 0
        for finding in findings:
            if finding.start < last:
                continue  # overlapping findings: the first one's placeholder covers both
            parts.append(text[last : finding.start])
            parts.append(f"[{finding.type}]")
            last = finding.end
        parts.append(text[last:])
        return "".join(parts)


class RowScanner:
    """Scans (and with ``redact``, rewrites) every string in export rows, counting findings
    by type with the item ids they were found in. Call it as ``scanner(item_id, row)``; it
    returns the row (a new one when something was redacted)."""

    def __init__(self, *, redact: bool = False, region: str = "US") -> None:
        self.scanner = Scanner(region=region)
        self.redact = redact
        self.counts: dict[str, int] = {}
        self.items: dict[str, list[int]] = {}
        self._item_sets: dict[str, set[int]] = {}
        self.rows_scanned = 0

    def _note(self, item_id: int, findings: list[Finding]) -> None:
        for finding in findings:
            kind = finding.type
            self.counts[kind] = self.counts.get(kind, 0) + 1
            seen = self._item_sets.setdefault(kind, set())
            if item_id not in seen:
                seen.add(item_id)
                self.items.setdefault(kind, []).append(item_id)

    def _walk(self, value: Any, visit: Callable[[str], str]) -> Any:
        if isinstance(value, str):
            return visit(value)
        if isinstance(value, dict):
            return {key: self._walk(inner, visit) for key, inner in value.items()}
        if isinstance(value, list):
            return [self._walk(inner, visit) for inner in value]
        return value

    def __call__(self, item_id: int, row: dict[str, Any]) -> dict[str, Any]:
        self.rows_scanned += 1
        scanner = self.scanner

        def visit(text: str) -> str:
            findings = scanner.scan(text)
            if not findings:
                return text
            self._note(item_id, findings)
            return scanner.redact(text, findings) if self.redact else text

        return self._walk(row, visit)

    def summary(self) -> dict[str, Any]:
        """The manifest's ``personal_data``: findings by type, the item ids per type (sorted,
        at most ``ITEM_IDS_MAX``), and whether they were redacted."""
        return {
            "redacted": self.redact,
            "rows_scanned": self.rows_scanned,
            "findings": dict(sorted(self.counts.items())),
            "item_ids": {
                kind: sorted(ids)[:ITEM_IDS_MAX] for kind, ids in sorted(self.items.items())
            },
            "items_with_findings": {kind: len(ids) for kind, ids in sorted(self.items.items())},
        }
