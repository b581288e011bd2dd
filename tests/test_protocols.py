"""Every wire protocol clients use today, dispatched by whom the request is signed for: Athena
over REST-JSON (botocore since 1.44.9) and AWS JSON 1.1 (older botocore, the AWS SDK for Rust)
answering alike, REST-JSON's errors as botocore reads them, S3 buckets named after Athena's
paths, and STS over the Query protocol (presigned too) and AWS JSON 1.0."""

import json
import urllib.parse
import xml.etree.ElementTree as ET

import botocore.auth
import pytest
import urllib3
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, REGION, RESULTS_BUCKET, SECRET_KEY, athena_protocol, unique, wait_query

pytestmark = pytest.mark.core

HTTP = urllib3.PoolManager(retries=False, timeout=30)
STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"

rest_json_only = pytest.mark.skipif(athena_protocol() != "rest-json", reason=f"this botocore speaks {athena_protocol()} to Athena")


def without_metadata(reply: dict) -> dict:
    return {k: v for k, v in reply.items() if k != "ResponseMetadata"}


@pytest.fixture(scope="module")
def finished_query(server):
    athena = server.client("athena")
    db = unique("proto").replace("-", "_")
    server.client("glue").create_database(DatabaseInput={"Name": db})
    server.client("glue").create_table(DatabaseName=db, TableInput={
        "Name": "t", "StorageDescriptor": {"Columns": [{"Name": "a", "Type": "int"}], "Location": f"s3://{RESULTS_BUCKET}/nothing/"}})
    qid = athena.start_query_execution(QueryString="SELECT x, x * 2 AS twice FROM UNNEST(sequence(1, 7)) AS t(x) ORDER BY x")["QueryExecutionId"]
    assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"
    return qid, db


@rest_json_only
def test_athena_answers_alike_over_rest_json_and_json_1_1(server, finished_query, tmp_path):
    """The same operations, with the same inputs, from today's botocore in both protocols."""
    qid, db = finished_query
    rest = server.client("athena")
    json11 = server.athena_over_json(tmp_path)
    assert (rest.meta.service_model.protocol, json11.meta.service_model.protocol) == ("rest-json", "json")
    calls = [
        ("get_query_execution", {"QueryExecutionId": qid}),
        ("batch_get_query_execution", {"QueryExecutionIds": [qid, "00000000-0000-0000-0000-000000000000"]}),
        ("get_query_results", {"QueryExecutionId": qid, "MaxResults": 3}),
        ("list_query_executions", {"WorkGroup": "primary", "MaxResults": 2}),
        ("get_work_group", {"WorkGroup": "primary"}),
        ("list_work_groups", {}),
        ("list_data_catalogs", {}),
        ("get_data_catalog", {"Name": "AwsDataCatalog"}),
        ("list_databases", {"CatalogName": "AwsDataCatalog"}),
        ("get_database", {"CatalogName": "AwsDataCatalog", "DatabaseName": db}),
        ("list_table_metadata", {"CatalogName": "AwsDataCatalog", "DatabaseName": db, "Expression": "t*"}),
        ("get_table_metadata", {"CatalogName": "AwsDataCatalog", "DatabaseName": db, "TableName": "t"}),
    ]
    for name, args in calls:
        assert without_metadata(getattr(rest, name)(**args)) == without_metadata(getattr(json11, name)(**args)), name
    # Pages continue across protocols: a token from one is good in the other.
    first = rest.get_query_results(QueryExecutionId=qid, MaxResults=3)
    second = json11.get_query_results(QueryExecutionId=qid, MaxResults=3, NextToken=first["NextToken"])
    assert [r["Data"][0]["VarCharValue"] for r in second["ResultSet"]["Rows"]] == ["3", "4", "5"]
    # Writes: a query started in each, stopped in the other; errors alike.
    for starter, stopper in ((rest, json11), (json11, rest)):
        started = starter.start_query_execution(QueryString="SELECT 1", ClientRequestToken=unique("token-" + "x" * 32))["QueryExecutionId"]
        stopper.stop_query_execution(QueryExecutionId=started)
        assert wait_query(rest, started)["Status"]["State"] in ("SUCCEEDED", "CANCELLED")
    for client in (rest, json11):
        with pytest.raises(client.exceptions.InvalidRequestException) as e:
            client.get_query_execution(QueryExecutionId="11111111-1111-1111-1111-111111111111")
        assert e.value.response["Error"]["Message"] == "QueryExecution 11111111-1111-1111-1111-111111111111 was not found"
        assert e.value.response["AthenaErrorCode"] == "INVALID_INPUT"
        with pytest.raises(client.exceptions.MetadataException):
            client.get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName=db, TableName="missing")


def history(server) -> tuple:
    """What an Athena request could have changed: the query history and the results bucket."""
    ids = server.client("athena").list_query_executions(MaxResults=50)["QueryExecutionIds"]
    keys = [o["Key"] for o in server.client("s3").list_objects_v2(Bucket=RESULTS_BUCKET).get("Contents", [])]
    return ids, sorted(keys)


@rest_json_only
def test_rest_json_errors_are_what_botocore_reads_and_change_nothing(server):
    before = history(server)

    # A wrong secret: 403 InvalidSignatureException, which Athena's model does not name, so
    # botocore raises a plain ClientError.
    wrong = server.client("athena", secret="not-the-secret", max_attempts=1)
    with pytest.raises(ClientError) as e:
        wrong.start_query_execution(QueryString="SELECT 1")
    assert type(e.value) is ClientError
    assert (e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidSignatureException", 403)
    assert e.value.response["Error"]["Message"].startswith("The request signature we calculated does not match")

    # A missing required member: Athena's InvalidRequestException, in its validation words.
    raw = server.client("athena", parameter_validation=False, max_attempts=1)
    with pytest.raises(raw.exceptions.InvalidRequestException) as e:
        raw.start_query_execution()
    assert e.value.response["Error"]["Message"] == (
        "1 validation error detected: Value null at 'queryString' failed to satisfy constraint: Member must not be null")
    assert e.value.response["AthenaErrorCode"] == "INVALID_INPUT"

    # A path no operation answers: 404 UnknownOperationException.
    def elsewhere(request, **kwargs):
        request.url = request.url.replace("/workgroups", "/no-such-resource")

    raw.meta.events.register("before-sign.athena.ListWorkGroups", elsewhere)
    with pytest.raises(ClientError) as e:
        raw.list_work_groups()
    assert type(e.value) is ClientError
    assert (e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("UnknownOperationException", 404)
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"

    # A body that is not JSON: 400 SerializationException.
    def garbled(request, **kwargs):
        request.data = b"{not json"

    raw.meta.events.register("before-sign.athena.StartQueryExecution", garbled)
    with pytest.raises(ClientError) as e:
        raw.start_query_execution(QueryString="SELECT 1")
    assert (e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("SerializationException", 400)

    # A bad value in the query string: MaxResults must be a number.
    def bad_max(request, **kwargs):
        request.url = request.url.replace("MaxResults=2", "MaxResults=two")

    raw.meta.events.register("before-sign.athena.ListQueryExecutions", bad_max)
    with pytest.raises(ClientError) as e:
        raw.list_query_executions(MaxResults=2)
    assert e.value.response["Error"]["Code"] == "SerializationException"

    assert history(server) == before


@pytest.mark.parametrize("name", ["query-executions", "workgroups", "data-catalogs", "batch-get-query-executions"])
def test_buckets_named_after_athena_paths_are_s3s(server, s3, name):
    """Requests signed for S3 (or unsigned) are S3's, whatever their path looks like."""
    s3.create_bucket(Bucket=name)
    for key in ("primary", "abc/results", "abc/stop"):
        s3.put_object(Bucket=name, Key=key, Body=key.encode())
        assert s3.get_object(Bucket=name, Key=key)["Body"].read() == key.encode()
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]) == ["abc/results", "abc/stop", "primary"]
    url = s3.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "primary"})
    assert HTTP.request("GET", url).data == b"primary"
    s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": k} for k in ("primary", "abc/results", "abc/stop")]})
    s3.delete_bucket(Bucket=name)
    # And Athena's own paths still answer Athena, signed for Athena.
    assert server.client("athena").get_work_group(WorkGroup="primary")["WorkGroup"]["Name"] == "primary"


def signed(server, service: str, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    request = AWSRequest(method=method, url=server.url + path, data=body, headers=headers or {})
    botocore.auth.SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION).add_auth(request)
    return HTTP.request(method, request.url, body=body, headers=dict(request.headers))


def test_sts_presigned_and_over_json(server):
    # A presigned GetCallerIdentity (how EKS and Vault prove who a caller is): GET, signed in the URL.
    sts = server.client("sts")
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
    assert "X-Amz-Credential=" in url and "Authorization" not in url
    reply = HTTP.request("GET", url)
    assert reply.status == 200, reply.data
    assert ET.fromstring(reply.data).findtext(f"{STS_NS}GetCallerIdentityResult/{STS_NS}Account") == "000000000000"
    spoiled = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    reply = HTTP.request("GET", spoiled)
    assert reply.status == 403 and ET.fromstring(reply.data).findtext(f"{STS_NS}Error/{STS_NS}Code") == "SignatureDoesNotMatch"

    # STS in AWS JSON 1.0, as AWS now offers it: the same operation, a JSON answer.
    reply = signed(server, "sts", "POST", "/", b"{}", {
        "X-Amz-Target": "AWSSecurityTokenServiceV20110615.GetCallerIdentity", "Content-Type": "application/x-amz-json-1.0"})
    assert reply.status == 200 and reply.headers["content-type"] == "application/x-amz-json-1.0"
    assert json.loads(reply.data)["Account"] == "000000000000"


def test_sts_escapes_what_it_echoes(server):
    action = "<Evil>&\"'"
    body = urllib.parse.urlencode({"Action": action, "Version": "2011-06-15"}).encode()
    reply = signed(server, "sts", "POST", "/", body, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert reply.status == 400
    error = ET.fromstring(reply.data)  # well-formed XML, whatever the action was
    assert error.findtext(f"{STS_NS}Error/{STS_NS}Code") == "InvalidAction"
    assert error.findtext(f"{STS_NS}Error/{STS_NS}Message") == f"Could not find operation {action} for version 2011-06-15"
