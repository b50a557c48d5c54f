"""What a loader is asked to do, and what it reports back, as JSON-safe records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The row limit Salesforce's own examples use, and the byte ceiling real loaders stay under.
BATCH_MAX_ROWS = 2_500
BATCH_MAX_BYTES = 5_500_000


@dataclass(frozen=True, kw_only=True)
class LoadJob:
    """
    One load of the staging table, handed from the harness to a loader's process as JSON.

    :param loader: which loader runs: ``provider``, ``naive`` or ``floor``.
    :param staging_path: the SQLite file holding the staging table.
    :param table: the staging table's name.
    :param data_extension_key: the Data Extension the rows go to.
    :param work_dir: a directory the loader may write to (reports, Airflow home).
    :param emulator: the emulator's ``url``, ``client_id``, ``client_secret``, ``account_id``
        and ``connection`` (an ``AIRFLOW_CONN_...`` value); ``None`` when nothing is sent.
    """

    loader: str
    staging_path: str
    table: str
    data_extension_key: str
    work_dir: str
    emulator: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class LoadCounts:
    """
    What a loader did, counted by the loader itself.

    :param rows_read: rows read from the staging table.
    :param rows_sent: rows in requests (or, for the floor, in encoded bodies).
    :param request_rows: rows in each request body, in order.
    :param request_bytes: bytes of each request body, in order.
    """

    rows_read: int = 0
    rows_sent: int = 0
    request_rows: list[int] = field(default_factory=list)
    request_bytes: list[int] = field(default_factory=list)

    def add_request(self, *, rows: int, body_bytes: int) -> None:
        self.rows_sent += rows
        self.request_rows.append(rows)
        self.request_bytes.append(body_bytes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
