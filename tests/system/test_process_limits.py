"""The open-files limit is raised at start-up, so 1,000 concurrent clients (and their upstream connections) fit."""

from __future__ import annotations

import pytest

resource = pytest.importorskip("resource", reason="no open-files limit on this platform")


@pytest.fixture
def low_soft_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 8192:
        pytest.skip(f"the hard open-files limit here is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_start_up_raises_a_low_open_files_limit(app_client, low_soft_limit) -> None:
    async with app_client() as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= 8192


def test_the_limit_is_never_lowered() -> None:
    from app.lifespan import raise_open_files_limit

    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    raise_open_files_limit(wanted=16)
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == before
