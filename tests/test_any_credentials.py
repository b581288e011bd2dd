"""`--any-credentials`, for suites written against LocalStack: off by default (a key no user has
is refused, with a hint), on it takes every such key (`test`/`test`) as the primary user's on
S3, Glue, Athena and STS, and says so in the log."""

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import REGION, Server, code, unique, wait_query

pytestmark = pytest.mark.core


def localstack_client(server, service: str):
    return boto3.client(service, endpoint_url=server.url, aws_access_key_id="test", aws_secret_access_key="test",
                        region_name=REGION, config=Config(retries={"max_attempts": 1}))


def test_off_by_default_a_stranger_key_is_refused_with_a_hint(server):
    with pytest.raises(ClientError) as e:
        localstack_client(server, "s3").list_buckets()
    assert code(e) == "InvalidAccessKeyId" and "--any-credentials" in str(e.value)
    with pytest.raises(ClientError) as e:
        localstack_client(server, "glue").get_databases()
    assert code(e) == "UnrecognizedClientException" and "--any-credentials" in str(e.value)


def test_on_every_stranger_key_is_the_primary_user(workdir):
    log = workdir / "any-credentials.log"
    server = Server(workdir / "any-credentials-data", log, ("--any-credentials",)).start()
    try:
        s3 = localstack_client(server, "s3")
        bucket = unique("localstack")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k.txt", Body=b"hello")
        assert s3.get_object(Bucket=bucket, Key="k.txt")["Body"].read() == b"hello"
        # It is the primary user's bucket: the primary user reads it with its own key.
        assert server.client("s3").get_object(Bucket=bucket, Key="k.txt")["Body"].read() == b"hello"
        assert localstack_client(server, "sts").get_caller_identity()["Account"] == "000000000000"
        glue = localstack_client(server, "glue")
        glue.create_database(DatabaseInput={"Name": "from_localstack_suite"})
        assert "from_localstack_suite" in [d["Name"] for d in server.client("glue").get_databases()["DatabaseList"]]
        athena = localstack_client(server, "athena")
        qid = athena.start_query_execution(QueryString="SELECT 1")["QueryExecutionId"]
        assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"
        # A configured user's key is still that user's: a wrong secret is refused.
        with pytest.raises(ClientError) as e:
            server.client("s3", secret="not-the-secret", max_attempts=1).list_buckets()
        assert code(e) == "SignatureDoesNotMatch"
    finally:
        assert server.stop() == 0
    assert "--any-credentials" in log.read_text()
