"""``?`` placeholders become psycopg's ``%s`` only where they are placeholders."""

from __future__ import annotations

import pytest

from eventlake.warehouse.postgres import qmark_to_pyformat


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM t WHERE a = ? AND b > ?", "SELECT * FROM t WHERE a = %s AND b > %s"),
        ("SELECT '?' AS q, a FROM t WHERE a = ?", "SELECT '?' AS q, a FROM t WHERE a = %s"),
        ("SELECT 'it''s ?' WHERE x = ?", "SELECT 'it''s ?' WHERE x = %s"),
        ('SELECT "odd?col" FROM t WHERE a = ?', 'SELECT "odd?col" FROM t WHERE a = %s'),
        ("SELECT 1 -- why?\nWHERE a = ?", "SELECT 1 -- why?\nWHERE a = %s"),
        ("SELECT /* ? */ a WHERE a = ?", "SELECT /* ? */ a WHERE a = %s"),
        ("SELECT a % 2, '50%' WHERE a LIKE ?", "SELECT a %% 2, '50%%' WHERE a LIKE %s"),
    ],
)
def test_placeholders_outside_quotes_and_comments(sql: str, expected: str) -> None:
    assert qmark_to_pyformat(sql) == expected
