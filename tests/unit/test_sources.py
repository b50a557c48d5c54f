from __future__ import annotations

import sqlite3
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from airflow_provider_sfmc_de.sources import (
    cursor_batches,
    dataframe_batches,
    open_cursor,
    record_batches,
    select_statement,
)


def test_records_with_the_same_keys_share_a_batch():
    records = [{"a": 1, "b": 2}, {"a": 3, "b": 4}, {"a": 5}, {"a": 6, "b": 7}]
    batches = list(record_batches(records, chunk_size=10))
    assert [(batch.columns, list(batch.rows)) for batch in batches] == [
        (("a", "b"), [(1, 2), (3, 4)]),
        (("a",), [(5,)]),
        (("a", "b"), [(6, 7)]),
    ]


def test_records_are_cut_into_chunks():
    batches = list(record_batches([{"a": n} for n in range(5)], chunk_size=2))
    assert [len(batch.rows) for batch in batches] == [2, 2, 1]


def test_a_record_that_is_not_a_dict_is_named():
    with pytest.raises(TypeError, match="row 2 is a list"):
        list(record_batches([{"a": 1}, [1]]))


def test_dataframe_rows_come_without_the_index():
    frame = pd.DataFrame({"Id": ["a", "b", "c"], "Amount": [1.5, np.nan, 2.0]}, index=[10, 20, 30])
    batches = list(dataframe_batches(frame, chunk_size=2))
    assert [batch.columns for batch in batches] == [("Id", "Amount")] * 2
    assert batches[0].rows[0] == ("a", 1.5)
    assert np.isnan(batches[0].rows[1][1])
    assert batches[1].rows == [("c", 2.0)]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("customers", "SELECT * FROM customers"),
        ("staging.customers;", "SELECT * FROM staging.customers"),
        ('"Staging"."Customers"', 'SELECT * FROM "Staging"."Customers"'),
        ("SELECT a FROM t WHERE b = 1", "SELECT a FROM t WHERE b = 1"),
    ],
)
def test_a_table_name_becomes_a_select(sql, expected):
    assert select_statement(sql) == expected


def test_cursor_rows_are_fetched_in_chunks():
    connection = sqlite3.connect(":memory:")
    connection.execute('CREATE TABLE t ("Id" TEXT, "Price" NUMERIC)')
    connection.executemany("INSERT INTO t VALUES (?, ?)", [(f"k{n}", n) for n in range(5)])
    with open_cursor(connection, server_side=False) as cursor:
        batches = list(cursor_batches(cursor, "t", chunk_size=2))
    assert [len(batch.rows) for batch in batches] == [2, 2, 1]
    assert batches[0].columns == ("Id", "Price")
    assert batches[2].rows == [("k4", 4)]


def test_an_empty_table_yields_nothing():
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (a TEXT)")
    with open_cursor(connection, server_side=False) as cursor:
        assert list(cursor_batches(cursor, "SELECT * FROM t")) == []


def test_rows_of_a_dict_cursor_become_tuples():
    class DictCursor:
        description = (("Id",), ("Price",))
        arraysize = 1

        def __init__(self):
            self.chunks = [[{"Id": "a", "Price": Decimal("1.5")}], []]

        def execute(self, sql):
            self.sql = sql

        def fetchmany(self, size):
            return self.chunks.pop(0)

    batches = list(cursor_batches(DictCursor(), "t"))
    assert batches[0].rows == [("a", Decimal("1.5"))]
