"""Limits and bad input: S3's size and part rules, malformed and oversized XML, bad and skewed
dates, slow clients, and a disk that fills up. Every failed request leaves storage as it was."""

import base64
import datetime
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import botocore.auth
import pytest
import urllib3
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import (ACCESS_KEY, REGION, SECRET_KEY, Server, code, error_code, shifted_clock, signed_chunked_request, staged_files, wait_query,
                      status, unique)

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
    assert e.value.response["Error"]["Message"] == "Your key is too long"
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
    assert code(e) == "RequestTimeTooSkewed" and status(e) == 403
    # Within the 15 minutes S3 allows, a slow clock is fine.
    with shifted_clock(datetime.timedelta(minutes=-5)):
        put = late.put_object(Bucket=bucket, Key="slightly-late", Body=b"on time")
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key="slightly-late")["Body"].read() == b"on time"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="skewed")
    assert status(e) == 404

    # An X-Amz-Date that is not a date: S3 cannot authenticate the request, 403 AccessDenied.
    for method, key, body in (("PUT", "baddate", b"x"), ("GET", "slightly-late", b"")):
        for bad in ("yesterday at noon", "2025-01-02T03:04:05Z", "20251302T030405Z"):
            request = AWSRequest(method=method, url=f"{server.url}/{bucket}/{key}", data=body)
            botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
            headers = dict(request.headers.items())
            headers["X-Amz-Date"] = bad
            r = HTTP.request(method, f"{server.url}/{bucket}/{key}", body=body, headers=headers)
            assert r.status == 403 and b"<Code>AccessDenied</Code>" in r.data, (method, bad, r.status, r.data)
            assert b"AWS authentication requires a valid Date or x-amz-date header" in r.data
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="baddate")
    assert status(e) == 404

    # A malformed If-Modified-Since or If-Unmodified-Since is ignored (RFC 9110), signed or not;
    # the request's other conditions still hold.
    url = f"{server.url}/{bucket}/slightly-late"
    etag = put["ETag"]
    for name in ("If-Modified-Since", "If-Unmodified-Since"):
        for value in ("not a date", "2025-01-02", "Mon, 32 Foo 2025 99:00:00 GMT"):
            r = signed("GET", url, headers={name: value})
            assert (r.status, r.data) == (200, b"on time"), (name, value, r.status, r.data)
            r = signed("HEAD", url, headers={name: value})
            assert r.status == 200 and r.headers["Content-Length"] == "7", (name, value)
        r = signed("GET", url, headers={name: "not a date", "If-None-Match": etag})
        assert r.status == 304, name
        r = signed("GET", url, headers={name: "not a date", "If-Match": '"0000"'})
        assert r.status == 412, name
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "slightly-late"}, ExpiresIn=300)
    r = HTTP.request("GET", presigned, headers={"If-Modified-Since": "not a date"})
    assert (r.status, r.data) == (200, b"on time"), (r.status, r.data)
    # Keys that need percent-encoding sign the same way.
    s3.put_object(Bucket=bucket, Key="dir/odd key+ü.txt", Body=b"odd")
    odd = f"{server.url}/{bucket}/" + urllib.parse.quote("dir/odd key+ü.txt")
    r = signed("GET", odd, headers={"If-Modified-Since": "not a date"})
    assert (r.status, r.data) == (200, b"odd"), (r.status, r.data)
    # A well-formed date still counts.
    r = signed("GET", url, headers={"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert r.status == 304
    r = signed("GET", url, headers={"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert r.status == 412
    # Ignoring the header never excuses a signature that does not hold.
    forged = AWSRequest(method="GET", url=url, headers={"If-Modified-Since": "not a date"})
    botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, "not-the-secret"), "s3", REGION).add_auth(forged)
    r = HTTP.request("GET", url, headers=dict(forged.headers.items()))
    assert r.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.data, (r.status, r.data)
    tampered = AWSRequest(method="GET", url=url, headers={"If-Modified-Since": "not a date"})
    botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(tampered)
    headers = dict(tampered.headers.items())
    headers["If-Modified-Since"] = "not a date either"
    r = HTTP.request("GET", url, headers=headers)
    assert r.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.data, (r.status, r.data)
    # Anonymous callers get the same leniency, and the same refusal of a private object.
    r = HTTP.request("GET", url, headers={"If-Modified-Since": "not a date"})
    assert r.status == 403 and b"<Code>AccessDenied</Code>" in r.data


def storage_state(s3, bucket: str) -> dict:
    """Everything a client can observe of a bucket: every version and delete marker with its
    body, headers, tags and ACL; the current listing; the bucket's own settings; uploads in
    progress with their parts."""
    def without_metadata(answer: dict) -> dict:
        return {k: v for k, v in answer.items() if k != "ResponseMetadata"}

    def setting(call) -> object:
        try:
            return without_metadata(call(Bucket=bucket))
        except ClientError as e:
            return e.response["Error"]["Code"]

    listing = s3.list_object_versions(Bucket=bucket)
    versions = [(v["Key"], v["VersionId"], v["ETag"], v["Size"], v["IsLatest"], v["LastModified"]) for v in listing.get("Versions", [])]
    markers = [(m["Key"], m["VersionId"], m["IsLatest"], m["LastModified"]) for m in listing.get("DeleteMarkers", [])]
    objects = {}
    for key, version, *_ in versions:
        got = s3.get_object(Bucket=bucket, Key=key, VersionId=version, ChecksumMode="ENABLED")
        objects[(key, version)] = {
            "body": got.pop("Body").read(),
            "headers": {k: v for k, v in without_metadata(got).items()},
            "tags": s3.get_object_tagging(Bucket=bucket, Key=key, VersionId=version)["TagSet"],
            "acl": s3.get_object_acl(Bucket=bucket, Key=key, VersionId=version)["Grants"],
        }
    uploads = []
    for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        parts = s3.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts", [])
        uploads.append((u["Key"], u["UploadId"], [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts]))
    return {
        "versions": versions,
        "markers": markers,
        "objects": objects,
        "current": [(o["Key"], o["ETag"], o["Size"]) for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])],
        "tagging": setting(s3.get_bucket_tagging),
        "cors": setting(s3.get_bucket_cors),
        "policy": setting(s3.get_bucket_policy),
        "acl": setting(s3.get_bucket_acl),
        "versioning": setting(s3.get_bucket_versioning),
        "uploads": uploads,
    }


@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
def test_every_failed_request_leaves_storage_exactly_as_before(server, s3, versioned):
    bucket = unique("intact")
    s3.create_bucket(Bucket=bucket)
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="doc", Body=b"first body", ContentType="text/plain", Metadata={"rev": "1"}, Tagging="rev=1")
    s3.put_object(Bucket=bucket, Key="doc", Body=b"second body", ContentType="text/csv", CacheControl="max-age=60",
                  Metadata={"rev": "2"}, Tagging="rev=2&team=data", ChecksumAlgorithm="CRC32")
    s3.put_object(Bucket=bucket, Key="gone", Body=b"deleted later")
    s3.delete_object(Bucket=bucket, Key="gone")
    s3.put_object(Bucket=bucket, Key="public/readme", Body=b"hello", ACL="public-read")
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "data"}]})
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["https://app.example.com"]}]})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                                          "Resource": f"arn:aws:s3:::{bucket}/public/*"}]}))
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"p" * PART)
    before = storage_state(s3, bucket)
    assert len(before["objects"]) == (4 if versioned else 2) and len(before["markers"]) == (1 if versioned else 0)

    base = f"{server.url}/{bucket}"

    def md5(body: bytes) -> str:
        return base64.b64encode(hashlib.md5(body).digest()).decode()

    def raw(method: str, url: str, body: bytes = b"", headers: dict | None = None, sign_body: bytes | None = None):
        request = AWSRequest(method=method, url=url, data=body if sign_body is None else sign_body, headers=headers or {})
        botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
        return HTTP.request(method, url, body=body, headers=dict(request.headers.items()))

    def document(method: str, url: str, doc: bytes):
        return raw(method, url, doc, {"Content-MD5": md5(doc)})

    def chunked(**tamper):
        return signed_chunked_request(server, "PUT", f"/{bucket}/doc", b"z" * 200_000, **tamper)

    def source(key: str, **more) -> dict:
        return {"Bucket": bucket, "Key": key, **more}

    def bad_date_put():
        request = AWSRequest(method="PUT", url=f"{base}/doc", data=b"x")
        botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
        headers = dict(request.headers.items())
        headers["X-Amz-Date"] = "20251340T250000Z"
        return HTTP.request("PUT", f"{base}/doc", body=b"x", headers=headers)

    def skewed_put():
        with shifted_clock(datetime.timedelta(minutes=30)):
            server.client("s3", max_attempts=1).put_object(Bucket=bucket, Key="doc", Body=b"late")

    wrong_tag = {"TagSet": [{"Key": "aws:owner", "Value": "me"}]}
    eleven = {"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]}
    big_metadata = {"big": "v" * 3000}
    missing_version = "0" * 16 + "ffffffffffffffff"
    no_etag = '"00000000000000000000000000000000"'
    cors_rules = {"CORSRules": [{"AllowedMethods": ["FETCH"], "AllowedOrigins": ["*"]}]}
    duplicate_tags = {"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}
    failures = [
        ("wrong Content-MD5", lambda: s3.put_object(Bucket=bucket, Key="doc", Body=b"x", ContentMD5=md5(b"y")), "BadDigest", 400),
        ("malformed Content-MD5", lambda: s3.put_object(Bucket=bucket, Key="doc", Body=b"x", ContentMD5="not-a-digest"), "InvalidDigest", 400),
        ("wrong CRC32", lambda: s3.put_object(Bucket=bucket, Key="doc", Body=b"x", ChecksumCRC32="AAAAAA=="), "BadDigest", 400),
        ("body not the signed one", lambda: raw("PUT", f"{base}/doc", b"abc", sign_body=b"abd"), "XAmzContentSHA256Mismatch", 400),
        ("forged aws-chunked signature", lambda: chunked(tamper="signature", at=1), "SignatureDoesNotMatch", 403),
        ("truncated aws-chunked body", lambda: chunked(tamper="truncate", at=1), "IncompleteBody", 400),
        ("wrong aws-chunked trailer", lambda: chunked(trailer=True, tamper="trailer-value"), "BadDigest", 400),
        ("malformed X-Amz-Date", bad_date_put, "AccessDenied", 403),
        ("skewed clock", skewed_put, "RequestTimeTooSkewed", 403),
        ("wrong secret", lambda: server.client("s3", secret="wrong", max_attempts=1).put_object(Bucket=bucket, Key="doc", Body=b"x"),
         "SignatureDoesNotMatch", 403),
        ("unknown access key", lambda: server.client("s3", access_key="nobody", max_attempts=1).delete_object(Bucket=bucket, Key="doc"),
         "InvalidAccessKeyId", 403),
        ("eleven tags on PUT", lambda: s3.put_object(Bucket=bucket, Key="doc", Body=b"x", Tagging="&".join(f"k{i}=v" for i in range(11))),
         "BadRequest", 400),
        ("eleven object tags", lambda: s3.put_object_tagging(Bucket=bucket, Key="doc", Tagging=eleven), "BadRequest", 400),
        ("reserved tag key", lambda: s3.put_object_tagging(Bucket=bucket, Key="doc", Tagging=wrong_tag), "InvalidTag", 400),
        ("duplicate bucket tag", lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging=duplicate_tags), "InvalidTag", 400),
        ("malformed bucket tagging", lambda: document("PUT", f"{base}?tagging", b"<Tagging><TagSet>"), "MalformedXML", 400),
        ("malformed object tagging", lambda: document("PUT", f"{base}/doc?tagging", b"<Tagging><TagSet><Tag>"), "MalformedXML", 400),
        ("malformed CORS", lambda: document("PUT", f"{base}?cors", b"<CORSConfiguration><CORSRule>"), "MalformedXML", 400),
        ("unsupported CORS method", lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=cors_rules), "InvalidRequest", 400),
        ("malformed delete", lambda: document("POST", f"{base}?delete", b"<Delete><Object><Key>doc</Key>"), "MalformedXML", 400),
        ("too many keys to delete", lambda: s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]}),
         "MalformedXML", 400),
        ("malformed policy", lambda: s3.put_bucket_policy(Bucket=bucket, Policy="{not json"), "MalformedPolicy", 400),
        ("unknown canned ACL", lambda: s3.put_object_acl(Bucket=bucket, Key="doc", ACL="everyone"), "InvalidArgument", 400),
        ("If-Match on PUT", lambda: s3.put_object(Bucket=bucket, Key="doc", Body=b"x", IfMatch=no_etag), "PreconditionFailed", 412),
        ("If-None-Match on PUT", lambda: s3.put_object(Bucket=bucket, Key="doc", Body=b"x", IfNoneMatch="*"), "PreconditionFailed", 412),
        ("If-Match on DELETE", lambda: s3.delete_object(Bucket=bucket, Key="doc", IfMatch=first["ETag"]), "PreconditionFailed", 412),
        ("copy from a missing key", lambda: s3.copy_object(Bucket=bucket, Key="doc", CopySource=source("absent")), "NoSuchKey", 404),
        ("copy from a deleted key", lambda: s3.copy_object(Bucket=bucket, Key="doc", CopySource=source("gone")), "NoSuchKey", 404),
        ("copy from a missing bucket", lambda: s3.copy_object(Bucket=bucket, Key="doc", CopySource={"Bucket": unique("absent"), "Key": "doc"}),
         "NoSuchBucket", 404),
        ("copy source condition", lambda: s3.copy_object(Bucket=bucket, Key="doc", CopySource=source("public/readme"), CopySourceIfMatch=no_etag),
         "PreconditionFailed", 412),
        ("copy onto itself unchanged", lambda: s3.copy_object(Bucket=bucket, Key="doc", CopySource=source("doc")), "InvalidRequest", 400),
        ("copy with oversized metadata", lambda: s3.copy_object(Bucket=bucket, Key="doc", CopySource=source("doc"), MetadataDirective="REPLACE",
                                                                 Metadata=big_metadata), "MetadataTooLarge", 400),
        ("oversized metadata", lambda: s3.put_object(Bucket=bucket, Key="doc", Body=b"x", Metadata=big_metadata), "MetadataTooLarge", 400),
        ("upload with oversized metadata", lambda: s3.create_multipart_upload(Bucket=bucket, Key="mp2", Metadata=big_metadata),
         "MetadataTooLarge", 400),
        ("key too long", lambda: s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x"), "KeyTooLongError", 400),
        ("complete with a wrong ETag", lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": no_etag}]}), "InvalidPart", 400),
        ("complete a missing part", lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": no_etag}]}), "InvalidPart", 400),
        ("malformed complete", lambda: raw("POST", f"{base}/mp?uploadId={up}", b"<CompleteMultipartUpload><Part>"), "MalformedXML", 400),
        ("part of a missing upload", lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId="absent", PartNumber=2, Body=b"x"),
         "NoSuchUpload", 404),
        ("part number out of range", lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=10001, Body=b"x"),
         "InvalidArgument", 400),
        ("part copy from a missing key", lambda: s3.upload_part_copy(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, CopySource=source("absent")),
         "NoSuchKey", 404),
        ("abort a missing upload", lambda: s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId="absent"), "NoSuchUpload", 404),
        ("delete a malformed version", lambda: s3.delete_object(Bucket=bucket, Key="doc", VersionId="not-a-version"), "InvalidArgument", 400),
        ("tag a missing key", lambda: s3.put_object_tagging(Bucket=bucket, Key="absent", Tagging={"TagSet": []}), "NoSuchKey", 404),
        ("ACL of a missing key", lambda: s3.put_object_acl(Bucket=bucket, Key="absent", ACL="private"), "NoSuchKey", 404),
        ("delete a non-empty bucket", lambda: s3.delete_bucket(Bucket=bucket), "BucketNotEmpty", 409),
    ]
    if versioned:
        failures += [
            ("tag a missing version", lambda: s3.put_object_tagging(Bucket=bucket, Key="doc", VersionId=missing_version, Tagging={"TagSet": []}),
             "NoSuchVersion", 404),
            ("copy a missing version", lambda: s3.copy_object(Bucket=bucket, Key="doc", CopySource=source("doc", VersionId=missing_version)),
             "NoSuchVersion", 404),
        ]
    for name, call, want_code, want_status in failures:
        try:
            answer = call()
        except ClientError as e:
            got = (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
        else:
            got = (error_code(answer), answer.status) if hasattr(answer, "status") else ("succeeded", 200)
        assert got == (want_code, want_status), name
    assert storage_state(s3, bucket) == before
    assert staged_files(server) == []


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


def test_a_refusal_before_100_continue_closes_the_connection(server, s3, bucket):
    """A client that sends `Expect: 100-continue` and is refused before `100 Continue` never
    sends its body. The server must close that connection: kept open, it read the first bytes of
    the client's next request as the missing body, so that request arrived as `UT /…` and failed
    its signature."""
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    path = f"/{bucket}/mp?partNumber=10001&uploadId={up}"
    request = AWSRequest(method="PUT", url=server.url + path, data=b"x", headers={"Expect": "100-continue"})
    botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    head = f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: 1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items() if k.lower() != "host") + "\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode())
        reply = wait_closed(sock)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:300]
    assert b"\r\nconnection: close\r\n" in reply.lower()
    # The way botocore meets it: a refused part, then the same client's next request.
    for i in range(10):
        with pytest.raises(ClientError) as e:
            s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=10001, Body=b"x")
        assert code(e) == "InvalidArgument"
        s3.put_object(Bucket=bucket, Key=f"after-{i}", Body=b"fine")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 10


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
        glue, athena = server.client("glue", max_attempts=1), server.client("athena", max_attempts=1)
        s3.create_bucket(Bucket="full")
        s3.put_object(Bucket="full", Key="precious", Body=b"p" * 1000)
        s3.put_object(Bucket="full", Key="t/rows.csv", Body=b"1,a\n2,b\n")
        glue.create_database(DatabaseInput={"Name": "fulldb"})
        glue.create_table(DatabaseName="fulldb", TableInput={"Name": "t", "StorageDescriptor": {
            "Columns": [{"Name": "n", "Type": "int"}, {"Name": "s", "Type": "string"}], "Location": "s3://full/t/",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", "Parameters": {"field.delim": ","}}}})
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
        assert "the data directory is full" in failure.response["Error"]["Message"]
        # Small bodies, kept in the index, stop at the same line: the index keeps room of its own
        # (a full index store cannot even be opened again, nor delete anything). A filler is
        # deleted first, so that what the fillers left does not decide whether any small one fits.
        s3.delete_object(Bucket="full", Key=stored.pop())
        small, small_failure = [], None
        for i in range(3000):
            try:
                s3.put_object(Bucket="full", Key=f"small{i}", Body=bytes([i % 256]) * 8000)
                small.append(f"small{i}")
            except ClientError as e:
                small_failure = e
                break
        assert small_failure is not None, "small bodies never filled the disk"
        assert small_failure.response["Error"]["Code"] == "InsufficientStorage"
        # The catalog still takes entries; a query whose result cannot be written fails and says
        # why; reads work.
        glue.create_database(DatabaseInput={"Name": "stillfine"})
        # (A result of some MiB: a tiny one could still fit in what the last small body left.)
        qid = athena.start_query_execution(QueryString="SELECT a.x * 1000 + b.x AS n FROM unnest(sequence(1, 1000)) AS a(x) CROSS JOIN unnest(sequence(1, 300)) AS b(x)")["QueryExecutionId"]
        execution = wait_query(athena, qid)
        status_ = execution["Status"]
        assert status_["State"] == "FAILED"
        assert "the data directory is full" in status_["StateChangeReason"], status_
        # No part of its result is left behind.
        output = execution["ResultConfiguration"]["OutputLocation"]
        out_bucket, out_key = output.removeprefix("s3://").split("/", 1)
        assert out_key.endswith(f"{qid}.csv"), output
        assert s3.list_objects_v2(Bucket=out_bucket, Prefix=out_key.removesuffix(".csv"))["KeyCount"] == 0
        # A CTAS says the same (DataFusion's writer says only that a write failed), registers no
        # table and leaves no file.
        qid = athena.start_query_execution(QueryString="CREATE TABLE fulldb.big WITH (format = 'TEXTFILE', external_location = 's3://full/big/') AS "
                                           "SELECT a.x * 1000 + b.x AS n FROM unnest(sequence(1, 1000)) AS a(x) CROSS JOIN unnest(sequence(1, 300)) AS b(x)")["QueryExecutionId"]
        status_ = wait_query(athena, qid)["Status"]
        assert status_["State"] == "FAILED"
        assert "the data directory is full: " in status_["StateChangeReason"], status_
        assert "finalizing writes" not in status_["StateChangeReason"], status_
        assert "big" not in {t["Name"] for t in glue.get_tables(DatabaseName="fulldb")["TableList"]}
        assert s3.list_objects_v2(Bucket="full", Prefix="big/")["KeyCount"] == 0
        assert small, "no small body fitted in the room a deleted filler left"
        assert s3.get_object(Bucket="full", Key=small[-1])["Body"].read() == bytes([(len(small) - 1) % 256]) * 8000
        # An overwrite that cannot fit fails and keeps the old value.
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="full", Key="precious", Body=chunk)
        assert status(e) == 507
        assert s3.get_object(Bucket="full", Key="precious")["Body"].read() == b"p" * 1000
        for key in stored:
            assert s3.get_object(Bucket="full", Key=key)["Body"].read() == chunk
        assert tmp_files(server) == []
        # A restart on the full disk: everything acknowledged is there.
        server.stop(signal.SIGKILL)
        server.start()
        s3 = server.client("s3", max_attempts=1)
        assert s3.get_object(Bucket="full", Key="precious")["Body"].read() == b"p" * 1000
        for key in stored:
            assert s3.get_object(Bucket="full", Key=key)["Body"].read() == chunk
        listed = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="full") for o in page.get("Contents", [])}
        assert set(stored) | set(small) | {"precious"} <= listed
        assert "stillfine" in {d["Name"] for d in server.client("glue").get_databases()["DatabaseList"]}
        # Freeing space makes room again.
        for i in range(0, len(small), 1000):
            s3.delete_objects(Bucket="full", Delete={"Objects": [{"Key": k} for k in small[i:i + 1000]]})
        s3.delete_object(Bucket="full", Key=stored[0])
        s3.delete_object(Bucket="full", Key=stored[1])
        s3.put_object(Bucket="full", Key="after", Body=chunk)
        assert s3.get_object(Bucket="full", Key="after")["Body"].read() == chunk
        athena = server.client("athena", max_attempts=1)
        qid = athena.start_query_execution(QueryString="SELECT sum(n) FROM fulldb.t")["QueryExecutionId"]
        assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"
        assert athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"][1]["Data"][0]["VarCharValue"] == "3"
    finally:
        server.stop(signal.SIGKILL)


def test_spill_files_stop_at_the_room_the_index_keeps(workdir, small_disk):
    """A query that must spill more than the full disk has room for fails with Athena's spill-limit
    error; the index keeps its room (deletes and writes work after), no spill file is left."""
    server = Server(small_disk / "data", workdir / "spill.log", ("--query-limit-mb", "16")).start()
    try:
        s3 = server.client("s3", max_attempts=1)
        glue, athena = server.client("glue", max_attempts=1), server.client("athena", max_attempts=1)
        s3.create_bucket(Bucket="spill")
        rows = b"".join(b"%d,%s\n" % (i, os.urandom(50).hex().encode()) for i in range(120_000))
        s3.put_object(Bucket="spill", Key="t/rows.csv", Body=rows)
        glue.create_database(DatabaseInput={"Name": "spilldb"})
        glue.create_table(DatabaseName="spilldb", TableInput={"Name": "t", "StorageDescriptor": {
            "Columns": [{"Name": "n", "Type": "int"}, {"Name": "s", "Type": "string"}], "Location": "s3://spill/t/",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", "Parameters": {"field.delim": ","}}}})
        fillers = []
        for i in range(60):
            try:
                s3.put_object(Bucket="spill", Key=f"filler{i}", Body=os.urandom(1 << 20))
                fillers.append(f"filler{i}")
            except ClientError as e:
                assert e.response["Error"]["Code"] == "InsufficientStorage"
                break
        else:
            raise AssertionError("the disk never filled")
        # 120,000 distinct strings (12 MiB) spill past the 16 MiB the query may hold.
        distinct = "SELECT count(*) FROM (SELECT DISTINCT s FROM spilldb.t)"
        qid = athena.start_query_execution(QueryString=distinct)["QueryExecutionId"]
        status_ = wait_query(athena, qid)["Status"]
        assert status_["State"] == "FAILED", status_
        assert status_["StateChangeReason"].startswith("EXCEEDED_SPILL_LIMIT: "), status_
        assert os.listdir(small_disk / "data" / "spill") == [] or all(
            not files for _, _, files in os.walk(small_disk / "data" / "spill"))
        s3.delete_objects(Bucket="spill", Delete={"Objects": [{"Key": k} for k in fillers]})
        s3.put_object(Bucket="spill", Key="after", Body=b"room again")
        qid = athena.start_query_execution(QueryString=distinct)["QueryExecutionId"]
        execution = wait_query(athena, qid)
        assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
        assert athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"][1]["Data"][0]["VarCharValue"] == "120000"
    finally:
        server.stop(signal.SIGKILL)
