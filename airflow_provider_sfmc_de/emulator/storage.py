"""Data Extension rows in SQLite: in memory by default, in a file when the config names one."""

from __future__ import annotations

import sqlite3
import threading
from itertools import groupby
from typing import TYPE_CHECKING, Any

from airflow_provider_sfmc_de.schema import FieldType

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from airflow_provider_sfmc_de.emulator.config import DataExtensionDefinition

# SQLite allows 32766 parameters in a statement; stay well below.
_IN_LIST_SIZE = 10_000
_INTEGER_TYPES = frozenset({FieldType.NUMBER, FieldType.BOOLEAN})


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _insert_statement(table: str, columns: Sequence[str]) -> str:
    column_list = ", ".join(map(_quote, columns))
    return f"INSERT INTO {table} ({column_list}) VALUES ({', '.join('?' * len(columns))})"


class RowStore:
    """One SQLite table per Data Extension, with its primary key, behind one lock.

    :param extensions: the Data Extensions to hold.
    :param path: a SQLite file to keep the rows in, or ``None`` for memory.
    """

    def __init__(self, extensions: Iterable[DataExtensionDefinition], path: str | None) -> None:
        self.lock = threading.RLock()
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL" if path else "PRAGMA journal_mode=MEMORY")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._extensions = {extension.key: extension for extension in extensions}
        self._counts: dict[str, int] = {}
        for extension in self._extensions.values():
            self._create_table(extension)
            self._count_rows(extension.key)
        self._db.commit()

    @staticmethod
    def _table(key: str) -> str:
        return _quote(f"de_{key}")

    def _create_table(self, extension: DataExtensionDefinition) -> None:
        columns = []
        for field in extension.fields:
            affinity = "INTEGER" if field.type in _INTEGER_TYPES else "TEXT"
            # SQL Server's default collation compares text case-insensitively, keys included.
            collation = " COLLATE NOCASE" if affinity == "TEXT" else ""
            columns.append(f"{_quote(field.name)} {affinity}{collation}")
        if extension.primary_key:
            key_columns = ", ".join(_quote(name) for name in extension.primary_key)
            columns.append(f"PRIMARY KEY ({key_columns})")
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {self._table(extension.key)} ({', '.join(columns)})"
        )

    def existing_keys(
        self, key: str, candidates: Iterable[tuple[Any, ...]]
    ) -> set[tuple[Any, ...]]:
        """Return those of ``candidates`` (lower-cased key tuples) already stored."""
        names = self._extensions[key].primary_key
        if not names:
            return set()
        wanted = list(set(candidates))
        columns = ", ".join(_quote(name) for name in names)
        table = self._table(key)
        found: set[tuple[Any, ...]] = set()
        with self.lock:
            if len(names) == 1:
                for start in range(0, len(wanted), _IN_LIST_SIZE):
                    chunk = [candidate[0] for candidate in wanted[start : start + _IN_LIST_SIZE]]
                    marks = ", ".join("?" * len(chunk))
                    found.update(
                        self._db.execute(
                            f"SELECT {columns} FROM {table} WHERE {columns} IN ({marks})",
                            chunk,
                        )
                    )
            else:
                found.update(self._existing_composite_keys(key, names, wanted))
        return {tuple(v.lower() if isinstance(v, str) else v for v in row) for row in found}

    def _existing_composite_keys(
        self, key: str, names: list[str], wanted: list[tuple[Any, ...]]
    ) -> list[tuple[Any, ...]]:
        temp_table = f"wanted_keys_{len(names)}"
        temp_columns = ", ".join(f"k{index}" for index in range(len(names)))
        self._db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp_table} ({temp_columns})")
        self._db.execute(f"DELETE FROM {temp_table}")
        marks = ", ".join("?" for _ in names)
        self._db.executemany(f"INSERT INTO {temp_table} ({temp_columns}) VALUES ({marks})", wanted)
        join = " AND ".join(f"t.{_quote(name)} = w.k{index}" for index, name in enumerate(names))
        selected = ", ".join(f"t.{_quote(name)}" for name in names)
        return self._db.execute(
            f"SELECT {selected} FROM {self._table(key)} t JOIN {temp_table} w ON {join}"
        ).fetchall()

    def write(self, key: str, rows: list[dict[str, Any]], *, update_existing: bool) -> None:
        """Insert rows, or with ``update_existing`` update the given columns of existing keys.

        Consecutive rows with the same columns go to SQLite in one ``executemany``; the order
        of the rows is kept, so a later row for the same key wins.
        """
        with self.lock:
            self._execute_writes(key, rows, update_existing=update_existing)
            self._db.commit()
            self._count_rows(key)

    def insert_unless_duplicate(self, key: str, rows: list[dict[str, Any]]) -> bool:
        """Insert all rows in one transaction; if any key exists already, insert none and
        return ``False``. The fast path for loads without duplicates."""
        return self._insert_all_or_none(
            key, lambda: self._execute_writes(key, rows, update_existing=False)
        )

    def insert_tuples_unless_duplicate(
        self, key: str, columns: list[str], rows: list[tuple[Any, ...]]
    ) -> bool:
        """Like :meth:`insert_unless_duplicate`, for rows given as tuples in ``columns`` order."""
        statement = _insert_statement(self._table(key), columns)
        return self._insert_all_or_none(key, lambda: self._db.executemany(statement, rows))

    def _insert_all_or_none(self, key: str, insert: Callable[[], object]) -> bool:
        """Run ``insert`` in one transaction; roll it all back if a key exists already."""
        with self.lock:
            try:
                insert()
            except sqlite3.IntegrityError:
                self._db.rollback()
                return False
            self._db.commit()
            self._count_rows(key)
            return True

    def _execute_writes(
        self, key: str, rows: list[dict[str, Any]], *, update_existing: bool
    ) -> None:
        extension = self._extensions[key]
        table = self._table(key)
        key_columns = ", ".join(_quote(name) for name in extension.primary_key)
        for columns, group in groupby(rows, key=tuple):
            statement = _insert_statement(table, columns)
            if update_existing and extension.primary_key:
                updates = [
                    f"{_quote(name)} = excluded.{_quote(name)}"
                    for name in columns
                    if name not in extension.primary_key
                ]
                action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
                statement += f" ON CONFLICT ({key_columns}) {action}"
            self._db.executemany(statement, [tuple(row.values()) for row in group])

    def _count_rows(self, key: str) -> None:
        # Rows are never deleted, so the highest rowid is the row count, without a scan.
        (self._counts[key],) = self._db.execute(
            f"SELECT COALESCE(MAX(rowid), 0) FROM {self._table(key)}"
        ).fetchone()

    def count(self, key: str) -> int:
        return self._counts[key]

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def read(self, key: str, *, offset: int = 0, limit: int = -1) -> list[dict[str, Any]]:
        """Return stored rows in the order they were first inserted."""
        extension = self._extensions[key]
        names = [field.name for field in extension.fields]
        columns = ", ".join(_quote(name) for name in names)
        with self.lock:
            cursor = self._db.execute(
                f"SELECT {columns} FROM {self._table(key)} ORDER BY rowid LIMIT ? OFFSET ?",
                (limit, offset),
            )
            return [dict(zip(names, row, strict=True)) for row in cursor]

    def close(self) -> None:
        with self.lock:
            self._db.close()
