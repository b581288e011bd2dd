"""Athena SQL breadth end to end: awswrangler's three read paths (CTAS, plain, UNLOAD), its
table functions (read_sql_table, describe_table, repair_table, show_create_table), pyathena's
cursor and SQLAlchemy dialect, the aws CLI, and the query engine's limits."""

import base64
import gzip
import io
import json
import re
import time
import urllib.request

import awswrangler as wr
import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy
from pyathena import connect

from conftest import ACCESS_KEY, REGION, RESULTS_BUCKET, SECRET_KEY, Server, unique, wait_query
from test_cli import aws

pytestmark = pytest.mark.core


def session(server) -> boto3.Session:
    wr.config.athena_endpoint_url = server.url
    wr.config.s3_endpoint_url = server.url
    wr.config.glue_endpoint_url = server.url
    wr.config.sts_endpoint_url = server.url
    return boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION)


def run(athena, sql: str, database: str = "default", **kwargs) -> dict:
    qid = athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": database}, **kwargs)["QueryExecutionId"]
    q = wait_query(athena, qid)
    assert q["Status"]["State"] == "SUCCEEDED", q["Status"].get("StateChangeReason")
    return q


def rows(athena, qid: str) -> list:
    out = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid):
        out += [[d.get("VarCharValue") for d in r["Data"]] for r in page["ResultSet"]["Rows"]]
    return out


@pytest.fixture(scope="module")
def lake(server):
    """A database with a partitioned Parquet table written by CTAS, and a CSV table whose
    partitions exist on S3 but not yet in the catalog."""
    athena = server.client("athena")
    s3 = server.client("s3")
    db = unique("sqldb").replace("-", "_")
    bucket = unique("sqllake")
    s3.create_bucket(Bucket=bucket)
    run(athena, f"CREATE DATABASE {db}")
    run(athena, f"""CREATE TABLE {db}.orders WITH (format = 'PARQUET', partitioned_by = ARRAY['region'], external_location = 's3://{bucket}/orders/')
        AS SELECT * FROM (VALUES (1, 'ann', 10.5e0, ARRAY['a', 'b'], 'eu'), (2, 'bob', 20.0e0, ARRAY[], 'us'), (3, 'cy', NULL, ARRAY['c'], 'eu'))
        AS t(id, customer, amount, tags, region)""")
    for day, body in (("2024-01-01", "1,x\n2,y\n"), ("2024-01-02", "3,z\n")):
        s3.put_object(Bucket=bucket, Key=f"events/dt={day}/part.csv", Body=body.encode())
    run(athena, f"CREATE EXTERNAL TABLE {db}.events (id int, name string) PARTITIONED BY (dt string) "
                f"ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://{bucket}/events/'")
    return db, bucket


@pytest.mark.parametrize("approach", ["ctas", "plain", "unload"])
def test_wrangler_reads_the_same_frame_every_way(server, lake, approach):
    db, _ = lake
    sess = session(server)
    df = wr.athena.read_sql_query(
        "SELECT id, customer, amount, region FROM orders WHERE region = 'eu' ORDER BY id",
        database=db, ctas_approach=approach == "ctas", unload_approach=approach == "unload",
        s3_output=f"s3://{RESULTS_BUCKET}/wr-{approach}-{unique('q')}/", boto3_session=sess,
    )
    df = df.sort_values("id").reset_index(drop=True)
    assert df["id"].tolist() == [1, 3]
    assert df["customer"].tolist() == ["ann", "cy"]
    assert df["amount"].iloc[0] == 10.5 and pd.isna(df["amount"].iloc[1])
    assert df["region"].tolist() == ["eu", "eu"]


def test_wrangler_read_sql_table_with_nested_types(server, lake):
    db, _ = lake
    df = wr.athena.read_sql_table("orders", database=db, ctas_approach=True, boto3_session=session(server))
    df = df.sort_values("id").reset_index(drop=True)
    assert [list(t) for t in df["tags"]] == [["a", "b"], [], ["c"]]
    assert sorted(df.columns) == ["amount", "customer", "id", "region", "tags"]


def test_wrangler_read_sql_table_without_ctas(server, lake):
    db, _ = lake
    df = wr.athena.read_sql_table("orders", database=db, ctas_approach=False, boto3_session=session(server),
                                  s3_output=f"s3://{RESULTS_BUCKET}/wr-table-{unique('q')}/")
    df = df.sort_values("id").reset_index(drop=True)
    assert list(df.columns) == ["id", "customer", "amount", "tags", "region"]
    assert df["id"].tolist() == [1, 2, 3]
    assert df["customer"].tolist() == ["ann", "bob", "cy"]
    assert df["amount"].iloc[:2].tolist() == [10.5, 20.0] and pd.isna(df["amount"].iloc[2])
    assert df["region"].tolist() == ["eu", "us", "eu"]
    # Without CTAS the rows come from the result CSV, where an array is Athena's rendering.
    assert df["tags"].tolist() == ["[a, b]", "[]", "[c]"]


def test_wrangler_describe_repair_and_show_create(server, lake):
    db, bucket = lake
    sess = session(server)
    described = wr.athena.describe_table("orders", database=db, boto3_session=sess)
    assert described["Column Name"].tolist() == ["id", "customer", "amount", "tags", "region"]
    assert described["Type"].tolist() == ["int", "string", "double", "array<string>", "string"]
    assert described["Partition"].tolist() == [False, False, False, False, True]

    assert wr.athena.repair_table("events", database=db, boto3_session=sess) == "SUCCEEDED"
    assert wr.catalog.get_partitions(database=db, table="events", boto3_session=sess) == {
        f"s3://{bucket}/events/dt=2024-01-01/": ["2024-01-01"],
        f"s3://{bucket}/events/dt=2024-01-02/": ["2024-01-02"],
    }
    got = wr.athena.read_sql_query("SELECT dt, count(*) AS n FROM events GROUP BY dt ORDER BY dt", database=db, ctas_approach=False, boto3_session=sess)
    assert got["n"].tolist() == [2, 1]

    ddl = wr.athena.show_create_table("events", database=db, boto3_session=sess)
    assert ddl.startswith(f"CREATE EXTERNAL TABLE `{db}.events`(")
    assert f"LOCATION 's3://{bucket}/events/'" in ddl
    # What SHOW CREATE TABLE prints creates the same table again.
    athena = server.client("athena")
    run(athena, f"DROP TABLE {db}.events")
    run(athena, ddl, database=db)
    again = wr.athena.describe_table("events", database=db, boto3_session=sess)
    assert again["Column Name"].tolist() == ["id", "name", "dt"]


def test_pyathena_cursor_runs_ddl_and_queries(server, lake):
    db, _ = lake
    cursor = connect(s3_staging_dir=f"s3://{RESULTS_BUCKET}/pyathena/", region_name=REGION, endpoint_url=server.url,
                     aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, schema_name=db).cursor()
    cursor.execute("SHOW TABLES")
    assert sorted(r[0] for r in cursor.fetchall()) == ["events", "orders"]
    cursor.execute("CREATE VIEW eu_orders AS SELECT id, customer FROM orders WHERE region = 'eu'")
    cursor.execute("SELECT customer FROM eu_orders ORDER BY id")
    assert cursor.fetchall() == [("ann",), ("cy",)]
    cursor.execute("SELECT element_at(tags, 1), cardinality(tags), map(ARRAY['k'], ARRAY[id]) FROM orders WHERE id = 1")
    assert [d[0] for d in cursor.description] == ["_col0", "_col1", "_col2"]
    # The map arrives as Athena writes it, `{k=1}`; what a Python value it becomes is the
    # client's doing (PyAthena 3.9 keeps the text, 4.x makes a dict), so it goes through its converter.
    expected_map = cursor._converter.convert("map", "{k=1}")
    assert cursor.fetchone() == ("a", 2, expected_map)
    cursor.execute("DROP VIEW eu_orders")


@pytest.mark.parametrize("unload", [False, True])
def test_pyathena_pandas_cursor_reads_the_result_files(server, lake, monkeypatch, unload):
    """PandasCursor reads the result CSV (or, with unload, the Parquet files UNLOAD wrote and
    their manifest) straight from S3, as it does on AWS: the endpoint comes from the standard
    AWS_ENDPOINT_URL variable, which its own S3 client honours too."""
    from pyathena.pandas.cursor import PandasCursor
    db, _ = lake
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    cursor = connect(s3_staging_dir=f"s3://{RESULTS_BUCKET}/pandas-cursor/", region_name=REGION, aws_access_key_id=ACCESS_KEY,
                     aws_secret_access_key=SECRET_KEY, schema_name=db, cursor_class=PandasCursor,
                     cursor_kwargs={"unload": unload}).cursor()
    df = cursor.execute("SELECT id, customer, amount, CAST(id AS decimal(10,2)) / 4 AS quarter, DATE '2024-01-02' AS day, "
                        "NULL AS nothing FROM orders ORDER BY id").as_pandas()
    assert list(df.columns) == ["id", "customer", "amount", "quarter", "day", "nothing"]
    assert df["id"].tolist() == [1, 2, 3]
    assert df["customer"].tolist() == ["ann", "bob", "cy"]
    assert [float(q) for q in df["quarter"]] == [0.25, 0.5, 0.75]
    assert str(df["day"].iloc[0])[:10] == "2024-01-02"
    assert df["nothing"].isna().all()


def test_pyathena_sqlalchemy_with_pandas(server, lake):
    db, _ = lake
    staging = f"s3://{RESULTS_BUCKET}/sqlalchemy/"
    url = (f"awsathena+rest://{ACCESS_KEY}:{SECRET_KEY}@athena.{REGION}.amazonaws.com:443/{db}"
           f"?s3_staging_dir={staging}&endpoint_url={server.url}")
    engine = sqlalchemy.create_engine(url)
    df = pd.read_sql("SELECT id, customer, region FROM orders ORDER BY id", engine)
    assert df["customer"].tolist() == ["ann", "bob", "cy"]
    assert sqlalchemy.inspect(engine).get_table_names() == ["events", "orders"]
    columns = [c["name"] for c in sqlalchemy.inspect(engine).get_columns("orders")]
    assert columns == ["id", "customer", "amount", "tags", "region"]


def test_cli_runs_queries(server, lake):
    db, _ = lake
    qid = json.loads(aws(server, "athena", "start-query-execution", "--query-string", "SELECT count(*) AS n, max(id) FROM orders",
                         "--query-execution-context", f"Database={db}").stdout)["QueryExecutionId"]
    for _ in range(200):
        q = json.loads(aws(server, "athena", "get-query-execution", "--query-execution-id", qid).stdout)["QueryExecution"]
        if q["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.1)
    assert q["Status"]["State"] == "SUCCEEDED"
    assert q["StatementType"] == "DML" and q["SubstatementType"] == "SELECT"
    assert q["Statistics"]["DataScannedInBytes"] > 0
    out = json.loads(aws(server, "athena", "get-query-results", "--query-execution-id", qid).stdout)
    data = [[d.get("VarCharValue") for d in r["Data"]] for r in out["ResultSet"]["Rows"]]
    assert data == [["n", "_col1"], ["3", "3"]]


def test_statement_types_results_and_parameters(server, lake):
    db, _ = lake
    athena = server.client("athena")
    q = run(athena, "SELECT id FROM orders WHERE customer = ? AND id > ?", database=db, ExecutionParameters=["'bob'", "1"])
    assert q["ExecutionParameters"] == ["'bob'", "1"]
    assert rows(athena, q["QueryExecutionId"]) == [["id"], ["2"]]
    q = run(athena, "SHOW PARTITIONS orders", database=db)
    assert (q["StatementType"], q["SubstatementType"]) == ("UTILITY", "SHOW_PARTITIONS")
    assert q["ResultConfiguration"]["OutputLocation"].endswith(".txt")
    assert rows(athena, q["QueryExecutionId"]) == [["region=eu"], ["region=us"]]
    q = run(athena, "DESCRIBE orders", database=db)
    result = athena.get_query_results(QueryExecutionId=q["QueryExecutionId"])
    assert [c["Name"] for c in result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]] == ["col_name", "data_type", "comment"]
    assert result["ResultSet"]["Rows"][0]["Data"][0]["VarCharValue"].split("\t")[0].strip() == "id"
    q = run(athena, f"CREATE TABLE {db}.copy AS SELECT * FROM orders", database=db)
    assert (q["StatementType"], q["SubstatementType"]) == ("DDL", "CREATE_TABLE_AS_SELECT")
    assert athena.get_query_results(QueryExecutionId=q["QueryExecutionId"])["UpdateCount"] == 3
    q = run(athena, "EXPLAIN SELECT count(*) FROM copy WHERE id > 1", database=db)
    assert any("DataSourceExec" in r[0] for r in rows(athena, q["QueryExecutionId"]))
    qid = athena.start_query_execution(QueryString="SELECT nope FROM orders", QueryExecutionContext={"Database": db})["QueryExecutionId"]
    failed = wait_query(athena, qid)
    assert failed["Status"]["State"] == "FAILED"
    assert failed["Status"]["StateChangeReason"].startswith("COLUMN_NOT_FOUND")
    assert failed["Status"]["AthenaError"]["ErrorCategory"] == 2


def test_a_query_far_over_its_memory_limit_fails_and_the_server_stays_up(workdir):
    s = Server(workdir / "memory-data", workdir / "memory.log", extra_args=("--query-limit-mb", "16")).start()
    try:
        athena, s3 = s.client("athena"), s.client("s3")
        heavy = "SELECT count(*) FROM generate_series(1, 10000000) a JOIN generate_series(1, 10000000) b ON a.value = b.value"
        qid = athena.start_query_execution(QueryString=heavy)["QueryExecutionId"]
        q = wait_query(athena, qid)
        assert q["Status"]["State"] == "FAILED"
        assert q["Status"]["StateChangeReason"].startswith("EXCEEDED_LOCAL_MEMORY_LIMIT: Query exceeded the per-query memory limit of 16.0MB")
        # The server answers as before.
        with urllib.request.urlopen(f"{s.url}/_minerva/health", timeout=5) as r:
            assert r.status == 200
        bucket = unique("after")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"v")
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
        q = run(athena, "SELECT count(*) FROM generate_series(1, 1000)")
        assert rows(athena, q["QueryExecutionId"]) == [["_col0"], ["1000"]]
    finally:
        assert s.stop() == 0


def test_history_and_results_survive_a_restart(own_server):
    athena = own_server.client("athena")
    done = run(athena, "SELECT 42 AS answer, 'x' AS s")["QueryExecutionId"]
    heavy = athena.start_query_execution(
        QueryString="SELECT COUNT(*) FROM generate_series(1, 300000) a CROSS JOIN generate_series(1, 300000) b WHERE (a.value * b.value) % 7 = 3"
    )["QueryExecutionId"]
    for _ in range(400):
        if athena.get_query_execution(QueryExecutionId=heavy)["QueryExecution"]["Status"]["State"] == "RUNNING":
            break
        time.sleep(0.05)
    own_server.kill()
    own_server.start()
    athena = own_server.client("athena")
    q = athena.get_query_execution(QueryExecutionId=done)["QueryExecution"]
    assert q["Status"]["State"] == "SUCCEEDED"
    assert rows(athena, done) == [["answer", "s"], ["42", "x"]]
    assert {done, heavy} <= set(athena.list_query_executions()["QueryExecutionIds"])
    # The query the crash cut short is not left running: it failed, and says why.
    status = athena.get_query_execution(QueryExecutionId=heavy)["QueryExecution"]["Status"]
    assert status["State"] == "FAILED"
    assert "the server stopped while the query ran" in status["StateChangeReason"]


VIEW_PREFIX, VIEW_SUFFIX = "/* Presto View: ", " */"


def test_views_are_stored_in_glue_as_athena_stores_them(server, lake):
    db, _ = lake
    athena, glue = server.client("athena"), server.client("glue")
    sql = "SELECT id, customer AS who FROM orders WHERE region = 'eu'"
    run(athena, f"CREATE VIEW eu_view AS {sql}", database=db)
    t = glue.get_table(DatabaseName=db, Name="eu_view")["Table"]
    assert t["TableType"] == "VIRTUAL_VIEW"
    assert t["Parameters"]["presto_view"] == "true"
    assert t["ViewExpandedText"] == "/* Presto View */"
    original = t["ViewOriginalText"]
    assert original.startswith(VIEW_PREFIX) and original.endswith(VIEW_SUFFIX), original
    doc = json.loads(base64.b64decode(original[len(VIEW_PREFIX):-len(VIEW_SUFFIX)]))
    assert doc["originalSql"] == sql
    assert (doc["catalog"], doc["schema"]) == ("awsdatacatalog", db)
    assert doc["columns"] == [{"name": "id", "type": "integer"}, {"name": "who", "type": "varchar"}]
    assert [(c["Name"], c["Type"]) for c in t["StorageDescriptor"]["Columns"]] == [("id", "int"), ("who", "string")]

    # A view written to Glue in that shape by another tool reads through Athena.
    other = {"originalSql": "SELECT customer FROM orders WHERE id = 2", "catalog": "awsdatacatalog", "schema": db,
             "columns": [{"name": "customer", "type": "varchar"}], "owner": "someone", "runAsInvoker": False}
    glue.create_table(DatabaseName=db, TableInput={
        "Name": "glue_view", "TableType": "VIRTUAL_VIEW",
        "Parameters": {"presto_view": "true", "comment": "Presto View"},
        "ViewOriginalText": VIEW_PREFIX + base64.b64encode(json.dumps(other).encode()).decode() + VIEW_SUFFIX,
        "ViewExpandedText": "/* Presto View */",
        "StorageDescriptor": {"Columns": [{"Name": "customer", "Type": "string"}], "SerdeInfo": {}},
    })
    q = run(athena, "SELECT * FROM glue_view", database=db)
    assert rows(athena, q["QueryExecutionId"]) == [["customer"], ["bob"]]
    q = run(athena, "SELECT who FROM eu_view ORDER BY id", database=db)
    assert rows(athena, q["QueryExecutionId"]) == [["who"], ["ann"], ["cy"]]
    run(athena, "DROP VIEW eu_view", database=db)
    run(athena, "DROP VIEW glue_view", database=db)


def objects(s3, bucket: str, prefix: str) -> dict:
    """Key to body of every object under a prefix."""
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix) for o in page.get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def java_int(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x >= 1 << 31 else x


def hive_bucket(values: list, buckets: int) -> int:
    """Hive's bucket (Trino's bucketing v1, what Athena writes and prunes by) of a row's values:
    ints as themselves, a bigint's halves xor-ed, strings 31 * h + each signed UTF-8 byte."""
    h = 0
    for v in values:
        if isinstance(v, str):
            field = 0
            for b in v.encode():
                field = java_int(field * 31 + (b - 256 if b > 127 else b))
        else:
            field = java_int(((v & 0xFFFFFFFFFFFFFFFF) >> 32) ^ v)
        h = java_int(h * 31 + field)
    return (h & 0x7FFFFFFF) % buckets


def test_ctas_buckets_are_files_named_as_trino_names_them(server, lake):
    db, bucket = lake
    athena, s3 = server.client("athena"), server.client("s3")
    q = run(athena, f"""CREATE TABLE {db}.bucketed WITH (format = 'PARQUET', partitioned_by = ARRAY['part'], bucketed_by = ARRAY['id'],
        bucket_count = 4, external_location = 's3://{bucket}/bucketed/')
        AS SELECT value * 1000000007 AS id, concat('p', CAST(value % 2 AS varchar)) AS part FROM generate_series(1, 40)""")
    qid = q["QueryExecutionId"]
    files = objects(s3, bucket, "bucketed/")
    by_partition = {}
    for key, body in files.items():
        partition, name = key[len("bucketed/"):].split("/")
        m = re.fullmatch(r"0000(0\d)_0_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}_" + qid, name)
        assert m, name
        table = pq.read_table(io.BytesIO(body))
        by_partition.setdefault(partition, []).append((int(m.group(1)), table.num_rows))
        # Each row is in the bucket Athena would look for it in.
        assert all(hive_bucket([i], 4) == int(m.group(1)) for i in table.column("id").to_pylist()), (name, table)
    # bucket_count files in each partition, one a bucket, holding the partition's rows.
    assert sorted(by_partition) == ["part=p0", "part=p1"]
    for partition, buckets in by_partition.items():
        assert sorted(b for b, _ in buckets) == [0, 1, 2, 3], (partition, buckets)
        assert sum(n for _, n in buckets) == 20
    # Each id went to exactly one bucket, and the catalog knows the bucketing.
    t = server.client("glue").get_table(DatabaseName=db, Name="bucketed")["Table"]["StorageDescriptor"]
    assert (t["BucketColumns"], t["NumberOfBuckets"]) == (["id"], 4)
    q = run(athena, "SELECT count(*), count(DISTINCT id), sum(id) FROM bucketed", database=db)
    assert rows(athena, q["QueryExecutionId"])[1] == ["40", "40", str(820 * 1000000007)]
    manifest = s3.get_object(Bucket=RESULTS_BUCKET, Key=f"tables/{qid}-manifest.csv")["Body"].read().decode().split()
    assert sorted(manifest) == sorted(f"s3://{bucket}/{k}" for k in files)
    # Strings (UTF-8 beyond ASCII too) and two columns, as Hive hashes them.
    names = ["a", "Zürich", "é", "東京", "", "x" * 40, "naïve café", "-1"]
    values = ", ".join(f"(CAST({n} AS integer), '{s}')" for n, s in enumerate(names))
    run(athena, f"""CREATE TABLE {db}.by_name WITH (format = 'PARQUET', bucketed_by = ARRAY['n', 'name'], bucket_count = 5,
        external_location = 's3://{bucket}/by_name/') AS SELECT * FROM (VALUES {values}) AS t(n, name)""")
    seen = 0
    for key, body in objects(s3, bucket, "by_name/").items():
        number = int(key.split("/")[-1].split("_")[0])
        for n, name in zip(*pq.read_table(io.BytesIO(body)).to_pydict().values()):
            assert hive_bucket([n, name], 5) == number, (n, name, number)
            seen += 1
    assert seen == len(names)
    # Athena cannot bucket on every type, and says so.
    qid = athena.start_query_execution(QueryString=f"""CREATE TABLE {db}.by_time WITH (bucketed_by = ARRAY['t'], bucket_count = 2,
        external_location = 's3://{bucket}/by_time/') AS SELECT TIMESTAMP '2024-01-01 00:00:00' AS t""", QueryExecutionContext={"Database": db})["QueryExecutionId"]
    failed = wait_query(athena, qid)
    assert failed["Status"]["State"] == "FAILED"
    assert "Hive bucket hashCode is not supported" in failed["Status"]["StateChangeReason"], failed["Status"]
    assert objects(s3, bucket, "by_time/") == {}


@pytest.mark.parametrize("codec", ["SNAPPY", "ZSTD", "GZIP"])
def test_ctas_parquet_compression_is_in_the_footer(server, lake, codec):
    db, bucket = lake
    athena, s3 = server.client("athena"), server.client("s3")
    name = f"pq_{codec.lower()}"
    run(athena, f"CREATE TABLE {db}.{name} WITH (format = 'PARQUET', write_compression = '{codec}', external_location = 's3://{bucket}/{name}/') "
                f"AS SELECT id, customer, amount FROM orders", database=db)
    files = objects(s3, bucket, f"{name}/")
    assert files
    for key, body in files.items():
        meta = pq.ParquetFile(io.BytesIO(body)).metadata
        codecs = {meta.row_group(g).column(c).compression for g in range(meta.num_row_groups) for c in range(meta.num_columns)}
        assert codecs == {codec}, (key, codecs)
    t = server.client("glue").get_table(DatabaseName=db, Name=name)["Table"]
    assert t["Parameters"]["parquet.compression"] == codec


def test_ctas_text_and_json_files(server, lake):
    db, bucket = lake
    athena, s3 = server.client("athena"), server.client("s3")
    run(athena, f"CREATE TABLE {db}.gz_text WITH (format = 'TEXTFILE', write_compression = 'GZIP', field_delimiter = '|', "
                f"external_location = 's3://{bucket}/gz_text/') AS SELECT id, customer, amount FROM orders", database=db)
    files = objects(s3, bucket, "gz_text/")
    assert files and all(k.endswith(".gz") for k in files), list(files)
    lines = sorted(line for body in files.values() for line in gzip.decompress(body).decode().splitlines())
    # The delimiter between fields, and Hive's \N for NULL.
    assert lines == ["1|ann|10.5", "2|bob|20.0", "3|cy|\\N"]

    run(athena, f"CREATE TABLE {db}.plain_text WITH (format = 'TEXTFILE', write_compression = 'NONE', field_delimiter = ',', "
                f"external_location = 's3://{bucket}/plain_text/') AS SELECT id, customer FROM orders", database=db)
    files = objects(s3, bucket, "plain_text/")
    assert files and not any(k.endswith(".gz") for k in files), list(files)
    assert sorted(line for body in files.values() for line in body.decode().splitlines()) == ["1,ann", "2,bob", "3,cy"]

    run(athena, f"CREATE TABLE {db}.as_json WITH (format = 'JSON', write_compression = 'NONE', "
                f"external_location = 's3://{bucket}/as_json/') AS SELECT id, customer, tags FROM orders", database=db)
    files = objects(s3, bucket, "as_json/")
    records = sorted((json.loads(line) for body in files.values() for line in body.decode().splitlines()), key=lambda r: r["id"])
    assert records == [{"id": 1, "customer": "ann", "tags": ["a", "b"]}, {"id": 2, "customer": "bob", "tags": []},
                       {"id": 3, "customer": "cy", "tags": ["c"]}]
    q = run(athena, "SELECT id, customer FROM as_json ORDER BY id", database=db)
    assert rows(athena, q["QueryExecutionId"]) == [["id", "customer"], ["1", "ann"], ["2", "bob"], ["3", "cy"]]


HEAVY = "SELECT COUNT(*) FROM generate_series(1, 300000) a CROSS JOIN generate_series(1, 300000) b WHERE (a.value * b.value) % 7 = 3"


def state(athena, qid: str) -> str:
    return athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"]


def test_statistics_of_scans_and_of_a_queued_query(workdir):
    s = Server(workdir / "stats-data", workdir / "stats.log", extra_args=("--max-queries", "1")).start()
    try:
        athena, s3 = s.client("athena"), s.client("s3")
        bucket = unique("scan")
        s3.create_bucket(Bucket=bucket)
        csv = [("".join(f"{i},name {i}\n" for i in range(n))).encode() for n in (500, 70)]
        for i, body in enumerate(csv):
            s3.put_object(Bucket=bucket, Key=f"csv/part-{i}.csv", Body=body)
        buf = io.BytesIO()
        pq.write_table(pa.table({"id": pa.array(range(2000), pa.int64()), "name": [f"name {i}" for i in range(2000)]}), buf)
        s3.put_object(Bucket=bucket, Key="parquet/part-0.parquet", Body=buf.getvalue())
        run(athena, "CREATE DATABASE scans")
        run(athena, f"CREATE EXTERNAL TABLE scans.c (id int, name string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://{bucket}/csv/'")
        run(athena, f"CREATE EXTERNAL TABLE scans.p (id bigint, name string) STORED AS PARQUET LOCATION 's3://{bucket}/parquet/'")
        # A full scan reads every byte of the table's files, once.
        q = run(athena, "SELECT * FROM scans.c")
        assert q["Statistics"]["DataScannedInBytes"] == sum(len(b) for b in csv)
        q = run(athena, "SELECT * FROM scans.p")
        assert q["Statistics"]["DataScannedInBytes"] == len(buf.getvalue())

        heavy = athena.start_query_execution(QueryString=HEAVY)["QueryExecutionId"]
        deadline = time.monotonic() + 60
        while state(athena, heavy) != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.02)  # polling the query state
        light = athena.start_query_execution(QueryString="SELECT 1")["QueryExecutionId"]
        submitted = time.monotonic()
        # With one query at a time, the second waits for as long as the first runs.
        while time.monotonic() - submitted < 0.3:
            assert state(athena, light) == "QUEUED"
            time.sleep(0.02)
        waited_ms = (time.monotonic() - submitted) * 1000
        athena.stop_query_execution(QueryExecutionId=heavy)
        q = wait_query(athena, light)
        assert q["Status"]["State"] == "SUCCEEDED"
        st = q["Statistics"]
        for k in ("EngineExecutionTimeInMillis", "QueryPlanningTimeInMillis", "QueryQueueTimeInMillis", "ServicePreProcessingTimeInMillis",
                  "ServiceProcessingTimeInMillis", "TotalExecutionTimeInMillis"):
            assert isinstance(st[k], int) and st[k] >= 0, (k, st)
        assert st["QueryQueueTimeInMillis"] > 0
        assert st["ServicePreProcessingTimeInMillis"] + st["QueryQueueTimeInMillis"] + 1 >= waited_ms, st
        assert st["TotalExecutionTimeInMillis"] == (st["ServicePreProcessingTimeInMillis"] + st["QueryQueueTimeInMillis"]
                                                   + st["EngineExecutionTimeInMillis"] + st["ServiceProcessingTimeInMillis"]), st
        assert st["TotalExecutionTimeInMillis"] >= st["EngineExecutionTimeInMillis"] >= st["QueryPlanningTimeInMillis"]
        h = athena.get_query_execution(QueryExecutionId=heavy)["QueryExecution"]
        assert h["Status"]["State"] == "CANCELLED"
        assert h["Statistics"]["EngineExecutionTimeInMillis"] >= 300
        assert h["Statistics"]["TotalExecutionTimeInMillis"] >= h["Statistics"]["EngineExecutionTimeInMillis"]
    finally:
        assert s.stop() == 0


def test_the_query_timeout_fails_a_long_query(workdir):
    s = Server(workdir / "timeout-data", workdir / "timeout.log", extra_args=("--query-timeout-secs", "1")).start()
    try:
        athena = s.client("athena")
        qid = athena.start_query_execution(QueryString=HEAVY)["QueryExecutionId"]
        q = wait_query(athena, qid)
        assert q["Status"]["State"] == "FAILED"
        reason = q["Status"]["StateChangeReason"]
        assert reason.startswith("EXCEEDED_TIME_LIMIT: Query exceeded the maximum execution time of 1.00s"), reason
        assert q["Status"]["AthenaError"]["ErrorMessage"] == reason
        assert q["Statistics"]["EngineExecutionTimeInMillis"] >= 1000
        # A quick query still runs under the same limit.
        q = run(athena, "SELECT 42")
        assert rows(athena, q["QueryExecutionId"]) == [["_col0"], ["42"]]
    finally:
        assert s.stop() == 0
