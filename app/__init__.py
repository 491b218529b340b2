"""Chat backend: a FastAPI service for the Next.js assistants chat app."""

__version__ = "0.1.0"
