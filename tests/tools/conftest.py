"""The demo catalog in embedded Chroma and in a real ``chroma run`` server on loopback."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tools.catalog.demo_catalog import load_demo_catalog
from tools.catalog.store import CatalogStore, connect


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Chroma server process, as `chroma run` ships in the chromadb wheel."""
    path = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/api/v2/heartbeat").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("chroma run did not start in 30 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def embedded_demo_store(tmp_path_factory: pytest.TempPathFactory) -> CatalogStore:
    store = CatalogStore(connect(tmp_path_factory.mktemp("catalog"), None))
    store.upsert(load_demo_catalog())
    return store


@pytest.fixture(scope="session")
def server_demo_store(chroma_server: str) -> CatalogStore:
    store = CatalogStore(connect(Path("unused"), chroma_server))
    store.upsert(load_demo_catalog())
    return store


@pytest.fixture(params=["embedded", "server"])
def demo_store(request: pytest.FixtureRequest) -> CatalogStore:
    store: CatalogStore = request.getfixturevalue(f"{request.param}_demo_store")
    return store
