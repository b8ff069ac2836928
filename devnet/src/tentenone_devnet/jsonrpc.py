"""bitcoind's JSON-RPC envelope: request parsing, batches, errors, HTTP statuses.

Follows Bitcoin Core's httprpc.cpp / rpc/request.cpp: JSON-RPC 1.0-style
requests get HTTP 500 (404 for an unknown method) with ``error`` set, and
``"jsonrpc": "2.0"`` requests get HTTP 200 with only ``result`` or ``error``.
A batch is answered with HTTP 200 and one reply per request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Amount",
    "Param",
    "RpcError",
    "RpcMethod",
    "dumps",
    "handle_body",
]

# bitcoind's error codes (src/rpc/protocol.h)
RPC_MISC_ERROR = -1
RPC_TYPE_ERROR = -3
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_INVALID_PARAMETER = -8
RPC_DESERIALIZATION_ERROR = -22
RPC_VERIFY_ERROR = -25
RPC_VERIFY_REJECTED = -26
RPC_VERIFY_ALREADY_IN_UTXO_SET = -27
RPC_INVALID_REQUEST = -32600
RPC_METHOD_NOT_FOUND = -32601
RPC_INVALID_PARAMS = -32602
RPC_INTERNAL_ERROR = -32603
RPC_PARSE_ERROR = -32700


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Amount:
    """Satoshis rendered as a JSON number with 8 decimals, as bitcoind prints BTC."""

    __slots__ = ("sats",)

    def __init__(self, sats: int) -> None:
        self.sats = sats

    def text(self) -> str:
        sign = "-" if self.sats < 0 else ""
        whole, frac = divmod(abs(self.sats), 100_000_000)
        return f"{sign}{whole}.{frac:08d}"


_AMOUNT_TOKEN = "\x00amount:"  # noqa: S105 - a marker, not a secret
_AMOUNT_RE = re.compile(r'"\\u0000amount:(-?[0-9]+\.[0-9]{8})"')


def dumps(value: Any) -> str:
    def default(obj: object) -> str:
        if isinstance(obj, Amount):
            return _AMOUNT_TOKEN + obj.text()
        raise TypeError(f"not JSON serializable: {type(obj).__name__}")

    return _AMOUNT_RE.sub(r"\1", json.dumps(value, default=default))


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    #: accepted JSON types: "str", "int", "num", "bool", "arr", "obj", "any"; "|"-joined
    types: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class RpcMethod:
    func: Callable[[list[Any]], Any]
    params: tuple[Param, ...]
    summary: str

    def usage(self, name: str) -> str:
        args = " ".join(
            p.name.split("|")[0] if p.required else f"( {p.name.split('|')[0]} )"
            for p in self.params
        )
        return f"{name} {args}\n\n{self.summary}\n".replace("  ", " ")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_TYPE_NAMES = {
    "str": "string",
    "int": "number",
    "num": "number",
    "bool": "bool",
    "arr": "array",
    "obj": "object",
}


def _matches(value: Any, types: str) -> bool:
    for t in types.split("|"):
        if t == "any":
            return True
        if t == "bool" and isinstance(value, bool):
            return True
        if t in ("int", "num") and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if t == "str" and isinstance(value, str):
            return True
        if t == "arr" and isinstance(value, list):
            return True
        if t == "obj" and isinstance(value, dict):
            return True
    return False


def _bind(name: str, method: RpcMethod, params: Any) -> list[Any]:
    """Positional arguments from ``params`` (array or named object), checked as Core does."""
    if params is None:
        args: list[Any] = []
    elif isinstance(params, list):
        args = list(params)
    elif isinstance(params, dict):
        # "verbosity|verbose": a name and its aliases, as Core declares them.
        aliases = [p.name.split("|") for p in method.params]
        known = {alias for names in aliases for alias in names}
        for key in params:
            if key not in known:
                raise RpcError(RPC_INVALID_PARAMETER, f"Unknown named parameter {key}")
        args = [next((params[a] for a in names if a in params), None) for names in aliases]
        while args and args[-1] is None:
            args.pop()
    else:
        raise RpcError(RPC_INVALID_REQUEST, "Params must be an array or object")
    required = sum(1 for p in method.params if p.required)
    if not required <= len(args) <= len(method.params):
        # RPCHelpMan::HandleRequest: a wrong count answers with the help text.
        raise RpcError(RPC_MISC_ERROR, method.usage(name))
    mismatch: dict[str, str] = {}
    for i, (param, value) in enumerate(zip(method.params, args, strict=False)):
        if value is None and not param.required:
            continue
        if not _matches(value, param.types):
            want = _TYPE_NAMES.get(param.types.split("|")[0], "value")
            mismatch[f"Position {i + 1} ({param.name.split('|')[0]})"] = (
                f"JSON value of type {_json_type(value)} is not of expected type {want}"
            )
    if mismatch:
        raise RpcError(RPC_TYPE_ERROR, "Wrong type passed:\n" + json.dumps(mismatch, indent=4))
    return args + [None] * (len(method.params) - len(args))


def _error_obj(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


def _reply(req_id: Any, v2: bool, result: Any = None, error: dict[str, Any] | None = None) -> Any:
    if v2:
        out: dict[str, Any] = {"jsonrpc": "2.0"}
        if error is None:
            out["result"] = result
        else:
            out["error"] = error
        out["id"] = req_id
        return out
    return {"result": result, "error": error, "id": req_id}


def _status_for(code: int) -> int:
    if code == RPC_INVALID_REQUEST:
        return 400
    if code == RPC_METHOD_NOT_FOUND:
        return 404
    return 500


Dispatch = Callable[[str], RpcMethod | None]


def _execute(dispatch: Dispatch, request: Any) -> tuple[Any, int]:
    """One request object -> (reply, HTTP status it would get alone)."""
    if not isinstance(request, dict):
        err = _error_obj(RPC_INVALID_REQUEST, "Invalid Request object")
        return _reply(None, False, error=err), 400
    req_id = request.get("id")
    v2 = request.get("jsonrpc") == "2.0"
    try:
        name = request.get("method")
        if name is None:
            raise RpcError(RPC_INVALID_REQUEST, "Missing method")
        if not isinstance(name, str):
            raise RpcError(RPC_INVALID_REQUEST, "Method must be a string")
        method = dispatch(name)
        if method is None:
            raise RpcError(RPC_METHOD_NOT_FOUND, "Method not found")
        result = method.func(_bind(name, method, request.get("params")))
        return _reply(req_id, v2, result=result), 200
    except RpcError as exc:
        status = 200 if v2 else _status_for(exc.code)
        return _reply(req_id, v2, error=_error_obj(exc.code, exc.message)), status


def handle_body(dispatch: Dispatch, body: bytes) -> tuple[int, str]:
    """An HTTP POST body -> (HTTP status, JSON text)."""
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return 500, dumps(_reply(None, False, error=_error_obj(RPC_PARSE_ERROR, "Parse error")))
    if isinstance(request, list):
        replies = [_execute(dispatch, r)[0] for r in request]
        return 200, dumps(replies)
    if isinstance(request, dict):
        reply, status = _execute(dispatch, request)
        return status, dumps(reply)
    err = _error_obj(RPC_PARSE_ERROR, "Top-level object parse error")
    return 500, dumps(_reply(None, False, error=err))
