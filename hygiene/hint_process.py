"""The personal data row hint over batches of encoded rows, in a helper process.

The row hint (``hygiene.pii``) is a regular expression over each row's JSON: some 3 us for a
500-byte row, a third of what building and writing the row costs. Python's ``re`` holds the
GIL, so a thread cannot run it beside the export; a child process can, on another core. The
export sends the rows a batch at a time through a pipe and goes on building the next batch
while the child searches this one; the child answers, batch by batch in order, with the
indexes of the rows the hint matches.

The child is ``python -I -S`` running ``_CHILD`` below (the standard library only, no project
code, no site-packages); it reads frames from its stdin until the pipe closes. A frame is a
4-byte big-endian length and the rows joined by ``"\\n"`` (JSON rows hold no raw line end); an
answer is a 4-byte count and that many 4-byte row indexes (machine order: the same machine).

Nothing is lost when the child cannot run: ``HintProcess`` keeps each batch until its answer
is read, and when the child cannot be started, dies or answers garbage, it stops using it and
searches the batches left in this process with the same pattern.
"""

from __future__ import annotations

import contextlib
import re
import struct
import subprocess
import sys
from array import array
from collections import deque

_FRAME = struct.Struct(">I")
# A batch's rows and the child's answer are at most this long (a 4-byte length; an export's
# batch is some hundreds of kilobytes).
MAX_FRAME = 2**31

_CHILD = r"""
import re, struct, sys
from array import array
search = re.compile(sys.argv[1].encode("latin-1")).search
read, write, flush = sys.stdin.buffer.read, sys.stdout.buffer.write, sys.stdout.buffer.flush
frame = struct.Struct(">I")
while True:
    head = read(4)
    if len(head) < 4:
        break
    data = read(frame.unpack(head)[0])
    found = array("I")
    pos = row = 0
    while True:
        match = search(data, pos)
        if match is None:
            break
        start = match.start()
        row += data.count(b"\n", pos, start)
        found.append(row)
        end = data.find(b"\n", start)
        if end < 0:
            break
        pos, row = end + 1, row + 1
    write(frame.pack(len(found)) + found.tobytes())
    flush()
"""


def rows_hinted(pattern: re.Pattern[bytes], rows: list[bytes]) -> list[int]:
    """The indexes of ``rows`` that ``pattern`` matches, in this process."""
    search = pattern.search
    return [index for index, row in enumerate(rows) if search(row) is not None]


class HintProcess:
    """``submit(rows)`` a batch of encoded rows, then ``result()`` the indexes of the rows the
    hint matches, batch by batch in the order submitted. ``close()`` ends the child."""

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self.pattern = pattern
        self._waiting: deque[list[bytes]] = deque()
        self._child: subprocess.Popen[bytes] | None = None
        try:
            # The command is this interpreter and a constant program; the rows go by stdin.
            self._child = subprocess.Popen(  # noqa: S603
                [sys.executable, "-I", "-S", "-c", _CHILD, pattern.pattern.decode("latin-1")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
            )
        except OSError:
            self._child = None

    @property
    def running(self) -> bool:
        """Whether the child still answers (else the batches are searched here)."""
        return self._child is not None

    def submit(self, rows: list[bytes]) -> None:
        self._waiting.append(rows)
        if self._child is None:
            return
        data = b"\n".join(rows)
        if len(data) >= MAX_FRAME:
            self._give_up()
            return
        try:
            self._child.stdin.write(_FRAME.pack(len(data)) + data)  # type: ignore[union-attr]
        except (OSError, ValueError):
            self._give_up()

    def result(self) -> list[int]:
        rows = self._waiting.popleft()
        if self._child is not None:
            try:
                found = self._answer(len(rows))
            except (OSError, ValueError, EOFError):
                self._give_up()
            else:
                return found
        return rows_hinted(self.pattern, rows)

    def _answer(self, rows: int) -> list[int]:
        (count,) = _FRAME.unpack(self._read(_FRAME.size))
        if count > rows:
            raise ValueError(f"the hint process answered {count} rows of {rows}")
        found = array("I")
        found.frombytes(self._read(count * found.itemsize))
        indexes = found.tolist()
        if any(index >= rows for index in indexes):
            raise ValueError("the hint process answered a row index out of its batch")
        return indexes

    def _read(self, size: int) -> bytes:
        parts, left = [], size
        while left:
            chunk = self._child.stdout.read(left)  # type: ignore[union-attr]
            if not chunk:
                raise EOFError("the hint process ended")
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def _give_up(self) -> None:
        """Stop using the child: every batch still waiting is searched here."""
        self.close()

    def close(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        with contextlib.suppress(OSError):
            child.stdin.close()  # type: ignore[union-attr]
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()  # type: ignore[union-attr]
