"""S3 exports whose endpoint fails the way S3 can fail: nothing listening, or one error answer to every request."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from include.aws.provider import AWS
from include.aws.settings import AwsExport
from tests.conftest import S3_URI, export_config


def _answering(status: int, code: str) -> ThreadingHTTPServer:
    """An endpoint answering every request as S3 does when it refuses one: `status`, and an XML error `code`."""

    class Refusing(BaseHTTPRequestHandler):
        def do_GET(self):
            self._answer(body=True)

        def do_HEAD(self):
            self._answer(body=False)  # S3 sends no body with a HEAD: the client sees only the status

        def _answer(self, body: bool):
            error = f"<Error><Code>{code}</Code><Message>{code} (test endpoint)</Message></Error>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(error) if body else 0))
            self.end_headers()
            if body:
                self.wfile.write(error)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def failing_s3_export(monkeypatch):
    """`(name, answer)` → a CUR 2.0 export on S3 through an Airflow connection of its own, whose endpoint
    answers every request with `answer` (status, S3 error code), or where nothing listens (answer None)."""
    servers = []

    def export(name: str, answer: tuple[int, str] | None) -> AwsExport:
        if answer is None:
            port = _closed_port()
        else:
            servers.append(_answering(*answer))
            port = servers[-1].server_address[1]
        conn_id = f"failing_s3_{uuid.uuid4().hex[:8]}"  # a fresh one: Airflow keeps a file system per connection
        extra = {
            "endpoint_url": f"http://127.0.0.1:{port}",
            "region_name": "us-east-1",
            "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2},  # fail in a second
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "aws", "extra": extra}))
        return AWS.parse_exports(json.dumps([export_config(name, "cur2", S3_URI, conn_id=conn_id)]))[0]

    yield export
    for server in servers:
        server.shutdown()
        server.server_close()
