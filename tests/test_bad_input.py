"""Bad input gets an error in the protocol's own shape and leaves nothing behind."""

import base64
import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import RESULTS_BUCKET, code, unique, wait_query

pytestmark = pytest.mark.core


def blob_count(server) -> int:
    objects = Path(server.data_dir) / "objects"
    return sum(len(os.listdir(objects / d)) for d in os.listdir(objects))


def test_wrong_secret_is_signature_does_not_match(server, s3):
    bad = server.client("s3", secret="not-the-secret", max_attempts=1)
    with pytest.raises(ClientError) as e:
        bad.list_buckets()
    assert code(e) == "SignatureDoesNotMatch"
    # With S3's wording, not boto3's "Unknown" for an error without a message.
    assert e.value.response["Error"]["Message"].startswith("The request signature we calculated does not match"), e.value.response
    with pytest.raises(ClientError) as e:
        bad.create_bucket(Bucket=unique("never"))
    assert code(e) == "SignatureDoesNotMatch"
    bad_glue = server.client("glue", secret="not-the-secret", max_attempts=1)
    with pytest.raises(ClientError) as e:
        bad_glue.get_databases()
    assert code(e) == "InvalidSignatureException"
    bad_sts = server.client("sts", secret="not-the-secret", max_attempts=1)
    with pytest.raises(ClientError) as e:
        bad_sts.get_caller_identity()
    assert code(e) == "SignatureDoesNotMatch"
    assert not [b for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("never-")]


def test_unknown_bucket_is_no_such_bucket(s3):
    for call in (
        lambda: s3.get_object(Bucket="no-such-bucket-here", Key="k"),
        lambda: s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x"),
        lambda: s3.list_objects_v2(Bucket="no-such-bucket-here"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "NoSuchBucket"


def test_traversal_keys_stay_inside_their_bucket(server, s3):
    bucket = unique("trav")
    s3.create_bucket(Bucket=bucket)
    before = sorted(os.listdir(Path(server.data_dir).parent))
    keys = ["../../etc/passwd", "../outside", "/leading", "a/../../b", "..", "./."]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=f"body {i}".encode())
    for i, key in enumerate(keys):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == f"body {i}".encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted(keys)
    # Nothing appeared next to the data directory, and the other bucket's view is untouched.
    assert sorted(os.listdir(Path(server.data_dir).parent)) == before
    other = unique("trav")
    s3.create_bucket(Bucket=other)
    assert s3.list_objects_v2(Bucket=other)["KeyCount"] == 0


def test_checksum_mismatch_stores_nothing(server, s3):
    bucket = unique("sums")
    s3.create_bucket(Bucket=bucket)
    blobs = blob_count(server)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"hello world", ChecksumCRC32="AAAAAA==")
    assert code(e) in ("BadDigest", "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"hello world", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    assert code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"hello world", ChecksumSHA256="bm90IGEgc2hhMjU2")
    assert code(e) in ("BadDigest", "InvalidRequest")
    # Well-formed digests of other bytes: each algorithm compares what it computed.
    for algorithm, size in (("SHA1", 20), ("SHA256", 32), ("CRC32C", 4)):
        wrong = base64.b64encode(bytes(range(1, size + 1))).decode()
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="k", Body=b"hello world", **{f"Checksum{algorithm}": wrong})
        assert code(e) in ("BadDigest", "InvalidRequest"), algorithm
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert blob_count(server) == blobs
    assert os.listdir(Path(server.data_dir) / "tmp") == []


@pytest.mark.parametrize(
    "sql, reason",
    [("SELEC * FROM nothing", "SYNTAX_ERROR"), ("SELECT * FROM no_such_table_anywhere", "TABLE_NOT_FOUND")],
    ids=["syntax", "unknown-table"],
)
def test_failed_queries_explain_and_write_nothing(s3, athena, sql, reason):
    qid = athena.start_query_execution(QueryString=sql, WorkGroup="primary")["QueryExecutionId"]
    q = wait_query(athena, qid)
    assert q["Status"]["State"] == "FAILED"
    assert q["Status"]["StateChangeReason"].startswith(reason), q["Status"]["StateChangeReason"]
    assert q["Status"]["AthenaError"]["ErrorMessage"]
    with pytest.raises(ClientError) as e:
        athena.get_query_results(QueryExecutionId=qid)
    assert code(e) == "InvalidRequestException"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=RESULTS_BUCKET).get("Contents", [])]
    assert not [k for k in keys if qid in k]


def test_unknown_query_id(athena):
    for call in (athena.get_query_execution, athena.get_query_results, athena.stop_query_execution):
        with pytest.raises(ClientError) as e:
            call(QueryExecutionId="00000000-0000-0000-0000-000000000000")
        assert code(e) == "InvalidRequestException"
        assert "was not found" in e.value.response["Error"]["Message"]


def test_glue_missing_entities(glue):
    db = unique("baddb").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    with pytest.raises(ClientError) as e:
        glue.get_table(DatabaseName=db, Name="missing")
    assert code(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.get_table(DatabaseName="no_such_database", Name="missing")
    assert code(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.create_database(DatabaseInput={"Name": db})
    assert code(e) == "AlreadyExistsException"
    with pytest.raises(ClientError) as e:
        glue.create_table(DatabaseName=db, TableInput={"Name": "bad\u0001name"})
    assert code(e) == "InvalidInputException"
    assert glue.get_tables(DatabaseName=db)["TableList"] == []


def test_server_survives_garbage(server, s3):
    import urllib.request

    for body, headers in (
        (b"{not json", {"X-Amz-Target": "AWSGlue.GetDatabases", "Content-Type": "application/x-amz-json-1.1"}),
        (b"\x00\xff" * 100, {"X-Amz-Target": "AmazonAthena.StartQueryExecution"}),
        (b"Action=GetCallerIdentity", {"Content-Type": "application/x-www-form-urlencoded"}),
    ):
        req = urllib.request.Request(server.url + "/", data=body, headers=headers, method="POST")
        try:
            urllib.request.urlopen(req, timeout=10)
            raise AssertionError("an unsigned request was accepted")
        except urllib.error.HTTPError as e:
            assert 400 <= e.code < 500
    assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
