"""`minerva serve` on its embedded defaults and configured from the environment."""

import os
import subprocess
import time
import urllib.request

import boto3

from conftest import SECRET_KEY, binary, free_port


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "minerva exited early"
        try:
            with urllib.request.urlopen(url + "/_minerva/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)  # polling for readiness
    raise AssertionError("not ready")


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MINERVA_", "AWS_"))} | {"MINERVA_LOG": "info"}


def test_embedded_defaults(tmp_path):
    proc = subprocess.Popen([binary(), "serve"], cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy("http://127.0.0.1:9000", proc)
        s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:9000", aws_access_key_id="minerva",
                          aws_secret_access_key="minerva-secret", region_name="us-east-1")
        buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert "aws-athena-query-results-000000000000-us-east-1" in buckets
        assert (tmp_path / "minerva-data" / "FORMAT").exists()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "127.0.0.1:9000" in out and "access_key=minerva" in out
    assert "minerva-secret" not in out


def test_settings_from_environment(tmp_path):
    port = free_port()
    env = clean_env() | {
        "MINERVA_ADDRESS": f"127.0.0.1:{port}",
        "MINERVA_DATA_DIR": str(tmp_path / "data"),
        "MINERVA_ACCESS_KEY": "env-key",
        "MINERVA_SECRET_KEY": "env-secret-value",
        "MINERVA_REGION": "eu-west-1",
    }
    proc = subprocess.Popen([binary(), "serve"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="env-key",
                          aws_secret_access_key="env-secret-value", region_name="eu-west-1")
        s3.create_bucket(Bucket="regional", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        assert s3.get_bucket_location(Bucket="regional")["LocationConstraint"] == "eu-west-1"
        # Outside us-east-1 a re-create by the owner is an error, as on S3.
        try:
            s3.create_bucket(Bucket="regional", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            raise AssertionError("a second create succeeded")
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        assert "aws-athena-query-results-000000000000-eu-west-1" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "env-key" in out and "env-secret-value" not in out and SECRET_KEY not in out


def test_bad_settings_fail_with_a_message(tmp_path):
    proc = subprocess.run([binary(), "serve", "--address", "not-an-address"], cwd=tmp_path, env=clean_env(),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "not-an-address" in proc.stderr
