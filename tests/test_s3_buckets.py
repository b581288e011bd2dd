"""Buckets: naming rules, emptiness, tagging, CORS (configuration and browser preflight), canned
ACLs, the bucket policy subset, presigned URLs with expiry, and POST uploads with a signed policy."""

import datetime
import json
import subprocess
import sys
from pathlib import Path
from unittest import mock

import botocore.auth
import pytest
import urllib3
from botocore.exceptions import ClientError

from conftest import code, shifted_clock, unique, wait_query

HTTP = urllib3.PoolManager(retries=False, timeout=30)


def test_bucket_naming_rules(s3):
    for bad in ["ab", "a" * 64, "UpperCase", "under_score", "-leading", "trailing-", "two..dots", "192.168.5.4", "xn--punycode", "dot-.hyphen", "name-s3alias"]:
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket=bad)
        assert code(e) == "InvalidBucketName", bad
        assert e.value.response["Error"]["Message"].startswith("The specified bucket is not valid."), (bad, e.value.response)
    good = unique("ok.name-1")
    s3.create_bucket(Bucket=good)
    s3.head_bucket(Bucket=good)
    # us-east-1 named explicitly is not a valid constraint; another region is not this one.
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=unique("loc"), CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    assert code(e) == "InvalidLocationConstraint"
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=unique("loc"), CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert code(e) == "IllegalLocationConstraintException"
    assert s3.get_bucket_location(Bucket=good)["LocationConstraint"] is None


def test_bucket_not_empty_until_every_upload_version_and_object_is_gone(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert code(e) == "BucketNotEmpty"
    s3.delete_object(Bucket=bucket, Key="k")
    # An open multipart upload does not keep a bucket alive; it is aborted with it.
    s3.create_multipart_upload(Bucket=bucket, Key="pending")
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=bucket)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_bucket_tagging(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(e) == "NoSuchTagSet"
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "data"}]})
    assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]} == {"env": "test", "team": "data"}
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(e) == "NoSuchTagSet"


def test_cors_configuration_and_browser_preflight(server, s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert code(e) == "NoSuchCORSConfiguration"
    url = f"{server.url}/{bucket}/data.csv"
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"}
    assert HTTP.request("OPTIONS", url, headers=preflight).status == 403

    rules = [{"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["content-type", "x-amz-*"],
              "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["AllowedOrigins"] == ["https://*.example.com"]

    r = HTTP.request("OPTIONS", url, headers=preflight)
    assert r.status == 200
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "PUT" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "content-type"
    assert r.headers["Access-Control-Max-Age"] == "600"
    for denied in ({**preflight, "Origin": "https://evil.test"}, {**preflight, "Access-Control-Request-Method": "DELETE"},
                   {**preflight, "Access-Control-Request-Headers": "authorization"}):
        assert HTTP.request("OPTIONS", url, headers=denied).status == 403, denied

    # An actual request from an allowed origin carries the CORS headers.
    s3.put_object(Bucket=bucket, Key="data.csv", Body=b"a,b\n")
    signed = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "data.csv"})
    r = HTTP.request("GET", signed, headers={"Origin": "https://app.example.com"})
    assert r.status == 200 and r.data == b"a,b\n"
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    r = HTTP.request("GET", signed, headers={"Origin": "https://evil.test"})
    assert "Access-Control-Allow-Origin" not in r.headers

    s3.delete_bucket_cors(Bucket=bucket)
    assert HTTP.request("OPTIONS", url, headers=preflight).status == 403
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
    assert code(e) == "InvalidRequest"


def test_canned_acls_open_objects_and_buckets_to_anonymous_readers(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="public.txt", Body=b"for everyone", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"for me")
    assert HTTP.request("GET", f"{server.url}/{bucket}/public.txt").data == b"for everyone"
    r = HTTP.request("GET", f"{server.url}/{bucket}/private.txt")
    assert r.status == 403 and b"AccessDenied" in r.data
    # Anonymous writes and listings are denied until the bucket's ACL allows them.
    assert HTTP.request("PUT", f"{server.url}/{bucket}/anon.txt", body=b"x").status == 403
    assert HTTP.request("GET", f"{server.url}/{bucket}?list-type=2").status == 403
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    listing = HTTP.request("GET", f"{server.url}/{bucket}?list-type=2")
    assert listing.status == 200 and b"public.txt" in listing.data
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") and g["Permission"] == "READ" for g in grants)
    assert HTTP.request("PUT", f"{server.url}/{bucket}/anon.txt", body=b"x").status == 403
    # Object ACLs read back as grants, and can be taken away.
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in s3.get_object_acl(Bucket=bucket, Key="public.txt")["Grants"])
    s3.put_object_acl(Bucket=bucket, Key="public.txt", ACL="private")
    assert HTTP.request("GET", f"{server.url}/{bucket}/public.txt").status == 403
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert HTTP.request("GET", f"{server.url}/{bucket}?list-type=2").status == 403


def test_bucket_policy_grants_anonymous_reads_under_a_prefix(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="public/report.csv", Body=b"open data")
    s3.put_object(Bucket=bucket, Key="secret/keys.txt", Body=b"closed")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert code(e) == "NoSuchBucketPolicy"
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/public/*"}],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == policy
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    assert HTTP.request("GET", f"{server.url}/{bucket}/public/report.csv").data == b"open data"
    assert HTTP.request("GET", f"{server.url}/{bucket}/secret/keys.txt").status == 403
    assert HTTP.request("PUT", f"{server.url}/{bucket}/public/new.csv", body=b"x").status == 403
    assert HTTP.request("DELETE", f"{server.url}/{bucket}/public/report.csv").status == 403
    for bad in ("not json", json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::someone-else/*"}]})):
        with pytest.raises(ClientError) as e:
            s3.put_bucket_policy(Bucket=bucket, Policy=bad)
        assert code(e) == "MalformedPolicy"
    s3.delete_bucket_policy(Bucket=bucket)
    assert HTTP.request("GET", f"{server.url}/{bucket}/public/report.csv").status == 403


@pytest.mark.parametrize("signature", ["s3", "s3v4"], ids=["sigv2", "sigv4"])
def test_presigned_get_and_put_expire(server, s3, bucket, signature):
    """botocore presigns S3 URLs with SigV2 unless told otherwise; both kinds must work and expire."""
    signer = server.client("s3", signature_version=signature)
    put_url = signer.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.bin"}, ExpiresIn=300)
    assert ("X-Amz-Signature" in put_url) == (signature == "s3v4")
    assert HTTP.request("PUT", put_url, body=b"via presigned put").status == 200
    get_url = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "up.bin"}, ExpiresIn=300)
    r = HTTP.request("GET", get_url)
    assert r.status == 200 and r.data == b"via presigned put"
    # Signed two hours ago for one hour: expired.
    real_time = botocore.auth.time.time
    with shifted_clock(datetime.timedelta(hours=-2)), mock.patch.object(botocore.auth.time, "time", lambda: real_time() - 7200):
        old_get = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "up.bin"}, ExpiresIn=3600)
        old_put = signer.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "late.bin"}, ExpiresIn=3600)
    r = HTTP.request("GET", old_get)
    assert r.status == 403 and b"AccessDenied" in r.data and b"expired" in r.data
    assert HTTP.request("PUT", old_put, body=b"too late").status == 403
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="late.bin")
    # A tampered URL fails its signature.
    r = HTTP.request("GET", get_url.replace("up.bin", "other.bin"))
    assert r.status == 403 and b"SignatureDoesNotMatch" in r.data


def test_post_object_upload_with_a_signed_policy(server, s3, bucket):
    post = s3.generate_presigned_post(
        bucket, "uploads/${filename}", Fields={"Content-Type": "text/plain"},
        Conditions=[["starts-with", "$key", "uploads/"], {"Content-Type": "text/plain"}, ["content-length-range", 1, 1024]],
        ExpiresIn=600,
    )

    def send(fields, data=b"posted body", filename="note.txt"):
        form = dict(fields)
        form["key"] = form["key"].replace("${filename}", filename)
        form["file"] = (filename, data, "text/plain")
        return HTTP.request("POST", post["url"], fields=form)

    r = send(post["fields"])
    assert r.status in (200, 204), r.data
    got = s3.get_object(Bucket=bucket, Key="uploads/note.txt")
    assert got["Body"].read() == b"posted body" and got["ContentType"] == "text/plain"
    # Conditions are enforced: too large, wrong key prefix, a field outside the policy.
    assert send(post["fields"], data=b"x" * 2000).status == 400
    assert send({**post["fields"], "key": "elsewhere/${filename}"}).status == 403
    assert send({**post["fields"], "Content-Type": "text/html"}).status == 403
    # A tampered policy fails its signature; an expired one is refused.
    assert send({**post["fields"], "policy": post["fields"]["policy"][:-4] + "AAAA"}).status == 403
    with shifted_clock(datetime.timedelta(hours=-3)):
        old = s3.generate_presigned_post(bucket, "uploads/late.txt", ExpiresIn=600)
    r = HTTP.request("POST", old["url"], fields={**old["fields"], "file": ("late.txt", b"late", "text/plain")})
    assert r.status == 403
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="uploads/late.txt")


def test_buckets_in_any_region_as_each_regions_endpoint_makes_them(server):
    """Every region is served: a client signing for eu-west-1 makes buckets there (the aws CLI's
    `s3 mb` with AWS_DEFAULT_REGION=eu-west-1), and HeadBucket and GetBucketLocation say where."""
    name = unique("euwest")
    env = dict(server.env(), AWS_DEFAULT_REGION="eu-west-1", AWS_REGION="eu-west-1", AWS_PAGER="")
    made = subprocess.run([str(Path(sys.executable).parent / "aws"), "s3", "mb", f"s3://{name}"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    s3 = server.client("s3")
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"
    sydney = server.client("s3", region_name="ap-southeast-2")
    other = unique("apse2")
    sydney.create_bucket(Bucket=other, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
    assert s3.get_bucket_location(Bucket=other)["LocationConstraint"] == "ap-southeast-2"
    # A regional endpoint refuses a bucket without a constraint, or for another region, as on S3.
    with pytest.raises(ClientError) as e:
        sydney.create_bucket(Bucket=unique("noloc"))
    assert code(e) == "IllegalLocationConstraintException"
    with pytest.raises(ClientError) as e:
        sydney.create_bucket(Bucket=unique("wrong"), CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert code(e) == "IllegalLocationConstraintException"
    listed = {b["Name"]: b.get("BucketRegion") for b in s3.list_buckets()["Buckets"]}
    assert listed[name] == "eu-west-1" and listed[other] == "ap-southeast-2"
    # Glue and Athena answer in any region too; Athena's results go to the caller's bucket of
    # that region, as on AWS.
    athena = server.client("athena", region_name="eu-west-1")
    qid = athena.start_query_execution(QueryString="SELECT 1")["QueryExecutionId"]
    done = wait_query(athena, qid)
    assert done["Status"]["State"] == "SUCCEEDED", done["Status"]
    assert done["ResultConfiguration"]["OutputLocation"].startswith("s3://aws-athena-query-results-000000000000-eu-west-1/")
    assert s3.get_bucket_location(Bucket="aws-athena-query-results-000000000000-eu-west-1")["LocationConstraint"] == "eu-west-1"
    assert server.client("glue", region_name="eu-west-1").get_database(Name="default")["Database"]["Name"] == "default"
    ls = subprocess.run([str(Path(sys.executable).parent / "aws"), "s3", "ls", f"s3://{name}"], env=env,
                        capture_output=True, text=True, timeout=120)
    assert ls.returncode == 0, ls.stderr
