"""chain_step: the per-device hash-chain and sequence checks of docs/sync-protocol.md."""

from __future__ import annotations

from cloud.domain.sync import ChainHead, chain_step

H1, H2, H3 = "1" * 64, "2" * 64, "3" * 64


def step(head: ChainHead, seq: int, prev: str, ok: bool = True) -> tuple[ChainHead, list[str]]:
    """One step; returns the new head and the anomaly kinds."""
    new, found = chain_step(head, local_id="l", seq=seq, prev_hash=prev, item_hash=H3, hash_ok=ok)
    return new, [a.kind for a in found]


class TestChainStep:
    def test_linked_next_item_is_clean(self) -> None:
        """seq+1 linking to the head's hash: no anomaly, head moves."""
        assert step(ChainHead(1, H1), 2, H1) == (ChainHead(2, H3), [])

    def test_wrong_link_is_chain_broken(self) -> None:
        """seq+1 whose prev_hash is not the head's hash is chain_broken (head still moves)."""
        assert step(ChainHead(1, H1), 2, H2) == (ChainHead(2, H3), ["chain_broken"])

    def test_gap(self) -> None:
        """A jump in seq is a seq_gap; the link cannot be checked across it."""
        assert step(ChainHead(1, H1), 5, H2) == (ChainHead(5, H3), ["seq_gap"])

    def test_regression_keeps_the_head(self) -> None:
        """A seq at or below the head is a regression and does not move the head."""
        assert step(ChainHead(4, H1), 3, H2) == (ChainHead(4, H1), ["seq_regression"])

    def test_bad_hash_is_reported_with_link_checks(self) -> None:
        """An item whose own hash is wrong is bad_hash, in addition to any link problem."""
        assert step(ChainHead(0, "0" * 64), 1, H2, ok=False)[1] == ["bad_hash", "chain_broken"]
