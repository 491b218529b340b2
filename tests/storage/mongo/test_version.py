"""Start-up checks the MongoDB server's version (buildInfo): 5.0 or newer, else it refuses with a clear message."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient

from app.errors import UnsupportedDatabase
from app.storage.mongo.database import check_server_version


class _Admin:
    def __init__(self, build_info: dict[str, Any]) -> None:
        self._build_info = build_info

    async def command(self, name: str) -> dict[str, Any]:
        assert name == "buildInfo"
        return self._build_info


class _ServerReporting:
    """A client whose server answers buildInfo so (a mongod 4.4 is not at hand)."""

    def __init__(self, version: str) -> None:
        self.admin = _Admin({"version": version, "versionArray": [int(n) for n in version.split(".")] + [0]})


@pytest.mark.parametrize("version", ["4.4.29", "3.6.23"])
async def test_a_server_older_than_5_0_is_refused_by_name(version: str) -> None:
    with pytest.raises(UnsupportedDatabase) as refused:
        await check_server_version(_ServerReporting(version))
    assert str(refused.value).startswith(f"MongoDB {version} is older than 5.0")
    assert "'.' or '$'" in str(refused.value)


@pytest.mark.parametrize("version", ["5.0.0", "7.0.14"])
async def test_a_server_of_5_0_or_newer_is_accepted(version: str) -> None:
    await check_server_version(_ServerReporting(version))


@pytest.mark.mongodb
async def test_the_real_server_is_accepted_and_its_version_logged(
    mongodb_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        with caplog.at_level("INFO", logger="app.storage.mongo.database"):
            await check_server_version(client)
    finally:
        await client.close()
    assert "MongoDB " in caplog.text
    assert "(the oldest supported: 5.0)" in caplog.text
