"""Substring search over many short texts without scanning them one by one in Python.

The products' user filters (Bitbucket ``/admin/users?filter=``, Jira ``/user/search``) match a
substring of the username, display name or e-mail, and clients call them once per user they look
up. Scanning 100,000 accounts in Python for every such call makes a sync quadratic. Here the texts
live in blocks joined into one string each, and a search is ``str.find`` over those strings (C
speed); a changed record only rebuilds its own block.
"""

from __future__ import annotations

import bisect

SEPARATOR = "\x00"  # between records and between the fields of one record: no match spans two


class TextIndex:
    BLOCK_SIZE = 2048

    def __init__(self) -> None:
        self._ids: list[list[int]] = []
        self._texts: list[list[str]] = []
        self._joined: list[tuple[str, list[int]] | None] = []
        self._where: dict[int, tuple[int, int]] = {}

    def put(self, record: int, *fields: str) -> None:
        """Index ``fields`` (already case-folded) under ``record``, replacing what it had."""
        self.remove(record)
        if not self._ids or len(self._ids[-1]) >= self.BLOCK_SIZE:
            self._ids.append([])
            self._texts.append([])
            self._joined.append(None)
        block = len(self._ids) - 1
        self._where[record] = (block, len(self._ids[block]))
        self._ids[block].append(record)
        self._texts[block].append(SEPARATOR.join(fields))
        self._joined[block] = None

    def remove(self, record: int) -> None:
        where = self._where.pop(record, None)
        if where is not None:
            block, position = where
            self._texts[block][position] = ""
            self._joined[block] = None

    def search(self, needle: str) -> set[int]:
        """Records with a field containing ``needle`` (already case-folded)."""
        if not needle:
            return set(self._where)
        if SEPARATOR in needle:
            return set()
        found: set[int] = set()
        for block in range(len(self._ids)):
            text, starts = self._block(block)
            at = text.find(needle)
            while at >= 0:
                position = bisect.bisect_right(starts, at) - 1
                found.add(self._ids[block][position])
                # Go on from the next record: one hit per record is enough.
                at = text.find(needle, starts[position + 1]) if position + 1 < len(starts) else -1
        return found

    def _block(self, block: int) -> tuple[str, list[int]]:
        joined = self._joined[block]
        if joined is None:
            starts, offset = [], 0
            for text in self._texts[block]:
                starts.append(offset)
                offset += len(text) + 1
            joined = self._joined[block] = (SEPARATOR.join(self._texts[block]), starts)
        return joined
