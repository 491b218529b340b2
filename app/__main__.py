"""`python -m app`: serve on HOST:PORT (from the environment or .env)."""

from __future__ import annotations

import uvicorn

from app.config import Settings
from app.logging_setup import configure_logging
from app.main import create_app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format, settings.secrets)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        # Our access log line carries the request id and route; uvicorn's would repeat it.
        access_log=False,
        # On SIGTERM: stop accepting, let requests in flight finish for this long, then run the
        # lifespan shutdown (which flushes pending conversation writes within FLUSH_TIMEOUT_S).
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
    )


if __name__ == "__main__":
    main()
