"""Match SFMC's per-row async results to the rows that were sent, and report the rows that failed.

SFMC answers one result item per submitted row, in submission order, so the n-th item belongs to
the n-th row of its request. What the insert operator returned (row counts, the load row number
of each request's first row, each row's primary key) turns a position into a row a person can
find. Nothing here talks to SFMC or imports Airflow.
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_sfmc_de.outcome import count_of
from airflow_provider_sfmc_de.reports import (
    CSV_SUFFIXES,
    ReportFile,
    read_row_keys_manifest,
    temporary_path,
)

log = logging.getLogger(__name__)

# SFMC ends the message of a row that lost a SQL deadlock with this sentence; such a row did
# nothing wrong and is safe to send again as an upsert.
DEADLOCK_MESSAGE_END = "Rerun the transaction."
REQUEST_ERROR_CODE = "RequestError"
EXAMPLES_KEPT = 10
_MESSAGE_WIDTH = 240

JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".json")


class RowResult(Protocol):
    """What a per-row result offers; the hook's ``AsyncRowResult`` is one."""

    @property
    def ok(self) -> bool: ...

    error_code: str | None
    message: str | None


@dataclass(frozen=True)
class RequestRows:
    """What is known about the rows of one async request.

    :param request_id: SFMC's id of the request.
    :param rows: how many rows it carried, when known.
    :param first_row: the 1-based load row number of its first row, when known.
    :param numbered: its rows are consecutive rows of the load (no rejected row among them),
        so the load row number of each follows from ``first_row``.
    """

    request_id: str
    rows: int | None = None
    first_row: int | None = None
    numbered: bool = False


@dataclass
class LoadManifest:
    """The requests to wait for, and what is known about their rows.

    Built from the sensor's ``request_ids`` argument: a list of request ids, or the insert
    operator's return value, which adds row counts and primary keys.

    :param requests: the requests in submission order.
    :param data_extension_key: the Data Extension loaded, when known.
    :param primary_key: the primary-key field names, when known.
    :param row_keys: inline primary-key strings per request, in row order.
    :param row_keys_path: a JSON lines file of ``{"request_id", "keys"}``, for large loads.
    """

    requests: list[RequestRows]
    data_extension_key: str | None = None
    primary_key: list[str] = field(default_factory=list)
    row_keys: dict[str, list[str]] | None = None
    row_keys_path: str | None = None

    @property
    def request_ids(self) -> list[str]:
        return [request.request_id for request in self.requests]

    def request(self, request_id: str) -> RequestRows:
        return next(r for r in self.requests if r.request_id == request_id)

    @classmethod
    def from_argument(cls, value: Any) -> LoadManifest:
        """Read a list of ids, one id, or the operator's return value (also as rendered text)."""
        if isinstance(value, str):
            value = _parse_text(value)
        if isinstance(value, Mapping):
            return cls._from_operator_result(value)
        if isinstance(value, Iterable) and not isinstance(value, bytes):
            ids = list(value)
            bad = [request_id for request_id in ids if not isinstance(request_id, str)]
            if bad or any(not request_id.strip() for request_id in ids):
                raise ValueError(f"request_ids must hold request id strings; got {bad or ids!r}.")
            return cls(requests=[RequestRows(request_id) for request_id in dict.fromkeys(ids)])
        raise ValueError(
            "request_ids must be a list of SFMC request ids or the insert operator's return "
            f"value; got {type(value).__name__}."
        )

    @classmethod
    def _from_operator_result(cls, result: Mapping[str, Any]) -> LoadManifest:
        if "request_ids" not in result:
            raise ValueError(
                "request_ids was given a dict without a 'request_ids' entry; pass the insert "
                f"operator's return value or a list of ids (keys given: {sorted(result)})."
            )
        described = {
            entry["request_id"]: entry
            for entry in _with_row_numbering(result)
            if entry.get("request_id")
        }
        requests = []
        for request_id in dict.fromkeys(result["request_ids"] or []):
            entry = described.get(request_id, {})
            requests.append(
                RequestRows(
                    request_id,
                    rows=entry.get("rows"),
                    first_row=entry.get("first_row"),
                    numbered=entry.get("numbered", False),
                )
            )
        return cls(
            requests=requests,
            data_extension_key=result.get("data_extension_key"),
            primary_key=list(result.get("primary_key") or []),
            row_keys=result.get("row_keys"),
            row_keys_path=result.get("row_keys_path"),
        )

    def keys_for(self, request_ids: Iterable[str]) -> dict[str, list[str]]:
        """The primary-key strings of the rows of these requests, where they are known."""
        wanted = set(request_ids)
        if self.row_keys is not None:
            return {rid: keys for rid, keys in self.row_keys.items() if rid in wanted}
        if not self.row_keys_path or not wanted:
            return {}
        path = Path(self.row_keys_path)
        if not path.is_file():
            log.warning(
                "The row keys manifest %s is not readable here; failed rows are named by request "
                "and position instead of primary key.",
                path,
            )
            return {}
        return read_row_keys_manifest(path, wanted)


@dataclass(frozen=True)
class FailedRow:
    """One row SFMC did not store.

    :param request_id: the async request that carried it.
    :param position: its 1-based position within that request.
    :param row_number: its 1-based row number in the whole load, when known.
    :param key: its primary key ("|" between the values of a composite key), when known.
    :param error_code: SFMC's ``errorCode`` for the row.
    :param message: SFMC's message for the row.
    :param transient: True for a deadlock: the row is safe to send again as an upsert.
    """

    request_id: str
    position: int
    row_number: int | None
    key: str | None
    error_code: str | None
    message: str | None
    transient: bool


REPORT_COLUMNS = tuple(f.name for f in fields(FailedRow))


def is_transient(message: str | None) -> bool:
    """Whether SFMC's row message says the row lost a deadlock rather than being at fault."""
    return bool(message) and message.rstrip().endswith(DEADLOCK_MESSAGE_END)


def check_report_path(path: str | None) -> None:
    """Refuse a report path whose format cannot be told from its extension, before waiting."""
    if path is not None and Path(path).suffix.lower() not in (*JSON_LINES_SUFFIXES, *CSV_SUFFIXES):
        raise ValueError(
            f"failed_rows_path {path!r} must end in .csv (CSV) or .jsonl, .ndjson, .json "
            "(JSON lines)."
        )


class FailedRowsReport:
    """Collect failed rows: counts, the first few as examples, and every one in a file.

    Use as a context manager; the file (CSV or JSON lines, by extension) is written as rows
    arrive, so a load with many failures does not have to fit in memory. A given path is always
    written, empty when no row failed, so a report left by an earlier run is never mistaken for
    this one's. Without a path, a temporary JSON lines file is made at the first failure.

    :param path: where to write the full report, or None for a temporary file when needed.
    :param primary_key: the primary-key field names, to name rows in messages.
    """

    def __init__(self, path: str | None, *, primary_key: Iterable[str] = ()) -> None:
        check_report_path(path)
        self.path = path
        self.primary_key = list(primary_key)
        self.rows_failed = 0
        self.transient_failures = 0
        self.examples: list[FailedRow] = []
        self._file: ReportFile | None = None

    def __enter__(self) -> FailedRowsReport:
        if self.path is not None:
            self._file = ReportFile(self.path, REPORT_COLUMNS)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def add(self, row: FailedRow) -> None:
        if self._file is None:
            self.path = self.path or temporary_path("sfmc-de-failed-rows-")
            self._file = ReportFile(self.path, REPORT_COLUMNS)
        self.rows_failed += 1
        self.transient_failures += row.transient
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(row)
        self._file.write(row)

    def describe(self, row: FailedRow) -> str:
        """Name a row the way a person looks it up: by key, else by row number, with the reason."""
        if row.key is not None:
            where = f"{'|'.join(self.primary_key) or 'key'} {row.key!r}"
        elif row.row_number is not None:
            where = f"load row {row.row_number}"
        else:
            where = f"row {row.position} of request {row.request_id}"
        message = " ".join((row.message or "no message").split())
        if len(message) > _MESSAGE_WIDTH:
            message = message[: _MESSAGE_WIDTH - 3] + "..."
        return f"{where}: [{row.error_code or 'Error'}] {message}"

    def failure_message(self, *, rows_total: int | None, max_failed_rows: int) -> str:
        """The task's failure summary: counts, the first failures, and where the rest are."""
        own_faults = self.rows_failed - self.transient_failures
        failed = (
            f"{self.rows_failed} of {count_of(rows_total, 'row')}"
            if rows_total is not None
            else count_of(self.rows_failed, "row")
        )
        lines = [
            f"{failed} failed in SFMC, more than max_failed_rows={max_failed_rows}: "
            f"{count_of(own_faults, 'row error')}, "
            f"{count_of(self.transient_failures, 'transient deadlock')} (rows safe to send again "
            "as an upsert).",
            f"First {count_of(len(self.examples), 'failure')}:",
            *(f"  {self.describe(row)}" for row in self.examples),
            f"Full report: {self.path}",
        ]
        return "\n".join(lines)


@dataclass
class RequestTally:
    """What the results of one request came to."""

    rows_ok: int = 0
    rows_failed: int = 0
    results_read: int = 0


def record_request_results(
    report: FailedRowsReport,
    request: RequestRows,
    results: Iterable[RowResult],
    *,
    keys: list[str] | None = None,
    ended_in_error: bool = False,
) -> RequestTally:
    """Walk one request's results in order, add each failed row to the report, and count.

    :param report: where failed rows go.
    :param request: the request and what is known about its rows.
    :param results: SFMC's per-row results, all pages, in submission order.
    :param keys: the primary-key strings of the request's rows, in the same order, if known.
    :param ended_in_error: the request's final status was ``Error``: rows without a result did
        not land either.
    """
    tally = RequestTally()
    for position, result in enumerate(results, start=1):
        tally.results_read = position
        if result.ok:
            tally.rows_ok += 1
            continue
        tally.rows_failed += 1
        report.add(_failed_row(request, position, keys, result.error_code, result.message))
    if request.rows is not None and tally.results_read != request.rows:
        log.warning(
            "Request %s carried %d rows but SFMC returned %d results; rows are matched by "
            "position, so names in the report may be off for this request.",
            request.request_id,
            request.rows,
            tally.results_read,
        )
    if ended_in_error and request.rows is not None:
        for position in range(tally.results_read + 1, request.rows + 1):
            tally.rows_failed += 1
            report.add(
                _failed_row(
                    request,
                    position,
                    keys,
                    REQUEST_ERROR_CODE,
                    "SFMC ended the request with status Error and gave no result for this row.",
                )
            )
    return tally


def _failed_row(
    request: RequestRows,
    position: int,
    keys: list[str] | None,
    error_code: str | None,
    message: str | None,
) -> FailedRow:
    return FailedRow(
        request_id=request.request_id,
        position=position,
        row_number=request.first_row + position - 1
        if request.numbered and request.first_row is not None
        else None,
        key=keys[position - 1] if keys is not None and position <= len(keys) else None,
        error_code=error_code,
        message=message,
        transient=is_transient(message),
    )


def _with_row_numbering(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The operator's request entries, each marked ``numbered`` when its rows are consecutive.

    Rows the operator rejected are not sent, so a request whose row range holds a rejected row
    cannot map positions to load row numbers. The range ends at the entry's ``last_row``, or
    where the next request starts.
    """
    entries = [dict(entry) for entry in result.get("requests") or [] if entry]
    no_gaps = result.get("rows_rejected") == 0
    rows_read = result.get("rows_read")
    for index, entry in enumerate(entries):
        first_row, rows = entry.get("first_row"), entry.get("rows")
        if entry.get("last_row") is not None:
            end = entry["last_row"] + 1
        elif index + 1 < len(entries):
            end = entries[index + 1].get("first_row")
        else:
            end = rows_read + 1 if isinstance(rows_read, int) else None
        entry["numbered"] = no_gaps or (
            None not in (first_row, rows, end) and end - first_row == rows
        )
    return entries


def _parse_text(text: str) -> Any:
    """Read request ids rendered into a string: JSON, a Python literal, or one bare id."""
    stripped = text.strip()
    if not stripped.startswith(("[", "{", "(")):
        return [stripped] if stripped else []
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError) as error:
        raise ValueError(f"request_ids could not be read as a list or a dict: {error}") from None
