"""
The least any loader must do: stream the staging table and encode request bodies, sending none.

It uses the cheapest tools at hand (the ``sqlite3`` cursor and msgspec), so no loader can be
faster; the provider's distance from it is the price of validation and HTTP.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import msgspec

from benchmarks.job import BATCH_MAX_ROWS, LoadCounts

if TYPE_CHECKING:
    from benchmarks.job import LoadJob


def load(job: LoadJob) -> LoadCounts:
    """Read the staging table in 2,500-row chunks and JSON-encode each chunk as a body."""
    counts = LoadCounts()
    encoder = msgspec.json.Encoder()
    connection = sqlite3.connect(job.staging_path)
    try:
        cursor = connection.execute(f"SELECT * FROM {job.table}")
        names = [column[0] for column in cursor.description]
        while rows := cursor.fetchmany(BATCH_MAX_ROWS):
            body = encoder.encode({"items": [dict(zip(names, row, strict=True)) for row in rows]})
            counts.rows_read += len(rows)
            counts.add_request(rows=len(rows), body_bytes=len(body))
    finally:
        connection.close()
    return counts
