"""``/positions``, ``/protocol`` and ``/state-number``: the trader's DLCs, through the DLC service.

Every call names the authenticated key as ``trader_pubkey``; the DLC service
answers only about that key's positions (another key's are not found).
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status

from tentenone.wire import dlc as wdlc
from tentenone.wire.gateway import (
    CloseQuoteAccept,
    CloseQuotePublic,
    PositionList,
    PositionPublic,
    ProtocolMessageCreate,
    ProtocolMessageList,
    ProtocolMessagePublic,
    StateNumberPublic,
)
from tentenone_gateway.api.common import PREFIX, PRIVATE_PROBLEMS, timeout
from tentenone_gateway.auth import Trader
from tentenone_gateway.openapi import operation_id
from tentenone_gateway.state import State
from tentenone_gateway.upstream import build, call

__all__ = ["router"]

router = APIRouter(
    prefix=PREFIX,
    tags=["positions"],
    responses=PRIVATE_PROBLEMS,
    generate_unique_id_function=operation_id,
)

PositionId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
AfterSeq = Annotated[int, Query(ge=0, le=2**63 - 1, description="only messages after this")]
Limit = Annotated[int, Query(ge=1, le=200)]


def _messages(found: wdlc.ProtocolMessageList) -> ProtocolMessageList:
    return ProtocolMessageList(
        messages=[ProtocolMessagePublic.of(m) for m in found.messages], last_seq=found.last_seq
    )


@router.get("/positions", summary="Your positions, newest first, with their P&L")
async def list_positions(
    state: State,
    trader: Trader,
    status_: Annotated[Literal["active", "closed", "all"], Query(alias="status")] = "all",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> PositionList:
    request = wdlc.ListPositionsRequest(
        trader_pubkey=trader.public_key, status=status_, limit=limit
    )
    found = await call(state.ctx, wdlc.LIST_POSITIONS, request, timeout(state))
    return PositionList(
        positions=[PositionPublic.of(p) for p in found.positions],
        state_number=found.state_number,
    )


@router.get("/positions/{position_id}", summary="One of your positions")
async def read_position(state: State, trader: Trader, position_id: PositionId) -> PositionPublic:
    request = wdlc.PositionRequest(trader_pubkey=trader.public_key, position_id=position_id)
    return PositionPublic.of(await call(state.ctx, wdlc.GET_POSITION, request, timeout(state)))


@router.get(
    "/positions/{position_id}/messages",
    summary="The coordinator's protocol messages for a position (offer_dlc, sign_dlc, ...)",
)
async def list_position_messages(
    state: State,
    trader: Trader,
    position_id: PositionId,
    after_seq: AfterSeq = 0,
    limit: Limit = 50,
) -> ProtocolMessageList:
    request = wdlc.ListProtocolMessagesRequest(
        trader_pubkey=trader.public_key, position_id=position_id, after_seq=after_seq, limit=limit
    )
    return _messages(await call(state.ctx, wdlc.LIST_PROTOCOL_MESSAGES, request, timeout(state)))


@router.post(
    "/positions/{position_id}/messages",
    summary="Send your protocol message for a position (accept_dlc, sign_dlc, close, renewal)",
)
async def submit_position_message(
    state: State, trader: Trader, position_id: PositionId, body: ProtocolMessageCreate
) -> PositionPublic:
    request = build(
        wdlc.SubmitProtocolMessage,
        trader_pubkey=trader.public_key,
        position_id=position_id,
        message_type=body.message_type,
        payload_hex=body.payload_hex,
    )
    found = await call(state.ctx, wdlc.SUBMIT_PROTOCOL_MESSAGE, request, timeout(state))
    return PositionPublic.of(found)


@router.post(
    "/positions/{position_id}/close-quote",
    status_code=status.HTTP_201_CREATED,
    summary="A quote to close the position now (valid until expires_at)",
)
async def create_close_quote(
    state: State, trader: Trader, position_id: PositionId
) -> CloseQuotePublic:
    request = wdlc.PositionRequest(trader_pubkey=trader.public_key, position_id=position_id)
    found = await call(state.ctx, wdlc.REQUEST_CLOSE_QUOTE, request, timeout(state))
    return CloseQuotePublic.of(found)


@router.post(
    "/positions/{position_id}/close",
    summary="Take a close quote; the closing messages follow on the protocol channel",
)
async def accept_close_quote(
    state: State, trader: Trader, position_id: PositionId, body: CloseQuoteAccept
) -> PositionPublic:
    request = wdlc.AcceptCloseQuote(
        trader_pubkey=trader.public_key, position_id=position_id, quote_id=body.quote_id
    )
    found = await call(state.ctx, wdlc.ACCEPT_CLOSE_QUOTE, request, timeout(state))
    return PositionPublic.of(found)


@router.post(
    "/positions/{position_id}/rollover",
    summary="Renew the position into the next expiry; renewal messages follow",
)
async def request_rollover(state: State, trader: Trader, position_id: PositionId) -> PositionPublic:
    request = wdlc.PositionRequest(trader_pubkey=trader.public_key, position_id=position_id)
    found = await call(state.ctx, wdlc.REQUEST_ROLLOVER, request, timeout(state))
    return PositionPublic.of(found)


@router.get(
    "/protocol/messages",
    summary="The coordinator's protocol messages for all your positions, after a sequence number",
)
async def list_messages(
    state: State, trader: Trader, after_seq: AfterSeq = 0, limit: Limit = 50
) -> ProtocolMessageList:
    request = wdlc.ListProtocolMessagesRequest(
        trader_pubkey=trader.public_key, after_seq=after_seq, limit=limit
    )
    return _messages(await call(state.ctx, wdlc.LIST_PROTOCOL_MESSAGES, request, timeout(state)))


@router.get(
    "/state-number",
    summary="The current state number of your positions (never resume from an older backup)",
)
async def read_state_number(state: State, trader: Trader) -> StateNumberPublic:
    request = wdlc.TraderRequest(trader_pubkey=trader.public_key)
    found = await call(state.ctx, wdlc.GET_STATE_NUMBER, request, timeout(state))
    return StateNumberPublic(state_number=found.state_number)
