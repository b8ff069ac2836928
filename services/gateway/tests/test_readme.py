"""The README's curl example of the challenge flow works, as written, against a live gateway.

The positions call answers through the throwaway DLC service of ``fake_dlc``.
"""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest

from .conftest import Stack
from .test_documents import ROOT


def _snippet() -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- gateway-curl -->\n```sh\n(.*?)```\n<!-- /gateway-curl -->", text, re.S)
    assert found, "README.md lost its gateway-curl example"
    return found.group(1)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq")
async def test_readme_challenge_flow(stack: Stack) -> None:
    await stack.fake_dlc()
    gw = await stack.gateway(auth_domain="readme.test")
    script = re.sub(r"^GW=\S+", f"GW={gw.url}", _snippet(), count=1, flags=re.M)
    assert f"GW={gw.url}" in script
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-euo",
        "pipefail",
        "-c",
        script,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "tentenone auth v1\ndomain: readme.test\nkey: " in text
    assert '{"positions":[],"state_number":0}' in text
