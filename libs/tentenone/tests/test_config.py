from pathlib import Path
from typing import ClassVar

import pytest

from tentenone.config import BaseServiceSettings


class _Settings(BaseServiceSettings):
    service_name: ClassVar[str] = "order-book"
    max_orders: int = 10


def test_service_prefix_beats_root_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENTENONE_MAX_ORDERS", "5")
    monkeypatch.setenv("TENTENONE_ORDER_BOOK_MAX_ORDERS", "7")
    assert _Settings().max_orders == 7
    monkeypatch.delenv("TENTENONE_ORDER_BOOK_MAX_ORDERS")
    assert _Settings().max_orders == 5


def test_secret_from_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "amqp"
    secret.write_text("amqp://u:p@127.0.0.1/\n")
    monkeypatch.setenv("TENTENONE_AMQP_URL_FILE", str(secret))
    s = _Settings()
    assert s.amqp_url is not None
    assert s.amqp_url.get_secret_value() == "amqp://u:p@127.0.0.1/"
    assert "u:p" not in repr(s)
    assert s.schema_name == "order_book"
