"""Versioning: real versions, version ids, delete markers, reads and deletes by version id,
ListObjectVersions with key and version markers, and the batch delete conformance suites use."""

import pytest
from botocore.exceptions import ClientError

from conftest import code, status, unique


def all_versions(s3, bucket, page_size=1000, **kwargs):
    """Every version and delete marker, walked page by page with the key and version markers."""
    out, params = [], dict(Bucket=bucket, MaxKeys=page_size, **kwargs)
    while True:
        page = s3.list_object_versions(**params)
        entries = [(v["Key"], v["VersionId"], v["IsLatest"], False) for v in page.get("Versions", [])]
        entries += [(m["Key"], m["VersionId"], m["IsLatest"], True) for m in page.get("DeleteMarkers", [])]
        out.extend(entries)
        assert len(entries) + len(page.get("CommonPrefixes", [])) <= page_size
        if not page["IsTruncated"]:
            return out
        params.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page.get("NextVersionIdMarker", ""))


def test_versions_delete_markers_and_permanent_deletes(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"before versioning")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    assert v1 != v2 and "null" not in (v1, v2)
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"two" and got["VersionId"] == v2
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"one"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"before versioning"
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=v1)["ContentLength"] == 3

    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert code(e) == "NoSuchKey"
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=marker)
    assert status(e) == 405
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert all_versions(s3, bucket) == [
        ("k", v2, False, False), ("k", v1, False, False), ("k", "null", False, False), ("k", marker, True, True)
    ]

    # Removing the marker restores the newest version; removing versions is permanent.
    removed = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert removed["DeleteMarker"] is True and removed["VersionId"] == marker
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=v2)
    assert code(e) == "NoSuchVersion"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId="not-a-version-id")
    assert code(e) == "InvalidArgument"
    # A bucket with versions left is not empty.
    s3.delete_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert code(e) == "BucketNotEmpty"


def test_suspended_versioning_writes_the_null_version(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"versioned")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"null 1").get("VersionId") == "null"
    s3.put_object(Bucket=bucket, Key="k", Body=b"null 2")
    versions = all_versions(s3, bucket)
    assert versions == [("k", "null", True, False), ("k", kept, False, False)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"null 2"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Off"})
    assert code(e) in ("IllegalVersioningConfigurationException", "MalformedXML")


def test_listing_versions_pages_with_markers_and_prefixes(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    keys = ["a", "a/1", "a/2", "b", "c/x/y", "d"]
    ids = {}
    for k in keys:
        ids[k] = [s3.put_object(Bucket=bucket, Key=k, Body=f"{k} {i}".encode())["VersionId"] for i in range(3)]
    s3.delete_object(Bucket=bucket, Key="b")
    full = all_versions(s3, bucket)
    assert len(full) == 3 * len(keys) + 1
    assert [e[0] for e in full if not e[3]] == [k for k in keys for _ in range(3)]
    for k in keys:
        mine = [e for e in full if e[0] == k and not e[3]]
        assert [e[1] for e in mine] == list(reversed(ids[k])), "newest first"
    for size in (1, 2, 4, 7):
        # Delete markers come in their own list, so compare as sets per page walk.
        assert sorted(all_versions(s3, bucket, page_size=size)) == sorted(full), size
    page = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/", "c/"]
    assert {v["Key"] for v in page["Versions"]} == {"a", "b", "d"}
    page = s3.list_object_versions(Bucket=bucket, Prefix="a/", KeyMarker="a/1")
    assert [v["Key"] for v in page["Versions"]] == ["a/2"] * 3
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=bucket, VersionIdMarker=ids["a"][0])
    assert code(e) == "InvalidArgument"


def test_batch_delete_of_every_version_with_bypass_governance(s3, bucket):
    """What public conformance suites do to clean a bucket: list every version, delete them in
    batches with BypassGovernanceRetention, delete the bucket."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"obj{i}", Body=b"1")
        s3.put_object(Bucket=bucket, Key=f"obj{i}", Body=b"2")
    s3.delete_object(Bucket=bucket, Key="obj0")
    listed = s3.list_object_versions(Bucket=bucket)
    objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in listed["Versions"] + listed["DeleteMarkers"]]
    assert len(objects) == 11
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects[:6], "Quiet": False}, BypassGovernanceRetention=True)
    assert len(result["Deleted"]) == 6 and not result.get("Errors")
    assert all(d["VersionId"] for d in result["Deleted"])
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects[6:], "Quiet": True}, BypassGovernanceRetention=True)
    assert not result.get("Deleted") and not result.get("Errors")
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)

    # The same on a bucket that never had versioning: everything is version "null".
    plain = unique("plain")
    s3.create_bucket(Bucket=plain)
    s3.put_object(Bucket=plain, Key="x", Body=b"1")
    listed = s3.list_object_versions(Bucket=plain)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [("x", "null", True)]
    objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in listed["Versions"]]
    s3.delete_objects(Bucket=plain, Delete={"Objects": objects, "Quiet": True}, BypassGovernanceRetention=True)
    s3.delete_bucket(Bucket=plain)


def test_delete_objects_reports_markers_and_limits(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="m", Body=b"1")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "m"}, {"Key": "never-existed"}]})
    by_key = {d["Key"]: d for d in result["Deleted"]}
    assert by_key["m"]["DeleteMarker"] is True and by_key["m"]["DeleteMarkerVersionId"]
    assert by_key["never-existed"]["DeleteMarker"] is True
    with pytest.raises(ClientError) as e:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})
    assert code(e) == "MalformedXML"
