"""Settlement's rows that several replicas touch at once: a named lease is held by one
replica at a time, a deposit address index is given once, a nonce is handed out once."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.store import chain_deposits, payout_attempts, service_leases


async def test_a_lease_is_held_by_one_replica_until_released_or_expired(db: AsyncEngine) -> None:
    assert await service_leases.hold(db, "settlement:base", "replica_a", 30)
    assert not await service_leases.hold(db, "settlement:base", "replica_b", 30)
    assert await service_leases.hold(db, "settlement:base", "replica_a", 30)  # renewed
    assert await service_leases.hold(db, "settlement:polygon", "replica_b", 30)  # per name
    await service_leases.release(db, "settlement:base", "replica_b")  # not b's to give up
    assert not await service_leases.hold(db, "settlement:base", "replica_b", 30)
    await service_leases.release(db, "settlement:base", "replica_a")
    assert await service_leases.hold(db, "settlement:base", "replica_b", 0.2)
    await asyncio.sleep(0.4)  # b died: its lease runs out
    assert await service_leases.hold(db, "settlement:base", "replica_a", 30)


async def test_replicas_racing_for_a_lease_get_it_once(db: AsyncEngine) -> None:
    won = await asyncio.gather(
        *(service_leases.hold(db, "settlement:base", f"replica_{i}", 30) for i in range(8))
    )
    assert sum(won) == 1


async def test_each_account_gets_its_own_address_index_even_when_racing(db: AsyncEngine) -> None:
    def derive(index: int) -> str:
        return f"0x{index:040x}"

    found = await asyncio.gather(
        *(chain_deposits.deposit_address(db, "base", f"acct_{i}", derive) for i in range(10)),
        chain_deposits.deposit_address(db, "base", "acct_0", derive),
    )
    assert len(set(found[:10])) == 10 and found[10] == found[0]
    assert sorted(found[:10]) == [derive(i) for i in range(10)]
    assert await chain_deposits.address_of(db, "polygon", "acct_0") is None


async def test_nonces_are_handed_out_once_and_follow_the_chain_when_it_is_ahead(
    db: AsyncEngine,
) -> None:
    got = await asyncio.gather(
        *(payout_attempts.next_nonce(db, "base", "0xhot", 0) for _ in range(10))
    )
    assert sorted(got) == list(range(10))
    assert await payout_attempts.next_nonce(db, "base", "0xhot", 25) == 25  # used by hand
    assert await payout_attempts.next_nonce(db, "base", "0xhot", 3) == 26
    assert await payout_attempts.peek_nonce(db, "base", "0xhot") == 27
    assert await payout_attempts.peek_nonce(db, "polygon", "0xhot") == 0
