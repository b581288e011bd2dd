"""Iceberg tables that other engines agree on: a table Minerva creates and writes through Athena
is read by pyiceberg (its Glue catalog and S3 file IO pointed at Minerva) with the same rows,
and a table pyiceberg creates and appends to through the same Glue catalog is queried by
Minerva."""

import datetime

import pyarrow as pa
import pytest
from pyiceberg.catalog import load_catalog

from conftest import ACCESS_KEY, REGION, SECRET_KEY, unique, wait_query


@pytest.fixture
def ice(server):
    return load_catalog("minerva", **{
        "type": "glue",
        "glue.endpoint": server.url,
        "glue.region": REGION,
        "glue.access-key-id": ACCESS_KEY,
        "glue.secret-access-key": SECRET_KEY,
        "s3.endpoint": server.url,
        "s3.region": REGION,
        "s3.access-key-id": ACCESS_KEY,
        "s3.secret-access-key": SECRET_KEY,
    })


@pytest.fixture
def lake(server):
    s3, glue = server.client("s3"), server.client("glue")
    bucket = unique("iceberg")
    s3.create_bucket(Bucket=bucket)
    db = unique("ice_db").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    return {"bucket": bucket, "db": db, "athena": server.client("athena")}


def run(lake, sql: str) -> list:
    athena = lake["athena"]
    qid = athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": lake["db"]},
                                       ResultConfiguration={"OutputLocation": f"s3://{lake['bucket']}/results/"})["QueryExecutionId"]
    q = wait_query(athena, qid)
    assert q["Status"]["State"] == "SUCCEEDED", (sql, q["Status"])
    rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
    return [[d.get("VarCharValue") for d in r["Data"]] for r in rows[1:]]


def test_pyiceberg_reads_what_minerva_writes(lake, ice):
    run(lake, f"CREATE TABLE events (id bigint, kind string, amount double, day date) PARTITIONED BY (kind, day(day)) "
              f"LOCATION 's3://{lake['bucket']}/warehouse/events' TBLPROPERTIES ('table_type'='ICEBERG')")
    run(lake, "INSERT INTO events VALUES (1, 'a', 1.5, DATE '2024-01-05'), (2, 'b', 2.5, DATE '2024-02-07')")
    run(lake, "INSERT INTO events VALUES (3, 'a', NULL, DATE '2024-02-08'), (4, NULL, 4.0, NULL)")
    table = ice.load_table(f"{lake['db']}.events")
    assert [f.name for f in table.schema().fields] == ["id", "kind", "amount", "day"]
    assert [(f.name, str(f.transform)) for f in table.spec().fields] == [("kind", "identity"), ("day_day", "day")]
    got = sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["id"])
    assert got == [
        {"id": 1, "kind": "a", "amount": 1.5, "day": datetime.date(2024, 1, 5)},
        {"id": 2, "kind": "b", "amount": 2.5, "day": datetime.date(2024, 2, 7)},
        {"id": 3, "kind": "a", "amount": None, "day": datetime.date(2024, 2, 8)},
        {"id": 4, "kind": None, "amount": 4.0, "day": None},
    ]
    # pyiceberg prunes by the partitions Minerva wrote.
    assert [r["id"] for r in table.scan(row_filter="kind == 'b'").to_arrow().to_pylist()] == [2]
    assert len(table.history()) == 2 and table.current_snapshot().summary["total-records"] == "4"
    assert len(list(table.scan().plan_files())) == 4


def test_minerva_reads_what_pyiceberg_writes(lake, ice):
    schema = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string()), pa.field("score", pa.float64())])
    table = ice.create_table(f"{lake['db']}.people", schema=schema, location=f"s3://{lake['bucket']}/warehouse/people")
    table.append(pa.table({"id": [1, 2], "name": ["ann", "bo"], "score": [9.5, None]}, schema=schema))
    table.append(pa.table({"id": [3], "name": ["cy"], "score": [7.0]}, schema=schema))
    assert run(lake, "SELECT id, name, score FROM people ORDER BY id") == [["1", "ann", "9.5"], ["2", "bo", None], ["3", "cy", "7.0"]]
    # And Minerva appends to it, on top of pyiceberg's snapshots.
    run(lake, "INSERT INTO people VALUES (4, 'di', 1.0)")
    table = ice.load_table(f"{lake['db']}.people")
    assert sorted(r["id"] for r in table.scan().to_arrow().to_pylist()) == [1, 2, 3, 4]
    assert len(table.history()) == 3


def test_racing_writers_lose_no_snapshot(lake, ice):
    """Inserts started together: each either commits or fails with ICEBERG_COMMIT_ERROR, and the
    table holds exactly the rows of those that committed."""
    run(lake, f"CREATE TABLE raced (writer int, n int) LOCATION 's3://{lake['bucket']}/warehouse/raced' "
              f"TBLPROPERTIES ('table_type'='ICEBERG')")
    athena = lake["athena"]
    ids = [athena.start_query_execution(QueryString=f"INSERT INTO raced SELECT {w}, n FROM UNNEST(sequence(1, 50)) AS t (n)",
                                        QueryExecutionContext={"Database": lake["db"]},
                                        ResultConfiguration={"OutputLocation": f"s3://{lake['bucket']}/results/"})["QueryExecutionId"]
           for w in range(6)]
    committed = []
    for w, qid in enumerate(ids):
        status = wait_query(athena, qid)["Status"]
        if status["State"] == "SUCCEEDED":
            committed.append(w)
        else:
            assert status["State"] == "FAILED" and status["StateChangeReason"].startswith("ICEBERG_COMMIT_ERROR"), status
    assert committed, "no writer committed"
    assert run(lake, "SELECT writer, count(*) FROM raced GROUP BY writer ORDER BY writer") == [[str(w), "50"] for w in committed]
    table = ice.load_table(f"{lake['db']}.raced")
    assert len(table.history()) == len(committed)
    assert sorted({r["writer"] for r in table.scan().to_arrow().to_pylist()}) == committed
