"""Pack encoded rows into async request bodies, and keep them on disk until they are sent.

No Airflow imports. A body is ``{"items":[row,row,...]}`` built from rows already encoded by
``validation``, so the size of every request is known exactly before it is sent.
"""

from __future__ import annotations

import bisect
import itertools
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_sfmc_de.validation import ValidRows

BODY_PREFIX = b'{"items":['
BODY_SUFFIX = b"]}"
BODY_OVERHEAD = len(BODY_PREFIX) + len(BODY_SUFFIX)
# SFMC's hard limit on objects in one asynchronous request.
MAX_ROWS_PER_REQUEST = 32_000
# Requests smaller than this cannot hold a realistic row; a lower setting is a mistake.
MIN_BODY_BYTES = 1_024
# Spooled request bodies stay in memory up to this size, then move to a temporary file.
SPOOL_MEMORY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PackedRequest:
    """One request body and the rows in it, in order."""

    body: bytes
    keys: list[str]
    first_row: int
    last_row: int

    @property
    def rows(self) -> int:
        return len(self.keys)


class RequestPacker:
    """Fill each request with as many rows as the row and byte limits allow.

    A row is never split; the caller rejects a row longer than ``max_row_bytes`` before adding it.

    :param max_rows: most rows in one request.
    :param max_bytes: most bytes in one request body.
    """

    def __init__(self, *, max_rows: int, max_bytes: int) -> None:
        if not 1 <= max_rows <= MAX_ROWS_PER_REQUEST:
            raise ValueError(f"max_rows must be between 1 and {MAX_ROWS_PER_REQUEST}")
        if max_bytes < MIN_BODY_BYTES:
            raise ValueError(f"max_bytes must be at least {MIN_BODY_BYTES}")
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._rows: list[bytes] = []
        self._keys: list[str] = []
        self._first_row = self._last_row = 0
        self._size = BODY_OVERHEAD

    @property
    def max_row_bytes(self) -> int:
        """The largest encoded row that fits in a request on its own."""
        return self.max_bytes - BODY_OVERHEAD

    def add_rows(self, rows: ValidRows) -> list[PackedRequest]:
        """Add a batch of rows; return the requests they filled, whatever the batches' sizes."""
        numbers, keys, encoded = rows
        # ends[i]: the bytes of the batch's first i rows, each with the comma before it.
        ends = [0, *itertools.accumulate(len(row) + 1 for row in encoded)]
        finished = []
        start, count = 0, len(encoded)
        while start < count:
            if len(self._rows) >= self.max_rows:
                finished.append(self.flush())
            # A request's first row has no comma before it.
            room = self.max_bytes - self._size + ends[start] + (0 if self._rows else 1)
            stop = min(bisect.bisect_right(ends, room) - 1, start + self.max_rows - len(self._rows))
            if stop <= start:
                if self._rows:
                    finished.append(self.flush())
                    continue
                stop = start + 1  # a row too large for any request: the caller rejects these
            if not self._rows:
                self._first_row = numbers[start]
            self._rows.extend(encoded[start:stop])
            self._keys.extend(keys[start:stop])
            self._last_row = numbers[stop - 1]
            self._size += ends[stop] - ends[start] - (0 if len(self._rows) > stop - start else 1)
            start = stop
        return finished

    def flush(self) -> PackedRequest | None:
        """Return the request being filled, if it has any rows, and start a new one."""
        if not self._rows:
            return None
        request = PackedRequest(
            body=b"".join((BODY_PREFIX, b",".join(self._rows), BODY_SUFFIX)),
            keys=self._keys,
            first_row=self._first_row,
            last_row=self._last_row,
        )
        self._rows, self._keys, self._size = [], [], BODY_OVERHEAD
        return request


@dataclass(frozen=True, slots=True)
class SpooledRequest:
    """Where one packed request lies in the spool, and what it holds."""

    index: int
    first_row: int
    last_row: int
    rows: int
    offset: int
    body_length: int
    keys_length: int


class RequestSpool:
    """Hold packed requests in a temporary file until every row has been validated.

    This lets a load be checked in full before its first request is sent, reading the source
    once and keeping memory flat; small loads never leave memory. Close it (or use ``with``).
    """

    def __init__(self) -> None:
        # Closed by close() or __exit__: the spool lives as long as the load.
        self._file = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=SPOOL_MEMORY_BYTES, prefix="sfmc-de-requests-"
        )
        self.requests: list[SpooledRequest] = []
        self.rows = 0
        self._end = 0
        self._encode = msgspec.json.Encoder().encode
        self._decode_keys = msgspec.json.Decoder(list[str]).decode

    def append(self, request: PackedRequest) -> SpooledRequest:
        keys = self._encode(request.keys)
        self._file.seek(self._end)
        self._file.write(request.body)
        self._file.write(keys)
        spooled = SpooledRequest(
            index=len(self.requests),
            first_row=request.first_row,
            last_row=request.last_row,
            rows=request.rows,
            offset=self._end,
            body_length=len(request.body),
            keys_length=len(keys),
        )
        self._end += len(request.body) + len(keys)
        self.requests.append(spooled)
        self.rows += request.rows
        return spooled

    def body(self, request: SpooledRequest) -> bytes:
        self._file.seek(request.offset)
        return self._file.read(request.body_length)

    def keys(self, request: SpooledRequest) -> list[str]:
        self._file.seek(request.offset + request.body_length)
        return self._decode_keys(self._file.read(request.keys_length))

    def __iter__(self) -> Iterator[SpooledRequest]:
        return iter(self.requests)

    def __len__(self) -> int:
        return len(self.requests)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RequestSpool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
