"""Property-based fuzzing of the OpenAPI schema (schemathesis): no 5xx, and answers as documented.

The app runs with API keys and the fake upstream wired in (in process); every operation gets a
bounded number of generated requests, derandomized so a run is reproducible. The checks: no
server error, the status code is documented, the content type is documented, and the body
matches the documented schema. Streams are read whole (bounded by the fake's short runs). The
requests made and the statuses answered are counted (`fuzz_calls`) and printed when the session ends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.config import Settings
from app.main import create_app
from tests.fakes.app_support import make_settings, sdk_client_for
from tests.fakes.embedded_stores import embedded_stores
from tests.fakes.fake_openai import FakeOpenAI

FUZZ_KEY = "fuzz-key-0123456789abcdef"
MAX_EXAMPLES = 25


def _fuzzed_app() -> tuple[Any, dict[str, Any]]:
    """The app (its lifespan starts at the first call) and its OpenAPI schema."""
    fake = FakeOpenAI(run_seconds=0.0, record=False)
    fake.add_assistant("asst_test")
    fake.vector_stores["vs_docs"] = []
    for n in range(3):
        fake.add_thread(f"thread_fuzz{n}")
    with pytest.MonkeyPatch.context() as env:  # collection runs before the per-test clean environment
        for name in Settings.model_fields:
            env.delenv(name.upper(), raising=False)
        cfg = make_settings(api_keys=f"{FUZZ_KEY}:fuzzer", openai_vector_store_id="vs_docs")
    app = create_app(cfg, openai_client=sdk_client_for(fake), stores=embedded_stores())
    return app, app.openapi()


_app, _schema = _fuzzed_app()
schema = schemathesis.openapi.from_dict(_schema)
schema.app = _app


@pytest.fixture(scope="module", autouse=True)
def _stop_the_fuzzed_app() -> Iterator[None]:
    yield
    asgi.shutdown_lifespans()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_answers_as_documented(case: Any, fuzz_calls: Counter[str]) -> None:
    response = case.call(headers={"Authorization": f"Bearer {FUZZ_KEY}"})
    fuzz_calls[f"operation {case.operation.label}"] += 1
    fuzz_calls[f"status {response.status_code}"] += 1
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
