"""Azurite, Microsoft's Azure Storage emulator (npm `azurite`, pinned in package.json, installed by `make azurite`),
run by the tests on 127.0.0.1 on a free port, its storage in a folder of the test's own.

Reached as Azure is: through an Airflow connection whose `connection_string` extra the WASB hook, the
provider's triggers and `ObjectStoragePath("abfs://…")` (adlfs) all honour.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scripts.standalone_airflow import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
AZURITE_BLOB = PROJECT_ROOT / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's published development account key: a well-known constant, not a secret.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
STARTUP_S = 30.0


@dataclass(frozen=True)
class Azurite:
    port: int

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.port}/{ACCOUNT};"
        )

    def connection_env(self, conn_id: str) -> dict[str, str]:
        """The environment variable that defines the Airflow connection `conn_id` to this Azurite."""
        connection = {"conn_type": "wasb", "extra": {"connection_string": self.connection_string}}
        return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(connection)}

    def container(self, name: str):
        """A new, empty container (azure-storage-blob's ContainerClient) to fill."""
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string).create_container(name)


def upload_tree(container, local_root: Path, prefix: str) -> None:
    """Every file under `local_root` to `<prefix>/<its path under local_root>` in `container`."""
    for path in sorted(local_root.rglob("*")):
        if path.is_file():
            name = f"{prefix.strip('/')}/{path.relative_to(local_root).as_posix()}".lstrip("/")
            with path.open("rb") as data:
                container.upload_blob(name, data, overwrite=True)


@contextmanager
def running_azurite(workspace: Path) -> Iterator[Azurite]:
    """Azurite's Blob service, started and, on exit, stopped (its storage and log in `workspace`)."""
    if not AZURITE_BLOB.exists():
        raise RuntimeError(f"{AZURITE_BLOB} is missing: run `make azurite` (npm ci) to install Azurite")
    port = free_port()
    log = (workspace / "azurite.log").open("wb")
    command = [
        str(AZURITE_BLOB),
        *("--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(workspace)),
        "--loose",  # accept the headers Azurite does not implement instead of failing the request
        "--skipApiVersionCheck",  # the Azure SDK is newer than the emulator
        "--silent",
    ]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workspace)
    try:
        _wait_until_listening(port, process, workspace / "azurite.log")
        yield Azurite(port)
    finally:
        process.terminate()
        try:  # it closes once its clients' keep-alive connections do: not worth waiting for
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_until_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"Azurite did not listen on 127.0.0.1:{port} within {STARTUP_S:.0f}s: {log.read_text()[-2000:]}")


def set_connection(monkeypatch, azurite: Azurite, conn_id: str) -> None:
    for name, value in azurite.connection_env(conn_id).items():
        monkeypatch.setenv(name, value)
