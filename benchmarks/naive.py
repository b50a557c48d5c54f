"""
The loader people write by hand: the whole table into pandas, ``json.dumps``, a POST loop.

It validates nothing and holds every row in memory at once; it is the baseline the provider
has to beat. Its one concession to correctness is the fix every such loader ends up with: pandas
reads a missing text as NaN, which ``json.dumps`` writes as ``NaN`` (not JSON, so the API answers
400), hence the ``where(..., None)`` line.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

import pandas as pd
import requests

from benchmarks.job import BATCH_MAX_ROWS, LoadCounts

if TYPE_CHECKING:
    from benchmarks.job import LoadJob


def load(job: LoadJob) -> LoadCounts:
    """Read the whole staging table, then send it in sequential 2,500-row inserts."""
    counts = LoadCounts()
    with sqlite3.connect(job.staging_path) as connection:
        frame = pd.read_sql(f"SELECT * FROM {job.table}", connection)
    frame = frame.astype(object).where(frame.notna(), None)
    records = frame.to_dict("records")
    counts.rows_read = len(records)

    emulator = job.emulator
    session = requests.Session()
    token_response = session.post(
        f"{emulator['url']}/v2/token",
        json={
            "grant_type": "client_credentials",
            "client_id": emulator["client_id"],
            "client_secret": emulator["client_secret"],
            "account_id": emulator["account_id"],
        },
        timeout=60,
    )
    token_response.raise_for_status()
    token = token_response.json()
    rows_url = (
        f"{token['rest_instance_url'].rstrip('/')}"
        f"/data/v1/async/dataextensions/key:{job.data_extension_key}/rows"
    )
    headers = {
        "Authorization": f"Bearer {token['access_token']}",
        "Content-Type": "application/json",
    }
    for start in range(0, len(records), BATCH_MAX_ROWS):
        batch = records[start : start + BATCH_MAX_ROWS]
        body = json.dumps({"items": batch})
        response = session.post(rows_url, data=body, headers=headers, timeout=60)
        response.raise_for_status()
        counts.add_request(rows=len(batch), body_bytes=len(body))
    return counts
