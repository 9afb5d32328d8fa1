"""What differs between SQLite and PostgreSQL for the repositories written once for both (refunds,
settlements): placeholders, "IN a list", and how a staged write is wrapped (Stmt or Op)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

_MARK = re.compile(r"\?")


class Write(NamedTuple):
    """One staged statement, backend-neutral (`?` placeholders): see Stmt / Op for the fields."""

    sql: str
    params: Sequence[Any] = ()
    expect_one: bool = False
    on_integrity: Callable[[Any], BaseException | None] | None = None
    on_stale: Callable[[Any], BaseException] | None = None


def numbered(sql: str) -> str:
    """`?` placeholders -> PostgreSQL's `$1, $2, …` (none of these statements has a literal `?`)."""
    counter = itertools.count(1)
    return _MARK.sub(lambda _m: f"${next(counter)}", sql)


@dataclass(frozen=True, slots=True)
class Dialect:
    """A backend as these repositories need it: read rows, stage writes, spell `column IN (list)`."""

    fetch_all: Callable[[str, Sequence[Any]], Awaitable[Sequence[Any]]]
    stage: Callable[[Sequence[Write]], None]
    postgres: bool

    def sql(self, text: str) -> str:
        """The statement with this backend's placeholders."""
        return numbered(text) if self.postgres else text

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """`column IN (...)` as a clause with `?` marks and its parameters."""
        if self.postgres:
            return f"{column} = ANY(?::text[])", [list(values)]
        return f"{column} IN ({','.join('?' * len(values)) or 'NULL'})", list(values)

    async def rows(self, text: str, params: Sequence[Any] = ()) -> Sequence[Any]:
        """Rows of a read written with `?` marks."""
        return await self.fetch_all(self.sql(text), params)
