from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from tentenone.errors import ConfigError
from tentenone_oracle.settings import OracleSettings
from tentenone_oracle.simulated import SimulatedFeed
from tentenone_oracle.sources import build_index_feed


def test_defaults_are_production_weekly_three_exchanges() -> None:
    s = OracleSettings()
    assert s.mode == "production"
    assert s.schedule.spec == "weekly:fri@08:00"
    assert s.price_sources == ["bitstamp", "kraken", "coinbase"]
    assert (s.announce_ahead, s.nb_digits, s.unit) == (4, 20, "USD")
    assert s.schema_name == "oracle"


def test_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("11" * 32 + "\n")
    monkeypatch.setenv("TENTENONE_ORACLE_SECRET_KEY_FILE", str(secret))
    monkeypatch.setenv("TENTENONE_ORACLE_PRICE_SOURCES", '["simulated"]')
    monkeypatch.setenv("TENTENONE_ORACLE_MIN_SOURCES", "1")
    monkeypatch.setenv("TENTENONE_EXPIRY_SCHEDULE", "every:120s")
    s = OracleSettings()
    assert s.secret_key is not None and s.secret_key.get_secret_value() == "11" * 32
    assert s.schema_name == "oracle"
    assert s.schedule.period_s == 120
    feed = build_index_feed(s, lambda: datetime(2025, 1, 1, tzinfo=UTC))
    assert isinstance(feed.sources[0], SimulatedFeed)


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"TENTENONE_ORACLE_PRICE_SOURCES": '["simulated"]'}, "min_sources=2 but only 1"),
        ({"TENTENONE_ORACLE_PRICE_SOURCES": "[]"}, "at least one price source"),
        ({"TENTENONE_ORACLE_PRICE_SOURCES": '["kraken", "kraken"]'}, "listed twice"),
        ({"TENTENONE_EXPIRY_SCHEDULE": "monthly"}, "is not 'weekly"),
        ({"TENTENONE_ORACLE_MODE": "staging"}, "production"),
    ],
)
def test_bad_settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], match: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises((ValidationError, ConfigError), match=match):
        OracleSettings()


def test_unknown_source_name() -> None:
    s = OracleSettings(price_sources=["mtgox"], min_sources=1)
    with pytest.raises(ConfigError, match="unknown price source 'mtgox'"):
        build_index_feed(s, lambda: datetime(2025, 1, 1, tzinfo=UTC))
