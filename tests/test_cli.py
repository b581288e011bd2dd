"""The aws CLI against Minerva: high-level s3 commands, s3api, glue and athena."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import RESULTS_BUCKET, unique

pytestmark = pytest.mark.core


def aws(server, *args, check=True) -> subprocess.CompletedProcess:
    cli = str(Path(sys.executable).parent / "aws")
    env = server.env()
    env["AWS_PAGER"] = ""
    proc = subprocess.run([cli, *args], capture_output=True, text=True, env=env, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


@pytest.fixture
def bucket(s3):
    name = unique("cli")
    s3.create_bucket(Bucket=name)
    return name


def test_s3_cp_ls_rm_recursive(server, bucket, tmp_path):
    files = {"a.txt": b"alpha", "sub/b.txt": b"bravo" * 1000, "sub/deeper/c.bin": os.urandom(70_000), "space name.txt": b"s"}
    for name, data in files.items():
        p = tmp_path / "src" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    aws(server, "s3", "cp", "--recursive", str(tmp_path / "src"), f"s3://{bucket}/up/")

    top = aws(server, "s3", "ls", f"s3://{bucket}/up/").stdout
    assert "PRE sub/" in top and "a.txt" in top and "space name.txt" in top
    everything = aws(server, "s3", "ls", "--recursive", f"s3://{bucket}/up/").stdout
    for name in files:
        assert f"up/{name}" in everything

    head = json.loads(aws(server, "s3api", "head-object", "--bucket", bucket, "--key", "up/sub/b.txt").stdout)
    assert head["ContentLength"] == 5000
    assert head["ETag"].startswith('"')

    aws(server, "s3", "cp", "--recursive", f"s3://{bucket}/up/", str(tmp_path / "back"))
    for name, data in files.items():
        assert (tmp_path / "back" / name).read_bytes() == data

    aws(server, "s3", "rm", "--recursive", f"s3://{bucket}/up/")
    assert aws(server, "s3", "ls", "--recursive", f"s3://{bucket}/", check=False).stdout.strip() == ""
    missing = aws(server, "s3api", "head-object", "--bucket", bucket, "--key", "up/a.txt", check=False)
    assert missing.returncode != 0 and "404" in missing.stderr


def test_glue_and_athena_commands(server, glue):
    db = unique("clidb").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    glue.create_table(
        DatabaseName=db,
        TableInput={
            "Name": "events",
            "StorageDescriptor": {
                "Columns": [{"Name": "id", "Type": "int"}],
                "Location": "s3://nowhere/events/",
                "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
            },
        },
    )
    tables = json.loads(aws(server, "glue", "get-tables", "--database-name", db).stdout)["TableList"]
    assert [t["Name"] for t in tables] == ["events"]

    started = aws(
        server, "athena", "start-query-execution",
        "--query-string", "SELECT 6 * 7 AS answer, 'forty-two' AS word",
        "--result-configuration", f"OutputLocation=s3://{RESULTS_BUCKET}/cli/",
    )
    qid = json.loads(started.stdout)["QueryExecutionId"]
    deadline = time.monotonic() + 60
    while True:
        q = json.loads(aws(server, "athena", "get-query-execution", "--query-execution-id", qid).stdout)["QueryExecution"]
        if q["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED") or time.monotonic() > deadline:
            break
    assert q["Status"]["State"] == "SUCCEEDED", q["Status"]
    assert q["ResultConfiguration"]["OutputLocation"] == f"s3://{RESULTS_BUCKET}/cli/{qid}.csv"
    results = json.loads(aws(server, "athena", "get-query-results", "--query-execution-id", qid).stdout)
    rows = [[d.get("VarCharValue") for d in r["Data"]] for r in results["ResultSet"]["Rows"]]
    assert rows == [["answer", "word"], ["42", "forty-two"]]
    types = [c["Type"] for c in results["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
    assert types == ["integer", "varchar"]


def test_s3_sync_both_ways(server, bucket, tmp_path):
    src = tmp_path / "src"
    files = {"a.csv": b"1,2\n", "nested/b.json": b'{"x": 1}\n', "nested/deep/c.bin": os.urandom(200_000), "unicode/é.txt": b"e"}
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    aws(server, "s3", "sync", str(src), f"s3://{bucket}/mirror/")
    listed = aws(server, "s3", "ls", "--recursive", f"s3://{bucket}/mirror/").stdout
    assert all(f"mirror/{name}" in listed for name in files)
    # A second sync with nothing changed uploads nothing.
    again = aws(server, "s3", "sync", str(src), f"s3://{bucket}/mirror/").stdout
    assert "upload:" not in again
    # Changes flow the other way, and --delete removes what vanished.
    (src / "a.csv").write_bytes(b"1,2\n3,4\n")
    (src / "nested" / "b.json").unlink()
    aws(server, "s3", "sync", "--delete", str(src), f"s3://{bucket}/mirror/")
    dst = tmp_path / "dst"
    aws(server, "s3", "sync", f"s3://{bucket}/mirror/", str(dst))
    assert (dst / "a.csv").read_bytes() == b"1,2\n3,4\n"
    assert not (dst / "nested" / "b.json").exists()
    assert (dst / "nested" / "deep" / "c.bin").read_bytes() == files["nested/deep/c.bin"]
    assert (dst / "unicode" / "é.txt").read_bytes() == b"e"


def test_s3api_versioning_and_tagging(server, bucket, tmp_path):
    aws(server, "s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
    assert json.loads(aws(server, "s3api", "get-bucket-versioning", "--bucket", bucket).stdout)["Status"] == "Enabled"
    body = tmp_path / "v.txt"
    ids = []
    for content in (b"first", b"second"):
        body.write_bytes(content)
        out = json.loads(aws(server, "s3api", "put-object", "--bucket", bucket, "--key", "v.txt", "--body", str(body)).stdout)
        ids.append(out["VersionId"])
    versions = json.loads(aws(server, "s3api", "list-object-versions", "--bucket", bucket).stdout)["Versions"]
    assert [v["VersionId"] for v in versions] == list(reversed(ids))
    got = tmp_path / "got.txt"
    aws(server, "s3api", "get-object", "--bucket", bucket, "--key", "v.txt", "--version-id", ids[0], str(got))
    assert got.read_bytes() == b"first"
    aws(server, "s3api", "put-object-tagging", "--bucket", bucket, "--key", "v.txt", "--version-id", ids[0],
        "--tagging", "TagSet=[{Key=stage,Value=raw}]")
    tags = json.loads(aws(server, "s3api", "get-object-tagging", "--bucket", bucket, "--key", "v.txt", "--version-id", ids[0]).stdout)
    assert tags["TagSet"] == [{"Key": "stage", "Value": "raw"}]
    latest = json.loads(aws(server, "s3api", "get-object-tagging", "--bucket", bucket, "--key", "v.txt").stdout)
    assert latest["TagSet"] == []
    aws(server, "s3api", "put-bucket-tagging", "--bucket", bucket, "--tagging", "TagSet=[{Key=owner,Value=cli}]")
    assert json.loads(aws(server, "s3api", "get-bucket-tagging", "--bucket", bucket).stdout)["TagSet"] == [{"Key": "owner", "Value": "cli"}]
    deleted = json.loads(aws(server, "s3api", "delete-object", "--bucket", bucket, "--key", "v.txt").stdout)
    assert deleted["DeleteMarker"] is True
    missing = aws(server, "s3api", "head-object", "--bucket", bucket, "--key", "v.txt", check=False)
    assert missing.returncode != 0
