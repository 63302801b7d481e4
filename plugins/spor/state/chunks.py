"""Splits long id lists into bounded pieces, so that no single statement carries an unbounded IN list."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

#: Rows per statement: well under the bind-parameter limits of SQLite and PostgreSQL.
CHUNK = 500

T = TypeVar("T")


def chunks(seq: Sequence[T], n: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]
