"""The OpenAI-compatible Assistants API under /v1 (ENGINE=hosted): point an OpenAI SDK's `base_url` here.

One module per resource; errors in OpenAI's shape (`app/api/wire/openai_errors.py`, chosen for /v1
paths by the one mapping in `app/api/error_handlers.py`). Files and vector stores are relayed to the upstream
(`passthrough.py`). Left out of /docs: OpenAI's reference
documents these routes.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.routes.v1 import assistants, files, messages, runs, steps, threads, vector_stores
from app.api.routes.v1.common import V1_PREFIX, require_hosted

router = APIRouter(prefix=V1_PREFIX, dependencies=[Depends(require_hosted)], include_in_schema=False)
# runs first: `/threads/runs` must not be read as the thread `runs`.
for _module in (assistants, runs, messages, steps, threads, files, vector_stores):
    router.include_router(_module.router)
