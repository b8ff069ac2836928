"""What the trader changes on the settings screen, kept in ``<data_dir>/preferences.json``.

Read at start over the environment's settings; written atomically (a
temporary file renamed over the old one) so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tentenone.errors import ConfigError
from tentenone_app.settings import AppSettings

__all__ = ["Preferences", "apply", "load", "save"]

_FILE = "preferences.json"


class Preferences(BaseModel):
    model_config = ConfigDict(extra="ignore")

    gateway_url: str | None = None
    electrum_servers: list[str] | None = None
    #: accept the coordinator's liquidation close without asking
    auto_liquidation: bool = True
    #: roll positions over automatically in the rollover window while the app runs
    auto_rollover: bool = True
    #: not a setting: remembered so the backups screen can say when the last one was made
    last_export: str | None = Field(default=None)


def load(data_dir: Path) -> Preferences:
    path = data_dir / _FILE
    if not path.exists():
        return Preferences()
    try:
        return Preferences.model_validate_json(path.read_text())
    except (OSError, ValidationError) as exc:
        raise ConfigError(f"{path} cannot be read: {exc}") from exc


def save(data_dir: Path, prefs: Preferences) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / _FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(prefs.model_dump(), indent=2))
    os.replace(tmp, path)


def apply(settings: AppSettings, prefs: Preferences) -> AppSettings:
    update: dict[str, object] = {}
    if prefs.gateway_url:
        update["gateway_url"] = prefs.gateway_url
    if prefs.electrum_servers:
        update["electrum_servers"] = prefs.electrum_servers
    return settings.model_copy(update=update) if update else settings
