from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import coincurve
import pytest

from tentenone.errors import ConfigError
from tentenone_oracle.keys import KeyMode, OracleKey, load_oracle_key

SECRET = bytes.fromhex("5376a94490ff9b07387511351fdf9fb56d0f704effaa9e55218ac82f712f8a26")
ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_from_environment() -> None:
    key = load_oracle_key("production", SECRET.hex())
    assert key.secret == SECRET
    # The x-only public key of the dlcspecs Schnorr vector's private key.
    assert key.public_key_hex == "ce9a3088688eecd98db77c90637c25e6801fc56b0436e7e0103cee82ec63d508"
    assert SECRET.hex() not in repr(key)


def test_environment_beats_the_file(tmp_path: Path) -> None:
    other = tmp_path / "k"
    other.write_text("11" * 32)
    assert load_oracle_key("production", SECRET.hex(), other).secret == SECRET


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("abc", "64 hex characters"),
        ("zz" * 32, "not hex"),
        ("00" * 32, "not a valid secp256k1 secret"),
        (f"{ORDER:064x}", "not a valid secp256k1 secret"),
    ],
)
def test_bad_keys(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_oracle_key("production", text)


def test_production_never_generates(tmp_path: Path) -> None:
    path = tmp_path / "oracle.key"
    with pytest.raises(ConfigError, match="production mode never generates a key"):
        load_oracle_key(KeyMode.PRODUCTION, None, path)
    assert not path.exists()
    with pytest.raises(ConfigError, match="no key_file set"):
        load_oracle_key(KeyMode.DEVNET, None, None)
    with pytest.raises(ConfigError, match="'staging'"):
        load_oracle_key("staging", None, path)


def test_devnet_generates_once_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "oracle.key"
    first = load_oracle_key("devnet", None, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_oracle_key("devnet", None, path)
    assert again == first
    # Production mode uses an existing file.
    assert load_oracle_key("production", None, path) == first
    assert [p.name for p in path.parent.iterdir()] == ["oracle.key"]  # no temp files left


def test_racing_processes_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "oracle.key"
    code = (
        "import sys; from pathlib import Path; from tentenone_oracle.keys import load_oracle_key; "
        "print(load_oracle_key('devnet', None, Path(sys.argv[1])).public_key_hex)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE)
        for _ in range(6)
    ]
    keys = {p.communicate(timeout=60)[0].decode().strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(keys) == 1
    assert keys == {load_oracle_key("production", None, path).public_key_hex}


def test_readable_key_file_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "oracle.key"
    path.write_text(SECRET.hex())
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING):
        load_oracle_key("production", None, path)
    assert "readable by others" in caplog.text


def test_unreadable_key_file(tmp_path: Path) -> None:
    path = tmp_path / "oracle.key"
    path.mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        load_oracle_key("production", None, path)


def test_odd_y_secret_still_gives_x_only_key() -> None:
    for i in range(1, 20):
        secret = i.to_bytes(32, "big")
        full = coincurve.PrivateKey(secret).public_key.format(compressed=True)
        assert OracleKey.from_secret(secret, "test").public_key == full[1:]
