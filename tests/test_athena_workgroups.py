"""Athena as tools drive it: workgroups (their configuration enforced as Athena enforces it),
named queries, prepared statements and PREPARE/EXECUTE/DEALLOCATE, result reuse, runtime
statistics, tags and data catalogs; each over both of Athena's protocols (REST-JSON, as today's
botocore speaks it, and AWS JSON 1.1, as older SDKs do; the older client sets run them too), and
bad input refused with Athena's exception and nothing changed."""

import json
import subprocess
import sys
from pathlib import Path

import awswrangler as wr
import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, REGION, RESULTS_BUCKET, athena_protocol, unique, wait_query

ACCOUNT = "000000000000"


pytestmark = pytest.mark.core


@pytest.fixture(params=["native", "json"])
def athena(server, request, tmp_path):
    """An Athena client of the installed botocore that leaves checking its input to the server:
    in the protocol it speaks (REST-JSON since 1.44.9), and in AWS JSON 1.1."""
    if request.param == "json":
        return server.athena_over_json(tmp_path, parameter_validation=False)
    client = server.client("athena", parameter_validation=False)
    assert client.meta.service_model.protocol == athena_protocol()
    return client


@pytest.fixture(scope="module")
def lake(server):
    """A bucket for results, and a database with a small table and a big (11 MB) one."""
    s3, glue = server.client("s3"), server.client("glue")
    bucket = unique("wg")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="small/data.csv", Body=b"1,a\n2,b\n3,c\n")
    row = b"12345678,abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n"
    s3.put_object(Bucket=bucket, Key="big/data.csv", Body=row * (11_000_000 // len(row) + 1))
    db = unique("wgdb").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    for name in ("small", "big"):
        glue.create_table(DatabaseName=db, TableInput={
            "Name": name,
            "StorageDescriptor": {
                "Columns": [{"Name": "id", "Type": "bigint"}, {"Name": "word", "Type": "string"}],
                "Location": f"s3://{bucket}/{name}/",
                "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                              "Parameters": {"field.delim": ","}},
            },
        })
    return {"bucket": bucket, "db": db}


def start(athena, sql, **kwargs) -> dict:
    qid = athena.start_query_execution(QueryString=sql, **kwargs)["QueryExecutionId"]
    return wait_query(athena, qid)


def rows(athena, qid) -> list:
    result = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
    return [[d.get("VarCharValue") for d in r["Data"]] for r in result[1:]]


def refused(call, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return e.value


def objects(s3, bucket, prefix) -> list:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def test_workgroup_lifecycle(athena):
    name = unique("etl")
    athena.create_work_group(
        Name=name,
        Description="nightly loads",
        Configuration={
            "ResultConfiguration": {
                "OutputLocation": f"s3://{RESULTS_BUCKET}/{name}/",
                "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                "AclConfiguration": {"S3AclOption": "BUCKET_OWNER_FULL_CONTROL"},
            },
            "BytesScannedCutoffPerQuery": 10_000_000_000,
            "PublishCloudWatchMetricsEnabled": True,
            "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
        },
        Tags=[{"Key": "team", "Value": "data"}],
    )
    wg = athena.get_work_group(WorkGroup=name)["WorkGroup"]
    assert (wg["Name"], wg["State"], wg["Description"]) == (name, "ENABLED", "nightly loads")
    config = wg["Configuration"]
    assert config["ResultConfiguration"] == {
        "OutputLocation": f"s3://{RESULTS_BUCKET}/{name}/",
        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
        "AclConfiguration": {"S3AclOption": "BUCKET_OWNER_FULL_CONTROL"},
    }
    # What was not set is Athena's default: the configuration is enforced.
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == 10_000_000_000
    assert config["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3", "EffectiveEngineVersion": "Athena engine version 3"}
    summary = {w["Name"]: w for w in athena.list_work_groups()["WorkGroups"]}
    assert {"primary", name} <= set(summary) and summary[name]["Description"] == "nightly loads"

    athena.update_work_group(
        WorkGroup=name,
        Description="hourly loads",
        State="DISABLED",
        ConfigurationUpdates={
            "EnforceWorkGroupConfiguration": False,
            "RemoveBytesScannedCutoffPerQuery": True,
            "ResultConfigurationUpdates": {"OutputLocation": f"s3://{RESULTS_BUCKET}/{name}-2/", "RemoveEncryptionConfiguration": True},
        },
    )
    wg = athena.get_work_group(WorkGroup=name)["WorkGroup"]
    assert (wg["State"], wg["Description"]) == ("DISABLED", "hourly loads")
    assert "BytesScannedCutoffPerQuery" not in wg["Configuration"]
    assert wg["Configuration"]["EnforceWorkGroupConfiguration"] is False
    assert wg["Configuration"]["ResultConfiguration"] == {
        "OutputLocation": f"s3://{RESULTS_BUCKET}/{name}-2/", "AclConfiguration": {"S3AclOption": "BUCKET_OWNER_FULL_CONTROL"}}
    # A disabled workgroup runs nothing.
    e = refused(athena.start_query_execution, QueryString="SELECT 1", WorkGroup=name)
    assert code_of(e) == "InvalidRequestException" and "disabled" in message(e)

    athena.delete_work_group(WorkGroup=name)
    e = refused(athena.get_work_group, WorkGroup=name)
    assert code_of(e) == "InvalidRequestException" and "is not found" in message(e)
    for call, kwargs in [
        (athena.update_work_group, {"WorkGroup": name, "Description": "x"}),
        (athena.delete_work_group, {"WorkGroup": name}),
        (athena.start_query_execution, {"QueryString": "SELECT 1", "WorkGroup": name}),
        (athena.list_query_executions, {"WorkGroup": name}),
        (athena.list_named_queries, {"WorkGroup": name}),
    ]:
        e = refused(call, **kwargs)
        assert code_of(e) == "InvalidRequestException" and "is not found" in message(e), call
    versions = athena.list_engine_versions()["EngineVersions"]
    assert {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"} in versions


def code_of(e: ClientError) -> str:
    return e.response["Error"]["Code"]


def message(e: ClientError) -> str:
    return e.response["Error"]["Message"]


def test_bad_workgroup_input_changes_nothing(athena):
    name = unique("bad")
    bad = [
        {"Name": "has space"},
        {"Name": "x" * 129},
        {"Name": name, "Configuration": {"BytesScannedCutoffPerQuery": 5}},
        {"Name": name, "Configuration": {"ResultConfiguration": {"OutputLocation": "/tmp/x"}}},
        {"Name": name, "Configuration": {"ResultConfiguration": {"EncryptionConfiguration": {"EncryptionOption": "ROT13"}}}},
        {"Name": name, "Configuration": {"ResultConfiguration": {"AclConfiguration": {"S3AclOption": "PUBLIC"}}}},
        {"Name": name, "Configuration": {"EngineVersion": {"SelectedEngineVersion": "Athena engine version 1"}}},
        {"Name": name, "Tags": [{"Key": "aws:reserved", "Value": "x"}]},
        {"Name": name, "Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(51)]},
    ]
    for kwargs in bad:
        e = refused(athena.create_work_group, **kwargs)
        assert code_of(e) == "InvalidRequestException", kwargs
    names = [w["Name"] for w in athena.list_work_groups(MaxResults=50)["WorkGroups"]]
    assert name not in names and "has space" not in names

    athena.create_work_group(Name=name)
    before = athena.get_work_group(WorkGroup=name)["WorkGroup"]
    e = refused(athena.create_work_group, Name=name)
    assert code_of(e) == "InvalidRequestException"
    for kwargs in [
        {"State": "PAUSED"},
        {"ConfigurationUpdates": {"BytesScannedCutoffPerQuery": 1}},
        {"ConfigurationUpdates": {"ResultConfigurationUpdates": {"OutputLocation": "http://x"}}},
        {"Description": "d" * 1025},
    ]:
        e = refused(athena.update_work_group, WorkGroup=name, **kwargs)
        assert code_of(e) == "InvalidRequestException", kwargs
    assert athena.get_work_group(WorkGroup=name)["WorkGroup"] == before
    # primary stays.
    e = refused(athena.delete_work_group, WorkGroup="primary")
    assert code_of(e) == "InvalidRequestException"
    athena.delete_work_group(WorkGroup=name)


def test_workgroup_configuration_is_enforced(server, athena, lake):
    s3 = server.client("s3")
    bucket, db = lake["bucket"], lake["db"]
    enforced, loose = unique("enforced"), unique("loose")
    athena.create_work_group(Name=enforced, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/{enforced}/", "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}},
        "EnforceWorkGroupConfiguration": True,
    })
    athena.create_work_group(Name=loose, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/{loose}/"},
        "EnforceWorkGroupConfiguration": False,
    })
    elsewhere = {"OutputLocation": f"s3://{bucket}/client/", "AclConfiguration": {"S3AclOption": "BUCKET_OWNER_FULL_CONTROL"}}
    # Enforced: the workgroup's location and settings, whatever the client sends.
    q = start(athena, "SELECT count(*) FROM small", WorkGroup=enforced, ResultConfiguration=elsewhere, QueryExecutionContext={"Database": db})
    assert q["Status"]["State"] == "SUCCEEDED", q["Status"]
    assert q["ResultConfiguration"] == {
        "OutputLocation": f"s3://{bucket}/{enforced}/{q['QueryExecutionId']}.csv", "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}}
    assert f"{enforced}/{q['QueryExecutionId']}.csv" in objects(s3, bucket, f"{enforced}/")
    assert rows(athena, q["QueryExecutionId"]) == [["3"]]
    # Not enforced: the client's settings, the workgroup's where the client sends none.
    q = start(athena, "SELECT 1", WorkGroup=loose, ResultConfiguration=elsewhere)
    assert q["ResultConfiguration"]["OutputLocation"] == f"s3://{bucket}/client/{q['QueryExecutionId']}.csv"
    assert q["ResultConfiguration"]["AclConfiguration"] == {"S3AclOption": "BUCKET_OWNER_FULL_CONTROL"}
    q = start(athena, "SELECT 2", WorkGroup=loose)
    assert q["ResultConfiguration"]["OutputLocation"] == f"s3://{bucket}/{loose}/{q['QueryExecutionId']}.csv"
    # Executions belong to their workgroup.
    mine = athena.list_query_executions(WorkGroup=loose)["QueryExecutionIds"]
    assert q["QueryExecutionId"] in mine and len(mine) == 2
    assert q["QueryExecutionId"] not in athena.list_query_executions(WorkGroup=enforced)["QueryExecutionIds"]
    assert q["WorkGroup"] == loose
    # A workgroup with executions goes only with the recursive option.
    e = refused(athena.delete_work_group, WorkGroup=loose)
    assert code_of(e) == "InvalidRequestException" and "is not empty" in message(e)
    athena.delete_work_group(WorkGroup=loose, RecursiveDeleteOption=True)
    athena.delete_work_group(WorkGroup=enforced, RecursiveDeleteOption=True)
    # ... and its executions go with it: a workgroup made again under the name starts empty.
    assert code_of(refused(athena.get_query_execution, QueryExecutionId=q["QueryExecutionId"])) == "InvalidRequestException"
    athena.create_work_group(Name=loose, Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{bucket}/{loose}/"}})
    assert athena.list_query_executions(WorkGroup=loose)["QueryExecutionIds"] == []
    athena.delete_work_group(WorkGroup=loose)


def test_workgroup_without_output_location(athena):
    """A query needs a location: the workgroup's, or the client's where the workgroup has none
    (even when it enforces its settings)."""
    name = unique("nowhere")
    athena.create_work_group(Name=name)
    e = refused(athena.start_query_execution, QueryString="SELECT 1", WorkGroup=name)
    assert code_of(e) == "InvalidRequestException" and "No output location provided" in message(e)
    q = start(athena, "SELECT 1", WorkGroup=name, ResultConfiguration={"OutputLocation": f"s3://{RESULTS_BUCKET}/{name}/"})
    assert q["Status"]["State"] == "SUCCEEDED"
    athena.delete_work_group(WorkGroup=name, RecursiveDeleteOption=True)


def test_bytes_scanned_cutoff_cancels_a_query_that_reads_more(athena, lake):
    name = unique("capped")
    athena.create_work_group(Name=name, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{lake['bucket']}/{name}/"},
        "BytesScannedCutoffPerQuery": 10_000_000,
    })
    context = {"Database": lake["db"]}
    small = start(athena, "SELECT sum(id) FROM small", WorkGroup=name, QueryExecutionContext=context)
    assert small["Status"]["State"] == "SUCCEEDED"
    big = start(athena, "SELECT count(*) FROM big", WorkGroup=name, QueryExecutionContext=context)
    assert big["Status"]["State"] == "CANCELLED", big["Status"]
    assert big["Status"]["StateChangeReason"] == "Bytes scanned limit was exceeded"
    e = refused(athena.get_query_results, QueryExecutionId=big["QueryExecutionId"])
    assert code_of(e) == "InvalidRequestException"
    # Without the cutoff it reads it all.
    athena.update_work_group(WorkGroup=name, ConfigurationUpdates={"RemoveBytesScannedCutoffPerQuery": True})
    big = start(athena, "SELECT count(*) FROM big", WorkGroup=name, QueryExecutionContext=context)
    assert big["Status"]["State"] == "SUCCEEDED" and big["Statistics"]["DataScannedInBytes"] > 10_000_000
    athena.delete_work_group(WorkGroup=name, RecursiveDeleteOption=True)


def test_expected_bucket_owner(athena, lake):
    location = f"s3://{lake['bucket']}/owned/"
    context = {"Database": lake["db"]}
    q = start(athena, "SELECT count(*) FROM small", ResultConfiguration={"OutputLocation": location, "ExpectedBucketOwner": ACCOUNT},
              QueryExecutionContext=context)
    assert q["Status"]["State"] == "SUCCEEDED" and q["ResultConfiguration"]["ExpectedBucketOwner"] == ACCOUNT
    # Another owner expected: the results may not be written; the table in the same bucket is
    # read all the same (the expectation is about the results).
    q = start(athena, "SELECT count(*) FROM small", ResultConfiguration={"OutputLocation": location, "ExpectedBucketOwner": "999999999999"},
              QueryExecutionContext=context)
    assert q["Status"]["State"] == "FAILED" and "ermission denied" in q["Status"]["StateChangeReason"], q["Status"]
    assert f"s3://{lake['bucket']}/owned/" in q["Status"]["StateChangeReason"]
    e = refused(athena.start_query_execution, QueryString="SELECT 1", ResultConfiguration={"OutputLocation": location, "ExpectedBucketOwner": "me"})
    assert code_of(e) == "InvalidRequestException"


def test_named_queries(athena, lake):
    name = unique("saved")
    athena.create_work_group(Name=name, Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{lake['bucket']}/{name}/"}})
    token = "t" * 32 + unique("")
    ids = [athena.create_named_query(Name=f"q{i}", Database=lake["db"], QueryString=f"SELECT {i}", Description=f"query {i}", WorkGroup=name)["NamedQueryId"]
           for i in range(3)]
    retried = [athena.create_named_query(Name="once", Database=lake["db"], QueryString="SELECT 9", WorkGroup=name, ClientRequestToken=token)["NamedQueryId"]
               for _ in range(2)]
    assert retried[0] == retried[1]
    got = athena.get_named_query(NamedQueryId=ids[1])["NamedQuery"]
    assert got == {"Name": "q1", "Description": "query 1", "Database": lake["db"], "QueryString": "SELECT 1", "NamedQueryId": ids[1], "WorkGroup": name}
    assert sorted(athena.list_named_queries(WorkGroup=name)["NamedQueryIds"]) == sorted(ids + retried[:1])
    assert ids[0] not in athena.list_named_queries()["NamedQueryIds"]
    page = athena.list_named_queries(WorkGroup=name, MaxResults=2)
    assert len(page["NamedQueryIds"]) == 2 and "NextToken" in page
    batch = athena.batch_get_named_query(NamedQueryIds=ids[:2] + ["00000000-0000-0000-0000-000000000000"])
    assert sorted(q["NamedQueryId"] for q in batch["NamedQueries"]) == sorted(ids[:2])
    assert [u["NamedQueryId"] for u in batch["UnprocessedNamedQueryIds"]] == ["00000000-0000-0000-0000-000000000000"]
    athena.update_named_query(NamedQueryId=ids[0], Name="renamed", QueryString="SELECT 42")
    got = athena.get_named_query(NamedQueryId=ids[0])["NamedQuery"]
    assert (got["Name"], got["QueryString"], got.get("Description")) == ("renamed", "SELECT 42", None)
    # Bad input changes nothing.
    for call, kwargs in [
        (athena.create_named_query, {"Name": "", "Database": "db", "QueryString": "SELECT 1", "WorkGroup": name}),
        (athena.create_named_query, {"Name": "n", "Database": "db", "QueryString": "", "WorkGroup": name}),
        (athena.create_named_query, {"Name": "n", "Database": "db", "QueryString": "SELECT 1", "WorkGroup": "no-such-wg"}),
        (athena.update_named_query, {"NamedQueryId": ids[0], "Name": "x" * 129, "QueryString": "SELECT 1"}),
        (athena.get_named_query, {"NamedQueryId": "00000000-0000-0000-0000-000000000000"}),
        (athena.delete_named_query, {"NamedQueryId": "00000000-0000-0000-0000-000000000000"}),
    ]:
        e = refused(call, **kwargs)
        assert code_of(e) == "InvalidRequestException", kwargs
    assert athena.get_named_query(NamedQueryId=ids[0])["NamedQuery"]["Name"] == "renamed"
    assert len(athena.list_named_queries(WorkGroup=name)["NamedQueryIds"]) == 4
    athena.delete_named_query(NamedQueryId=ids[2])
    e = refused(athena.get_named_query, NamedQueryId=ids[2])
    assert code_of(e) == "InvalidRequestException"
    e = refused(athena.delete_work_group, WorkGroup=name)
    assert "is not empty" in message(e)
    athena.delete_work_group(WorkGroup=name, RecursiveDeleteOption=True)
    e = refused(athena.get_named_query, NamedQueryId=ids[0])
    assert code_of(e) == "InvalidRequestException"


def test_prepared_statements_by_api_and_sql(athena, lake):
    wg = unique("prep")
    athena.create_work_group(Name=wg, Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{lake['bucket']}/{wg}/"}})
    context = {"Database": lake["db"]}
    athena.create_prepared_statement(StatementName="by_id", WorkGroup=wg, QueryStatement="SELECT word FROM small WHERE id = ?", Description="one word")
    got = athena.get_prepared_statement(StatementName="by_id", WorkGroup=wg)["PreparedStatement"]
    assert (got["StatementName"], got["QueryStatement"], got["WorkGroupName"], got["Description"]) == (
        "by_id", "SELECT word FROM small WHERE id = ?", wg, "one word")
    assert got["LastModifiedTime"].year >= 2024
    # EXECUTE with USING, and with the API's execution parameters.
    q = start(athena, "EXECUTE by_id USING 2", WorkGroup=wg, QueryExecutionContext=context)
    assert q["Status"]["State"] == "SUCCEEDED", q["Status"]
    assert rows(athena, q["QueryExecutionId"]) == [["b"]]
    q = start(athena, "EXECUTE by_id", WorkGroup=wg, QueryExecutionContext=context, ExecutionParameters=["3"])
    assert rows(athena, q["QueryExecutionId"]) == [["c"]] and q["ExecutionParameters"] == ["3"]
    # PREPARE in SQL replaces one of the same name; its body keeps its placeholders.
    q = start(athena, "PREPARE typed FROM SELECT typeof(?), typeof(?), typeof(?), typeof(?), ? + 1", WorkGroup=wg)
    assert (q["Status"]["State"], q["StatementType"], q["SubstatementType"]) == ("SUCCEEDED", "UTILITY", "PREPARE"), q["Status"]
    assert athena.get_prepared_statement(StatementName="typed", WorkGroup=wg)["PreparedStatement"]["QueryStatement"].startswith("SELECT typeof(?)")
    q = start(athena, "EXECUTE typed USING 1, 'abc', 1.5, DATE '2024-02-29', 41", WorkGroup=wg)
    assert rows(athena, q["QueryExecutionId"]) == [["integer", "varchar(3)", "decimal(2,1)", "date", "42"]]
    q = start(athena, "EXECUTE typed", WorkGroup=wg, ExecutionParameters=["2.5e0", "true", "12345678901", "X'00ff'", "1"])
    assert rows(athena, q["QueryExecutionId"]) == [["double", "boolean", "bigint", "varbinary", "2"]]
    names = [p["StatementName"] for p in athena.list_prepared_statements(WorkGroup=wg)["PreparedStatements"]]
    assert sorted(names) == ["by_id", "typed"]
    batch = athena.batch_get_prepared_statement(WorkGroup=wg, PreparedStatementNames=["by_id", "missing"])
    assert [p["StatementName"] for p in batch["PreparedStatements"]] == ["by_id"]
    assert [u["StatementName"] for u in batch["UnprocessedPreparedStatementNames"]] == ["missing"]
    # A statement is its workgroup's: another workgroup has no such statement.
    q = start(athena, "EXECUTE by_id USING 1", QueryExecutionContext=context)
    assert q["Status"]["State"] == "FAILED" and q["Status"]["StateChangeReason"] == "NOT_FOUND: Prepared statement not found: by_id"
    # Names are matched as SQL matches them, without regard to case.
    athena.create_prepared_statement(StatementName="ByWord", WorkGroup=wg, QueryStatement="SELECT id FROM small WHERE word = ?")
    q = start(athena, "EXECUTE byword USING 'c'", WorkGroup=wg, QueryExecutionContext=context)
    assert rows(athena, q["QueryExecutionId"]) == [["3"]], q["Status"]
    assert athena.get_prepared_statement(StatementName="BYWORD", WorkGroup=wg)["PreparedStatement"]["StatementName"] == "ByWord"
    athena.delete_prepared_statement(StatementName="byWord", WorkGroup=wg)
    athena.update_prepared_statement(StatementName="by_id", WorkGroup=wg, QueryStatement="SELECT id * 10 FROM small WHERE id = ?")
    q = start(athena, "EXECUTE by_id USING 1", WorkGroup=wg, QueryExecutionContext=context)
    assert rows(athena, q["QueryExecutionId"]) == [["10"]]
    # Bad input changes nothing.
    for call, kwargs, expected in [
        (athena.create_prepared_statement, {"StatementName": "by_id", "WorkGroup": wg, "QueryStatement": "SELECT 1"}, "InvalidRequestException"),
        (athena.create_prepared_statement, {"StatementName": "1bad", "WorkGroup": wg, "QueryStatement": "SELECT 1"}, "InvalidRequestException"),
        (athena.create_prepared_statement, {"StatementName": "junk", "WorkGroup": wg, "QueryStatement": "SELEKT 1"}, "InvalidRequestException"),
        (athena.create_prepared_statement, {"StatementName": "x", "WorkGroup": "no-such-wg", "QueryStatement": "SELECT 1"}, "InvalidRequestException"),
        (athena.update_prepared_statement, {"StatementName": "missing", "WorkGroup": wg, "QueryStatement": "SELECT 1"}, "ResourceNotFoundException"),
        (athena.get_prepared_statement, {"StatementName": "missing", "WorkGroup": wg}, "ResourceNotFoundException"),
        (athena.delete_prepared_statement, {"StatementName": "missing", "WorkGroup": wg}, "ResourceNotFoundException"),
    ]:
        e = refused(call, **kwargs)
        assert code_of(e) == expected, kwargs
    assert sorted(p["StatementName"] for p in athena.list_prepared_statements(WorkGroup=wg)["PreparedStatements"]) == ["by_id", "typed"]
    q = start(athena, "PREPARE broken FROM SELEKT 1", WorkGroup=wg)
    assert q["Status"]["State"] == "FAILED" and q["Status"]["StateChangeReason"].startswith("SYNTAX_ERROR")
    # DEALLOCATE in SQL, and through the API.
    q = start(athena, "DEALLOCATE PREPARE typed", WorkGroup=wg)
    assert q["Status"]["State"] == "SUCCEEDED"
    q = start(athena, "DEALLOCATE PREPARE typed", WorkGroup=wg)
    assert q["Status"]["State"] == "FAILED" and "Prepared statement not found: typed" in q["Status"]["StateChangeReason"]
    athena.delete_prepared_statement(StatementName="by_id", WorkGroup=wg)
    assert athena.list_prepared_statements(WorkGroup=wg)["PreparedStatements"] == []
    athena.delete_work_group(WorkGroup=wg, RecursiveDeleteOption=True)


def test_result_reuse_and_runtime_statistics(athena, lake):
    context = {"Database": lake["db"]}
    sql = f"SELECT id, word FROM small ORDER BY id /* {unique('reuse')} */"
    reuse = {"ResultReuseByAgeConfiguration": {"Enabled": True, "MaxAgeInMinutes": 10}}
    first = start(athena, sql, QueryExecutionContext=context, ResultReuseConfiguration=reuse)
    assert first["Statistics"]["ResultReuseInformation"] == {"ReusedPreviousResult": False}
    assert first["ResultReuseConfiguration"] == reuse
    second = start(athena, sql, QueryExecutionContext=context, ResultReuseConfiguration=reuse)
    assert second["QueryExecutionId"] != first["QueryExecutionId"]
    assert second["Statistics"]["ResultReuseInformation"] == {"ReusedPreviousResult": True}
    assert second["Statistics"]["DataScannedInBytes"] == 0
    assert rows(athena, second["QueryExecutionId"]) == rows(athena, first["QueryExecutionId"]) == [["1", "a"], ["2", "b"], ["3", "c"]]
    # Not asked for, or another database: run again.
    third = start(athena, sql, QueryExecutionContext=context)
    assert third["Statistics"]["ResultReuseInformation"] == {"ReusedPreviousResult": False}
    assert third["ResultReuseConfiguration"]["ResultReuseByAgeConfiguration"]["Enabled"] is False
    other = start(athena, sql, QueryExecutionContext={"Database": "default"}, ResultReuseConfiguration=reuse)
    assert other["Statistics"]["ResultReuseInformation"] == {"ReusedPreviousResult": False}
    e = refused(athena.start_query_execution, QueryString=sql,
                ResultReuseConfiguration={"ResultReuseByAgeConfiguration": {"Enabled": True, "MaxAgeInMinutes": 10081}})
    assert code_of(e) == "InvalidRequestException"
    # A reused result under a ClientRequestToken: a retry with the token gets the same execution.
    token = unique("token-for-reuse")
    reused = athena.start_query_execution(QueryString=sql, QueryExecutionContext=context, ResultReuseConfiguration=reuse,
                                          ClientRequestToken=token)["QueryExecutionId"]
    again = athena.start_query_execution(QueryString=sql, QueryExecutionContext=context, ResultReuseConfiguration=reuse,
                                         ClientRequestToken=token)["QueryExecutionId"]
    assert again == reused and wait_query(athena, reused)["Statistics"]["ResultReuseInformation"] == {"ReusedPreviousResult": True}
    assert rows(athena, again) == [["1", "a"], ["2", "b"], ["3", "c"]]
    # EXECUTE always runs: its statement may have changed since.
    athena.create_prepared_statement(StatementName="reused", WorkGroup="primary", QueryStatement="SELECT word FROM small WHERE id = ?")
    before = start(athena, "EXECUTE reused USING 1", QueryExecutionContext=context, ResultReuseConfiguration=reuse)
    athena.update_prepared_statement(StatementName="reused", WorkGroup="primary", QueryStatement="SELECT upper(word) FROM small WHERE id = ?")
    after = start(athena, "EXECUTE reused USING 1", QueryExecutionContext=context, ResultReuseConfiguration=reuse)
    assert after["Statistics"]["ResultReuseInformation"] == {"ReusedPreviousResult": False}
    assert (rows(athena, before["QueryExecutionId"]), rows(athena, after["QueryExecutionId"])) == ([["a"]], [["A"]])
    athena.delete_prepared_statement(StatementName="reused", WorkGroup="primary")

    stats = athena.get_query_runtime_statistics(QueryExecutionId=first["QueryExecutionId"])["QueryRuntimeStatistics"]
    assert stats["Rows"]["InputRows"] == 3 and stats["Rows"]["OutputRows"] == 3
    assert stats["Rows"]["InputBytes"] == first["Statistics"]["DataScannedInBytes"] > 0
    assert stats["Rows"]["OutputBytes"] == len('"id","word"\n"1","a"\n"2","b"\n"3","c"\n')
    assert stats["Timeline"]["TotalExecutionTimeInMillis"] == first["Statistics"]["TotalExecutionTimeInMillis"]
    assert stats["OutputStage"]["State"] == "FINISHED" and stats["OutputStage"]["OutputRows"] == 3
    e = refused(athena.get_query_runtime_statistics, QueryExecutionId="00000000-0000-0000-0000-000000000000")
    assert code_of(e) == "InvalidRequestException"


def test_tags_and_data_catalogs(athena, lake):
    wg = unique("tagged")
    athena.create_work_group(Name=wg, Tags=[{"Key": "team", "Value": "data"}, {"Key": "env", "Value": "dev"}])
    arn = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{wg}"
    assert sorted((t["Key"], t["Value"]) for t in athena.list_tags_for_resource(ResourceARN=arn)["Tags"]) == [("env", "dev"), ("team", "data")]
    athena.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "prod"}, {"Key": "cost", "Value": "42"}])
    athena.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert sorted((t["Key"], t["Value"]) for t in athena.list_tags_for_resource(ResourceARN=arn)["Tags"]) == [("cost", "42"), ("env", "prod")]
    for call, kwargs, expected in [
        (athena.tag_resource, {"ResourceARN": arn, "Tags": [{"Key": "aws:x", "Value": "y"}]}, "InvalidRequestException"),
        (athena.tag_resource, {"ResourceARN": arn, "Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(49)]}, "InvalidRequestException"),
        (athena.tag_resource, {"ResourceARN": "not-an-arn", "Tags": [{"Key": "a", "Value": "b"}]}, "InvalidRequestException"),
        (athena.list_tags_for_resource, {"ResourceARN": f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/nope"}, "ResourceNotFoundException"),
        (athena.list_tags_for_resource, {"ResourceARN": f"arn:aws:athena:{REGION}:111111111111:workgroup/{wg}"}, "ResourceNotFoundException"),
    ]:
        e = refused(call, **kwargs)
        assert code_of(e) == expected, kwargs
    assert len(athena.list_tags_for_resource(ResourceARN=arn)["Tags"]) == 2
    athena.delete_work_group(WorkGroup=wg)

    name = unique("lake").replace("-", "_")
    created = athena.create_data_catalog(Name=name, Type="GLUE", Description="the lake", Parameters={"catalog-id": ACCOUNT},
                                         Tags=[{"Key": "owner", "Value": "me"}])
    # botocore's model describes the new catalog since 2025; older clients drop it.
    described = "DataCatalog" in athena.meta.service_model.operation_model("CreateDataCatalog").output_shape.members
    if described:
        assert created["DataCatalog"]["Status"] == "CREATE_COMPLETE"
    got = athena.get_data_catalog(Name=name)["DataCatalog"]
    assert (got["Name"], got["Type"], got["Description"], got["Parameters"]) == (name, "GLUE", "the lake", {"catalog-id": ACCOUNT})
    assert name in [c["CatalogName"] for c in athena.list_data_catalogs()["DataCatalogsSummary"]]
    # A GLUE catalog of the caller's account answers as AwsDataCatalog does.
    assert "default" in [d["Name"] for d in athena.list_databases(CatalogName=name)["DatabaseList"]]
    q = start(athena, "SELECT count(*) FROM small", QueryExecutionContext={"Catalog": name, "Database": lake["db"]})
    assert q["Status"]["State"] == "SUCCEEDED", q["Status"]
    q = start(athena, f'SELECT count(*) FROM {name}.{lake["db"]}.small')
    assert q["Status"]["State"] == "SUCCEEDED" and rows(athena, q["QueryExecutionId"]) == [["3"]], q["Status"]
    catalog_arn = f"arn:aws:athena:{REGION}:{ACCOUNT}:datacatalog/{name}"
    assert athena.list_tags_for_resource(ResourceARN=catalog_arn)["Tags"] == [{"Key": "owner", "Value": "me"}]
    athena.update_data_catalog(Name=name, Type="GLUE", Description="still the lake", Parameters={"catalog-id": ACCOUNT})
    assert athena.get_data_catalog(Name=name)["DataCatalog"]["Description"] == "still the lake"
    for call, kwargs in [
        (athena.create_data_catalog, {"Name": name, "Type": "GLUE", "Parameters": {"catalog-id": ACCOUNT}}),
        (athena.create_data_catalog, {"Name": unique("x"), "Type": "ORACLE"}),
        (athena.create_data_catalog, {"Name": unique("x"), "Type": "GLUE", "Parameters": {"catalog-id": "nope"}}),
        (athena.create_data_catalog, {"Name": "bad name!", "Type": "GLUE", "Parameters": {"catalog-id": ACCOUNT}}),
        (athena.update_data_catalog, {"Name": name, "Type": "GLUE", "Parameters": {}}),
        (athena.delete_data_catalog, {"Name": "AwsDataCatalog"}),
        (athena.get_data_catalog, {"Name": "nope"}),
    ]:
        e = refused(call, **kwargs)
        assert code_of(e) == "InvalidRequestException", kwargs
    assert athena.get_data_catalog(Name=name)["DataCatalog"]["Parameters"] == {"catalog-id": ACCOUNT}
    deleted = athena.delete_data_catalog(Name=name)
    if described:
        assert deleted["DataCatalog"]["Status"] == "DELETE_COMPLETE"
    e = refused(athena.get_data_catalog, Name=name)
    assert "is not found" in message(e)


def test_terraform_aws_athena_workgroup_sequence(server, athena):
    """The calls Terraform's aws_athena_workgroup makes (internal/service/athena/workgroup.go),
    in its order: create with tags, a state update for a disabled one, read with tags; retag
    then update; destroy with force_destroy; a read after that must say "is not found"."""
    name = unique("tf")
    arn = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{name}"
    athena.create_work_group(Name=name, Description="managed by terraform", Configuration={
        "BytesScannedCutoffPerQuery": 1_073_741_824,
        "EnforceWorkGroupConfiguration": True,
        "PublishCloudWatchMetricsEnabled": True,
        "RequesterPaysEnabled": False,
        "EngineVersion": {"SelectedEngineVersion": "AUTO"},
        "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS_BUCKET}/{name}/", "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}},
    }, Tags=[{"Key": "Name", "Value": name}])
    athena.update_work_group(WorkGroup=name, State="DISABLED")
    for _ in range(2):  # apply, then refresh
        wg = athena.get_work_group(WorkGroup=name)["WorkGroup"]
        assert wg["State"] == "DISABLED" and wg["Configuration"]["BytesScannedCutoffPerQuery"] == 1_073_741_824
        assert wg["Configuration"]["EngineVersion"]["EffectiveEngineVersion"] == "Athena engine version 3"
        assert athena.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "Name", "Value": name}]
    # An update retags first, then changes the rest.
    athena.untag_resource(ResourceARN=arn, TagKeys=["Name"])
    athena.tag_resource(ResourceARN=arn, Tags=[{"Key": "Stage", "Value": "test"}])
    athena.update_work_group(WorkGroup=name, Description="changed", State="ENABLED", ConfigurationUpdates={
        "BytesScannedCutoffPerQuery": 2_147_483_648,
        "EnforceWorkGroupConfiguration": False,
        "PublishCloudWatchMetricsEnabled": False,
        "RequesterPaysEnabled": False,
        "EngineVersion": {"SelectedEngineVersion": "AUTO"},
        "ResultConfigurationUpdates": {"OutputLocation": f"s3://{RESULTS_BUCKET}/{name}-2/", "RemoveEncryptionConfiguration": True},
    })
    wg = athena.get_work_group(WorkGroup=name)["WorkGroup"]
    assert (wg["State"], wg["Description"], wg["Configuration"]["BytesScannedCutoffPerQuery"]) == ("ENABLED", "changed", 2_147_483_648)
    assert wg["Configuration"]["ResultConfiguration"] == {"OutputLocation": f"s3://{RESULTS_BUCKET}/{name}-2/"}
    assert athena.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "Stage", "Value": "test"}]
    assert start(athena, "SELECT 1", WorkGroup=name)["Status"]["State"] == "SUCCEEDED"
    athena.delete_work_group(WorkGroup=name, RecursiveDeleteOption=True)
    e = refused(athena.get_work_group, WorkGroup=name)
    assert code_of(e) == "InvalidRequestException" and "is not found" in message(e)


def test_aws_cli_workgroups_and_named_queries(server):
    cli = str(Path(sys.executable).parent / "aws")
    env = server.env()

    def aws(*args):
        proc = subprocess.run([cli, "--output", "json", *args], env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    name = unique("cli")
    aws("athena", "create-work-group", "--name", name, "--configuration",
        f"ResultConfiguration={{OutputLocation=s3://{RESULTS_BUCKET}/{name}/}},EnforceWorkGroupConfiguration=true")
    assert aws("athena", "get-work-group", "--work-group", name)["WorkGroup"]["Configuration"]["ResultConfiguration"]["OutputLocation"] == \
        f"s3://{RESULTS_BUCKET}/{name}/"
    qid = aws("athena", "create-named-query", "--name", "n", "--database", "default", "--query-string", "SELECT 1", "--work-group", name)["NamedQueryId"]
    assert aws("athena", "list-named-queries", "--work-group", name)["NamedQueryIds"] == [qid]
    aws("athena", "create-prepared-statement", "--statement-name", "p", "--work-group", name, "--query-statement", "SELECT ?")
    assert [p["StatementName"] for p in aws("athena", "list-prepared-statements", "--work-group", name)["PreparedStatements"]] == ["p"]
    aws("athena", "delete-work-group", "--work-group", name, "--recursive-delete-option")
    assert name not in [w["Name"] for w in aws("athena", "list-work-groups")["WorkGroups"]]


def test_awswrangler_runs_in_a_workgroup(server, lake):
    """awswrangler reads the workgroup's configuration to know where results go."""
    name = unique("wr")
    athena = server.client("athena")
    athena.create_work_group(Name=name, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{lake['bucket']}/{name}/"}, "EnforceWorkGroupConfiguration": True})
    session = boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=server.env()["AWS_SECRET_ACCESS_KEY"], region_name=REGION)
    wr.config.athena_endpoint_url = server.url
    wr.config.s3_endpoint_url = server.url
    wr.config.glue_endpoint_url = server.url
    wr.config.sts_endpoint_url = server.url
    try:
        df = wr.athena.read_sql_query("SELECT id, word FROM small ORDER BY id", database=lake["db"], workgroup=name, ctas_approach=False,
                                      boto3_session=session, athena_query_wait_polling_delay=0.05)
    finally:
        for attr in ("athena_endpoint_url", "s3_endpoint_url", "glue_endpoint_url", "sts_endpoint_url"):
            wr.config.reset(attr)
    assert df["word"].tolist() == ["a", "b", "c"]
    executions = athena.list_query_executions(WorkGroup=name)["QueryExecutionIds"]
    assert len(executions) == 1
    assert athena.get_query_execution(QueryExecutionId=executions[0])["QueryExecution"]["ResultConfiguration"]["OutputLocation"].startswith(
        f"s3://{lake['bucket']}/{name}/")
    athena.delete_work_group(WorkGroup=name, RecursiveDeleteOption=True)
