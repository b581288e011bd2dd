"""Several users from a config file: each owns the buckets it creates, is its own account, and
sees another's bucket only where an ACL or a bucket policy grants it."""

import json
import os
import signal
from unittest import mock

import pytest
import urllib3
from botocore.exceptions import ClientError

from conftest import Server, code, wait_query

HTTP = urllib3.PoolManager(retries=False, timeout=30)

CONFIG = """
[[users]]
access_key = "alice"
secret_key = "alice-secret-key"
account_id = "111111111111"

[[users]]
access_key = "bob"
secret_key = "bob-secret-key"
"""


@pytest.fixture(scope="module")
def users_server(workdir):
    config = workdir / "users.toml"
    config.write_text(CONFIG)
    s = Server(workdir / "users-data", workdir / "users.log", extra_args=("--config", str(config))).start()
    yield s
    s.stop(signal.SIGKILL)


def client(server, who, service="s3"):
    return server.client(service, access_key=who, secret=f"{who}-secret-key")


def test_owners_and_other_users(users_server):
    alice, bob = client(users_server, "alice"), client(users_server, "bob")
    alice.create_bucket(Bucket="alice-data")
    alice.put_object(Bucket="alice-data", Key="private/a.csv", Body=b"alice's")
    alice.put_object(Bucket="alice-data", Key="shared/b.csv", Body=b"for bob")
    # us-east-1 answers the owner's re-create with success; anyone else's with BucketAlreadyExists.
    alice.create_bucket(Bucket="alice-data")
    with pytest.raises(ClientError) as e:
        bob.create_bucket(Bucket="alice-data")
    assert code(e) == "BucketAlreadyExists"
    bob.create_bucket(Bucket="bob-data")
    assert [b["Name"] for b in bob.list_buckets()["Buckets"]] == ["bob-data"]
    assert "alice-data" in [b["Name"] for b in alice.list_buckets()["Buckets"]]
    assert "bob-data" not in [b["Name"] for b in alice.list_buckets()["Buckets"]]

    for call in (
        lambda: bob.get_object(Bucket="alice-data", Key="private/a.csv"),
        lambda: bob.list_objects_v2(Bucket="alice-data"),
        lambda: bob.put_object(Bucket="alice-data", Key="x", Body=b"x"),
        lambda: bob.delete_object(Bucket="alice-data", Key="private/a.csv"),
        lambda: bob.put_bucket_policy(Bucket="alice-data", Policy="{}"),
        lambda: bob.delete_bucket(Bucket="alice-data"),
        lambda: bob.copy_object(Bucket="bob-data", Key="stolen", CopySource={"Bucket": "alice-data", "Key": "private/a.csv"}),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDenied"
    with pytest.raises(ClientError):
        bob.head_object(Bucket="bob-data", Key="stolen")
    assert alice.get_object(Bucket="alice-data", Key="private/a.csv")["Body"].read() == b"alice's"

    # A policy naming bob's account opens one prefix to him, for reading only.
    bob_account = client(users_server, "bob", "sts").get_caller_identity()["Account"]
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{bob_account}:root"},
                             "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::alice-data/shared/*"}]}
    alice.put_bucket_policy(Bucket="alice-data", Policy=json.dumps(policy))
    assert bob.get_object(Bucket="alice-data", Key="shared/b.csv")["Body"].read() == b"for bob"
    bob.copy_object(Bucket="bob-data", Key="copied", CopySource={"Bucket": "alice-data", "Key": "shared/b.csv"})
    assert bob.get_object(Bucket="bob-data", Key="copied")["Body"].read() == b"for bob"
    with pytest.raises(ClientError) as e:
        bob.get_object(Bucket="alice-data", Key="private/a.csv")
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        bob.put_object(Bucket="alice-data", Key="shared/new.csv", Body=b"x")
    assert code(e) == "AccessDenied"

    # Anonymous callers get nothing, until an object is made public.
    assert HTTP.request("GET", f"{users_server.url}/alice-data/shared/b.csv").status == 403
    assert HTTP.request("GET", f"{users_server.url}/").status == 403
    alice.put_object_acl(Bucket="alice-data", Key="shared/b.csv", ACL="public-read")
    assert HTTP.request("GET", f"{users_server.url}/alice-data/shared/b.csv").data == b"for bob"
    # A user nobody configured is refused.
    stranger = users_server.client("s3", access_key="mallory", secret="guess")
    with pytest.raises(ClientError) as e:
        stranger.list_buckets()
    assert code(e) == "InvalidAccessKeyId"


def test_each_user_is_an_account_with_its_own_athena_results(users_server):
    identities = {who: client(users_server, who, "sts").get_caller_identity() for who in ("alice", "bob")}
    assert identities["alice"]["Account"] == "111111111111"
    assert identities["bob"]["Account"] != "111111111111" and len(identities["bob"]["Account"]) == 12
    assert identities["bob"]["Arn"] == f"arn:aws:iam::{identities['bob']['Account']}:user/bob"
    bob_athena = client(users_server, "bob", "athena")
    qid = bob_athena.start_query_execution(QueryString="SELECT 'bob' AS who")["QueryExecutionId"]
    q = wait_query(bob_athena, qid)
    location = q["ResultConfiguration"]["OutputLocation"]
    bucket = f"aws-athena-query-results-{identities['bob']['Account']}-us-east-1"
    assert location == f"s3://{bucket}/{qid}.csv"
    bob = client(users_server, "bob")
    assert bob.get_object(Bucket=bucket, Key=f"{qid}.csv")["Body"].read() == b'"who"\n"bob"\n'
    with pytest.raises(ClientError) as e:
        client(users_server, "alice").get_object(Bucket=bucket, Key=f"{qid}.csv")
    assert code(e) == "AccessDenied"


def test_grants_follow_the_version_asked_for_and_encoded_names(users_server):
    alice = client(users_server, "alice")
    alice.create_bucket(Bucket="alice-versions")
    alice.put_bucket_versioning(Bucket="alice-versions", VersioningConfiguration={"Status": "Enabled"})
    old = alice.put_object(Bucket="alice-versions", Key="doc", Body=b"private draft")["VersionId"]
    alice.put_object(Bucket="alice-versions", Key="doc", Body=b"public release", ACL="public-read")
    base = f"{users_server.url}/alice-versions/doc"
    assert HTTP.request("GET", base).data == b"public release"
    # The current version's ACL does not open older versions.
    assert HTTP.request("GET", f"{base}?versionId={old}").status == 403
    # A version parameter spelled with percent-escapes is still a version parameter.
    assert HTTP.request("GET", f"{base}?version%49d={old}").status == 403
    alice.put_bucket_acl(Bucket="alice-versions", ACL="public-read-write")
    assert HTTP.request("DELETE", f"{base}?version%49d={old}").status == 403
    assert alice.get_object(Bucket="alice-versions", Key="doc", VersionId=old)["Body"].read() == b"private draft"


def test_policies_cannot_lock_the_owner_out_and_batch_deletes_check_each_key(users_server):
    alice, bob = client(users_server, "alice"), client(users_server, "bob")
    alice.create_bucket(Bucket="alice-locked")
    alice.put_object(Bucket="alice-locked", Key="mine/a", Body=b"a")
    alice.put_object(Bucket="alice-locked", Key="shared/b", Body=b"b")
    bob_account = client(users_server, "bob", "sts").get_caller_identity()["Account"]
    policy = {"Statement": [
        {"Effect": "Deny", "Principal": {"AWS": ["*"]}, "Action": "s3:*", "Resource": ["arn:aws:s3:::alice-locked", "arn:aws:s3:::alice-locked/*"]},
    ]}
    alice.put_bucket_policy(Bucket="alice-locked", Policy=json.dumps(policy))
    with pytest.raises(ClientError) as e:
        alice.get_object(Bucket="alice-locked", Key="mine/a")
    assert code(e) == "AccessDenied"
    # The owner can still read and remove the policy that denies everything else.
    assert "Deny" in alice.get_bucket_policy(Bucket="alice-locked")["Policy"]
    alice.delete_bucket_policy(Bucket="alice-locked")
    assert alice.get_object(Bucket="alice-locked", Key="mine/a")["Body"].read() == b"a"
    # Bob may delete under shared/ only; a batch delete is decided key by key.
    grant = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": bob_account}, "Action": "s3:DeleteObject",
                            "Resource": "arn:aws:s3:::alice-locked/shared/*"}]}
    alice.put_bucket_policy(Bucket="alice-locked", Policy=json.dumps(grant))
    result = bob.delete_objects(Bucket="alice-locked", Delete={"Objects": [{"Key": "shared/b"}, {"Key": "mine/a"}]})
    assert [d["Key"] for d in result["Deleted"]] == ["shared/b"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("mine/a", "AccessDenied")]
    assert alice.get_object(Bucket="alice-locked", Key="mine/a")["Body"].read() == b"a"


def test_the_config_file_named_by_minerva_config(workdir):
    """`MINERVA_CONFIG` names the users file as `--config` does."""
    config = workdir / "env-users.toml"
    config.write_text('[[users]]\naccess_key = "carol"\nsecret_key = "carol-secret-key"\naccount_id = "333333333333"\n')
    server = Server(workdir / "env-config-data", workdir / "env-config.log")
    with mock.patch.dict(os.environ, {"MINERVA_CONFIG": str(config)}):
        server.start()
    try:
        carol = client(server, "carol")
        carol.create_bucket(Bucket="carol-data")
        carol.put_object(Bucket="carol-data", Key="k", Body=b"carol's")
        assert [b["Name"] for b in carol.list_buckets()["Buckets"]] == ["carol-data"]
        assert client(server, "carol", "sts").get_caller_identity()["Account"] == "333333333333"
        # The primary user from the flags is still there, and is not carol's owner.
        with pytest.raises(ClientError) as e:
            server.client("s3").get_object(Bucket="carol-data", Key="k")
        assert code(e) == "AccessDenied"
        with pytest.raises(ClientError) as e:
            server.client("s3", access_key="carol", secret="wrong-secret").list_buckets()
        assert code(e) == "SignatureDoesNotMatch"
    finally:
        server.stop(signal.SIGKILL)
    # A MINERVA_CONFIG naming no file stops the start with the path in the message.
    missing = Server(workdir / "env-missing-data", workdir / "env-missing.log")
    with mock.patch.dict(os.environ, {"MINERVA_CONFIG": str(workdir / "absent.toml")}), pytest.raises(RuntimeError):
        missing.start()
    assert missing.proc.returncode != 0
    assert "absent.toml" in missing.log_path.read_text()


def test_authenticated_read_lets_every_signed_user_read(users_server):
    """The canned ACL `authenticated-read` grants READ to every signed-in user: on a bucket that
    is listing it, on an object reading it. Anonymous callers and writes stay refused, and
    `private` takes the grant back."""
    alice, bob = client(users_server, "alice"), client(users_server, "bob")
    alice.create_bucket(Bucket="alice-team")
    alice.put_object(Bucket="alice-team", Key="report.csv", Body=b"for the team")
    alice.put_object(Bucket="alice-team", Key="notes.txt", Body=b"alice only")
    url = f"{users_server.url}/alice-team"

    def denied(call):
        with pytest.raises(ClientError) as e:
            call()
        return code(e) == "AccessDenied"

    assert denied(lambda: bob.list_objects_v2(Bucket="alice-team"))
    assert denied(lambda: bob.get_object(Bucket="alice-team", Key="report.csv"))

    alice.put_bucket_acl(Bucket="alice-team", ACL="authenticated-read")
    grants = alice.get_bucket_acl(Bucket="alice-team")["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"},
            "Permission": "READ"} in grants
    assert [o["Key"] for o in bob.list_objects_v2(Bucket="alice-team")["Contents"]] == ["notes.txt", "report.csv"]
    bob.head_bucket(Bucket="alice-team")
    # READ on the bucket lists it; the objects keep their own ACLs.
    assert denied(lambda: bob.get_object(Bucket="alice-team", Key="report.csv"))
    assert denied(lambda: bob.put_object(Bucket="alice-team", Key="bob.txt", Body=b"x"))
    assert denied(lambda: bob.delete_object(Bucket="alice-team", Key="notes.txt"))
    assert HTTP.request("GET", url).status == 403

    alice.put_object_acl(Bucket="alice-team", Key="report.csv", ACL="authenticated-read")
    assert bob.get_object(Bucket="alice-team", Key="report.csv")["Body"].read() == b"for the team"
    assert bob.head_object(Bucket="alice-team", Key="report.csv")["ContentLength"] == 12
    assert denied(lambda: bob.get_object(Bucket="alice-team", Key="notes.txt"))
    assert denied(lambda: bob.put_object_acl(Bucket="alice-team", Key="report.csv", ACL="public-read"))
    assert denied(lambda: bob.put_object(Bucket="alice-team", Key="report.csv", Body=b"overwritten"))
    assert HTTP.request("GET", f"{url}/report.csv").status == 403
    # An upload can carry the grant itself.
    alice.put_object(Bucket="alice-team", Key="shared.txt", Body=b"shared at once", ACL="authenticated-read")
    assert bob.get_object(Bucket="alice-team", Key="shared.txt")["Body"].read() == b"shared at once"

    alice.put_object_acl(Bucket="alice-team", Key="report.csv", ACL="private")
    alice.put_bucket_acl(Bucket="alice-team", ACL="private")
    assert denied(lambda: bob.get_object(Bucket="alice-team", Key="report.csv"))
    assert denied(lambda: bob.list_objects_v2(Bucket="alice-team"))
    assert alice.get_object(Bucket="alice-team", Key="report.csv")["Body"].read() == b"for the team"
