"""uvicorn's options for the HTTP edge: the settings, the protocol with limits (or h11 without httptools), proxies."""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any

import pytest
from pydantic import ValidationError

import app.__main__ as entry_point
from app.config import Settings
from app.server.edge import uvicorn_edge_options
from app.server.http_protocol import LimitedHttpToolsProtocol


def test_settings_defaults_and_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings(_env_file=None)
    monkeypatch.setenv("MAX_HEADER_BYTES", "16384")
    monkeypatch.setenv("HTTP_READ_TIMEOUT_S", "2.5")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", " 10.0.0.1, 10.1.2.3/16 ,::1,")
    configured = Settings(_env_file=None)

    assert (defaults.max_header_bytes, defaults.http_read_timeout_s, defaults.forwarded_allow_ips) == (8192, 15.0, [])
    assert configured.max_header_bytes == 16384
    assert configured.http_read_timeout_s == 2.5
    # Networks normalised: uvicorn would take "10.1.2.3/16" for a host name and silently trust nothing.
    assert configured.forwarded_allow_ips == ["10.0.0.1", "10.1.0.0/16", "::1"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FORWARDED_ALLOW_IPS", "proxy.internal"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.300"),
        ("MAX_HEADER_BYTES", "100"),
        ("HTTP_READ_TIMEOUT_S", "0"),
    ],
)
def test_malformed_edge_settings_stop_start_up(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.lower()):
        Settings(_env_file=None)


def test_any_proxy_is_exactly_a_star_for_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.1,*")
    assert Settings(_env_file=None).forwarded_allow_ips == ["*"]


def test_options_by_default_use_the_limited_protocol_and_believe_no_proxy() -> None:
    options = uvicorn_edge_options(Settings(_env_file=None, max_header_bytes=4096, http_read_timeout_s=3))

    protocol = options.pop("http")
    assert issubclass(protocol, LimitedHttpToolsProtocol)
    assert (protocol.max_header_bytes, protocol.read_timeout_s) == (4096, 3)
    assert options == {"proxy_headers": False, "forwarded_allow_ips": []}


def test_options_believe_the_configured_proxies() -> None:
    options = uvicorn_edge_options(Settings(_env_file=None, forwarded_allow_ips="10.0.0.2"))
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == ["10.0.0.2"]


def test_without_httptools_h11_serves_with_the_header_cap(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "httptools", None)  # import httptools raises ImportError
    monkeypatch.delitem(sys.modules, "app.server.http_protocol")
    with caplog.at_level(logging.WARNING, logger="app.server"):
        options = uvicorn_edge_options(Settings(_env_file=None, max_header_bytes=4096))

    assert options["http"] == "h11"
    assert options["h11_max_incomplete_event_size"] == 4096
    assert options["proxy_headers"] is False
    assert any("httptools is not importable" in r.getMessage() and "h11" in r.getMessage() for r in caplog.records)


def test_python_m_app_passes_the_edge_options_to_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: dict[str, Any] = {}
    monkeypatch.setattr(entry_point, "configure_logging", lambda *args: None)
    monkeypatch.setattr(entry_point, "create_app", lambda settings: "the app")
    monkeypatch.setattr(gc, "freeze", lambda: None)
    monkeypatch.setattr(gc, "set_threshold", lambda *args: None)

    class Server:  # what `python -m app` runs, recording its uvicorn configuration
        def __init__(self, config: Any) -> None:
            self.config = config

        def run(self) -> None:
            ran.update(vars(self.config))

    monkeypatch.setattr(entry_point, "NoticingServer", Server)
    monkeypatch.setenv("MAX_HEADER_BYTES", "2048")
    monkeypatch.setenv("HTTP_READ_TIMEOUT_S", "4")

    entry_point.main()

    assert ran["app"] == "the app"
    assert issubclass(ran["http"], LimitedHttpToolsProtocol)
    assert (ran["http"].max_header_bytes, ran["http"].read_timeout_s) == (2048, 4)
    assert ran["proxy_headers"] is False
