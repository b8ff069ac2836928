import asyncio

import pytest
from sqlalchemy import func, select

from tentenone.errors import InvalidInput
from tentenone.store import Database, claim, claim_many, purge_inbox
from tentenone.store.tables import INBOX


async def _count(db: Database) -> int:
    async with db.transaction() as s:
        conn = await s.connection()
        return int((await conn.execute(select(func.count()).select_from(INBOX))).scalar_one())


async def test_first_claim_wins_duplicates_lose(db: Database) -> None:
    async with db.transaction() as s:
        assert await claim(s, "dlc.on_trade", "e1") is True
        assert await claim(s, "dlc.on_trade", "e1") is False
    async with db.transaction() as s:
        assert await claim(s, "dlc.on_trade", "e1") is False
        # Another consumer of the same event has its own claim.
        assert await claim(s, "audit.on_trade", "e1") is True


async def test_rolled_back_claim_can_be_claimed_again(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            assert await claim(s, "c", "e1") is True
            raise RuntimeError("effect failed")
    async with db.transaction() as s:
        assert await claim(s, "c", "e1") is True


async def test_concurrent_deliveries_apply_once(db: Database) -> None:
    """Ten deliveries of one event race; exactly one transaction wins the claim."""
    applied: list[int] = []

    async def deliver(n: int) -> None:
        async with db.transaction() as s:
            if await claim(s, "c", "same-event"):
                applied.append(n)

    await asyncio.gather(*(deliver(n) for n in range(10)))
    assert len(applied) == 1
    assert await _count(db) == 1


@pytest.mark.parametrize(
    ("consumer", "event_id", "message"),
    [
        ("", "e", "consumer must not be empty"),
        ("c", "", "event_id must not be empty"),
        (1, "e", "consumer must be a string"),
        ("c", None, "event_id must be a string"),
        ("c" * 201, "e", "at most 200"),
        ("c", "e" * 201, "at most 200"),
    ],
)
async def test_bad_input_is_refused_and_claims_nothing(
    db: Database, consumer: object, event_id: object, message: str
) -> None:
    async with db.transaction() as s:
        with pytest.raises(InvalidInput, match=message):
            await claim(s, consumer, event_id)  # type: ignore[arg-type]
    assert await _count(db) == 0


async def test_purge_forgets_old_claims_only(db: Database) -> None:
    async with db.transaction() as s:
        await claim(s, "c", "e1")
    async with db.transaction() as s:
        assert await purge_inbox(s, 3600) == 0
        with pytest.raises(InvalidInput):
            await purge_inbox(s, float("nan"))
        assert await purge_inbox(s, 0) == 1
    assert await _count(db) == 0


async def test_claim_many_returns_only_the_new_ids(db: Database) -> None:
    async with db.transaction() as s:
        assert await claim(s, "c", "e2") is True
        assert await claim_many(s, "c", ["e1", "e2", "e3", "e1"]) == {"e1", "e3"}
        assert await claim_many(s, "c", ["e1", "e3"]) == set()
        assert await claim_many(s, "c", []) == set()
        assert await claim_many(s, "other", ["e1"]) == {"e1"}
    assert await _count(db) == 4


async def test_claim_many_refuses_a_bad_batch_whole(db: Database) -> None:
    async with db.transaction() as s:
        with pytest.raises(InvalidInput, match="event_id must not be empty"):
            await claim_many(s, "c", ["ok", ""])
        with pytest.raises(InvalidInput, match="event_ids must be a sequence"):
            await claim_many(s, "c", "abc")
        with pytest.raises(InvalidInput, match="at most 10000"):
            await claim_many(s, "c", [str(i) for i in range(10_001)])
    assert await _count(db) == 0
