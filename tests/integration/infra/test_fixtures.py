"""The real services the integration suite starts are really there."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_throwaway_postgres_accepts_queries(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("select 1 + 1").fetchone() == (2,)
