"""The demo catalog in embedded Chroma and in a real ``chroma run`` server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chroma_server import running_chroma
from tools.catalog.demo_catalog import load_demo_catalog
from tools.catalog.store import CatalogStore, connect


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_chroma(tmp_path_factory.mktemp("chroma-server")) as (url, _):
        yield url


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
