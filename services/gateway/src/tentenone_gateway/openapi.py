"""The gateway's OpenAPI document: served at ``/api/v1/openapi.json``, and ``docs/openapi.json``.

``python -m tentenone_gateway.openapi`` writes the file; ``--check`` exits 1
when the file differs from what the routes say (a test runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

import tentenone
from tentenone_gateway.problems import Problem

__all__ = [
    "DEFAULT_PATH",
    "OPENAPI_PATH",
    "configure_openapi",
    "document",
    "main",
    "operation_id",
    "render",
]

DEFAULT_PATH = Path("docs/openapi.json")
OPENAPI_PATH = "/api/v1/openapi.json"
_FASTAPI_DOC_ROUTES = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
_DESCRIPTION = """\
The coordinator's public API: REST for commands and queries, one WebSocket
(`/api/v1/ws`, described in docs/asyncapi.yaml) for subscriptions.

Sign in with the app's node key: `POST /auth/challenge`, sign the returned
`digest` with BIP-340, `POST /auth/session`; send the token as
`Authorization: Bearer <token>`. Every call that changes something, and every
call about your orders, positions, protocol messages or backup, needs it.

Amounts are integer satoshis; prices decimal USD strings (two decimals).
Errors are RFC 9457 problem details (`application/problem+json`) with a stable
`code`. Rate limits answer 429 with `Retry-After`.
"""


#: OpenAPI links: what a response's fields let a client (or schemathesis) call next
def _order_links(where: str) -> dict[str, Any]:
    parameters = {
        "market": f"$response.body#{where}/market",
        "order_id": f"$response.body#{where}/order_id",
    }
    return {
        op: {"operationId": op, "parameters": parameters}
        for op in ("read_order", "amend_order", "cancel_order")
    }


LINKS: dict[tuple[str, str], dict[str, Any]] = {
    ("place_order", "201"): _order_links("/order"),
    ("read_order", "200"): _order_links(""),
    ("amend_order", "200"): _order_links(""),
}


def operation_id(route: APIRoute) -> str:
    """Operation ids are the route functions' names (stable, readable)."""
    return route.name


def document(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title="tentenone API",
        version=tentenone.__version__,
        description=_DESCRIPTION,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for (operation, status), links in LINKS.items():
        for path_item in schema.get("paths", {}).values():
            for op in path_item.values():
                if isinstance(op, dict) and op.get("operationId") == operation:
                    op["responses"][status]["links"] = links
    return schema


def configure_openapi(app: FastAPI) -> None:
    """Serve the document under /api/v1 (and not FastAPI's /docs pages)."""
    app.router.routes = [
        r for r in app.router.routes if getattr(r, "path", None) not in _FASTAPI_DOC_ROUTES
    ]
    app.openapi_url = None

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    async def serve() -> JSONResponse:
        return JSONResponse(openapi())

    app.add_api_route(OPENAPI_PATH, serve, include_in_schema=False)


def render() -> str:
    from tentenone.service import ServiceRunner
    from tentenone_gateway.service import service
    from tentenone_gateway.settings import GatewaySettings

    runner = ServiceRunner(service, GatewaySettings(), serve_http=False)
    return json.dumps(runner.app.openapi(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tentenone_gateway.openapi")
    parser.add_argument("--output", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(
                f"{args.output} is stale: run python -m tentenone_gateway.openapi", file=sys.stderr
            )
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
