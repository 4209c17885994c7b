"""SQL text built from data: the only quoting helpers.

Values go into statements as bound parameters wherever DuckDB accepts one. Where it does not
(identifiers, DDL, table-function arguments, COMMENT ON, Metabase-like text substitutions), a
name or text from data is quoted here and nowhere else.
"""

from __future__ import annotations


def sql_literal(text: str) -> str:
    """A single-quoted SQL string literal for text we build into statements (paths, names, comments)."""
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A double-quoted SQL identifier for a name from the catalog or a delivery (a column header may hold anything)."""
    return '"' + name.replace('"', '""') + '"'


def sql_qualified(schema: str, name: str) -> str:
    """`schema.name` with both parts quoted as identifiers."""
    return f"{sql_identifier(schema)}.{sql_identifier(name)}"
