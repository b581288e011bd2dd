"""Limits and bad input: S3's size and part rules, malformed and oversized XML, bad and skewed
dates, slow clients, and a disk that fills up. Every failed request leaves storage as it was."""

import datetime
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import botocore.auth
import pytest
import urllib3
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, REGION, SECRET_KEY, Server, code, shifted_clock, status

HTTP = urllib3.PoolManager(retries=False, timeout=30)
PART = 5 * 1024 * 1024


def signed(method: str, url: str, body: bytes = b"", headers: dict | None = None) -> urllib3.BaseHTTPResponse:
    """A request signed with SigV4 the way botocore signs, but with a body we choose."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    return HTTP.request(method, url, body=body, headers=dict(request.headers.items()))


def tmp_files(server) -> list:
    return os.listdir(Path(server.data_dir) / "tmp")


def test_key_length_and_part_rules_and_a_failed_complete_keeps_the_upload(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"longest key")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert code(e) == "KeyTooLongError"
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    for bad in (0, 10001):
        with pytest.raises(ClientError) as e:
            s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=bad, Body=b"x")
        assert code(e) == "InvalidArgument", bad
    small = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"tiny")["ETag"]
    last = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=2, Body=b"end")["ETag"]
    attempts = [
        ([{"PartNumber": 2, "ETag": last}, {"PartNumber": 1, "ETag": small}], "InvalidPartOrder"),
        ([{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}], "InvalidPart"),
        ([{"PartNumber": 1, "ETag": small}, {"PartNumber": 3, "ETag": last}], "InvalidPart"),
        ([{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": last}], "EntityTooSmall"),
    ]
    for parts, expected in attempts:
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": parts})
        assert code(e) == expected
        # Nothing was written, and the upload with its parts is still there.
        with pytest.raises(ClientError):
            s3.head_object(Bucket=bucket, Key="mp")
        assert len(s3.list_parts(Bucket=bucket, Key="mp", UploadId=up)["Parts"]) == 2
    big = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"b" * PART)["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": big}, {"PartNumber": 2, "ETag": last}]})
    assert s3.head_object(Bucket=bucket, Key="mp")["ContentLength"] == PART + 3
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=up)
    assert code(e) == "NoSuchUpload"


def test_malformed_and_oversized_xml_change_nothing(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"kept")
    base = f"{server.url}/{bucket}"
    cases = [
        ("POST", f"{base}?delete", b"<Delete><Object><Key>keep</Key></Obj"),
        ("PUT", f"{base}?tagging", b"<Tagging><TagSet><Tag><Key>a</Key>"),
        ("PUT", f"{base}?versioning", b"not xml at all"),
        ("PUT", f"{base}?cors", b"<CORSConfiguration><CORSRule></CORSConfiguration>"),
    ]
    for method, url, body in cases:
        r = signed(method, url, body, {"Content-MD5": __import__("base64").b64encode(__import__("hashlib").md5(body).digest()).decode()})
        assert r.status == 400 and b"<Code>MalformedXML</Code>" in r.data, (url, r.status, r.data)
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    r = signed("POST", f"{base}/mp?uploadId={up}", b"<CompleteMultipartUpload><Part>")
    assert r.status == 400 and b"MalformedXML" in r.data
    huge = b"<Tagging><TagSet>" + b"<Tag><Key>k</Key><Value>" + b"v" * (5 * 1024 * 1024) + b"</Value></Tag></TagSet></Tagging>"
    r = signed("PUT", f"{base}?tagging", huge)
    assert r.status == 400 and b"MaxMessageLengthExceeded" in r.data
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"kept"
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=bucket)
    assert s3.list_multipart_uploads(Bucket=bucket)["Uploads"][0]["UploadId"] == up


def test_oversized_put_is_refused_before_its_body(server, bucket):
    """A PUT that announces more than 5 GiB is refused at once: the client waiting on
    `Expect: 100-continue` never has to send a byte."""
    request = AWSRequest(method="PUT", url=f"{server.url}/{bucket}/huge",
                         headers={"Content-Length": str(6 * 1024**3), "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "Expect": "100-continue"})
    botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    head = f"PUT /{bucket}/huge HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
    head += f"Host: 127.0.0.1:{server.port}\r\n\r\n" if "host" not in {k.lower() for k in request.headers} else "\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode())
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:300]
    assert b"EntityTooLarge" in reply
    assert tmp_files(server) == []


def test_skewed_and_bad_dates(server, s3, bucket):
    late = server.client("s3", max_attempts=1)
    with shifted_clock(datetime.timedelta(minutes=20)):
        with pytest.raises(ClientError) as e:
            late.put_object(Bucket=bucket, Key="skewed", Body=b"x")
    assert code(e) == "RequestTimeTooSkewed" and status(e) == 403
    with shifted_clock(datetime.timedelta(minutes=-20)):
        with pytest.raises(ClientError) as e:
            late.list_objects_v2(Bucket=bucket)
    assert code(e) == "RequestTimeTooSkewed"
    # Within the 15 minutes S3 allows, a slow clock is fine.
    with shifted_clock(datetime.timedelta(minutes=-5)):
        late.put_object(Bucket=bucket, Key="slightly-late", Body=b"x")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="skewed")
    # A date that is not a date: a clear 4xx, nothing stored.
    r = signed("PUT", f"{server.url}/{bucket}/baddate", b"x")
    request = AWSRequest(method="PUT", url=f"{server.url}/{bucket}/baddate2", data=b"x")
    botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    headers = dict(request.headers.items())
    headers["X-Amz-Date"] = "yesterday at noon"
    r = HTTP.request("PUT", f"{server.url}/{bucket}/baddate2", body=b"x", headers=headers)
    assert 400 <= r.status < 500 and b"<Code>" in r.data, (r.status, r.data)
    r = signed("GET", f"{server.url}/{bucket}/slightly-late", headers={"If-Modified-Since": "not a date"})
    assert 400 <= r.status < 500 or r.status == 200
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="baddate2")


@pytest.fixture
def slow_server(workdir):
    s = Server(workdir / "slow-data", workdir / "slow.log", extra_args=("--idle-timeout-secs", "2")).start()
    yield s
    s.stop(signal.SIGKILL)


def wait_closed(sock, limit=15.0) -> bytes:
    """Reads until the server closes the connection; returns what it sent."""
    sock.settimeout(limit)
    received = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk


def test_slow_clients_lose_their_connection_and_leave_nothing(slow_server):
    s3 = slow_server.client("s3")
    s3.create_bucket(Bucket="slow")
    # Headers that never finish.
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", slow_server.port)) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Partial: ")
        wait_closed(sock)
    assert time.monotonic() - started < 15
    # A body that stops halfway.
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "slow", "Key": "stalled"}, ExpiresIn=300)
    path = url[len(slow_server.url):]
    with socket.create_connection(("127.0.0.1", slow_server.port)) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{slow_server.port}\r\nContent-Length: 100000\r\n\r\n".encode())
        sock.sendall(b"x" * 1000)
        reply = wait_closed(sock)
    assert not reply.startswith(b"HTTP/1.1 200"), reply[:200]
    with pytest.raises(ClientError):
        s3.head_object(Bucket="slow", Key="stalled")
    # The staging file of the abandoned body is gone, and the server serves on.
    deadline = time.monotonic() + 10
    while tmp_files(slow_server) and time.monotonic() < deadline:
        time.sleep(0.05)  # the handler unwinds after the connection closes
    assert tmp_files(slow_server) == []
    s3.put_object(Bucket="slow", Key="fine", Body=b"ok")
    assert s3.get_object(Bucket="slow", Key="fine")["Body"].read() == b"ok"


@pytest.fixture
def small_disk(workdir):
    """A 48 MiB tmpfs for a data directory (needs root, as CI has here)."""
    mount = workdir / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the disk-full test needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)
    shutil.rmtree(mount, ignore_errors=True)


def test_a_full_disk_is_a_clear_error_and_loses_nothing(workdir, small_disk):
    server = Server(small_disk / "data", workdir / "full.log").start()
    try:
        s3 = server.client("s3", max_attempts=1)
        s3.create_bucket(Bucket="full")
        s3.put_object(Bucket="full", Key="precious", Body=b"p" * 1000)
        chunk = os.urandom(4 * 1024 * 1024)
        stored = []
        failure = None
        for i in range(40):
            try:
                s3.put_object(Bucket="full", Key=f"filler{i}", Body=chunk)
                stored.append(f"filler{i}")
            except ClientError as e:
                failure = e
                break
        assert failure is not None, "the disk never filled"
        assert failure.response["ResponseMetadata"]["HTTPStatusCode"] == 507
        assert failure.response["Error"]["Code"] == "InsufficientStorage"
        # An overwrite that cannot fit fails and keeps the old value.
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="full", Key="precious", Body=chunk)
        assert status(e) == 507
        assert s3.get_object(Bucket="full", Key="precious")["Body"].read() == b"p" * 1000
        for key in stored:
            assert s3.get_object(Bucket="full", Key=key)["Body"].read() == chunk
        assert tmp_files(server) == []
        # Freeing space makes room again.
        s3.delete_object(Bucket="full", Key=stored[0])
        s3.delete_object(Bucket="full", Key=stored[1])
        s3.put_object(Bucket="full", Key="after", Body=chunk)
        assert s3.get_object(Bucket="full", Key="after")["Body"].read() == chunk
    finally:
        server.stop(signal.SIGKILL)
