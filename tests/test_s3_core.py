"""S3 core behaviour through boto3: what data tools call."""

import hashlib
import io
import urllib.request

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.core



def test_buckets(s3, bucket):
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=bucket)
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "BucketNotEmpty"
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=bucket)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="Bad_Name")
    assert e.value.response["Error"]["Code"] == "InvalidBucketName"


def test_objects_round_trip_with_headers_metadata_and_ranges(s3, bucket):
    body = bytes(range(256)) * 40
    put = s3.put_object(Bucket=bucket, Key="dir/obj", Body=body, ContentType="application/x-test", Metadata={"Owner": "me"})
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    head = s3.head_object(Bucket=bucket, Key="dir/obj")
    assert head["ContentLength"] == len(body)
    assert head["ContentType"] == "application/x-test"
    assert head["Metadata"] == {"owner": "me"}
    got = s3.get_object(Bucket=bucket, Key="dir/obj", Range="bytes=10-19")
    assert got["Body"].read() == body[10:20]
    assert got["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert s3.get_object(Bucket=bucket, Key="dir/obj", Range="bytes=-5")["Body"].read() == body[-5:]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="dir/obj", Range=f"bytes={len(body)}-")
    assert e.value.response["Error"]["Code"] == "InvalidRange"
    copy = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "dir/obj"})
    assert copy["CopyObjectResult"]["ETag"] == put["ETag"]
    assert s3.head_object(Bucket=bucket, Key="copy")["Metadata"] == {"owner": "me"}
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"


def test_checksums_are_verified_and_returned(s3, bucket):
    for algorithm in ("CRC32", "SHA1", "SHA256"):
        key = f"sum-{algorithm}"
        s3.put_object(Bucket=bucket, Key=key, Body=b"hello world", ChecksumAlgorithm=algorithm)
        head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        assert head.get(f"Checksum{algorithm}"), head
        assert s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")["Body"].read() == b"hello world"
    # CRC32C needs botocore's optional CRT to compute, so send the known value as a header.
    s3.put_object(Bucket=bucket, Key="sum-CRC32C", Body=b"hello world", ChecksumCRC32C="yZRlqg==")
    assert s3.head_object(Bucket=bucket, Key="sum-CRC32C", ChecksumMode="ENABLED")["ChecksumCRC32C"] == "yZRlqg=="
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="sum-bad", Body=b"hello world", ChecksumCRC32C="AAAAAA==")
    assert e.value.response["Error"]["Code"] == "BadDigest"


def test_listing_v1_v2_pagination_delimiter_and_versions(s3, bucket):
    keys = ["a", "a/b", "a/c/d", "b/", "b/x", "c+d e%", "ünï", "z//y"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == sorted(keys, key=lambda k: k.encode())
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1})
    found = [(o["Key"], None) for p in pages for o in p.get("Contents", [])]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1})
    prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert [k for k, _ in found] == ["a", "c+d e%", "ünï"]
    assert prefixes == ["a/", "b/", "z/"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="b/x")
    assert [o["Key"] for o in after["Contents"]] == ["c+d e%", "z//y", "ünï"]
    v1 = s3.get_paginator("list_objects").paginate(Bucket=bucket, Prefix="a", PaginationConfig={"PageSize": 1})
    assert [o["Key"] for p in v1 for o in p.get("Contents", [])] == ["a", "a/b", "a/c/d"]
    # V1 with a delimiter, a page at a time: NextMarker carries on past a common prefix.
    v1 = list(s3.get_paginator("list_objects").paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}))
    assert [o["Key"] for p in v1 for o in p.get("Contents", [])] == ["a", "c+d e%", "ünï"]
    assert [c["Prefix"] for p in v1 for c in p.get("CommonPrefixes", [])] == ["a/", "b/", "z/"]
    assert all(p["IsTruncated"] for p in v1[:-1]) and not v1[-1]["IsTruncated"]
    nested = s3.list_objects(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in nested["Contents"]] == ["a/b"] and [c["Prefix"] for c in nested["CommonPrefixes"]] == ["a/c/"]
    versions = s3.list_object_versions(Bucket=bucket, Prefix="b/")
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions["Versions"]] == [("b/", "null", True), ("b/x", "null", True)]
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys] + [{"Key": "never-there"}]})
    assert len(deleted["Deleted"]) == len(keys) + 1
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_multipart_lifecycle(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="text/csv")["UploadId"]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [up]
    p1 = b"1" * (5 * 1024 * 1024)
    e1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=2, Body=b"tail")["ETag"]
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="mp", UploadId=up)["Parts"]] == [1, 2]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up,
                                     MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    assert e.value.response["Error"]["Code"] == "InvalidPartOrder"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    md5s = hashlib.md5(bytes.fromhex(e1.strip('"')) + bytes.fromhex(e2.strip('"'))).hexdigest()
    assert done["ETag"] == f'"{md5s}-2"'
    head = s3.head_object(Bucket=bucket, Key="mp")
    assert head["ContentLength"] == len(p1) + 4 and head["ContentType"] == "text/csv"
    assert s3.get_object(Bucket=bucket, Key="mp", Range="bytes=-6")["Body"].read() == b"11tail"
    small = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    a = s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=1, Body=b"a")["ETag"]
    b = s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=2, Body=b"b")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=small,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": a}, {"PartNumber": 2, "ETag": b}]})
    assert e.value.response["Error"]["Code"] == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=small)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="small", UploadId=small)
    assert e.value.response["Error"]["Code"] == "NoSuchUpload"
    s3.upload_fileobj(io.BytesIO(b"q" * (12 * 1024 * 1024)), bucket, "managed")
    assert s3.head_object(Bucket=bucket, Key="managed")["ETag"].endswith('-2"')


def test_presigned_urls(server, s3, bucket):
    # SigV4 query signing (what most users configure) and boto3's default SigV2 query signing.
    s3v4 = server.client("s3", signature_version="s3v4")
    put_url = s3v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=60)
    urllib.request.urlopen(urllib.request.Request(put_url, data=b"presigned body", method="PUT"), timeout=10)
    for client in (s3v4, s3):
        get_url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=60)
        assert urllib.request.urlopen(get_url, timeout=10).read() == b"presigned body"
    tampered = get_url.replace("pre?", "other?")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered, timeout=10)
    assert e.value.code == 403


def test_localhost_is_path_style(server, bucket):
    import boto3
    from botocore.config import Config

    from conftest import ACCESS_KEY, SECRET_KEY

    c = boto3.client("s3", endpoint_url=f"http://localhost:{server.port}", aws_access_key_id=ACCESS_KEY,
                     aws_secret_access_key=SECRET_KEY, region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    c.put_object(Bucket=bucket, Key="via-localhost", Body=b"ok")
    assert c.get_object(Bucket=bucket, Key="via-localhost")["Body"].read() == b"ok"


def test_sts_and_health(server):
    assert server.client("sts").get_caller_identity()["Account"] == "000000000000"
    assert urllib.request.urlopen(server.url + "/_minerva/health", timeout=5).status == 200
