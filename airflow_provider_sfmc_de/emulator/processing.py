"""Save a list of submitted rows to a Data Extension, with one result per row, as SFMC does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from airflow_provider_sfmc_de.emulator.fastpath import FastRowDecoder
from airflow_provider_sfmc_de.emulator.rowcheck import RowChecker, RowError

if TYPE_CHECKING:
    from airflow_provider_sfmc_de.emulator.storage import RowStore

UNEXPECTED_ERROR = "UnexpectedError"
DEADLOCK_MESSAGE = (
    "Transaction (Process ID 71) was deadlocked on lock resources with another process and has "
    "been chosen as the deadlock victim. Rerun the transaction."
)


@dataclass(frozen=True, slots=True)
class RowFailure:
    """Why one row was not saved."""

    error_code: str
    message: str


class RowWriter:
    """Check rows and write them to one Data Extension's table.

    :param checker: the row rules of the Data Extension.
    :param store: where its rows live.
    :param account_id: the business unit's MID, which SFMC's constraint names carry.
    """

    def __init__(self, *, checker: RowChecker, store: RowStore, account_id: str) -> None:
        self.checker = checker
        self.store = store
        extension = checker.extension
        suffix = extension.id.replace("-", "")[:16].upper() if extension.id else "0"
        self._fast = FastRowDecoder(extension)
        self._constraint = f"PK_C{account_id}_{suffix}"
        self._object = f"C{account_id}.MCDE_{account_id}_{suffix}"

    def duplicate_key_failure(self, values: dict[str, Any]) -> RowFailure:
        shown = ", ".join(str(values[name]) for name in self.checker.primary_key)
        return RowFailure(
            UNEXPECTED_ERROR,
            f"Violation of PRIMARY KEY constraint '{self._constraint}'. Cannot insert duplicate "
            f"key in object '{self._object}'. The duplicate key value is ({shown}).\r\n"
            "The statement has been terminated.",
        )

    def write_body(
        self, body: bytes, row_count: int, *, upsert: bool, deadlocked: set[int]
    ) -> list[RowFailure | None]:
        """Save the rows of an async request body (``{"items": [...]}``), already known to
        hold ``row_count`` items."""
        if not upsert and not deadlocked:
            rows = self._fast.decode(body)
            key = self.checker.extension.key
            if rows is not None and self.store.insert_tuples_unless_duplicate(
                key, self._fast.columns, rows
            ):
                return [None] * row_count
        items = msgspec.json.decode(body)["items"]
        return self.write(items, upsert=upsert, deadlocked=deadlocked)

    def write(
        self,
        items: list[Any],
        *,
        upsert: bool,
        deadlocked: set[int] | None = None,
        stop_at_first_failure: bool = False,
    ) -> list[RowFailure | None]:
        """Save ``items``; return ``None`` for each saved row, or why it was not saved.

        :param items: the submitted rows, in order.
        :param upsert: update rows whose key exists (PUT) instead of refusing them (POST).
        :param deadlocked: positions of rows that fail with a deadlock, for fault injection.
        :param stop_at_first_failure: refuse every row after the first bad one, as the
            synchronous rowset API does.
        """
        checker = self.checker
        results: list[RowFailure | None] = [None] * len(items)
        converted: list[tuple[int, dict[str, Any]]] = []
        for position, item in enumerate(items):
            try:
                if deadlocked and position in deadlocked:
                    raise RowError(DEADLOCK_MESSAGE, UNEXPECTED_ERROR)
                values = checker.convert(item)
                if upsert:
                    checker.check_key(values)
                converted.append((position, values))
            except RowError as error:
                results[position] = RowFailure(error.error_code, error.message)
                if stop_at_first_failure:
                    break

        with self.store.lock:
            if not upsert and self._insert_without_duplicates(converted, results):
                return results
            self._write_one_by_one(converted, results, upsert, stop_at_first_failure)
        return results

    def _insert_without_duplicates(
        self, converted: list[tuple[int, dict[str, Any]]], results: list[RowFailure | None]
    ) -> bool:
        """Insert complete rows in one go; ``False`` (nothing written) if a key is taken."""
        complete: list[dict[str, Any]] = []
        failures: dict[int, RowFailure] = {}
        for position, values in converted:
            try:
                complete.append(self.checker.check_new_row(values))
            except RowError as error:
                failures[position] = RowFailure(error.error_code, error.message)
        key = self.checker.extension.key
        if complete and not self.store.insert_unless_duplicate(key, complete):
            return False
        for position, failure in failures.items():
            results[position] = failure
        return True

    def _write_one_by_one(
        self,
        converted: list[tuple[int, dict[str, Any]]],
        results: list[RowFailure | None],
        upsert: bool,
        stop_at_first_failure: bool,
    ) -> None:
        """Decide row by row whether a key exists: an update, an insert, or a duplicate."""
        checker = self.checker
        has_key = bool(checker.primary_key)
        keys = [checker.key_of(values) for _, values in converted] if has_key else []
        stored = self.store.existing_keys(checker.extension.key, keys) if has_key else set()
        seen: set[tuple[Any, ...]] = set()
        accepted: list[dict[str, Any]] = []
        for index, (position, values) in enumerate(converted):
            key = keys[index] if has_key else ()
            exists = has_key and (key in stored or key in seen)
            try:
                if exists and not upsert:
                    raise RowError(self.duplicate_key_failure(values).message, UNEXPECTED_ERROR)
                if not exists:
                    checker.check_new_row(values)
            except RowError as error:
                results[position] = RowFailure(error.error_code, error.message)
                if stop_at_first_failure:
                    break
                continue
            if has_key:
                seen.add(key)
            accepted.append(values)
        if accepted:
            self.store.write(checker.extension.key, accepted, update_existing=upsert)
