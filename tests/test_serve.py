"""`minerva serve` on its embedded defaults and configured from the environment."""

import json
import subprocess
import time
import urllib.error
import urllib.request

import boto3

from conftest import SECRET_KEY, binary, clean_env, free_port, started, stopped, wait_healthy, wait_query


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


def test_the_data_directory_is_named_and_a_second_server_is_refused_in_one_sentence(tmp_path):
    port = free_port()
    proc = subprocess.Popen([binary(), "serve", "--address", f"127.0.0.1:{port}", "--data-dir", "data"], cwd=tmp_path,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        # The second one, on the same directory by another relative path, stops at once.
        second = subprocess.run([binary(), "serve", "--address", f"127.0.0.1:{free_port()}", "--data-dir", "./data/"],
                                cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        error = [line for line in second.stderr.splitlines() if line.startswith("minerva: ")]
        directory = tmp_path / "data"
        assert error == [f"minerva: another Minerva (pid {proc.pid}) is using the data directory {directory}"], second.stderr
        assert "WouldBlock" not in second.stderr and "Os {" not in second.stderr
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    # The first line of the log names the directory, absolute.
    first = out.splitlines()[0]
    assert "starting" in first and str(tmp_path / "data") in first, out


def test_reset_empties_the_data_directory_only_while_no_server_has_it(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = [binary(), "serve", "--address", f"127.0.0.1:{port}", "--data-dir", "data"]

    def client(service):
        return boto3.client(service, endpoint_url=url, aws_access_key_id="minerva", aws_secret_access_key="minerva-secret",
                            region_name="us-east-1")

    def reset():
        return subprocess.run([binary(), "reset", "--data-dir", "data"], cwd=tmp_path, env=clean_env(), capture_output=True,
                              text=True, timeout=60)

    # A folder that holds no Minerva data is left alone.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("mine")
    refused = reset()
    assert refused.returncode != 0 and "holds no Minerva data" in refused.stderr, refused.stderr
    (tmp_path / "data" / "notes.txt").unlink()
    proc = started(serve, url, tmp_path)
    try:
        client("s3").create_bucket(Bucket="kept-until-reset")
        client("glue").create_database(DatabaseInput={"Name": "shop"})
        busy = reset()
        assert busy.returncode != 0 and f"(pid {proc.pid})" in busy.stderr, busy.stderr
    finally:
        stopped(proc)
    done = reset()
    assert done.returncode == 0 and str(tmp_path / "data") in done.stderr, done.stderr
    proc = started(serve, url, tmp_path)
    try:
        buckets = [b["Name"] for b in client("s3").list_buckets()["Buckets"]]
        assert buckets == ["aws-athena-query-results-000000000000-us-east-1"]
        assert [d["Name"] for d in client("glue").get_databases()["DatabaseList"]] == ["default"]
    finally:
        stopped(proc)


def test_results_retention_sweeps_old_results_and_nothing_else(workdir):
    from conftest import Server

    server = Server(workdir / "retention-data", workdir / "retention.log", ("--results-retention-days", "0.0001")).start()
    try:
        s3, athena = server.client("s3"), server.client("athena")
        results = "aws-athena-query-results-000000000000-us-east-1"
        s3.put_object(Bucket=results, Key="notes/kept.txt", Body=b"mine")
        s3.put_object(Bucket=results, Key="0b4f8c2e.csv", Body=b"not a query's")
        s3.create_bucket(Bucket="elsewhere")
        s3.put_object(Bucket="elsewhere", Key="0b4f8c2e-1d3a-4b5c-9e7f-123456789abc.csv", Body=b"not in a results bucket")

        def run(sql):
            qid = athena.start_query_execution(QueryString=sql)["QueryExecutionId"]
            assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"
            return qid

        run("CREATE DATABASE kept")
        ctas = run("CREATE TABLE kept.t AS SELECT 1 AS x")
        qid = run("SELECT 42")
        # The query's result files go once they are older than the retention (8.64 s).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            keys = {o["Key"] for o in s3.list_objects_v2(Bucket=results).get("Contents", [])}
            if f"{qid}.csv" not in keys:
                break
            time.sleep(0.2)  # polling for the sweep, which runs every 2.16 s
        assert f"{qid}.csv" not in keys and f"{qid}.csv.metadata" not in keys and f"tables/{ctas}-manifest.csv" not in keys, keys
        # What is not a result file stays: the user's files, the CTAS table's data, other buckets.
        assert {"notes/kept.txt", "0b4f8c2e.csv"} <= keys, keys
        assert any(k.startswith(f"tables/{ctas}/") for k in keys), keys
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="elsewhere")["Contents"]] == ["0b4f8c2e-1d3a-4b5c-9e7f-123456789abc.csv"]
        # The table still answers.
        rows = athena.get_query_results(QueryExecutionId=run("SELECT x FROM kept.t"))["ResultSet"]["Rows"]
        assert rows[1]["Data"][0]["VarCharValue"] == "1"
    finally:
        server.stop()


def test_metrics_are_prometheus_text_that_counts_what_was_served(server):
    from prometheus_client.parser import text_string_to_metric_families

    s3, athena = server.client("s3"), server.client("athena")
    s3.list_buckets()
    before = scrape(server)
    s3.list_buckets()
    qid = athena.start_query_execution(QueryString="SELECT 1")["QueryExecutionId"]
    assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"
    after = scrape(server)
    key = ("minerva_requests_total", (("operation", "ListBuckets"), ("service", "s3"), ("status", "200")))
    assert after[key] == before[key] + 1
    assert after[("minerva_queries_finished_total", (("state", "SUCCEEDED"),))] >= before[("minerva_queries_finished_total", (("state", "SUCCEEDED"),))] + 1
    assert after[("minerva_request_duration_seconds_count", (("operation", "ListBuckets"), ("service", "s3")))] == before[key] + 1
    assert after[("minerva_resident_memory_bytes", ())] > 1 << 20
    assert ("minerva_queries", (("state", "RUNNING"),)) in after
    assert any(name == "minerva_requests_total" and dict(labels).get("operation") == "StartQueryExecution" for name, labels in after)
    families = {f.name for f in text_string_to_metric_families(urllib.request.urlopen(server.url + "/_minerva/metrics").read().decode())}
    assert {"minerva_requests", "minerva_request_duration_seconds", "minerva_queries", "minerva_query_memory_bytes"} <= families


def scrape(server) -> dict:
    """Every sample of /_minerva/metrics, parsed as Prometheus parses the text format."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(server.url + "/_minerva/metrics") as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_post_reset_empties_a_running_server_only_when_allowed(workdir, server):
    from conftest import Server

    refused = urllib.request.Request(server.url + "/_minerva/reset", method="POST")
    try:
        urllib.request.urlopen(refused)
        raise AssertionError("a server without --allow-reset was reset")
    except urllib.error.HTTPError as e:
        assert e.code == 403 and "--allow-reset" in e.read().decode()
    own = Server(workdir / "resettable-data", workdir / "resettable.log", ("--allow-reset",)).start()
    try:
        s3, glue, athena = own.client("s3"), own.client("glue"), own.client("athena")
        s3.create_bucket(Bucket="versioned")
        s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
        for body in (b"one", b"two"):
            s3.put_object(Bucket="versioned", Key="k", Body=body)
        s3.delete_object(Bucket="versioned", Key="k")
        s3.create_multipart_upload(Bucket="versioned", Key="unfinished")
        glue.create_database(DatabaseInput={"Name": "gone"})
        athena.create_work_group(Name="gone")
        athena.create_named_query(Name="gone", Database="default", QueryString="SELECT 1")
        qid = athena.start_query_execution(QueryString="SELECT 1")["QueryExecutionId"]
        assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"
        with urllib.request.urlopen(urllib.request.Request(own.url + "/_minerva/reset", method="POST")) as r:
            assert r.status == 200
            counts = json.loads(r.read())
        assert counts == {"buckets": 2, "queries": 1}, counts
        # As new: the results bucket and the default database, nothing else.
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["aws-athena-query-results-000000000000-us-east-1"]
        assert s3.list_objects_v2(Bucket="aws-athena-query-results-000000000000-us-east-1")["KeyCount"] == 0
        assert [d["Name"] for d in glue.get_databases()["DatabaseList"]] == ["default"]
        assert athena.list_query_executions()["QueryExecutionIds"] == []
        assert [w["Name"] for w in athena.list_work_groups()["WorkGroups"]] == ["primary"]
        assert athena.list_named_queries()["NamedQueryIds"] == []
        # And it goes on serving.
        s3.create_bucket(Bucket="versioned")
        qid = athena.start_query_execution(QueryString="SELECT 2")["QueryExecutionId"]
        assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"
    finally:
        assert own.stop() == 0
