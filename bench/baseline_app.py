"""The plain baseline: the seed's /chat as a straightforward port would write it.

One AsyncOpenAI client per process (no per-request clients), but the seed's three sequential
upstream calls: list the thread's runs to check for an active one, post the message, start the
run; then a MongoDB-like upsert of the conversation into an in-memory dict. Same uvicorn, same
run settings and same CORS middleware as the service, so the benchmark compares the designs.

    OPENAI_API_KEY=... OPENAI_ASSISTANT_ID=... OPENAI_BASE_URL=... PORT=8001 python -m bench.baseline_app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import openai
import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from openai import AsyncOpenAI
from pydantic import BaseModel, Field

ACTIVE_STATUSES = ("queued", "in_progress", "requires_action", "cancelling")


class ChatBody(BaseModel):
    content: str = Field(min_length=1, max_length=32_000)
    threadId: str = Field(pattern=r"^thread_[A-Za-z0-9]{1,64}$")


def create_baseline_app() -> FastAPI:
    state: dict[str, Any] = {}
    conversations: dict[tuple[str, str], dict[str, Any]] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = AsyncOpenAI(
            api_key=os.environ["OPENAI_API_KEY"],
            base_url=os.environ.get("OPENAI_BASE_URL"),
            max_retries=int(os.environ.get("OPENAI_MAX_RETRIES", "2")),
        )
        state["client"] = client
        yield
        await client.close()

    app = FastAPI(title="baseline", lifespan=lifespan)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["http://localhost:3000"],
        allow_methods=["*"],
        allow_headers=["*"],
    )

    @app.get("/")
    async def health() -> dict[str, str]:
        return {"status": "ok", "engine": "baseline"}

    @app.post("/chat")
    async def chat(body: ChatBody) -> dict[str, Any]:
        client: AsyncOpenAI = state["client"]
        thread_id = body.threadId
        try:
            runs = await client.beta.threads.runs.list(thread_id=thread_id)
            for run in runs.data:
                if run.status in ACTIVE_STATUSES:
                    raise HTTPException(400, {"code": "active_run", "run_id": run.id})
            await client.beta.threads.messages.create(thread_id=thread_id, role="user", content=body.content)
            run = await client.beta.threads.runs.create(
                thread_id=thread_id,
                assistant_id=os.environ["OPENAI_ASSISTANT_ID"],
                model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
                truncation_strategy={"type": "last_messages", "last_messages": 10},
                max_completion_tokens=1000,
            )
        except openai.NotFoundError as exc:
            raise HTTPException(404, "Thread not found") from exc
        except openai.APIStatusError as exc:
            raise HTTPException(exc.status_code, "Upstream error") from exc
        now = datetime.now(UTC)
        key = ("default-user", thread_id)
        doc = conversations.setdefault(
            key,
            {
                "userId": key[0],
                "threadId": thread_id,
                "name": now.strftime("%Y-%m-%d %H:%M:%S"),
                "isGroup": False,
                "createdAt": now,
            },
        )
        doc["updatedAt"] = now
        return {"success": True, "run_id": run.id, "thread_id": thread_id}

    return app


def main() -> None:
    uvicorn.run(
        create_baseline_app(),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8001")),
        log_level=os.environ.get("LOG_LEVEL", "info").lower(),
    )


if __name__ == "__main__":
    main()
