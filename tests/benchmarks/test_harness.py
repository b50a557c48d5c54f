"""The benchmark's parts: the staging table, the loaders' counts and the target verdicts."""

from __future__ import annotations

import re
import sqlite3
from datetime import date

import pytest

from benchmarks import floor
from benchmarks.job import BATCH_MAX_ROWS, LoadJob
from benchmarks.report import figures, verdicts
from benchmarks.run import measure_loader, run_load
from benchmarks.staging import COLUMNS, TABLE, create_staging_table

EMAIL = re.compile(r"^[a-z0-9.\-]+@[a-z0-9.\-]+\.[a-z]{2,}$")


@pytest.fixture(scope="module")
def staging_path(tmp_path_factory):
    return create_staging_table(tmp_path_factory.mktemp("staging") / "staging.sqlite3", 3_000)


def read_rows(path):
    with sqlite3.connect(path) as connection:
        return connection.execute(f"SELECT {', '.join(COLUMNS)} FROM {TABLE}").fetchall()


def test_staging_rows_fit_the_demo_data_extension(staging_path):
    rows = read_rows(staging_path)

    assert len(rows) == 3_000
    assert len({row[0] for row in rows}) == 3_000
    for key, email, first, last, signup, subscribed in rows:
        assert len(key) <= 50
        assert EMAIL.match(email), email
        assert first is None or 0 < len(first) <= 50
        assert last is None or 0 < len(last) <= 50
        assert date(2012, 1, 1) <= date.fromisoformat(signup) <= date(2026, 11, 30)
        assert subscribed in (0, 1)
    assert any(row[2] is None for row in rows), "some first names are expected to be missing"
    assert any(not row[2].isascii() for row in rows if row[2]), "non-ASCII names are expected"


def test_same_seed_builds_the_same_table(staging_path, tmp_path):
    again = create_staging_table(tmp_path / "again.sqlite3", 3_000)

    assert read_rows(again) == read_rows(staging_path)


def test_floor_encodes_every_row_in_full_bodies(staging_path, tmp_path):
    job = LoadJob(
        loader="floor",
        staging_path=str(staging_path),
        table=TABLE,
        data_extension_key="Demo_Customers",
        work_dir=str(tmp_path),
    )

    counts = floor.load(job)

    assert counts.rows_read == 3_000
    assert counts.request_rows == [BATCH_MAX_ROWS, 3_000 - BATCH_MAX_ROWS]
    sizes = zip(counts.request_bytes, counts.request_rows, strict=True)
    assert all(size > 100 * rows for size, rows in sizes)


def test_a_load_in_its_own_process_reports_time_and_memory(staging_path, tmp_path):
    job = LoadJob(
        loader="floor",
        staging_path=str(staging_path),
        table=TABLE,
        data_extension_key="Demo_Customers",
        work_dir=str(tmp_path),
    )

    found = figures(run_load(job, tmp_path / "floor.log"), None)

    assert found["rows"] == 3_000
    assert found["requests"] == 0
    assert found["bodies_encoded"] == 2
    assert found["cpu_seconds"] > 0
    assert found["peak_rss_bytes"] >= found["rss_before_load_bytes"] > 0


def loader_figures(*, wall, cpu_per_row, peak_mb, fill=1.0, tokens=1):
    return {
        "wall_seconds": wall,
        "cpu_microseconds_per_row": cpu_per_row,
        "peak_rss_bytes": peak_mb * 1_000_000,
        "average_binding_fill": fill,
        "token_requests": tokens,
    }


def test_verdicts_mark_each_target_met_or_missed():
    runs = {
        100_000: {
            "provider": loader_figures(wall=6.0, cpu_per_row=10.0, peak_mb=100),
            "naive": loader_figures(wall=10.0, cpu_per_row=20.0, peak_mb=200),
        },
        1_000_000: {
            "provider": loader_figures(
                wall=80.0, cpu_per_row=30.0, peak_mb=300, fill=0.9, tokens=2
            ),
            "naive": loader_figures(wall=100.0, cpu_per_row=20.0, peak_mb=900),
        },
    }

    met = {verdict.target: verdict.met for verdict in verdicts(runs)}

    assert met["100,000 rows: provider CPU per row <= naive"] is True
    assert met["100,000 rows: provider wall <= 0.7 x naive"] is True
    assert met["1,000,000 rows: provider CPU per row <= naive"] is False
    assert met["1,000,000 rows: provider wall <= 0.7 x naive"] is False
    assert met["provider peak RSS at 1,000,000 <= 1.25 x at 100,000"] is False
    assert met["provider peak RSS at 1,000,000 rows < 250 MB"] is False
    assert met["100,000 rows: provider requests >= 95% full on average"] is True
    assert met["1,000,000 rows: provider requests >= 95% full on average"] is False
    assert met["1,000,000 rows: one token request per load"] is False


@pytest.mark.parametrize("loader", ["naive", "provider"])
def test_a_load_through_the_emulator_is_counted_by_both_sides(loader, staging_path, tmp_path):
    found = measure_loader(loader, staging_path, tmp_path, tmp_path, rows=3_000)

    assert found["rows"] == found["rows_sent"] == 3_000
    assert found["requests"] == 2
    assert found["token_requests"] == 1
    assert found["bytes_sent"] == found["bytes_encoded"] > 3_000 * 100
    assert found["average_row_fill"] == pytest.approx((1 + 500 / BATCH_MAX_ROWS) / 2)
