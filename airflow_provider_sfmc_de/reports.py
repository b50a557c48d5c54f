"""Write rejected-row reports and row-key manifests; no Airflow imports."""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import astuple, fields
from pathlib import Path
from typing import IO, TYPE_CHECKING

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
        self._file: IO[str] | IO[bytes] | None = None
        self._csv: csv.writer | None = None  # type: ignore[valid-type]
        self._encode = msgspec.json.Encoder().encode

    def add(self, rejection: Rejection) -> None:
        if self._file is None:
            self._open()
        self.count += 1
        if len(self.first) < self.keep_first:
            self.first.append(rejection)
        if self._csv is not None:
            self._csv.writerow(astuple(rejection))
        else:
            self._file.write(self._encode(rejection) + b"\n")  # type: ignore[union-attr, arg-type]

    def _open(self) -> None:
        if self._requested_path is None:
            self.path = temporary_path("sfmc-de-rejected-rows-")
        else:
            self.path = os.fspath(self._requested_path)
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        if Path(self.path).suffix.lower() in CSV_SUFFIXES:
            self._file = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
            self._csv = csv.writer(self._file)
            self._csv.writerow(REPORT_COLUMNS)
        else:
            self._file = open(self.path, "wb")  # noqa: SIM115

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
