"""The reference of bench/gateway.py: a bare FastAPI route returning a constant, served by
uvicorn with the gateway's server settings (as ``ServiceRunner`` serves it).

    python -m bench._bare_app <port>
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

from tentenone_gateway.service import service

app = FastAPI()


@app.post("/const")
async def const() -> dict[str, bool]:
    return {"ok": True}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=None,
        access_log=False,
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        **service.http_options,
    )
