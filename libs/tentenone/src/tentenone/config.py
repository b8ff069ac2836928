"""Settings: one pydantic-settings class per service, all read the same way.

Every field is read from the environment, most specific first:

1. ``TENTENONE_<SERVICE>_<FIELD>`` (this service only),
2. ``TENTENONE_<FIELD>`` (every service),
3. ``TENTENONE_<SERVICE>_<FIELD>_FILE`` / ``TENTENONE_<FIELD>_FILE``: the path of a
   file holding the value (how Kubernetes Secrets are mounted),
4. the field's default.

Secrets never have a default that works in production: they come from the
environment or a file only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from tentenone.errors import ConfigError

__all__ = ["ROOT_PREFIX", "BaseServiceSettings", "FileSecretSource"]

ROOT_PREFIX = "TENTENONE_"


class FileSecretSource(PydanticBaseSettingsSource):
    """Reads ``<PREFIX><FIELD>_FILE``: the value is the file's content, stripped."""

    def __init__(self, settings_cls: type[BaseSettings], prefixes: list[str]) -> None:
        super().__init__(settings_cls)
        self._prefixes = prefixes

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        for prefix in self._prefixes:
            var = f"{prefix}{field_name}_FILE".upper()
            path = os.environ.get(var)
            if path:
                try:
                    return Path(path).read_text().strip(), field_name, False
                except OSError as exc:
                    raise ConfigError(f"{var} names {path!r}, which cannot be read: {exc}") from exc
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values


class BaseServiceSettings(BaseSettings):
    """Settings every service has. Subclass it, set ``service_name``, add fields."""

    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__")

    service_name: ClassVar[str] = "service"

    database_url: str = Field(
        default="sqlite+aiosqlite:///.data/{service}.db",
        description="SQLAlchemy async URL; postgresql+asyncpg://... (a schema per service) or "
        "sqlite+aiosqlite:///... ('{service}' becomes the service's name: a file each)",
    )
    db_schema: str | None = Field(
        default=None, description="PostgreSQL schema of this service (default: its name)"
    )
    amqp_url: SecretStr | None = Field(
        default=None, description="RabbitMQ URL; unset means the in-process bus"
    )
    amqp_prefix: str = Field(default="", description="prefix of every exchange and queue name")
    amqp_queue_type: Literal["quorum", "classic"] = Field(
        default="quorum",
        description="type of event consumers' queues; classic only on a single-node broker "
        "of development or tests, where creating and deleting many quorum queues is slow",
    )
    bus_max_message_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="largest message body sent or accepted"
    )
    redis_url: SecretStr | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 0
    log_level: str = "INFO"
    log_json: bool = True
    shutdown_grace_s: float = 10.0

    @classmethod
    def env_prefixes(cls) -> list[str]:
        service = cls.service_name.upper().replace("-", "_")
        return [f"{ROOT_PREFIX}{service}_", ROOT_PREFIX]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        prefixes = cls.env_prefixes()
        env_sources = tuple(
            EnvSettingsSource(settings_cls, env_prefix=p, env_nested_delimiter="__")
            for p in prefixes
        )
        return (init_settings, *env_sources, FileSecretSource(settings_cls, prefixes))

    @property
    def schema_name(self) -> str:
        return self.db_schema or self.service_name.replace("-", "_")
