"""Health: GET / (setup), liveness, readiness, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from app import __version__
from app.api.deps import EngineDep, MetricsDep, SettingsDep, StoresDep, UpsertRetriesDep
from app.api.error_handlers import HttpAnswer
from app.api.routing import ApiRoute
from app.api.schemas import Health, Liveness, Readiness, error_responses
from app.engines import missing_chat_setting

logger = logging.getLogger(__name__)

# Open to all: probes call often, without a key.
router = APIRouter(tags=["health"], route_class=ApiRoute)
# Needs a key when API_KEYS is set; never rate limited.
metrics_router = APIRouter(tags=["health"], route_class=ApiRoute)

STORAGE_PING_TIMEOUT_S = 2.0


@router.get("/", response_model=Health, summary="Health")
async def read_health(settings: SettingsDep, engine: EngineDep, stores: StoresDep) -> Health:
    """Service status: version, engine, storage kind and whether chat is configured."""
    return Health(
        service="chat-backend",
        version=__version__,
        engine=engine.name,
        storage=stores.kind,
        chat_configured=missing_chat_setting(settings) is None,
    )


@router.get("/livez", response_model=Liveness, summary="Liveness")
async def read_liveness() -> Liveness:
    """200 while the process answers at all (restart it when this fails)."""
    return Liveness()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness",
    responses={
        503: {
            **error_responses(503)[503],
            "description": "Not ready: `error.status` is `degraded` "
            "(conversation writes waiting for the database) or `unavailable` (database unreachable)",
        }
    },
)
async def read_readiness(stores: StoresDep, upsert_retries: UpsertRetriesDep) -> Response:
    """200 when the database answers a ping and no conversation writes wait for a retry; else 503."""
    try:
        await asyncio.wait_for(stores.ping(), timeout=STORAGE_PING_TIMEOUT_S)
        storage = "ok"
    except Exception as exc:
        logger.warning("readiness: storage ping failed: %s", type(exc).__name__)
        storage = "unreachable"
    pending = upsert_retries.pending
    if storage == "ok" and pending == 0:
        return JSONResponse(Readiness(pending_upserts=0).model_dump())
    status = "unavailable" if storage != "ok" else "degraded"
    return HttpAnswer(
        503,
        "not_ready",
        f"Not ready: storage {storage}, {pending} conversation write(s) waiting for a retry.",
        extra={"status": status, "storage": storage, "pending_upserts": pending},
    ).response()


@metrics_router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text format", "content": {"text/plain": {}}}},
)
async def read_metrics(metrics: MetricsDep) -> Response:
    """Requests by route and status, latencies, upstream calls, runs started, pending conversation writes."""
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
