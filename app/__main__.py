"""`python -m app`: serve on HOST:PORT (from the environment or .env)."""

from __future__ import annotations

import uvicorn

from app.config import Settings
from app.logging_setup import configure_logging
from app.main import create_app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
