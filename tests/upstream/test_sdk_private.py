"""Every private member of the openai SDK that app/upstream/sdk_private.py lists is still there in this SDK version."""

from __future__ import annotations

import importlib

import openai
import pytest
from openai import AsyncOpenAI

from app.upstream.sdk_private import PRIVATE_MEMBERS


@pytest.mark.parametrize(
    ("owner", "member", "why"), PRIVATE_MEMBERS, ids=[f"{owner}.{member}" for owner, member, _ in PRIVATE_MEMBERS]
)
async def test_every_private_sdk_member_in_use_exists(owner: str, member: str, why: str) -> None:
    async with AsyncOpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1", max_retries=0) as client:
        target = client if owner == "AsyncOpenAI" else importlib.import_module(owner)
        assert hasattr(target, member), f"openai {openai.__version__} has no {owner}.{member} ({why})"
