"""Who may read and change which upstream file and vector store: the caller's own, the operator's (read-only), and
any other (unknown)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.errors import InvalidField, NotFound, OperatorObjectReadOnly
from app.services.assistants import AssistantService
from app.services.upstream_objects import UpstreamObjects
from tests.fakes.embedded_stores import embedded_stores
from tests.fakes.hosted_support import hosted_settings


async def _objects(tmp_path: Path) -> UpstreamObjects:
    path = tmp_path / "assistants.json"
    entry = {"id": "asst_ops", "model": "m", "tool_resources": {"file_search": {"vector_store_ids": ["vs_ops"]}}}
    path.write_text(json.dumps([entry]))
    settings = hosted_settings(assistants_file=str(path), openai_knowledge_store_id="vs_knowledge")
    stores = embedded_stores()
    await stores.ensure_indexes(threads=True)
    assistants = AssistantService(stores.assistants, settings)
    await assistants.prepare()
    objects = UpstreamObjects(stores.upstream_objects, settings, assistants)
    await objects.record("alice", "vector_store", {"id": "vs_alice", "object": "vector_store"})
    await objects.record("alice", "file", {"id": "file-alice", "object": "file", "purpose": "assistants"})
    return objects


async def test_the_operators_stores_are_readable_by_all_and_writable_by_none(tmp_path: Path) -> None:
    objects = await _objects(tmp_path)
    assert await objects.operator_store_ids() == {"vs_ops", "vs_knowledge"}
    for store_id in ("vs_ops", "vs_knowledge"):
        assert await objects.readable_store("bob", store_id) is None
        with pytest.raises(OperatorObjectReadOnly):
            await objects.writable_store("bob", store_id)
    assert (await objects.writable_store("alice", "vs_alice")).owner == "alice"
    for user, store_id in (("bob", "vs_alice"), ("alice", "vs_never_made")):
        with pytest.raises(NotFound, match=f"No vector store found with id '{store_id}'"):
            await objects.readable_store(user, store_id)


async def test_requests_may_name_only_the_callers_own_files_and_stores(tmp_path: Path) -> None:
    objects = await _objects(tmp_path)
    await objects.check_resources("alice", {"file_search": {"vector_store_ids": ["vs_alice"]}})
    with pytest.raises(InvalidField, match=re.escape("tool_resources.file_search.vector_store_ids[0]")):
        await objects.check_resources("alice", {"file_search": {"vector_store_ids": ["vs_ops"]}})
    with pytest.raises(InvalidField, match=re.escape("attachments[0].file_id")):
        await objects.check_attachments("bob", [{"file_id": "file-alice"}], "attachments")
    with pytest.raises(NotFound, match="No such File object: file-alice"):
        await objects.check_files("bob", ["file-alice"], None)
    with pytest.raises(InvalidField, match=re.escape("code_interpreter.file_ids[0]")):
        await objects.check_resources("alice", {"code_interpreter": {"file_ids": ["vs_alice"]}})  # a store, not a file
