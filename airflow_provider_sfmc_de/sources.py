"""Read rows in batches from a list of dicts, a pandas DataFrame or a DB-API cursor.

No Airflow imports: the operator opens the database connection through common-sql and hands
it over. Every source yields ``RowBatch`` objects, tuples of values sharing one set of column
names, so the validator compiles its checks once per set of columns, not once per row.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    import pandas as pd

DEFAULT_CHUNK_SIZE = 10_000
SERVER_SIDE_CURSOR_NAME = "sfmc_de_rows"
# A bare table name, optionally qualified by schema (and database): read the whole table.
_TABLE_NAME = re.compile(r'[A-Za-z_"][\w$"]*(\.[A-Za-z_"][\w$"]*){0,2}')


@dataclass(frozen=True, slots=True)
class RowBatch:
    """Consecutive rows that have the same columns, in load order."""

    columns: tuple[str, ...]
    rows: Sequence[Sequence[Any]]


def record_batches(
    records: Iterable[Mapping[str, Any]], *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[RowBatch]:
    """Group dicts into batches; a row with other keys than the one before starts a new batch.

    A key that a row leaves out is not sent for that row, so partial rows stay partial.
    """
    columns: tuple[str, ...] | None = None
    rows: list[tuple[Any, ...]] = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise TypeError(f"row {number} is a {type(record).__name__}, not a dict")
        keys = tuple(record)
        if keys != columns or len(rows) >= chunk_size:
            if rows:
                yield RowBatch(columns, rows)  # type: ignore[arg-type]
            columns, rows = keys, []
        rows.append(tuple(record.values()))
    if rows:
        yield RowBatch(columns, rows)  # type: ignore[arg-type]


def dataframe_batches(
    frame: pd.DataFrame, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[RowBatch]:
    """Yield a DataFrame's rows (not its index) in batches of plain tuples."""
    columns = tuple(str(column) for column in frame.columns)
    for start in range(0, len(frame), chunk_size):
        chunk = frame.iloc[start : start + chunk_size]
        yield RowBatch(columns, list(chunk.itertuples(index=False, name=None)))


def select_statement(sql: str) -> str:
    """Turn a table name into ``SELECT * FROM`` it; leave a query as it is."""
    text = sql.strip().rstrip(";").strip()
    if _TABLE_NAME.fullmatch(text):
        return f"SELECT * FROM {text}"
    return text


@contextlib.contextmanager
def open_cursor(connection: Any, *, server_side: bool) -> Iterator[Any]:
    """Open a cursor; a named (server-side) one where the driver streams with it (PostgreSQL).

    Without a named cursor, psycopg fetches the whole result into client memory on execute.
    """
    cursor = connection.cursor(name=SERVER_SIDE_CURSOR_NAME) if server_side else connection.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def cursor_batches(
    cursor: Any, sql: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[RowBatch]:
    """Execute ``sql`` and yield its rows ``chunk_size`` at a time with ``fetchmany``."""
    cursor.arraysize = chunk_size
    if hasattr(cursor, "itersize"):  # psycopg2 named cursors fetch this many rows per round trip
        cursor.itersize = chunk_size
    cursor.execute(select_statement(sql))
    columns: tuple[str, ...] | None = None
    while True:
        rows = cursor.fetchmany(chunk_size)
        if columns is None:
            # A named cursor describes its columns only after the first fetch.
            if cursor.description is None:
                return
            columns = tuple(column[0] for column in cursor.description)
        if not rows:
            return
        if isinstance(rows[0], Mapping):  # a dict cursor chosen in the connection's extras
            rows = [tuple(row.values()) for row in rows]
        yield RowBatch(columns, rows)
