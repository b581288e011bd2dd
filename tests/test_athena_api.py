"""The Athena API beyond the notebook path: formats, metadata, history, cancellation, and a
query that does not stop the S3 side from answering."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from conftest import RESULTS_BUCKET, athena_protocol, unique, wait_query

pytestmark = pytest.mark.core


@pytest.fixture(scope="module")
def formats(server):
    """One table per format: Parquet, JSON lines, and '|'-separated text without a header."""
    s3, glue = server.client("s3"), server.client("glue")
    bucket = unique("formats")
    s3.create_bucket(Bucket=bucket)
    db = unique("fmt").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})

    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", None], "price": [1.5, 2.25, 10.0]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    s3.put_object(Bucket=bucket, Key="parquet/part-0.parquet", Body=buf.getvalue())
    lines = "\n".join(json.dumps(r) for r in [{"id": 1, "tags": "x"}, {"id": 2, "tags": "y"}, {"id": 5, "tags": None}])
    s3.put_object(Bucket=bucket, Key="json/data.json", Body=lines.encode())
    s3.put_object(Bucket=bucket, Key="pipes/data.txt", Body=b"1|one\n2|two\n3|three\n")

    def create(name, location, columns, serde, params=None, table_params=None, input_format=None):
        glue.create_table(DatabaseName=db, TableInput={
            "Name": name,
            "Parameters": table_params or {},
            "StorageDescriptor": {
                "Columns": [{"Name": n, "Type": t} for n, t in columns],
                "Location": location,
                "InputFormat": input_format or "org.apache.hadoop.mapred.TextInputFormat",
                "SerdeInfo": {"SerializationLibrary": serde, "Parameters": params or {}},
            },
        })

    create("pq", f"s3://{bucket}/parquet/", [("id", "bigint"), ("name", "string"), ("price", "double")],
           "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
           input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat")
    create("js", f"s3://{bucket}/json/", [("id", "int"), ("tags", "string")], "org.openx.data.jsonserde.JsonSerDe")
    create("pipes", f"s3://{bucket}/pipes/", [("n", "int"), ("word", "string")],
           "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", params={"field.delim": "|"})
    return db


def run(athena, sql, db=None):
    kwargs = {"QueryExecutionContext": {"Database": db}} if db else {}
    qid = athena.start_query_execution(QueryString=sql, **kwargs)["QueryExecutionId"]
    q = wait_query(athena, qid)
    assert q["Status"]["State"] == "SUCCEEDED", q["Status"]
    rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
    return [[d.get("VarCharValue") for d in r["Data"]] for r in rows[1:]]


def test_parquet_json_and_delimited_tables(athena, formats):
    assert run(athena, "SELECT id, name, price FROM pq ORDER BY id", formats) == [["1", "a", "1.5"], ["2", "b", "2.25"], ["3", None, "10.0"]]
    assert run(athena, "SELECT SUM(id), COUNT(tags) FROM js", formats) == [["8", "2"]]
    assert run(athena, 'SELECT "Word" FROM "AwsDataCatalog"."%s"."PIPES" WHERE n > 1 ORDER BY n' % formats) == [["two"], ["three"]]
    assert run(athena, "SELECT n, word FROM `pipes` ORDER BY n LIMIT 1", "`%s`" % formats) == [["1", "one"]]


def test_metadata_operations(athena, formats):
    # botocore's model reports a catalog's Status since 2025; older clients drop it.
    summary = athena.list_data_catalogs()["DataCatalogsSummary"][0]
    if "Status" in athena.meta.service_model.shape_for("DataCatalogSummary").members:
        assert summary.pop("Status") == "CREATE_COMPLETE"
    assert summary == {"CatalogName": "AwsDataCatalog", "Type": "GLUE"}
    assert athena.get_data_catalog(Name="AwsDataCatalog")["DataCatalog"]["Type"] == "GLUE"
    assert formats in [d["Name"] for d in athena.list_databases(CatalogName="AwsDataCatalog")["DatabaseList"]]
    assert athena.get_database(CatalogName="AwsDataCatalog", DatabaseName=formats)["Database"]["Name"] == formats
    tables = athena.list_table_metadata(CatalogName="AwsDataCatalog", DatabaseName=formats)["TableMetadataList"]
    assert sorted(t["Name"] for t in tables) == ["js", "pipes", "pq"]
    pq_meta = athena.get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName=formats, TableName="pq")["TableMetadata"]
    assert [(c["Name"], c["Type"]) for c in pq_meta["Columns"]] == [("id", "bigint"), ("name", "string"), ("price", "double")]
    with pytest.raises(ClientError) as e:
        athena.get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName=formats, TableName="missing")
    assert e.value.response["Error"]["Code"] == "MetadataException"


def test_workgroups_history_and_batch_get(athena):
    wg = athena.get_work_group(WorkGroup="primary")["WorkGroup"]
    assert wg["Configuration"]["ResultConfiguration"]["OutputLocation"] == f"s3://{RESULTS_BUCKET}/"
    assert wg["Configuration"]["EnforceWorkGroupConfiguration"] is False
    assert "primary" in [w["Name"] for w in athena.list_work_groups()["WorkGroups"]]
    with pytest.raises(ClientError) as e:
        athena.get_work_group(WorkGroup="nope")
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"
    ids = [athena.start_query_execution(QueryString=f"SELECT {i}")["QueryExecutionId"] for i in range(3)]
    for qid in ids:
        wait_query(athena, qid)
    listed = athena.list_query_executions(WorkGroup="primary", MaxResults=50)["QueryExecutionIds"]
    assert listed[:3] == ids[::-1]
    batch = athena.batch_get_query_execution(QueryExecutionIds=ids + ["00000000-0000-0000-0000-000000000000"])
    assert sorted(q["QueryExecutionId"] for q in batch["QueryExecutions"]) == sorted(ids)
    assert [u["QueryExecutionId"] for u in batch["UnprocessedQueryExecutionIds"]] == ["00000000-0000-0000-0000-000000000000"]
    q = batch["QueryExecutions"][0]
    assert q["StatementType"] == "DML" and q["Statistics"]["EngineExecutionTimeInMillis"] >= 0


def test_client_request_token_is_idempotent(athena):
    token = "retry-token-" + unique("t") + "-" + "0" * 16
    first = athena.start_query_execution(QueryString="SELECT 1", ClientRequestToken=token)["QueryExecutionId"]
    again = athena.start_query_execution(QueryString="SELECT 1", ClientRequestToken=token)["QueryExecutionId"]
    other = athena.start_query_execution(QueryString="SELECT 1")["QueryExecutionId"]
    assert first == again != other
    for qid in (first, other):
        assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"


def test_paging_results(athena):
    qid = athena.start_query_execution(QueryString="SELECT value AS v FROM generate_series(1, 2500) ORDER BY v")["QueryExecutionId"]
    wait_query(athena, qid)
    pages = list(athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid))
    assert len(pages) == 3
    rows = [r for p in pages for r in p["ResultSet"]["Rows"]]
    assert rows[0]["Data"][0]["VarCharValue"] == "v"
    assert [int(r["Data"][0]["VarCharValue"]) for r in rows[1:]] == list(range(1, 2501))
    with pytest.raises(ClientError):
        athena.get_query_results(QueryExecutionId=qid, NextToken="not-a-token")


def test_stop_a_running_query_while_s3_keeps_answering(server, athena, s3):
    heavy = "SELECT COUNT(*) FROM generate_series(1, 200000) a CROSS JOIN generate_series(1, 200000) b WHERE (a.value * b.value) % 7 = 3"
    qid = athena.start_query_execution(QueryString=heavy)["QueryExecutionId"]
    state = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"]
    assert state in ("QUEUED", "RUNNING")
    # The query runs on its own runtime: the S3 side answers meanwhile.
    bucket = unique("busy")
    s3.create_bucket(Bucket=bucket)
    for i in range(20):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x" * 1000)
        assert s3.get_object(Bucket=bucket, Key=f"k{i}")["Body"].read() == b"x" * 1000
    assert athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"] == "RUNNING"
    with pytest.raises(ClientError) as e:
        athena.get_query_results(QueryExecutionId=qid)
    assert "Query has not yet finished. Current state: RUNNING" in e.value.response["Error"]["Message"]
    athena.stop_query_execution(QueryExecutionId=qid)
    q = wait_query(athena, qid)
    assert q["Status"]["State"] == "CANCELLED"


def test_query_string_length_is_athenas(server, athena):
    """QueryString is 1 to 262,144 characters, as the API model says: longer is refused before it
    is parsed, in AWS's validation message (boto3 checks it too, unless told not to); a missing
    member is refused the same way."""
    raw = server.client("athena", parameter_validation=False)
    longest = "SELECT 1" + " " * (262_144 - len("SELECT 1"))
    qid = raw.start_query_execution(QueryString=longest)["QueryExecutionId"]
    assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"
    for text, bound in [(longest + " ", "less than or equal to 262144"), ("", "greater than or equal to 1")]:
        with pytest.raises(ClientError) as e:
            raw.start_query_execution(QueryString=text)
        assert e.value.response["Error"]["Code"] == "InvalidRequestException"
        assert e.value.response["Error"]["Message"].startswith("1 validation error detected: Value '")
        assert e.value.response["Error"]["Message"].endswith(f"at 'queryString' failed to satisfy constraint: Member must have length {bound}")
    with pytest.raises(ClientError) as e:
        raw.start_query_execution()
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"
    assert e.value.response["Error"]["Message"] == (
        "1 validation error detected: Value null at 'queryString' failed to satisfy constraint: Member must not be null")
    # Over AWS JSON 1.1 any member may be left out; over REST-JSON botocore cannot send a request
    # without its path's QueryExecutionId at all.
    if athena_protocol() == "json":
        with pytest.raises(ClientError) as e:
            raw.get_query_execution()
        assert e.value.response["Error"]["Code"] == "InvalidRequestException"
        assert e.value.response["Error"]["Message"] == (
            "1 validation error detected: Value null at 'queryExecutionId' failed to satisfy constraint: Member must not be null")
