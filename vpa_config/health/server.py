"""The health endpoint: the standard library's ThreadingHTTPServer.

=====================  =====================================================
path                   answers
=====================  =====================================================
``/health``            every check
``/health/live``       the process answers; only checks tagged ``live`` run
                       (none of the built-in ones: liveness must not depend
                       on the store or the host)
``/health/ready``      checks tagged ``ready``: the store and its config
``/health/<check>``    one check by name (``disk:free``) or component
                       (``store``); 404 when nothing matches
``/metrics``           Prometheus text format
=====================  =====================================================

The status code comes from the aggregate state through
``health.http_status`` (healthy and degraded 200, unhealthy and unknown 503
by default). The body is the same JSON either way; its ``Content-Type`` is
``application/health+json`` when the request's ``Accept`` names it (or the
draft's older ``application/vnd.health+json``), else ``application/json``.
Each request runs in a thread of its own and reads the monitor's cached
results, so a slow client or a hung check never blocks another probe.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from vpa_config import logs
from vpa_config.health import metrics
from vpa_config.health.model import HealthReport
from vpa_config.health.monitor import HealthMonitor

HEALTH_JSON = "application/health+json"
HEALTH_TYPES = (HEALTH_JSON, "application/vnd.health+json")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    monitor: HealthMonitor


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class HealthServer:
    """A running (or ready to run) health endpoint for one monitor."""

    def __init__(
        self, monitor: HealthMonitor, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        cls = _IPv6Server if ":" in host else _Server
        self._httpd = cls((host, port), _Handler)
        self._httpd.monitor = monitor
        self.monitor = monitor
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        """The port it listens on (the one picked when asked for port 0)."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Answer requests until :meth:`shutdown` is called from another thread."""
        self._serving.set()
        logs.emit(
            "health.monitoring_started",
            category="security",
            host=self.host,
            port=self.port,
        )
        self._httpd.serve_forever(poll_interval=0.2)

    def start(self) -> HealthServer:
        """Serve from a daemon thread; return at once."""
        self._serving.set()
        self._thread = threading.Thread(
            target=self.serve_forever, name="health-server", daemon=True
        )
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop serving and close the socket (waits for the serving loop only)."""
        if self._serving.is_set():
            self._httpd.shutdown()
            self._serving.clear()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> HealthServer:
        return self if self._serving.is_set() else self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "vpa-config-health"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _refuse_method(self) -> None:
        """405 with the methods the endpoint takes, as JSON like its other answers.

        The request's body is not read: the connection is closed after the
        answer, so no unread body is taken for the next request.
        """
        payload = _json({
            "status": "fail",
            "output": f"method {self.command} not allowed; use GET or HEAD",
        })
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        self.close_connection = True

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def log_message(self, format: str, *args: Any) -> None:
        logs.emit(
            "health.request",
            level="debug",
            client=self.client_address[0],
            line=format % args,
        )

    def _answer(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path).rstrip("/") or "/"
        try:
            status, content_type, payload = self._route(path)
        except Exception as exc:  # a bug must not kill the server
            logs.emit(
                "health.endpoint_failed",
                level="error",
                path=path,
                error=f"{type(exc).__name__}: {exc}",
            )
            status, content_type = 500, "application/json"
            payload = _json({"status": "fail", "output": f"internal error: {exc}"})
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", self._cache_control())
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def _route(self, path: str) -> tuple[int, str, bytes]:
        # TODO(#6): hide check output and paths from unauthenticated clients
        # (a show-details setting) once the endpoint may bind beyond loopback.
        # TODO(#6): /health/startup, and ?exclude=CHECK, when an embedding
        # application needs them.
        monitor = self.server.monitor
        if path == "/metrics":
            report = monitor.report()
            text = metrics.render(report, monitor.timeouts())
            return 200, metrics.CONTENT_TYPE, text.encode()
        if path == "/health":
            return self._report(monitor.report())
        if path == "/health/live":
            return self._report(monitor.report(tags={"live"}, touch_store=False))
        if path == "/health/ready":
            return self._report(monitor.report(tags={"ready"}))
        if path.startswith("/health/"):
            name = path[len("/health/") :]
            report = monitor.report(names={name})
            if not report.results:
                return self._not_found(f"no health check or component named {name!r}")
            return self._report(report)
        return self._not_found(f"no such endpoint {path!r}; try /health or /metrics")

    def _report(self, report: HealthReport) -> tuple[int, str, bytes]:
        return report.http_status, self._json_type(), _json(report.to_dict())

    def _not_found(self, message: str) -> tuple[int, str, bytes]:
        return 404, "application/json", _json({"status": "fail", "output": message})

    def _json_type(self) -> str:
        accept = self.headers.get("Accept", "")
        wanted = {part.split(";")[0].strip().lower() for part in accept.split(",")}
        return HEALTH_JSON if wanted & set(HEALTH_TYPES) else "application/json"

    def _cache_control(self) -> str:
        ttl = self.server.monitor.settings.cache_s
        return f"max-age={int(ttl)}" if ttl >= 1 else "no-cache"


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, default=str, indent=2).encode() + b"\n"
