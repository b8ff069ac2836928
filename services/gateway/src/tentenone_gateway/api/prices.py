"""``/index-price`` and ``/oracle``: the BTC/USD index and the oracle's announcements."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from tentenone.wire import oracle as woracle
from tentenone.wire.gateway import (
    AnnouncementList,
    AnnouncementPublic,
    AttestationPublic,
    IndexPricePublic,
)
from tentenone_gateway.api.common import (
    PREFIX,
    PUBLIC_PROBLEMS,
    Timestamp,
    parse_timestamp,
    timeout,
)
from tentenone_gateway.openapi import operation_id
from tentenone_gateway.state import State
from tentenone_gateway.upstream import call

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, tags=["prices"], generate_unique_id_function=operation_id)

EventId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]


@router.get("/index-price", responses=PUBLIC_PROBLEMS, summary="The BTC/USD index price now")
async def read_index_price(state: State) -> IndexPricePublic:
    index = await call(state.ctx, woracle.GET_INDEX_PRICE, woracle.NoArguments(), timeout(state))
    return IndexPricePublic.of(index)


@router.get(
    "/oracle/announcements",
    responses=PUBLIC_PROBLEMS,
    summary="The oracle's announcements, by maturity",
)
async def list_announcements(
    state: State,
    after: Annotated[Timestamp | None, Query(description="maturing after this")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> AnnouncementList:
    request = woracle.ListAnnouncementsRequest(after=parse_timestamp(after, "after"), limit=limit)
    found = await call(state.ctx, woracle.LIST_ANNOUNCEMENTS, request, timeout(state))
    return AnnouncementList(announcements=[AnnouncementPublic.of(a) for a in found.announcements])


@router.get(
    "/oracle/announcements/{event_id}",
    responses=PUBLIC_PROBLEMS,
    summary="One announcement (its dlcspecs TLV included)",
)
async def read_announcement(state: State, event_id: EventId) -> AnnouncementPublic:
    request = woracle.EventIdRequest(event_id=event_id)
    found = await call(state.ctx, woracle.GET_ANNOUNCEMENT, request, timeout(state))
    return AnnouncementPublic.of(found)


@router.get(
    "/oracle/attestations/{event_id}",
    responses=PUBLIC_PROBLEMS,
    summary="An event's attestation, once it matured",
)
async def read_attestation(state: State, event_id: EventId) -> AttestationPublic:
    request = woracle.EventIdRequest(event_id=event_id)
    found = await call(state.ctx, woracle.GET_ATTESTATION, request, timeout(state))
    return AttestationPublic.of(found)
