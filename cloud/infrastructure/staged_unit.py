"""What both units of work share (SQLite and PostgreSQL): nesting, discard on error, one write at commit().

A backend's unit keeps its repositories' staged writes in one list (statements on SQLite, ops on PostgreSQL)
and says how to write that list in one transaction; the block rules are here, once (docs/architecture.md).
"""

from __future__ import annotations

from types import TracebackType
from typing import Generic, Self, TypeVar

T = TypeVar("T")  # one staged write: a statement (SQLite) or an op (PostgreSQL)


class StagedUnitOfWork(Generic[T]):
    """`async with uow: ...; await uow.commit()`: only the outermost block's commit() writes.

    Subclasses set `self._depth = 0` and implement `_staged()` (the live list the repositories append to),
    `_swap()` (hand the list over and start a new one) and `_write(staged)`.
    """

    _depth: int

    def _staged(self) -> list[T]:
        raise NotImplementedError

    def _swap(self) -> list[T]:
        raise NotImplementedError

    async def _write(self, staged: list[T]) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        """Open a block; the outermost one starts with nothing staged."""
        if self._depth == 0:
            self._staged().clear()
        self._depth += 1
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """An exception discards the staged writes, as does the outermost block ending uncommitted."""
        self._depth -= 1
        if kind is not None or self._depth == 0:
            self._staged().clear()

    async def commit(self) -> None:
        """Write everything staged in one transaction (inside an enclosing block, that block commits)."""
        if self._depth > 1:
            return
        staged = self._swap()
        if staged:
            await self._write(staged)

    async def rollback(self) -> None:
        """Discard what is staged so far."""
        self._staged().clear()
