import asyncio
import importlib
import os
import subprocess
import sys
import textwrap
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import pytest
from sqlalchemy import MetaData

from tentenone.store import Database, MigrationError, migrations_dir
from tentenone.store.migrations import autogenerate, init_folder, main
from tentenone.testing.migrations import check_migrations

MODELS = """
from sqlmodel import Field, SQLModel

from tentenone.store import UtcDateTime, service_registry


class ShopTable(SQLModel, registry=service_registry()):
    pass


class Item(ShopTable, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80, index=True)
    price_sat: int
"""

EXTRA_COLUMN = """
    stock: int = Field(default=0)
"""


@dataclass
class ShopPackage:
    """A throwaway service package in a checkout layout: <root>/src/<name>, <root>/migrations."""

    name: str
    root: Path

    @property
    def migrations(self) -> Path:
        return self.root / "migrations"

    def metadata(self) -> MetaData:
        md: MetaData = import_module(f"{self.name}.models").ShopTable.metadata
        return md


def _write_package(root: Path, models: str) -> ShopPackage:
    name = f"shop_{uuid.uuid4().hex[:8]}"
    pkg = root / "src" / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(textwrap.dedent(models))
    return ShopPackage(name, root)


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ShopPackage]:
    package = _write_package(tmp_path, MODELS)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    init_folder(package.migrations, f"{package.name}.models:ShopTable")
    yield package


async def test_init_and_autogenerate_make_migrations_that_pass_the_check(
    shop: ShopPackage, db_url: str
) -> None:
    made = await autogenerate(shop.migrations, "items", service="shop")
    assert [p.name for p in made] == ["0002_items.py"]
    script = made[0].read_text()
    assert "op.create_table('item'" in script and "outbox" not in script
    assert migrations_dir(shop.name) == shop.migrations
    await check_migrations(
        db_url, service="shop", metadata=shop.metadata(), migrations=shop.migrations
    )


async def test_models_ahead_of_migrations_fail_the_check(
    shop: ShopPackage, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await autogenerate(shop.migrations, "items", service="shop")
    ahead = _write_package(shop.root / "ahead", MODELS + EXTRA_COLUMN)
    monkeypatch.syspath_prepend(str(ahead.root / "src"))
    with pytest.raises(AssertionError, match=r"models and migrations differ.*stock"):
        await check_migrations(
            db_url, service="shop", metadata=ahead.metadata(), migrations=shop.migrations
        )


async def test_migrate_reports_status_and_is_idempotent(shop: ShopPackage, db_url: str) -> None:
    await autogenerate(shop.migrations, "items", service="shop")
    db = Database(db_url, service="shop", metadata=shop.metadata(), migrations=shop.migrations)
    try:
        before = await db.migration_status()
        assert before.current == () and before.heads == ("0002",) and not before.at_head
        await db.migrate()
        await db.migrate()
        after = await db.migration_status()
        assert after.current == ("0002",) and after.at_head
    finally:
        await db.close()


async def test_replicas_migrating_together_take_turns(shop: ShopPackage, pg_url: str) -> None:
    await autogenerate(shop.migrations, "items", service="shop")
    dbs = [
        Database(pg_url, service="shop", metadata=shop.metadata(), migrations=shop.migrations)
        for _ in range(3)
    ]
    try:
        await asyncio.gather(*(d.migrate() for d in dbs))
        assert (await dbs[0].migration_status()).at_head
    finally:
        for d in dbs:
            await d.close()


async def test_a_failing_migration_leaves_the_database_as_it_was(
    shop: ShopPackage, db_url: str
) -> None:
    broken = shop.migrations / "versions" / "0002_broken.py"
    broken.write_text(
        textwrap.dedent(
            '''
            """broken"""
            import sqlalchemy as sa
            from alembic import op

            revision = "0002"
            down_revision = "0001"

            def upgrade():
                op.create_table("thing", sa.Column("id", sa.Integer, primary_key=True))
                op.execute("THIS IS NOT SQL")

            def downgrade():
                op.drop_table("thing")
            '''
        )
    )
    db = Database(db_url, service="shop", metadata=shop.metadata(), migrations=shop.migrations)
    try:
        with pytest.raises(MigrationError, match="shop: upgrade to head failed"):
            await db.migrate()
        assert (await db.migration_status()).current == ()
        broken.unlink()
        await db.migrate()
        assert (await db.migration_status()).current == ("0001",)
    finally:
        await db.close()


def test_migrations_dir_finds_the_folder_inside_an_installed_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"wheel_{uuid.uuid4().hex[:8]}"
    (tmp_path / name / "migrations").mkdir(parents=True)
    (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / name / "migrations" / "env.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert migrations_dir(name) == tmp_path / name / "migrations"


def test_bad_folders_and_packages_give_migration_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(MigrationError, match="cannot import package"):
        migrations_dir("no_such_package_here")
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MigrationError, match="no migrations folder"):
        migrations_dir("bare")
    with pytest.raises(MigrationError, match="module:Name"):
        init_folder(tmp_path / "m", "no_colon")
    assert main(["revision", str(tmp_path), "-m", "x"]) == 1


async def test_database_without_migrations_says_so(sqlite_url: str) -> None:
    db = Database(sqlite_url, service="shop")
    try:
        with pytest.raises(MigrationError, match="no migrations folder"):
            await db.migrate()
        with pytest.raises(MigrationError, match="no metadata"):
            await db.create_all()
    finally:
        await db.close()


PYPROJECT = """
[project]
name = "{dist}"
version = "0.1.0"
requires-python = ">=3.12"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/{name}"]

[tool.hatch.build.targets.wheel.force-include]
"migrations" = "{name}/migrations"
"""


@pytest.mark.slow
def test_the_documented_wheel_layout_ships_the_migrations(
    shop: ShopPackage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Build the service as a wheel the way docs/platform.md says; the folder is found in it."""
    uv = request.config.rootpath / ".tools" / "uv" / "bin" / "uv"
    if not uv.is_file():
        pytest.skip("no uv in .tools (run make setup)")
    dist = shop.name.replace("_", "-")
    (shop.root / "pyproject.toml").write_text(PYPROJECT.format(dist=dist, name=shop.name))
    out = tmp_path / "dist"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run(
        [
            str(uv),
            "build",
            "--wheel",
            "-q",
            "-o",
            str(out),
            "--python",
            sys.executable,
            str(shop.root),
        ],
        check=True,
        env=env,
        timeout=300,
    )
    site = tmp_path / "site"
    with zipfile.ZipFile(next(out.glob("*.whl"))) as wheel:
        wheel.extractall(site)
    for module in [m for m in sys.modules if m == shop.name or m.startswith(shop.name + ".")]:
        monkeypatch.delitem(sys.modules, module)
    checkout = str(shop.root / "src")
    monkeypatch.setattr(sys, "path", [str(site), *[p for p in sys.path if p != checkout]])
    importlib.invalidate_caches()
    found = migrations_dir(shop.name)
    assert found == site / shop.name / "migrations"
    assert (found / "versions" / "0001_platform_tables.py").is_file()
