"""``tentenone-trader`` offline: a wallet is created, its words shown once, orders listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tentenone.trader.cli import main
from tentenone.trader.keystore import FileKeyStore


def test_create_then_list_orders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--data-dir", str(tmp_path), "--passphrase", "correct horse battery"]
    assert main([*base, "create"]) == 0
    shown = capsys.readouterr().out
    words = FileKeyStore(tmp_path / "keystore.json").unlock("correct horse battery").reveal()
    assert words in shown and "Node key:" in shown
    assert main([*base, "orders"]) == 0
    assert "No orders yet" in capsys.readouterr().out
    assert main([*base, "create"]) == 1  # never over a seed
    assert "keystore_exists" in capsys.readouterr().err


def test_a_wrong_passphrase_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(tmp_path), "--passphrase", "one passphrase", "create"]) == 0
    capsys.readouterr()
    assert main(["--data-dir", str(tmp_path), "--passphrase", "another one!", "orders"]) == 1
    assert "keystore_wrong_passphrase" in capsys.readouterr().err
