"""Iceberg tables that other engines agree on: a table Minerva creates and writes through Athena
is read by pyiceberg (its Glue catalog and S3 file IO pointed at Minerva) and by DuckDB's iceberg
extension (over Minerva's S3) with the same rows, and a table pyiceberg creates and appends to
through the same Glue catalog is queried by Minerva."""

import datetime
import importlib
import pathlib
import time
from urllib.parse import urlparse

import duckdb

import pyarrow as pa
import pyarrow.parquet as pq
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
def duck(server):
    """DuckDB with the iceberg extension (and avro, httpfs) from the package registry, its S3
    pointed at Minerva."""
    con = duckdb.connect()
    for name in ("httpfs", "avro", "iceberg"):
        package = pathlib.Path(importlib.import_module(f"duckdb_extension_{name}").__file__).parent
        (path,) = package.glob(f"extensions/*/{name}.duckdb_extension")
        con.execute(f"LOAD '{path}'")
    con.execute(f"CREATE SECRET minerva (TYPE s3, KEY_ID '{ACCESS_KEY}', SECRET '{SECRET_KEY}', ENDPOINT '{urlparse(server.url).netloc}', "
                f"URL_STYLE 'path', USE_SSL false, REGION '{REGION}')")
    return con


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


def test_pyiceberg_and_duckdb_read_what_minerva_writes(server, lake, ice, duck):
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
    # pyiceberg prunes by the partitions Minerva wrote, and so does Minerva: a filter on the
    # partition column reads only that partition's files.
    assert [r["id"] for r in table.scan(row_filter="kind == 'b'").to_arrow().to_pylist()] == [2]
    athena = lake["athena"]
    scanned = {}
    for name, sql in [("all", "SELECT count(*) FROM events"), ("b", "SELECT count(*) FROM events WHERE kind = 'b'")]:
        qid = athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": lake["db"]},
                                           ResultConfiguration={"OutputLocation": f"s3://{lake['bucket']}/results/"})["QueryExecutionId"]
        scanned[name] = wait_query(athena, qid)["Statistics"]["DataScannedInBytes"]
    files = {f.file.file_path: f.file.file_size_in_bytes for f in table.scan().plan_files()}
    others = sum(size for path, size in files.items() if "/kind=b/" not in path)
    # Both read the same metadata; the filtered one none of the other partitions' files.
    assert scanned["all"] - scanned["b"] >= others > 0, (scanned, files)
    # A filter on the column a transform partitions by (day(day)) prunes the same way.
    qid = athena.start_query_execution(QueryString="SELECT count(*) FROM events WHERE day = DATE '2024-02-07'",
                                       QueryExecutionContext={"Database": lake["db"]},
                                       ResultConfiguration={"OutputLocation": f"s3://{lake['bucket']}/results/"})["QueryExecutionId"]
    day = wait_query(athena, qid)["Statistics"]["DataScannedInBytes"]
    not_that_day = sum(size for path, size in files.items() if "/day_day=2024-02-07/" not in path)
    assert scanned["all"] - day >= not_that_day > 0, (scanned, day, files)
    assert athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"][1]["Data"][0]["VarCharValue"] == "1"
    assert len(table.history()) == 2 and table.current_snapshot().summary["total-records"] == "4"
    assert len(list(table.scan().plan_files())) == 4
    # DuckDB, from the metadata file Glue names.
    location = server.client("glue").get_table(DatabaseName=lake["db"], Name="events")["Table"]["Parameters"]["metadata_location"]
    assert duck.execute(f"SELECT id, kind, amount, day FROM iceberg_scan('{location}') ORDER BY id").fetchall() == [
        (1, "a", 1.5, datetime.date(2024, 1, 5)), (2, "b", 2.5, datetime.date(2024, 2, 7)),
        (3, "a", None, datetime.date(2024, 2, 8)), (4, None, 4.0, None)]
    snapshots = duck.execute(f"SELECT * FROM iceberg_snapshots('{location}')")
    columns = [d[0] for d in snapshots.description]
    rows = snapshots.fetchall()
    assert sorted(r[columns.index("snapshot_id")] for r in rows) == sorted(h.snapshot_id for h in table.history())
    if "operation" in columns:  # DuckDB 1.5 and later name each snapshot's operation
        assert [r[columns.index("operation")] for r in rows] == ["append", "append"]

    # Time travel through Athena, by the snapshot ids pyiceberg sees.
    first, second = [h.snapshot_id for h in table.history()]
    assert run(lake, 'SELECT snapshot_id FROM "events$snapshots" ORDER BY committed_at') == [[str(first)], [str(second)]]
    assert run(lake, f"SELECT count(*) FROM events FOR VERSION AS OF {first}") == [["2"]]
    assert run(lake, f"SELECT count(*) FROM events FOR VERSION AS OF {second}") == [["4"]]
    made = run(lake, f'SELECT CAST(made_current_at AS varchar) FROM "events$history" WHERE snapshot_id = {first}')[0][0]
    assert run(lake, f"SELECT count(*) FROM events FOR TIMESTAMP AS OF TIMESTAMP '{made}'") == [["2"]]


def test_every_transform_agrees(server, lake, ice, duck):
    """truncate, year and hour (bucket, month and day are above and in the SQL tests): the
    partition values Minerva writes are the ones pyiceberg computes, and the rows read the same."""
    run(lake, f"CREATE TABLE transformed (id int, name string, d date, ts timestamp) "
              f"PARTITIONED BY (truncate(2, name), year(d), hour(ts)) LOCATION 's3://{lake['bucket']}/warehouse/transformed' "
              f"TBLPROPERTIES ('table_type'='ICEBERG')")
    run(lake, "INSERT INTO transformed VALUES (1, 'alpha', DATE '2024-03-05', TIMESTAMP '2024-03-05 10:30:00'), "
              "(2, 'alps', DATE '1969-12-31', TIMESTAMP '2024-03-05 10:59:59'), (3, 'beta', NULL, TIMESTAMP '1969-12-31 23:00:01')")
    table = ice.load_table(f"{lake['db']}.transformed")
    assert [(f.name, str(f.transform)) for f in table.spec().fields] == [("name_trunc", "truncate[2]"), ("d_year", "year"), ("ts_hour", "hour")]
    got = sorted((t.file.partition[0], t.file.partition[1], t.file.partition[2]) for t in table.scan().plan_files())
    hour = 19_787 * 24 + 10  # 2024-03-05 10:00 in hours since the epoch
    assert got == [("al", -1, hour), ("al", 54, hour), ("be", None, -1)]
    want = [(1, "alpha", datetime.date(2024, 3, 5), datetime.datetime(2024, 3, 5, 10, 30)),
            (2, "alps", datetime.date(1969, 12, 31), datetime.datetime(2024, 3, 5, 10, 59, 59)),
            (3, "beta", None, datetime.datetime(1969, 12, 31, 23, 0, 1))]
    assert sorted((r["id"], r["name"], r["d"], r["ts"]) for r in table.scan().to_arrow().to_pylist()) == want
    location = server.client("glue").get_table(DatabaseName=lake["db"], Name="transformed")["Table"]["Parameters"]["metadata_location"]
    assert duck.execute(f"SELECT id, name, d, ts FROM iceberg_scan('{location}') ORDER BY id").fetchall() == want
    # Filters on the source columns prune through each transform and keep every matching row.
    assert run(lake, "SELECT id FROM transformed WHERE name = 'alps'") == [["2"]]
    assert run(lake, "SELECT id FROM transformed WHERE ts < TIMESTAMP '1970-01-01 00:00:00'") == [["3"]]
    assert run(lake, "SELECT id FROM transformed WHERE d >= DATE '2024-01-01'") == [["1"]]


def test_other_engines_prune_by_the_metrics_minerva_writes(server, lake, ice, duck):
    """Each data file's column metrics (value and null counts, lower and upper bounds by field
    id) are in Minerva's manifests: pyiceberg plans only the files whose bounds admit a filter,
    and Minerva's own scans skip the others too (fewer bytes scanned)."""
    run(lake, f"CREATE TABLE ranges (id bigint, label string, at timestamp) "
              f"LOCATION 's3://{lake['bucket']}/warehouse/ranges' TBLPROPERTIES ('table_type'='ICEBERG')")
    run(lake, "INSERT INTO ranges VALUES (1, 'one', TIMESTAMP '2024-01-01 10:00:00'), (3, NULL, TIMESTAMP '2024-01-03 10:00:00')")
    run(lake, "INSERT INTO ranges VALUES (100, 'hundred', TIMESTAMP '2025-01-01 10:00:00'), (102, 'zed', NULL)")
    table = ice.load_table(f"{lake['db']}.ranges")
    files = table.inspect.files().to_pylist()
    assert len(files) == 2
    low = next(f for f in files if f["lower_bounds"] and dict(f["lower_bounds"]).get(1) == (1).to_bytes(8, "little"))
    assert dict(low["upper_bounds"])[1] == (3).to_bytes(8, "little")
    assert dict(low["value_counts"])[2] == 2 and dict(low["null_value_counts"])[2] == 1
    assert dict(low["lower_bounds"])[2] == b"one" and dict(low["upper_bounds"])[2] == b"one"
    assert len(list(table.scan(row_filter="id >= 50").plan_files())) == 1
    assert len(list(table.scan(row_filter="label == 'hundred'").plan_files())) == 1
    assert len(list(table.scan(row_filter="id < 0").plan_files())) == 0
    assert [r["id"] for r in table.scan(row_filter="id >= 50").to_arrow().to_pylist()] == [100, 102]
    athena = lake["athena"]
    scanned = {}
    for name, sql in [("all", "SELECT count(*) FROM ranges"), ("high", "SELECT count(*) FROM ranges WHERE id >= 50")]:
        qid = athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": lake["db"]},
                                           ResultConfiguration={"OutputLocation": f"s3://{lake['bucket']}/results/"})["QueryExecutionId"]
        q = wait_query(athena, qid)
        assert q["Status"]["State"] == "SUCCEEDED", q["Status"]
        scanned[name] = q["Statistics"]["DataScannedInBytes"]
    assert scanned["all"] - scanned["high"] >= low["file_size_in_bytes"] > 0, (scanned, low["file_size_in_bytes"])
    assert run(lake, "SELECT id FROM ranges WHERE id >= 50 ORDER BY id") == [["100"], ["102"]]
    location = server.client("glue").get_table(DatabaseName=lake["db"], Name="ranges")["Table"]["Parameters"]["metadata_location"]
    assert duck.execute(f"SELECT id FROM iceberg_scan('{location}') WHERE id >= 50 ORDER BY id").fetchall() == [(100,), (102,)]


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


def test_drop_table_removes_what_the_table_reached(server, lake, ice):
    """DROP TABLE of an Iceberg table deletes its files, as Athena does: metadata, manifests and
    data; what else is under the location stays."""
    s3 = server.client("s3")
    bucket = lake["bucket"]
    s3.put_object(Bucket=bucket, Key="warehouse/dropped/notes.txt", Body=b"not the table's")
    run(lake, f"CREATE TABLE dropped (id int) PARTITIONED BY (bucket(4, id)) LOCATION 's3://{bucket}/warehouse/dropped' "
              f"TBLPROPERTIES ('table_type'='ICEBERG')")
    run(lake, "INSERT INTO dropped VALUES (1), (2), (3)")
    run(lake, "INSERT INTO dropped VALUES (4)")
    keys = lambda: sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="warehouse/dropped/").get("Contents", []))
    assert len(keys()) > 8
    run(lake, "DROP TABLE dropped")
    assert keys() == ["warehouse/dropped/notes.txt"]



def test_other_engines_apply_minerva_row_changes(server, lake, ice, duck):
    """DELETE, UPDATE and MERGE written as Athena writes them (position delete files): pyiceberg and
    DuckDB read the same rows Minerva does."""
    run(lake, f"CREATE TABLE changed (id int, kind string, qty int) PARTITIONED BY (kind) "
              f"LOCATION 's3://{lake['bucket']}/warehouse/changed' TBLPROPERTIES ('table_type'='ICEBERG', 'vacuum_max_snapshot_age_seconds'='0', "
              f"'optimize_rewrite_data_file_threshold'='1', 'optimize_rewrite_delete_file_threshold'='1')")
    run(lake, "INSERT INTO changed VALUES (1, 'a', 10), (2, 'a', 20), (3, 'b', 30), (4, 'b', 40), (5, 'c', 50)")
    run(lake, "DELETE FROM changed WHERE qty > 35 AND kind = 'b'")
    run(lake, "UPDATE changed SET qty = qty + 1 WHERE kind = 'a'")
    merge = ("MERGE INTO changed t USING (SELECT 1 AS id, 100 AS qty UNION ALL SELECT 3, 0 UNION ALL SELECT 6, 60) s ON t.id = s.id "
             "WHEN MATCHED AND s.qty = 0 THEN DELETE WHEN MATCHED THEN UPDATE SET qty = s.qty "
             "WHEN NOT MATCHED THEN INSERT (id, kind, qty) VALUES (s.id, 'new', s.qty)")
    athena = lake["athena"]
    qid = athena.start_query_execution(QueryString=merge, QueryExecutionContext={"Database": lake["db"]},
                                       ResultConfiguration={"OutputLocation": f"s3://{lake['bucket']}/results/"})["QueryExecutionId"]
    assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"
    # One row deleted, one updated, one inserted.
    assert athena.get_query_results(QueryExecutionId=qid)["UpdateCount"] == 3
    want = [(1, "a", 100), (2, "a", 21), (5, "c", 50), (6, "new", 60)]
    assert run(lake, "SELECT id, kind, qty FROM changed ORDER BY id") == [[str(i), k, str(q)] for i, k, q in want]
    table = ice.load_table(f"{lake['db']}.changed")
    assert sorted((r["id"], r["kind"], r["qty"]) for r in table.scan().to_arrow().to_pylist()) == want
    assert [s.summary.operation.value for s in table.snapshots()] == ["append", "delete", "overwrite", "overwrite"]
    # Each delete file bounds the paths and positions it names (the specification's fields
    # 2147483546, file_path, and 2147483545, pos), as Iceberg's writers record them: readers
    # apply it only to the data files in range. Read from the manifests and from the files.
    delete_files = [e.data_file for m in table.current_snapshot().manifests(table.io)
                    for e in m.fetch_manifest_entry(table.io) if e.data_file.content.value == 1]
    assert len(delete_files) == 4  # DELETE in b, UPDATE in a, MERGE in a and b
    for d in delete_files:
        rows = pq.read_table(table.io.new_input(d.file_path).open()).to_pylist()
        paths, positions = [r["file_path"] for r in rows], [r["pos"] for r in rows]
        assert d.lower_bounds[2147483546] == min(paths).encode() and d.upper_bounds[2147483546] == max(paths).encode()
        assert d.lower_bounds[2147483545] == min(positions).to_bytes(8, "little")
        assert d.upper_bounds[2147483545] == max(positions).to_bytes(8, "little")
    location = server.client("glue").get_table(DatabaseName=lake["db"], Name="changed")["Table"]["Parameters"]["metadata_location"]
    assert duck.execute(f"SELECT id, kind, qty FROM iceberg_scan('{location}') ORDER BY id").fetchall() == want

    # OPTIMIZE folds the deletes in; VACUUM expires the older snapshots and deletes what only they
    # reached. The other engines still read the same rows, from the files that are left.
    run(lake, "OPTIMIZE changed REWRITE DATA USING BIN_PACK")
    run(lake, "VACUUM changed")
    table = ice.load_table(f"{lake['db']}.changed")
    assert sorted((r["id"], r["kind"], r["qty"]) for r in table.scan().to_arrow().to_pylist()) == want
    assert len(table.snapshots()) == 1 and table.current_snapshot().summary.operation.value == "replace"
    live = sorted(f.file.file_path for f in table.scan().plan_files())
    assert all(not t.delete_files for t in table.scan().plan_files())
    s3 = server.client("s3")
    stored = sorted(f"s3://{lake['bucket']}/{o['Key']}" for o in s3.list_objects_v2(Bucket=lake["bucket"], Prefix="warehouse/changed/data/")["Contents"])
    assert stored == live
    location = server.client("glue").get_table(DatabaseName=lake["db"], Name="changed")["Table"]["Parameters"]["metadata_location"]
    assert duck.execute(f"SELECT id, kind, qty FROM iceberg_scan('{location}') ORDER BY id").fetchall() == want


def test_a_query_reads_only_the_deletes_of_the_files_it_reads(server, lake):
    """The position delete files of partition a are not read by a query that reads partition b
    (their path bounds leave b's file out): with them gone from the bucket, b still reads, and
    the whole table fails loudly rather than answer without them."""
    run(lake, f"CREATE TABLE parts (id int, kind string) PARTITIONED BY (kind) LOCATION 's3://{lake['bucket']}/warehouse/parts' "
              f"TBLPROPERTIES ('table_type'='ICEBERG')")
    run(lake, "INSERT INTO parts VALUES (1, 'a'), (2, 'a'), (3, 'b')")
    run(lake, "DELETE FROM parts WHERE id = 1")
    deletes = run(lake, 'SELECT file_path FROM "parts$files" WHERE content = 1')
    assert len(deletes) == 1 and "/kind=a/" in deletes[0][0]
    s3 = server.client("s3")
    s3.delete_object(Bucket=lake["bucket"], Key=deletes[0][0].split(f"s3://{lake['bucket']}/", 1)[1])
    assert run(lake, "SELECT id FROM parts WHERE kind = 'b'") == [["3"]]
    athena = lake["athena"]
    qid = athena.start_query_execution(QueryString="SELECT id FROM parts", QueryExecutionContext={"Database": lake["db"]},
                                       ResultConfiguration={"OutputLocation": f"s3://{lake['bucket']}/results/"})["QueryExecutionId"]
    assert wait_query(athena, qid)["Status"]["State"] == "FAILED"


def test_schema_evolution_agrees(lake, ice, duck, server):
    """Columns added, widened and dropped by Minerva: pyiceberg and DuckDB read the table by the
    new schema, older files included."""
    run(lake, f"CREATE TABLE evolving (id int, price float, note string) LOCATION 's3://{lake['bucket']}/warehouse/evolving' "
              f"TBLPROPERTIES ('table_type'='ICEBERG')")
    run(lake, "INSERT INTO evolving VALUES (1, 1.5, 'first')")
    run(lake, "ALTER TABLE evolving ADD COLUMNS (added date)")
    run(lake, "ALTER TABLE evolving CHANGE COLUMN id id bigint")
    run(lake, "ALTER TABLE evolving DROP COLUMN note")
    run(lake, "INSERT INTO evolving VALUES (2, 2.5, DATE '2024-01-02')")
    table = ice.load_table(f"{lake['db']}.evolving")
    assert [(f.name, str(f.field_type)) for f in table.schema().fields] == [("id", "long"), ("price", "float"), ("added", "date")]
    want = [(1, 1.5, None), (2, 2.5, datetime.date(2024, 1, 2))]
    assert sorted((r["id"], r["price"], r["added"]) for r in table.scan().to_arrow().to_pylist()) == want
    glue_table = server.client("glue").get_table(DatabaseName=lake["db"], Name="evolving")["Table"]
    location = glue_table["Parameters"]["metadata_location"]
    assert duck.execute(f"SELECT id, price, added FROM iceberg_scan('{location}') ORDER BY id").fetchall() == want
    # Glue holds the table as Athena (Iceberg's Glue catalog) leaves it: the metadata and the one
    # before it, the current schema's columns, then the dropped one, marked not current.
    assert glue_table["TableType"] == "EXTERNAL_TABLE" and glue_table["Parameters"]["table_type"] == "ICEBERG"
    assert glue_table["Parameters"]["previous_metadata_location"] not in ("", location)
    assert glue_table["Parameters"]["previous_metadata_location"].startswith(f"s3://{lake['bucket']}/warehouse/evolving/metadata/")

    def field(n, current):
        return {"iceberg.field.id": str(n), "iceberg.field.optional": "true", "iceberg.field.current": current}
    assert [(c["Name"], c["Type"], c["Parameters"]) for c in glue_table["StorageDescriptor"]["Columns"]] == [
        ("id", "bigint", field(1, "true")), ("price", "float", field(2, "true")), ("added", "date", field(4, "true")),
        ("note", "string", field(3, "false"))]
    # Readers of the catalog see the current columns only.
    metadata = lake["athena"].get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName=lake["db"], TableName="evolving")
    assert [c["Name"] for c in metadata["TableMetadata"]["Columns"]] == ["id", "price", "added"]
    athena = lake["athena"]
    qid = athena.start_query_execution(QueryString="SHOW COLUMNS IN evolving", QueryExecutionContext={"Database": lake["db"]},
                                       ResultConfiguration={"OutputLocation": f"s3://{lake['bucket']}/results/"})["QueryExecutionId"]
    assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"
    rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]  # a DDL result: no header row
    assert [r["Data"][0]["VarCharValue"] for r in rows] == ["id", "price", "added"]


def test_a_column_renamed_is_read_by_field_id(lake, ice, server, duck):
    """A column renamed by pyiceberg (older files hold the old name) is read by its field id: the
    old values under the new name. And one Minerva renames reads the same in pyiceberg and DuckDB."""
    schema = pa.schema([pa.field("id", pa.int64()), pa.field("qty", pa.int64())])
    table = ice.create_table(f"{lake['db']}.renamed", schema=schema, location=f"s3://{lake['bucket']}/warehouse/renamed")
    table.append(pa.table({"id": [1], "qty": [5]}, schema=schema))
    with table.update_schema() as update:
        update.rename_column("qty", "quantity")
    assert run(lake, "SELECT id, quantity FROM renamed") == [["1", "5"]]
    run(lake, "INSERT INTO renamed VALUES (2, 7)")
    assert run(lake, "SELECT id, quantity FROM renamed WHERE quantity > 4 ORDER BY id") == [["1", "5"], ["2", "7"]]
    run(lake, "ALTER TABLE renamed CHANGE COLUMN quantity amount bigint")
    run(lake, "UPDATE renamed SET amount = amount * 10 WHERE id = 1")
    assert run(lake, "SELECT id, amount FROM renamed ORDER BY id") == [["1", "50"], ["2", "7"]]
    table = ice.load_table(f"{lake['db']}.renamed")
    assert sorted((r["id"], r["amount"]) for r in table.scan().to_arrow().to_pylist()) == [(1, 50), (2, 7)]
    glue_table = server.client("glue").get_table(DatabaseName=lake["db"], Name="renamed")["Table"]
    location = glue_table["Parameters"]["metadata_location"]
    assert duck.execute(f"SELECT id, amount FROM iceberg_scan('{location}') ORDER BY id").fetchall() == [(1, 50), (2, 7)]
    # The names it had before stay in Glue, not current, as Iceberg's Glue catalog keeps them.
    assert [(c["Name"], c["Parameters"]["iceberg.field.current"]) for c in glue_table["StorageDescriptor"]["Columns"]] == [
        ("id", "true"), ("amount", "true"), ("qty", "false"), ("quantity", "false")]


def test_crawler_registers_iceberg_tables(server, lake):
    """A Glue crawler's IcebergTargets: each table folder under the path registered by its newest
    metadata file, and moved on when the table gains a snapshot."""
    glue = server.client("glue")
    run(lake, f"CREATE TABLE source (id int, kind string) PARTITIONED BY (kind) LOCATION 's3://{lake['bucket']}/lake/things' "
              f"TBLPROPERTIES ('table_type'='ICEBERG')")
    run(lake, "INSERT INTO source VALUES (1, 'a'), (2, 'b')")
    crawled_db = lake["db"] + "_crawled"
    glue.create_database(DatabaseInput={"Name": crawled_db})
    name = lake["db"].replace("_", "-") + "-ice"
    glue.create_crawler(Name=name, Role="r", DatabaseName=crawled_db, Targets={"IcebergTargets": [{"Paths": [f"s3://{lake['bucket']}/lake/"]}]})

    def crawl():
        glue.start_crawler(Name=name)
        deadline = time.monotonic() + 120
        while glue.get_crawler(Name=name)["Crawler"]["State"] != "READY":
            assert time.monotonic() < deadline, "the crawler did not finish"
            time.sleep(0.1)  # polling the crawler's state, as Glue clients do

    crawl()
    table = glue.get_table(DatabaseName=crawled_db, Name="things")["Table"]
    source = glue.get_table(DatabaseName=lake["db"], Name="source")["Table"]
    assert table["Parameters"]["table_type"] == "ICEBERG"
    assert table["Parameters"]["metadata_location"] == source["Parameters"]["metadata_location"]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [("id", "int"), ("kind", "string")]
    assert run(lake, f"SELECT count(*) FROM {crawled_db}.things") == [["2"]]
    run(lake, "INSERT INTO source VALUES (3, 'c')")
    crawl()
    assert run(lake, f"SELECT count(*) FROM {crawled_db}.things") == [["3"]]
    glue.delete_crawler(Name=name)
