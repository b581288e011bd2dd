"""The log as people read it: one line per request at INFO (service, operation, path, status,
duration, request id), client errors once at WARN in plain words, failed sign-ins on every
protocol with the access key id tried, and JSON lines with MINERVA_LOG_FORMAT=json."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, Server, wait_query

pytestmark = pytest.mark.core

ANSWERS = ("request answered", "request refused", "request failed")


def test_one_line_per_request_and_every_failed_sign_in(workdir, monkeypatch):
    monkeypatch.setenv("MINERVA_LOG_FORMAT", "json")
    monkeypatch.delenv("MINERVA_LOG", raising=False)
    log = workdir / "logged.log"
    server = Server(workdir / "logged-data", log).start()
    try:
        s3 = server.client("s3", max_attempts=1)
        s3.create_bucket(Bucket="logged")
        put = s3.put_object(Bucket="logged", Key="a.txt", Body=b"x")
        with pytest.raises(ClientError):
            s3.get_object(Bucket="logged", Key="missing.txt")
        with pytest.raises(ClientError):
            server.client("s3", secret="wrong-secret", max_attempts=1).get_object(Bucket="logged", Key="a.txt")
        with pytest.raises(ClientError):
            server.client("glue", access_key="nobody", max_attempts=1).get_databases()
        with pytest.raises(ClientError):
            server.client("athena", secret="wrong-secret", max_attempts=1).list_work_groups()
        with pytest.raises(ClientError):
            server.client("sts", access_key="nobody", max_attempts=1).get_caller_identity()
        server.client("glue", max_attempts=1).get_databases()
        server.client("glue", max_attempts=1).get_database(Name="default")
        athena = server.client("athena", max_attempts=1)
        results = {"OutputLocation": "s3://logged/results/"}
        ran = athena.start_query_execution(QueryString="SELECT 1", ResultConfiguration=results)["QueryExecutionId"]
        failed = athena.start_query_execution(QueryString="SELECT nope FROM nowhere", ResultConfiguration=results)["QueryExecutionId"]
        assert wait_query(athena, ran)["Status"]["State"] == "SUCCEEDED"
        assert wait_query(athena, failed)["Status"]["State"] == "FAILED"
    finally:
        assert server.stop() == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines and all("level" in line and "message" in line for line in lines)
    answers = [line for line in lines if line["message"] in ANSWERS]

    def only(**fields):
        found = [a for a in answers if all(a.get(k) == v for k, v in fields.items())]
        assert len(found) == 1, (fields, answers)
        return found[0]

    ok = only(operation="PutObject")
    assert (ok["level"], ok["service"], ok["method"], ok["resource"], ok["status"]) == ("INFO", "s3", "PUT", "/logged/a.txt", 200)
    assert ok["request_id"] == put["ResponseMetadata"]["RequestId"] and ok["ms"] >= 0
    missing = only(code="NoSuchKey")
    assert missing["level"] == "INFO" and missing["status"] == 404
    signature = only(code="SignatureDoesNotMatch")
    assert (signature["level"], signature["access_key"], signature["status"]) == ("WARN", ACCESS_KEY, 403)
    assert "signature" in signature["reason"].lower()
    for service, key in (("glue", "nobody"), ("athena", ACCESS_KEY), ("sts", "nobody")):
        refused = [a for a in answers if a["service"] == service and a["level"] == "WARN"]
        assert len(refused) == 1 and refused[0]["access_key"] == key and refused[0]["reason"], (service, refused)
    assert only(operation="GetDatabases", level="INFO")["status"] == 200
    assert only(operation="GetDatabase")["resource"] == "default"
    # Each query: a line when it starts running, one when it ends.
    running = {line["id"]: line for line in lines if line["message"] == "query running"}
    assert running[ran]["statement"] == "SELECT" and running[failed]["level"] == "INFO"
    succeeded = [line for line in lines if line["message"] == "query succeeded"]
    assert [(line["id"], line["rows"]) for line in succeeded] == [(ran, 1)]
    assert [line["id"] for line in lines if line["message"] == "query failed"] == [failed]
    # Each refusal is said once, by this line, and nothing a client did is an ERROR.
    text = log.read_text()
    assert text.count("SignatureDoesNotMatch") == 1, text
    assert not [line for line in lines if line["level"] == "ERROR"], text
    # The first line names the data directory, absolute.
    assert lines[0]["data_dir"] == str(workdir / "logged-data")
