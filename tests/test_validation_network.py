"""Validation never touches the network: a server on 127.0.0.1 counts the tries."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import RunCli


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.hits.append(self.path)
        body = json.dumps({"type": "integer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/schema+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(name="schema_server")
def _schema_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that serves a schema and records each request."""
    hits: list[str] = []
    handler = type("Recorder", (_Recorder,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_the_server_answers_when_asked(schema_server: tuple[str, list[str]]) -> None:
    from urllib.request import urlopen

    url, hits = schema_server

    with urlopen(url + "/probe.json", timeout=5) as answer:
        assert json.load(answer) == {"type": "integer"}
    assert hits == ["/probe.json"]


def test_remote_ref_is_a_clear_error_and_no_request_is_made(
    run_cli: RunCli, tmp_path: Path, schema_server: tuple[str, list[str]]
) -> None:
    url, hits = schema_server
    schema = {"properties": {"port": {"$ref": f"{url}/port.json"}}}
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    (tmp_path / "a.json").write_text('{"port": "x"}')

    done = run_cli("validate", "--schema", "schema.json", "a.json")

    assert done.returncode == 1
    assert f"$ref '{url}/port.json' cannot be resolved" in done.stderr
    assert "never fetches" in done.stderr
    assert "Traceback" not in done.stderr
    assert hits == []


def test_schema_add_with_remote_ref_is_refused_without_a_request(
    run_cli: RunCli, store_path: Path, tmp_path: Path, schema_server: tuple[str, list[str]]
) -> None:
    url, hits = schema_server
    run_cli("init", store=store_path)
    schema = tmp_path / "remote.schema.json"
    schema.write_text(json.dumps({"$ref": f"{url}/all.json"}))

    done = run_cli("schema", "add", str(schema), "--for", "*.yaml", store=store_path)

    assert done.returncode == 1
    assert "cannot be resolved" in done.stderr
    assert hits == []


def test_document_naming_a_remote_schema_is_refused_without_a_request(
    run_cli: RunCli, store_path: Path, tmp_path: Path, schema_server: tuple[str, list[str]]
) -> None:
    url, hits = schema_server
    run_cli("init", store=store_path)
    doc = tmp_path / "app.json"
    doc.write_text(json.dumps({"$schema": f"{url}/app.json", "a": 1}))

    done = run_cli("import", str(doc), store=store_path)

    assert done.returncode == 1
    assert "is not a local schema; vpa-config never fetches" in done.stderr
    assert hits == []
