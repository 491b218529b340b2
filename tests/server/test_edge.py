"""The HTTP edge's settings and how `python -m app` hands them to Granian (header cap and timeout, proxies)."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from fastapi import FastAPI
from granian.constants import Interfaces
from granian.http import HTTP1Settings
from pydantic import ValidationError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import app.__main__ as entry_point
import app.server.serve as serve_module
from app.config import Settings
from app.server.serve import MAX_HEADER_BYTES, behind_proxies, build_server


def test_settings_defaults_and_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings(_env_file=None)
    monkeypatch.setenv("HTTP_READ_TIMEOUT_S", "2.5")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", " 10.0.0.1, 10.1.2.3/16 ,::1,")
    configured = Settings(_env_file=None)

    assert (MAX_HEADER_BYTES, defaults.http_read_timeout_s, defaults.forwarded_allow_ips) == (8192, 15.0, [])
    assert configured.http_read_timeout_s == 2.5
    # Networks normalised: the proxy middleware would take "10.1.2.3/16" for a host name and trust nothing.
    assert configured.forwarded_allow_ips == ["10.0.0.1", "10.1.0.0/16", "::1"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FORWARDED_ALLOW_IPS", "proxy.internal"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.300"),
        ("HTTP_READ_TIMEOUT_S", "0"),
        ("HTTP_READ_TIMEOUT_S", "61"),  # above Granian's longest header read timeout
    ],
)
def test_malformed_edge_settings_stop_start_up(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.lower()):
        Settings(_env_file=None)


def test_any_proxy_is_exactly_a_star(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.1,*")
    assert Settings(_env_file=None).forwarded_allow_ips == ["*"]


def test_the_server_gets_the_edge_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve_module, "MAX_HEADER_BYTES", 16384)
    settings = Settings(_env_file=None, host="127.0.0.1", port=8123, http_read_timeout_s=3)
    server = build_server(FastAPI(), settings)

    assert (server.bind_addr, server.bind_port) == ("127.0.0.1", 8123)
    assert server.http1_settings == HTTP1Settings(header_read_timeout=3000, max_buffer_size=16384)
    assert server.interface == Interfaces.ASGI


def test_proxy_headers_are_believed_only_from_the_configured_proxies() -> None:
    app = FastAPI()
    assert behind_proxies(app, Settings(_env_file=None)) is app
    wrapped = behind_proxies(app, Settings(_env_file=None, forwarded_allow_ips="10.0.0.2"))
    assert isinstance(wrapped, ProxyHeadersMiddleware)
    assert wrapped.app is app


def test_python_m_app_serves_the_app_with_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: dict[str, Any] = {}
    calls: list[str] = []
    monkeypatch.setattr(entry_point, "configure_logging", lambda *args: calls.append("logging"))
    monkeypatch.setattr(entry_point, "create_app", lambda settings: FastAPI())
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "set_threshold", lambda *args: calls.append(f"threshold {args}"))

    async def serve(server: Any, app: Any) -> None:  # what `python -m app` runs, recording the server
        ran["server"] = server

    monkeypatch.setattr(entry_point, "serve", serve)
    monkeypatch.setattr(serve_module, "MAX_HEADER_BYTES", 16384)
    monkeypatch.setenv("HTTP_READ_TIMEOUT_S", "4")

    entry_point.main()

    assert ran["server"].http1_settings.max_buffer_size == 16384
    assert ran["server"].http1_settings.header_read_timeout == 4000
    assert calls == ["logging", "freeze", "threshold (10000, 10, 10)"]
