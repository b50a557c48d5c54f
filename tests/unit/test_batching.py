from __future__ import annotations

import json
import random

import pytest

from airflow_provider_sfmc_de.batching import (
    BODY_OVERHEAD,
    RequestPacker,
    RequestSpool,
)
from airflow_provider_sfmc_de.validation import ValidRows


def rows(count, size=30):
    """(row number, key, encoded) rows whose encoded JSON is exactly ``size`` bytes."""
    for number in range(1, count + 1):
        key = f"K{number:06d}"
        padding = "x" * (size - len(json.dumps({"Id": key, "P": ""}, separators=(",", ":"))))
        encoded = json.dumps({"Id": key, "P": padding}, separators=(",", ":")).encode()
        assert len(encoded) == size
        yield number, key, encoded


def pack(packer, valid_rows, batch_size=1):
    """Pack (row number, key, encoded) rows in batches of ``batch_size``, then flush."""
    valid_rows = list(valid_rows)
    requests = []
    for start in range(0, len(valid_rows), batch_size):
        batch = valid_rows[start : start + batch_size]
        requests.extend(packer.add_rows(ValidRows(*map(list, zip(*batch, strict=True)))))
    last = packer.flush()
    return [*requests, last] if last else requests


def test_requests_fill_up_to_the_row_limit():
    requests = pack(RequestPacker(max_rows=4, max_bytes=10_000), rows(10))
    assert [request.rows for request in requests] == [4, 4, 2]
    assert [request.first_row for request in requests] == [1, 5, 9]
    assert [request.last_row for request in requests] == [4, 8, 10]
    assert requests[1].keys == ["K000005", "K000006", "K000007", "K000008"]
    body = json.loads(requests[0].body)
    assert [item["Id"] for item in body["items"]] == ["K000001", "K000002", "K000003", "K000004"]


def test_requests_fill_up_to_the_byte_limit_exactly():
    # Three 400-byte rows and two commas fit a body of exactly this size; a fourth does not.
    limit = BODY_OVERHEAD + 3 * 400 + 2
    requests = pack(RequestPacker(max_rows=100, max_bytes=limit), rows(7, size=400))
    assert [request.rows for request in requests] == [3, 3, 1]
    assert len(requests[0].body) == limit
    assert all(len(request.body) <= limit for request in requests)
    assert sum(len(json.loads(request.body)["items"]) for request in requests) == 7


def test_a_row_exactly_the_largest_size_fits_alone():
    packer = RequestPacker(max_rows=10, max_bytes=2_000)
    [request] = pack(packer, rows(1, size=packer.max_row_bytes))
    assert len(request.body) == 2_000


@pytest.mark.parametrize(("max_rows", "max_bytes"), [(0, 5_000), (32_001, 5_000), (10, 100)])
def test_limits_out_of_range_are_refused(max_rows, max_bytes):
    with pytest.raises(ValueError, match="must be"):
        RequestPacker(max_rows=max_rows, max_bytes=max_bytes)


def test_spool_gives_back_bodies_and_keys_in_order():
    requests = pack(RequestPacker(max_rows=3, max_bytes=10_000), rows(8))
    with RequestSpool() as spool:
        for request in requests:
            spool.append(request)
        assert spool.rows == 8
        assert len(spool) == 3
        for spooled, request in zip(reversed(spool.requests), reversed(requests), strict=True):
            assert spool.body(spooled) == request.body
            assert spool.keys(spooled) == request.keys
        assert [spooled.first_row for spooled in spool] == [1, 4, 7]


@pytest.mark.parametrize(("max_rows", "max_bytes"), [(4, 10_000), (2_500, 1_024), (7, 1_100)])
def test_a_batch_is_packed_as_its_rows_one_at_a_time(max_rows, max_bytes):
    generator = random.Random(max_rows)
    valid = [
        (number, f"K{number}", b"x" * generator.choice([1, 30, 200, 1_012]))
        for number in range(1, 400)
    ]
    one_at_a_time = pack(RequestPacker(max_rows=max_rows, max_bytes=max_bytes), valid)
    in_batches = pack(RequestPacker(max_rows=max_rows, max_bytes=max_bytes), valid, 57)
    assert in_batches == one_at_a_time
    assert all(len(request.body) <= max_bytes for request in in_batches)
    assert len(in_batches) > 1
