"""State machines for rows: an IntEnum of states, a table of allowed transitions, a log.

A protocol object (an order, a contract) is a row with ``state`` and
``version`` columns (the :class:`Stateful` mixin) and a class attribute naming
its :class:`StateMachine`::

    class OrderState(IntEnum):
        NEW = 1
        OPEN = 2
        FILLED = 3
        CANCELLED = 4

    ORDER = StateMachine(
        "order",
        OrderState,
        initial={OrderState.NEW},
        transitions={
            OrderState.NEW: {OrderState.OPEN, OrderState.CANCELLED},
            OrderState.OPEN: {OrderState.FILLED, OrderState.CANCELLED},
        },
    )

    class Order(OrderbookTable, Stateful, table=True):
        state_machine: ClassVar[StateMachine[OrderState]] = ORDER
        id: str = Field(primary_key=True)

    await create(session, order, "placed")                        # NEW, version 1
    await transition(session, order, OrderState.OPEN, "accepted", book="BTCUSD")

Every change appends to the ``state_transitions`` log in the same
transaction; :func:`replay` of an entity's log gives its row's state. The
version is checked and bumped in the same UPDATE (optimistic concurrency), so
of two writers that read the same version only the first succeeds; the
second gets :class:`ConcurrentModification`. A forbidden transition raises
``InvalidTransition`` before anything is written. Save the transition, then
send the message it describes (persist before you send).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, cast

from sqlalchemy import Table, insert, inspect, select, update
from sqlalchemy.exc import NoInspectionAvailable
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Field, SQLModel

from tentenone.errors import InvalidInput, InvalidTransition
from tentenone.logging import get_correlation_id
from tentenone.store import _validate
from tentenone.store.errors import ConcurrentModification
from tentenone.store.tables import TRANSITIONS
from tentenone.store.types import utcnow

__all__ = [
    "MAX_DATA_BYTES",
    "MAX_REASON_LENGTH",
    "StateMachine",
    "Stateful",
    "Transition",
    "create",
    "history",
    "replay",
    "transition",
]

MAX_REASON_LENGTH = 1000
MAX_DATA_BYTES = 64 * 1024


class Stateful(SQLModel):
    """Mixin for a table whose rows follow a state machine: ``state`` and ``version`` columns."""

    state_machine: ClassVar[StateMachine[Any]]

    state: int = Field(index=True)
    version: int = Field(default=0)


@dataclass(frozen=True, slots=True)
class Transition:
    """One entry of the transition log. ``version`` is the row's version after it."""

    machine: str
    entity_id: str
    version: int
    from_state: int | None
    to_state: int
    reason: str
    data: dict[str, Any]
    correlation_id: str | None = None
    at: dt.datetime | None = None
    seq: int | None = None


class StateMachine[S: IntEnum]:
    """The states of one kind of entity and the transitions allowed between them."""

    def __init__(
        self,
        name: str,
        states: type[S],
        *,
        initial: Iterable[S],
        transitions: Mapping[S, Iterable[S]],
    ) -> None:
        if not (isinstance(states, type) and issubclass(states, IntEnum)):
            raise TypeError(f"states must be an IntEnum class, got {states!r}")
        self.name = _validate.text("machine name", name, max_len=100)
        self.states = states
        self.initial = frozenset(self._member(s) for s in initial)
        if not self.initial:
            raise ValueError(f"state machine {name!r} needs at least one initial state")
        self.allowed: dict[S, frozenset[S]] = {
            self._member(src): frozenset(self._member(dst) for dst in dsts)
            for src, dsts in transitions.items()
        }

    def __repr__(self) -> str:
        return f"<StateMachine {self.name} ({self.states.__name__})>"

    def can(self, from_state: S | None, to_state: S) -> bool:
        """Whether the table allows ``from_state`` -> ``to_state`` (None: creation)."""
        if from_state is None:
            return to_state in self.initial
        return to_state in self.allowed.get(from_state, frozenset())

    def is_final(self, state: S) -> bool:
        return not self.allowed.get(state)

    def state(self, value: object) -> S:
        """``value`` (a member or its integer) as a member of the states; else InvalidInput."""
        try:
            return self._member(value)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"unknown state {value!r:.40} for state machine {self.name!r}: "
                f"known states are {', '.join(m.name for m in self.states)}"
            ) from None

    def state_of(self, row: object) -> S:
        return self.state(getattr(row, "state", None))

    def check(self, entity_id: str, from_state: S | None, to_state: S) -> None:
        """Raise ``InvalidTransition`` naming the entity, from and to, if not allowed."""
        if not self.can(from_state, to_state):
            src = "creation" if from_state is None else from_state.name
            raise InvalidTransition(
                f"{self.name} {entity_id}: transition from {src} to {to_state.name} is not allowed",
                machine=self.name,
                entity_id=entity_id,
                from_state=None if from_state is None else from_state.name,
                to_state=to_state.name,
            )

    def replay(self, log: Iterable[Transition]) -> S:
        """The state an entity reaches by applying ``log`` from creation, checking each step."""
        state: S | None = None
        count = 0
        for count, entry in enumerate(sorted(log, key=lambda t: t.version), start=1):
            if entry.machine != self.name:
                raise InvalidInput(f"log entry of machine {entry.machine!r} given to {self.name!r}")
            if entry.version != count:
                raise InvalidInput(f"{self.name} {entry.entity_id}: log misses version {count}")
            src = None if entry.from_state is None else self.state(entry.from_state)
            if src != state:
                raise InvalidInput(
                    f"{self.name} {entry.entity_id}: version {count} starts from "
                    f"{src!r}, but the state was {state!r}"
                )
            dst = self.state(entry.to_state)
            self.check(entry.entity_id, src, dst)
            state = dst
        if state is None:
            raise InvalidInput(f"{self.name}: an empty log has no state")
        return state

    def _member(self, value: object) -> S:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"state must be an integer or {self.states.__name__}")
        return self.states(value)


def replay[S: IntEnum](log: Iterable[Transition], machine: StateMachine[S]) -> S:
    """The state ``log`` leads to under ``machine`` (see :meth:`StateMachine.replay`)."""
    return machine.replay(log)


async def create(session: AsyncSession, row: Stateful, reason: str, **data: Any) -> Stateful:
    """Insert a new ``row`` in its (initial) state, version 1, and log its creation."""
    _validate.session(session)
    machine = _machine_of(row)
    state = machine.state_of(row)
    reason, data_text = _reason_and_data(reason, data)
    if not _instance_state(row).transient:
        raise InvalidInput(f"{machine.name}: create() takes a new row, not one already saved")
    _mapping(row)
    machine.check("(new)", None, state)
    row.version = 1
    session.add(row)
    await session.flush()
    entity_id = _entity_id(row)
    await _append(session, machine, entity_id, 1, None, state, reason, data_text)
    return row


async def transition[S: IntEnum](
    session: AsyncSession, row: Stateful, to_state: S | int, reason: str, **data: Any
) -> Stateful:
    """Move ``row`` to ``to_state`` if its machine allows it; log it; bump the version.

    Raises ``InvalidTransition`` (nothing written) for a forbidden move and
    ``ConcurrentModification`` when the row changed since it was read.
    """
    _validate.session(session)
    machine = _machine_of(row)
    target = machine.state(to_state)
    reason, data_text = _reason_and_data(reason, data)
    mapper, table = _mapping(row)
    insp = _instance_state(row)
    if insp.detached:
        # Read in an earlier transaction: attach it; the version check catches staleness.
        session.add(row)
    if not insp.persistent:
        raise InvalidInput(f"{machine.name}: transition() needs a saved row; use create() first")
    if insp.session is not session.sync_session:
        raise InvalidInput(f"{machine.name}: the row belongs to another open session")
    for attr in ("state", "version"):
        if insp.attrs[attr].history.has_changes():
            raise InvalidInput(f"{machine.name}: {attr} was set directly; only transition() may")
    entity_id = _entity_id(row)
    current = machine.state_of(row)
    machine.check(entity_id, current, target)
    version = row.version
    pk = mapper.primary_key[0]
    conn = await session.connection()
    result = await conn.execute(
        update(table)
        .where(pk == insp.identity[0], table.c.version == version, table.c.state == current)
        .values(state=int(target), version=version + 1)
    )
    if result.rowcount != 1:
        raise ConcurrentModification(
            f"{machine.name} {entity_id} changed since it was read (at version {version}); "
            "read it again and retry",
            machine=machine.name,
            entity_id=entity_id,
            version=version,
        )
    await _append(session, machine, entity_id, version + 1, current, target, reason, data_text)
    set_committed_value(row, "state", int(target))
    set_committed_value(row, "version", version + 1)
    return row


async def history(
    session: AsyncSession, machine: StateMachine[Any], entity_id: str
) -> list[Transition]:
    """The transition log of one entity, oldest first."""
    _validate.session(session)
    entity_id = _validate.text("entity_id", entity_id, max_len=200)
    conn = await session.connection()
    rows = await conn.execute(
        select(TRANSITIONS)
        .where(TRANSITIONS.c.machine == machine.name, TRANSITIONS.c.entity_id == entity_id)
        .order_by(TRANSITIONS.c.version)
    )
    return [
        Transition(
            machine=r.machine,
            entity_id=r.entity_id,
            version=r.version,
            from_state=r.from_state,
            to_state=r.to_state,
            reason=r.reason,
            data=json.loads(r.data),
            correlation_id=r.correlation_id,
            at=r.at,
            seq=r.seq,
        )
        for r in rows
    ]


async def _append(
    session: AsyncSession,
    machine: StateMachine[Any],
    entity_id: str,
    version: int,
    from_state: IntEnum | None,
    to_state: IntEnum,
    reason: str,
    data_text: str,
) -> None:
    conn = await session.connection()
    await conn.execute(
        insert(TRANSITIONS).values(
            machine=machine.name,
            entity_id=entity_id,
            version=version,
            from_state=None if from_state is None else int(from_state),
            to_state=int(to_state),
            reason=reason,
            data=data_text,
            correlation_id=get_correlation_id(),
            at=utcnow(),
        )
    )


def _machine_of(row: object) -> StateMachine[Any]:
    machine = getattr(type(row), "state_machine", None)
    if not isinstance(machine, StateMachine):
        raise InvalidInput(
            f"{type(row).__name__} is not a Stateful row with a state_machine class attribute"
        )
    return machine


def _instance_state(row: object) -> Any:
    try:
        return inspect(row)
    except NoInspectionAvailable:
        raise InvalidInput(f"{type(row).__name__} is not a mapped table row") from None


def _mapping(row: object) -> tuple[Mapper[Any], Table]:
    mapper = cast(Mapper[Any], _instance_state(row).mapper)
    table = mapper.local_table
    if not isinstance(table, Table) or len(mapper.primary_key) != 1:
        raise InvalidInput(f"{type(row).__name__} needs a table with a one-column primary key")
    return mapper, table


def _entity_id(row: object) -> str:
    identity = _instance_state(row).identity
    if not identity or identity[0] is None:
        raise InvalidInput(f"{type(row).__name__} has no primary key value")
    return _validate.text("entity id", str(identity[0]), max_len=200)


def _reason_and_data(reason: object, data: dict[str, Any]) -> tuple[str, str]:
    text = _validate.text("reason", reason, max_len=MAX_REASON_LENGTH)
    return text, _validate.json_text("transition data", data, max_bytes=MAX_DATA_BYTES)
