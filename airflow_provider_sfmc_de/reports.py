"""Write row reports (rejected and failed rows) and row-key manifests; no Airflow imports."""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import astuple, fields
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import msgspec

from airflow_provider_sfmc_de.validation import Rejection

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

REPORT_COLUMNS = tuple(field.name for field in fields(Rejection))
CSV_SUFFIXES = frozenset({".csv"})


def temporary_path(prefix: str, suffix: str = ".jsonl") -> str:
    """Reserve a new file in the temporary directory and return its path."""
    handle, path = tempfile.mkstemp(prefix=prefix, suffix=suffix)
    os.close(handle)
    return path


class ReportFile:
    """A report of rows written as they arrive: CSV (with a header) if the path ends in ``.csv``,
    else JSON lines.

    :param path: the file to write; its folders are created.
    :param columns: the field names of the records, in order: the CSV header.
    """

    def __init__(self, path: str | os.PathLike[str], columns: Sequence[str]) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._csv: Any = None
        self._encode = msgspec.json.Encoder().encode
        if target.suffix.lower() in CSV_SUFFIXES:
            self._file: IO[Any] = target.open("w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._file)
            self._csv.writerow(columns)
        else:
            self._file = target.open("wb")

    def write(self, record: Any) -> None:
        """Write one record, a dataclass with the report's columns as fields."""
        if self._csv is not None:
            self._csv.writerow(astuple(record))
        else:
            self._file.write(self._encode(record) + b"\n")

    def close(self) -> None:
        self._file.close()


class RejectedRowsReport:
    """Write every rejection to a file: CSV if the path ends in ``.csv``, else JSON lines.

    The file is created on the first rejection only; a clean load leaves no file behind.
    The first few rejections are kept in memory for a short summary in logs and errors.

    :param path: where the report goes; ``None`` picks a new temporary file when needed.
    :param keep_first: how many rejections to keep for the summary.
    """

    def __init__(self, path: str | os.PathLike[str] | None, *, keep_first: int = 10) -> None:
        self._requested_path = path
        self.path: str | None = None
        self.keep_first = keep_first
        self.first: list[Rejection] = []
        self.count = 0
        self._file: ReportFile | None = None

    def add(self, rejection: Rejection) -> None:
        if self._file is None:
            self.path = os.fspath(self._requested_path or temporary_path("sfmc-de-rejected-rows-"))
            self._file = ReportFile(self.path, REPORT_COLUMNS)
        self.count += 1
        if len(self.first) < self.keep_first:
            self.first.append(rejection)
        self._file.write(rejection)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> RejectedRowsReport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def summarize(rejections: Sequence[Rejection]) -> str:
    """Describe rejections without their values, for a log line or an error message."""
    return "; ".join(
        f"row {rejection.row_number}"
        + (f" field {rejection.field}" if rejection.field else "")
        + f": {rejection.rule} ({rejection.message})"
        for rejection in rejections
    )


def write_row_keys_manifest(
    path: str | os.PathLike[str], lines: Iterable[tuple[str, list[str]]]
) -> None:
    """Write ``{"request_id": ..., "keys": [...]}`` lines, one per request, in submission order."""
    encode = msgspec.json.Encoder().encode
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as manifest:
        for request_id, keys in lines:
            manifest.write(encode({"request_id": request_id, "keys": keys}) + b"\n")


def read_row_keys_manifest(
    path: str | os.PathLike[str], request_ids: Iterable[str] | None = None
) -> dict[str, list[str]]:
    """Read a manifest back: request id to the primary keys of its rows, in order.

    :param request_ids: keep only these requests, so that a large load's keys are not all held.
    """
    wanted = None if request_ids is None else set(request_ids)
    decode = msgspec.json.Decoder(dict[str, str | list[str]]).decode
    keys_by_request: dict[str, list[str]] = {}
    with open(path, "rb") as manifest:
        for line in manifest:
            if line.strip():
                entry = decode(line)
                request_id = entry["request_id"]
                if wanted is None or request_id in wanted:
                    keys_by_request[request_id] = entry["keys"]  # type: ignore[index]
    return keys_by_request
