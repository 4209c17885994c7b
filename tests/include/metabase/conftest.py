"""The `fake_metabase` fixture: a contract-checking Metabase stand-in that fails the test on any violation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.include.metabase.fake_metabase import FakeMetabase


@pytest.fixture
def fake_metabase() -> Iterator[FakeMetabase]:
    server = FakeMetabase().start()
    try:
        yield server
    finally:
        server.stop()
    # Checked after the test body so a client that breaks the contract fails even if it handled the 400.
    assert server.violations == [], "requests broke the Metabase OpenAPI contract:\n" + "\n".join(
        f"  - {violation}" for violation in server.violations
    )
    assert server.errors == [], "FakeMetabase itself failed:\n" + "\n".join(f"  - {e}" for e in server.errors)
