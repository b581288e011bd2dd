"""Objects as data tools use them: conditional requests, ranges, copies, tagging, attributes,
header overrides, stored headers and checksums, and aws-chunked uploads with trailers."""

import base64
import datetime
import hashlib
import threading
import zlib
from unittest import mock

import botocore.httpchecksum
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from conftest import code, status


def test_conditional_get_and_head(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"0123456789")
    etag = put["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    before = modified - datetime.timedelta(hours=1)
    after = modified + datetime.timedelta(hours=1)
    for call in (s3.get_object, s3.head_object):
        assert call(Bucket=bucket, Key="k", IfMatch=etag)["ETag"] == etag
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key="k", IfMatch='"0000"')
        assert status(e) == 412
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key="k", IfNoneMatch=etag)
        assert status(e) == 304
        assert call(Bucket=bucket, Key="k", IfNoneMatch='"0000"')["ETag"] == etag
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key="k", IfModifiedSince=after)
        assert status(e) == 304
        assert call(Bucket=bucket, Key="k", IfModifiedSince=before)["ETag"] == etag
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key="k", IfUnmodifiedSince=before)
        assert status(e) == 412
        # If-Match true wins over a failing If-Unmodified-Since, as S3 documents.
        assert call(Bucket=bucket, Key="k", IfMatch=etag, IfUnmodifiedSince=before)["ETag"] == etag


def test_create_if_absent_lets_exactly_one_writer_win(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert code(e) == "PreconditionFailed" and status(e) == 412
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"

    results = []
    lock = threading.Lock()

    def writer(i):
        try:
            s3.put_object(Bucket=bucket, Key="race", Body=f"writer {i}".encode() * 1000, IfNoneMatch="*")
            outcome = ("won", i)
        except ClientError as err:
            outcome = ("lost", err.response["Error"]["Code"])
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r[1] for r in results if r[0] == "won"]
    assert len(winners) == 1, results
    assert all(r[1] in ("PreconditionFailed", "ConditionalRequestConflict") for r in results if r[0] == "lost")
    assert s3.get_object(Bucket=bucket, Key="race")["Body"].read() == f"writer {winners[0]}".encode() * 1000

    # If-Match: replace only the version we read.
    current = s3.head_object(Bucket=bucket, Key="once")["ETag"]
    s3.put_object(Bucket=bucket, Key="once", Body=b"third", IfMatch=current)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="once", Body=b"fourth", IfMatch=current)
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="never-written", Body=b"x", IfMatch=current)
    assert status(e) == 404
    # A conditional delete removes only the version the caller saw.
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="once", IfMatch=current)
    assert status(e) == 412
    s3.delete_object(Bucket=bucket, Key="once", IfMatch=s3.head_object(Bucket=bucket, Key="once")["ETag"])
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="once")
    assert status(e) == 404


def test_ranges_and_part_reads(s3, bucket):
    s3.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    cases = {"bytes=2-4": b"234", "bytes=7-": b"789", "bytes=-3": b"789", "bytes=8-100": b"89", "bytes=0-0": b"0"}
    for spec, want in cases.items():
        got = s3.get_object(Bucket=bucket, Key="digits", Range=spec)
        assert got["Body"].read() == want, spec
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"].endswith("/10")
    for spec in ("bytes=10-", "bytes=20-30"):
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key="digits", Range=spec)
        assert code(e) == "InvalidRange" and status(e) == 416
    # Reading one part of a multipart object, as the parallel downloaders do.
    part = 5 * 1024 * 1024
    body = b"a" * part + b"b" * part + b"tail"
    s3.upload_fileobj(__import__("io").BytesIO(body), bucket, "mp", Config=TransferConfig(multipart_threshold=part, multipart_chunksize=part))
    head = s3.head_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert head["PartsCount"] == 3 and head["ContentLength"] == part
    got = s3.get_object(Bucket=bucket, Key="mp", PartNumber=3)
    assert got["Body"].read() == b"tail" and got["PartsCount"] == 3
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=4)
    assert status(e) == 416


def test_copy_with_metadata_and_tagging_directives(s3, bucket):
    s3.put_object(
        Bucket=bucket, Key="src", Body=b"payload", ContentType="text/csv", Metadata={"origin": "lab"}, Tagging="team=data&tier=gold"
    )
    s3.copy_object(Bucket=bucket, Key="same", CopySource={"Bucket": bucket, "Key": "src"})
    head = s3.head_object(Bucket=bucket, Key="same")
    assert head["ContentType"] == "text/csv" and head["Metadata"] == {"origin": "lab"}
    assert {t["Key"] for t in s3.get_object_tagging(Bucket=bucket, Key="same")["TagSet"]} == {"team", "tier"}

    s3.copy_object(
        Bucket=bucket, Key="replaced", CopySource={"Bucket": bucket, "Key": "src"}, MetadataDirective="REPLACE",
        ContentType="application/json", Metadata={"stage": "two"}, TaggingDirective="REPLACE", Tagging="new=1",
    )
    head = s3.head_object(Bucket=bucket, Key="replaced")
    assert head["ContentType"] == "application/json" and head["Metadata"] == {"stage": "two"}
    assert s3.get_object_tagging(Bucket=bucket, Key="replaced")["TagSet"] == [{"Key": "new", "Value": "1"}]
    assert s3.get_object(Bucket=bucket, Key="replaced")["Body"].read() == b"payload"

    # A copy onto itself must change something.
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert code(e) == "InvalidRequest"
    s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"}, MetadataDirective="REPLACE", Metadata={"v": "2"})
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"v": "2"}

    # Copy-source conditions.
    etag = s3.head_object(Bucket=bucket, Key="src")["ETag"]
    s3.copy_object(Bucket=bucket, Key="c1", CopySource={"Bucket": bucket, "Key": "src"}, CopySourceIfMatch=etag)
    for kwargs in ({"CopySourceIfMatch": '"0000"'}, {"CopySourceIfNoneMatch": etag},
                   {"CopySourceIfUnmodifiedSince": datetime.datetime(2000, 1, 1)},
                   {"CopySourceIfModifiedSince": datetime.datetime(2100, 1, 1)}):
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "src"}, **kwargs)
        assert status(e) == 412, kwargs
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c2")
    assert status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="c3", CopySource={"Bucket": bucket, "Key": "missing"})
    assert code(e) == "NoSuchKey"


def test_upload_part_copy_assembles_ranges_of_objects(s3, bucket):
    part = 5 * 1024 * 1024
    source = bytes(range(256)) * (2 * part // 256 + 1)
    s3.put_object(Bucket=bucket, Key="big-src", Body=source)
    up = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "big-src"}, CopySourceRange=f"bytes=0-{part - 1}")
    p2 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "big-src"}, CopySourceRange=f"bytes={part}-{part + 99}")
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=3,
                            CopySource={"Bucket": bucket, "Key": "big-src"}, CopySourceIfMatch='"nope"')
    assert status(e) == 412
    parts = [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=up, MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source[:part] + source[part:part + 100]


def test_object_attributes(s3, bucket):
    part = 5 * 1024 * 1024
    up = s3.create_multipart_upload(Bucket=bucket, Key="parts", ChecksumAlgorithm="SHA256")["UploadId"]
    etags = []
    for n, data in enumerate([b"x" * part, b"y" * 10], start=1):
        r = s3.upload_part(Bucket=bucket, Key="parts", UploadId=up, PartNumber=n, Body=data, ChecksumAlgorithm="SHA256")
        etags.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="parts", UploadId=up, MultipartUpload={"Parts": etags})
    raw = b"".join(base64.b64decode(p["ChecksumSHA256"]) for p in etags)
    composite = base64.b64encode(hashlib.sha256(raw).digest()).decode() + "-2"
    assert done["ChecksumSHA256"] == composite
    attrs = s3.get_object_attributes(Bucket=bucket, Key="parts", ObjectAttributes=["ETag", "ObjectSize", "ObjectParts", "Checksum", "StorageClass"])
    assert attrs["ObjectSize"] == part + 10
    # S3 sends this ETag unquoted; s3s always quotes ETags. Clients compare the value.
    assert attrs["ETag"].strip('"') == done["ETag"].strip('"')
    assert attrs["Checksum"]["ChecksumSHA256"] == composite and attrs["Checksum"]["ChecksumType"] == "COMPOSITE"
    assert attrs["ObjectParts"]["TotalPartsCount"] == 2
    assert [p["Size"] for p in attrs["ObjectParts"]["Parts"]] == [part, 10]
    assert attrs["ObjectParts"]["Parts"][1]["ChecksumSHA256"] == etags[1]["ChecksumSHA256"]
    assert attrs["StorageClass"] == "STANDARD"


def test_object_tagging(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=1&b=two%20words")
    got = s3.get_object(Bucket=bucket, Key="t")
    assert got["TagCount"] == 2
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]}
    assert tags == {"a": "1", "b": "two words"}
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "c", "Value": "3"}]
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    too_many = {"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]}
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging=too_many)
    assert code(e) in ("InvalidTag", "BadRequest")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="t2", Body=b"x", Tagging="aws:reserved=1")
    assert code(e) == "InvalidTag"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="t2")
    assert status(e) == 404


def test_stored_headers_and_response_overrides(s3, bucket):
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    s3.put_object(
        Bucket=bucket, Key="h", Body=zlib.compress(b"hello"), ContentType="application/octet-stream", ContentEncoding="deflate",
        CacheControl="max-age=60", ContentDisposition='attachment; filename="h.bin"', ContentLanguage="en", Expires=expires,
        Metadata={"Owner-Team": "Data"},
    )
    for got in (s3.head_object(Bucket=bucket, Key="h"), s3.get_object(Bucket=bucket, Key="h")):
        assert got["ContentEncoding"] == "deflate"
        assert got["CacheControl"] == "max-age=60"
        assert got["ContentDisposition"] == 'attachment; filename="h.bin"'
        assert got["ContentLanguage"] == "en"
        assert got["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Wed, 02 Jan 2030 03:04:05 GMT"
        assert got["Metadata"] == {"owner-team": "Data"}
    got = s3.get_object(
        Bucket=bucket, Key="h", ResponseContentType="text/plain", ResponseCacheControl="no-cache",
        ResponseContentDisposition="inline", ResponseContentEncoding="identity", ResponseContentLanguage="fr",
    )
    assert got["ContentType"] == "text/plain" and got["CacheControl"] == "no-cache"
    assert got["ContentDisposition"] == "inline" and got["ContentEncoding"] == "identity" and got["ContentLanguage"] == "fr"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="fat", Body=b"x", Metadata={"big": "v" * 3000})
    assert code(e) == "MetadataTooLarge"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_checksums_are_stored_and_returned(s3, bucket, algorithm):
    put = s3.put_object(Bucket=bucket, Key=f"sum-{algorithm}", Body=b"hello world", ChecksumAlgorithm=algorithm)
    field = f"Checksum{algorithm}"
    assert put[field]
    head = s3.head_object(Bucket=bucket, Key=f"sum-{algorithm}", ChecksumMode="ENABLED")
    assert head[field] == put[field] and head["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key=f"sum-{algorithm}", ChecksumMode="ENABLED")
    assert got[field] == put[field]
    assert got["Body"].read() == b"hello world"
    # Without ChecksumMode the checksum is not sent, as on S3.
    assert field not in s3.head_object(Bucket=bucket, Key=f"sum-{algorithm}")


def test_full_object_multipart_checksum(s3, bucket):
    part = 5 * 1024 * 1024
    data = [b"p" * part, b"q" * 1234]
    up = s3.create_multipart_upload(Bucket=bucket, Key="full", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")["UploadId"]
    parts = []
    for n, d in enumerate(data, start=1):
        r = s3.upload_part(Bucket=bucket, Key="full", UploadId=up, PartNumber=n, Body=d, ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    whole = base64.b64encode(zlib.crc32(b"".join(data)).to_bytes(4, "big")).decode()
    # A wrong whole-object checksum fails the completion and keeps the upload.
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=up, MultipartUpload={"Parts": parts},
                                     ChecksumCRC32="AAAAAA==", ChecksumType="FULL_OBJECT")
    assert code(e) == "BadDigest"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=up, MultipartUpload={"Parts": parts},
                                        ChecksumCRC32=whole, ChecksumType="FULL_OBJECT")
    assert done["ChecksumCRC32"] == whole and done["ChecksumType"] == "FULL_OBJECT"
    assert s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")["ChecksumCRC32"] == whole


def test_aws_chunked_upload_with_a_trailer_checksum(s3, bucket):
    """botocore sends the checksum as an aws-chunked trailer over TLS; pretend the endpoint is
    TLS so that the real client code builds that request, then check the server verifies it."""
    body = b"streamed body " * 5000
    real_urlparse = botocore.httpchecksum.urlparse

    def as_tls(url):
        return real_urlparse(url)._replace(scheme="https")

    sent = []
    s3.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers)))
    with mock.patch.object(botocore.httpchecksum, "urlparse", as_tls):
        put = s3.put_object(Bucket=bucket, Key="chunked", Body=body, ChecksumAlgorithm="CRC32")
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in sent[-1].items()}
    assert headers["x-amz-trailer"] == "x-amz-checksum-crc32"
    assert "aws-chunked" in headers["content-encoding"]
    want = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    assert put["ChecksumCRC32"] == want
    got = s3.get_object(Bucket=bucket, Key="chunked", ChecksumMode="ENABLED")
    assert got["Body"].read() == body and got["ChecksumCRC32"] == want

    # A trailer that does not match the body is refused and nothing is stored.
    class Wrong(botocore.httpchecksum.CrtCrc32Checksum if botocore.httpchecksum.HAS_CRT else botocore.httpchecksum.Crc32Checksum):
        def digest(self):
            return b"\x00\x00\x00\x00"

    with mock.patch.object(botocore.httpchecksum, "urlparse", as_tls), \
         mock.patch.dict(botocore.httpchecksum._CHECKSUM_CLS, {"crc32": Wrong}):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="chunked-bad", Body=body, ChecksumAlgorithm="CRC32")
    assert code(e) in ("BadDigest", "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="chunked-bad")
    assert status(e) == 404
