"""Glue crawlers through boto3 and the `minerva crawl` command: the API and its states, schema
inference on the users' raw data, re-crawls, bad input, and Athena over what was crawled."""

import csv
import io
import json
from concurrent.futures import ThreadPoolExecutor
import os
import re
import signal
import subprocess
import threading
import time

import awswrangler as wr
import boto3
import pandas as pd
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, DATA, REGION, SECRET_KEY, binary, code, unique, wait_query


def wait_ready(glue, name, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = glue.get_crawler(Name=name)["Crawler"]
        if c["State"] == "READY":
            return c
        time.sleep(0.1)  # polling the crawler's state, as Glue clients do
    raise AssertionError(f"crawler {name} did not finish")


def crawler(glue, name, database, path, **kw):
    glue.create_crawler(Name=name, Role="arn:aws:iam::000000000000:role/glue", DatabaseName=database,
                        Targets={"S3Targets": [{"Path": path}]}, **kw)


def run(glue, name):
    glue.start_crawler(Name=name)
    return wait_ready(glue, name)


def athena_rows(athena, sql, database):
    qid = athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": database})["QueryExecutionId"]
    q = wait_query(athena, qid)
    assert q["Status"]["State"] == "SUCCEEDED", q["Status"]
    pages = athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid)
    rows = [[d.get("VarCharValue") for d in r["Data"]] for p in pages for r in p["ResultSet"]["Rows"]]
    return rows[1:]


@pytest.fixture
def setup(server, s3, glue):
    bucket = unique("crawl")
    s3.create_bucket(Bucket=bucket)
    db = unique("crawled").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    return bucket, db


def test_the_raw_review_file_crawls_and_queries_whole(server, s3, glue, athena, setup):
    bucket, db = setup
    s3.upload_file(str(DATA), bucket, "reviews/womens_clothing_ecommerce_reviews.csv")
    crawler(glue, "reviews-crawler", db, f"s3://{bucket}/reviews/")
    last = run(glue, "reviews-crawler")["LastCrawl"]
    assert last["Status"] == "SUCCEEDED", last
    table = glue.get_table(DatabaseName=db, Name="reviews")["Table"]
    sd = table["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.serde2.OpenCSVSerde"
    assert table["Parameters"]["classification"] == "csv"
    assert table["Parameters"]["skip.header.line.count"] == "1"
    assert table["Parameters"]["areColumnsQuoted"] == "true"
    types = {c["Name"]: c["Type"] for c in sd["Columns"]}
    assert types["clothing id"] == "bigint" and types["rating"] == "bigint" and types["review text"] == "string"
    # Records, not lines: reviews hold newlines inside quotes.
    assert athena_rows(athena, "SELECT COUNT(*) FROM reviews", db) == [["23486"]]
    session = boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION)
    for service in ("s3", "athena", "glue", "sts"):
        setattr(wr.config, f"{service}_endpoint_url", server.url)
    # Every text column, row by row (col1 is the file's unnamed row number). OpenCSVSerDe reads
    # an empty field as an empty string, never NULL: a NULL must not pass for "".
    text = {"title": "Title", "review text": "Review Text", "division name": "Division Name",
            "department name": "Department Name", "class name": "Class Name"}
    selected = ", ".join(f'"{c}"' for c in text)
    got = wr.athena.read_sql_query(f"SELECT col1, {selected} FROM reviews", database=db, ctas_approach=True, boto3_session=session)
    assert len(got) == 23486
    got = got.sort_values("col1").reset_index(drop=True)
    raw = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    assert got["col1"].astype(int).tolist() == raw.iloc[:, 0].astype(int).tolist()
    for column, source in text.items():
        have = [None if pd.isna(v) else v for v in got[column].tolist()]
        want = raw[source].tolist()
        assert None not in have, f"{column}: {have.count(None)} empty fields came back as NULL"
        mismatches = [(i, h, w) for i, (h, w) in enumerate(zip(have, want)) if h != w]
        assert not mismatches, f"{column}: {len(mismatches)} values differ, first {mismatches[:3]}"
    assert (raw["Title"] == "").sum() == 3810, "the file has empty titles: the comparison above covers them"
    assert athena_rows(athena, "SELECT COUNT(*) FROM reviews WHERE \"review text\" LIKE '%' || chr(10) || '%'", db)[0][0] != "0"


def test_exclusions_and_sample_size(server, s3, glue, setup):
    bucket, db = setup
    for day in range(3):
        s3.put_object(Bucket=bucket, Key=f"orders/day={day}/a.json", Body=b'{"id": 1, "total": 2.5}\n')
        s3.put_object(Bucket=bucket, Key=f"orders/day={day}/b.json", Body=b'{"id": 2, "total": 3.5}\n')
    # Read only when every file is sampled: its folder's first file stands for it otherwise.
    s3.put_object(Bucket=bucket, Key="orders/day=0/c.json", Body=b"{not json at all\n")
    # Excluded: without the exclusions these would make the folders separate tables.
    s3.put_object(Bucket=bucket, Key="orders/day=1/scratch.tmp", Body=b"scratch, not data")
    s3.put_object(Bucket=bucket, Key="orders/tmp/x.json", Body=b'{"other": true, "kind": "x", "n": 1}\n')
    exclusions = ["**.tmp", "tmp/**"]
    name = unique("shaped-crawler")
    glue.create_crawler(Name=name, Role="arn:aws:iam::000000000000:role/glue", DatabaseName=db, TablePrefix="s_",
                        Targets={"S3Targets": [{"Path": f"s3://{bucket}/orders/", "Exclusions": exclusions, "SampleSize": 1}]})
    target = glue.get_crawler(Name=name)["Crawler"]["Targets"]["S3Targets"][0]
    assert (target["Exclusions"], target["SampleSize"]) == (exclusions, 1)
    skipped = lambda: re.findall(rf"crawl skipped a file.*s3://{bucket}/(\S+)", server.log_path.read_text())

    assert run(glue, name)["LastCrawl"]["Status"] == "SUCCEEDED"
    assert [t["Name"] for t in glue.get_tables(DatabaseName=db)["TableList"]] == ["s_orders"]
    table = glue.get_table(DatabaseName=db, Name="s_orders")["Table"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["day"]
    assert table["Parameters"]["objectCount"] == "7", "unsampled files count; excluded ones do not"
    assert sorted(p["Values"] for p in glue.get_partitions(DatabaseName=db, TableName="s_orders")["Partitions"]) == [["0"], ["1"], ["2"]]
    assert skipped() == [], "one file a folder was read: the broken one was not"

    # Without SampleSize every file is read, and the broken one is named; the exclusions hold.
    glue.update_crawler(Name=name, Targets={"S3Targets": [{"Path": f"s3://{bucket}/orders/", "Exclusions": exclusions}]})
    assert "SampleSize" not in glue.get_crawler(Name=name)["Crawler"]["Targets"]["S3Targets"][0]
    assert run(glue, name)["LastCrawl"]["Status"] == "SUCCEEDED"
    assert skipped() == ["orders/day=0/c.json"]
    assert glue.get_table(DatabaseName=db, Name="s_orders")["Table"]["Parameters"]["objectCount"] == "6"
    assert [t["Name"] for t in glue.get_tables(DatabaseName=db)["TableList"]] == ["s_orders"]


def test_crawler_api_states_and_metrics(server, s3, setup):
    bucket, db = setup
    glue = server.client("glue", parameter_validation=False)
    # Enough files that the crawl is still running through the five calls below, with a wide
    # margin (catalog/tests/runs.rs holds a read to show STOPPING for certain).
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"many/part-{i:04}.json", Body=json.dumps({"i": i, "v": "x"}).encode()), range(2000)))
    name = unique("api-crawler")
    with pytest.raises(ClientError) as e:
        glue.create_crawler(Name=name, DatabaseName=db, Targets={"S3Targets": [{"Path": "not-s3"}]}, Role="r")
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        glue.create_crawler(Name=name, Role="r", Targets={"S3Targets": [{"Path": f"s3://{bucket}/many/"}]}, Configuration="{not json")
    assert code(e) == "InvalidInputException"
    crawler(glue, name, db, f"s3://{bucket}/many/", Schedule="cron(0 * * * ? *)", TablePrefix="raw_",
            SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DELETE_FROM_DATABASE"},
            Configuration=json.dumps({"Version": 1.0, "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"}}))
    with pytest.raises(ClientError) as e:
        crawler(glue, name, db, f"s3://{bucket}/many/")
    assert code(e) == "AlreadyExistsException"
    c = glue.get_crawler(Name=name)["Crawler"]
    assert c["State"] == "READY" and c["TablePrefix"] == "raw_" and c["Schedule"]["ScheduleExpression"] == "cron(0 * * * ? *)"
    assert c["SchemaChangePolicy"] == {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DELETE_FROM_DATABASE"}
    assert name in glue.list_crawlers()["CrawlerNames"]
    assert name in [x["Name"] for x in glue.get_crawlers()["Crawlers"]]
    batch = glue.batch_get_crawlers(CrawlerNames=[name, "ghost"])
    assert [x["Name"] for x in batch["Crawlers"]] == [name] and batch["CrawlersNotFound"] == ["ghost"]
    glue.update_crawler(Name=name, Description="updated")
    assert glue.get_crawler(Name=name)["Crawler"]["Description"] == "updated"
    with pytest.raises(ClientError) as e:
        glue.stop_crawler(Name=name)
    assert code(e) == "CrawlerNotRunningException"

    glue.start_crawler(Name=name)
    assert glue.get_crawler(Name=name)["Crawler"]["State"] == "RUNNING"
    for call in (lambda: glue.start_crawler(Name=name), lambda: glue.delete_crawler(Name=name),
                 lambda: glue.update_crawler(Name=name, Description="x")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "CrawlerRunningException"
    glue.stop_crawler(Name=name)
    assert glue.get_crawler(Name=name)["Crawler"]["State"] in ("STOPPING", "READY")
    last = wait_ready(glue, name)["LastCrawl"]
    assert last["Status"] == "CANCELLED"

    last = run(glue, name)["LastCrawl"]
    assert last["Status"] == "SUCCEEDED"
    assert [t["Name"] for t in glue.get_tables(DatabaseName=db)["TableList"]] == ["raw_many"]
    metrics = glue.get_crawler_metrics(CrawlerNameList=[name])["CrawlerMetricsList"][0]
    assert metrics["CrawlerName"] == name and metrics["TablesCreated"] == 1 and metrics["LastRuntimeSeconds"] >= 0
    assert metrics["StillEstimating"] is False
    glue.delete_crawler(Name=name)
    with pytest.raises(ClientError) as e:
        glue.get_crawler(Name=name)
    assert code(e) == "EntityNotFoundException"


def test_partitions_recrawls_and_bad_input(server, s3, glue, athena, setup):
    bucket, db = setup
    for y, m in [(2023, 12), (2024, 1)]:
        s3.put_object(Bucket=bucket, Key=f"events/year={y}/month={m}/part.json",
                      Body=b'{"id": 1, "kind": "click", "props": {"x": 1.5}}\n{"id": 2, "kind": "view", "props": {"y": true}}\n')
    s3.put_object(Bucket=bucket, Key="events/year=2024/month=1/broken.json", Body=b'{"id": 3}\n{oops\n')
    s3.put_object(Bucket=bucket, Key="events/year=2024/month=1/fake.parquet", Body=b"garbage that only pretends")
    name = unique("events-crawler")
    crawler(glue, name, db, f"s3://{bucket}/events/")
    assert run(glue, name)["LastCrawl"]["Status"] == "SUCCEEDED"
    table = glue.get_table(DatabaseName=db, Name="events")["Table"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["year", "month"]
    assert [c["Type"] for c in table["StorageDescriptor"]["Columns"]] == ["bigint", "string", "struct<x:double,y:boolean>"]
    assert table["Parameters"]["UPDATED_BY_CRAWLER"] == name
    assert sorted(p["Values"] for p in glue.get_partitions(DatabaseName=db, TableName="events")["Partitions"]) == [["2023", "12"], ["2024", "1"]]
    log = server.log_path.read_text()
    assert re.search(r"crawl skipped a file.*broken\.json", log) and re.search(r"crawl skipped a file.*fake\.parquet", log)
    s3.delete_object(Bucket=bucket, Key="events/year=2024/month=1/broken.json")
    s3.delete_object(Bucket=bucket, Key="events/year=2024/month=1/fake.parquet")
    assert athena_rows(athena, "SELECT year, month, COUNT(*) FROM events GROUP BY 1, 2 ORDER BY 1, 2", db) == [
        ["2023", "12", "2"], ["2024", "1", "2"]]

    # A new partition with a new column: the re-crawl adds the partition and merges the column.
    s3.put_object(Bucket=bucket, Key="events/year=2024/month=2/part.json", Body=b'{"id": 9, "kind": "buy", "props": {"x": 2.0}, "price": 9.5}\n')
    assert run(glue, name)["LastCrawl"]["Status"] == "SUCCEEDED"
    table = glue.get_table(DatabaseName=db, Name="events")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["id", "kind", "props", "price"]
    assert len(glue.get_partitions(DatabaseName=db, TableName="events")["Partitions"]) == 3
    assert athena_rows(athena, "SELECT id, price FROM events WHERE month = '2'", db) == [["9", "9.5"]]
    assert glue.get_crawler_metrics(CrawlerNameList=[name])["CrawlerMetricsList"][0]["TablesUpdated"] == 1

    # A crawler whose bucket does not exist fails its run, saying why.
    lost = unique("lost-crawler")
    crawler(glue, lost, db, "s3://no-such-bucket-anywhere/data/")
    last = run(glue, lost)["LastCrawl"]
    assert last["Status"] == "FAILED" and "no-such-bucket-anywhere" in last["ErrorMessage"]


def test_grouping_and_recrawl_policies_through_the_api(server, s3, glue, setup):
    bucket, db = setup
    # The example of Glue's guide: folders whose columns differ.
    s3.put_object(Bucket=bucket, Key="table1/year=2017/data1.json", Body=b'{"a": 1, "b": 2}\n')
    s3.put_object(Bucket=bucket, Key="table1/year=2018/data2.json", Body=b'{"c": 3, "d": 4}\n')
    split = unique("split-crawler")
    crawler(glue, split, db, f"s3://{bucket}/table1/", TablePrefix="split_")
    assert run(glue, split)["LastCrawl"]["Status"] == "SUCCEEDED"
    assert sorted(t["Name"] for t in glue.get_tables(DatabaseName=db)["TableList"]) == ["split_year_2017", "split_year_2018"]

    # Glue's rule: crawling new folders only needs LOG behaviours; a refused crawler is not made.
    refused = unique("refused-crawler")
    with pytest.raises(ClientError) as e:
        crawler(glue, refused, db, f"s3://{bucket}/table1/", RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"})
    assert code(e) == "InvalidInputException"
    assert refused not in glue.list_crawlers()["CrawlerNames"]

    # Combined: one table partitioned by year with the columns of both.
    combined = unique("combined-crawler")
    crawler(glue, combined, db, f"s3://{bucket}/table1/", TablePrefix="one_",
            SchemaChangePolicy={"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"},
            RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"},
            Configuration=json.dumps({"Version": 1.0, "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"}}))
    assert glue.get_crawler(Name=combined)["Crawler"]["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}
    assert run(glue, combined)["LastCrawl"]["Status"] == "SUCCEEDED"
    table = glue.get_table(DatabaseName=db, Name="one_table1")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["a", "b", "c", "d"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["year"]

    # New folders only: a changed file in a known folder is not read; the new folder adds a
    # partition, and LOG leaves the schema as it was.
    s3.put_object(Bucket=bucket, Key="table1/year=2017/data1.json", Body=b'{"a": 1, "b": 2, "e": 5}\n')
    s3.put_object(Bucket=bucket, Key="table1/year=2019/data3.json", Body=b'{"a": 7, "f": 8}\n')
    assert run(glue, combined)["LastCrawl"]["Status"] == "SUCCEEDED"
    table = glue.get_table(DatabaseName=db, Name="one_table1")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["a", "b", "c", "d"]
    parts = glue.get_partitions(DatabaseName=db, TableName="one_table1")["Partitions"]
    assert sorted(p["Values"] for p in parts) == [["2017"], ["2018"], ["2019"]]
    # Switched back to crawling everything (with UPDATE_IN_DATABASE), the changed file is read.
    glue.update_crawler(Name=combined, RecrawlPolicy={"RecrawlBehavior": "CRAWL_EVERYTHING"},
                        SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"})
    assert run(glue, combined)["LastCrawl"]["Status"] == "SUCCEEDED"
    table = glue.get_table(DatabaseName=db, Name="one_table1")["Table"]
    assert {"e", "f"} <= {c["Name"] for c in table["StorageDescriptor"]["Columns"]}


def on_terminal(args, timeout=120):
    """Runs a command with its stderr on a pseudo-terminal and its stdout on a pipe; returns the
    exit code, what it wrote to the terminal and its stdout."""
    master, slave = os.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []

    def drain():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO once the last writer has closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        reader.join(timeout)
        os.close(master)
    return proc.returncode, b"".join(chunks).decode(), out.decode()


def test_the_crawl_command(workdir, tmp_path):
    from conftest import Server

    server = Server(workdir / "cli-crawl-data", workdir / "cli-crawl.log").start()
    s3 = server.client("s3")
    s3.create_bucket(Bucket="cli-lake")
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["id", "city", "temp"])
    for i in range(100):
        writer.writerow([i, f"city {i}", i / 2])
    for d in ("2024-01-01", "2024-01-02"):
        s3.put_object(Bucket="cli-lake", Key=f"weather/dt={d}/w.csv", Body=rows.getvalue().encode())
    s3.put_object(Bucket="cli-lake", Key="weather/dt=2024-01-02/garbage.parquet", Body=b"nope")
    # While the server holds the data directory, the command says what to do instead.
    busy = subprocess.run([binary(), "crawl", "s3://cli-lake/weather/", "--database", "cli", "--data-dir", str(server.data_dir)],
                          capture_output=True, text=True, timeout=60)
    assert busy.returncode != 0 and "StartCrawler" in busy.stderr
    held = f"another Minerva (pid {server.proc.pid}) is using the data directory {server.data_dir.resolve()}"
    assert held in busy.stderr and busy.stderr.count("another Minerva") == 1, busy.stderr
    # Run from a folder that holds no data directory, it refuses rather than make an empty one.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lost = subprocess.run([binary(), "crawl", "s3://cli-lake/weather/", "--database", "cli"], cwd=elsewhere,
                          env={k: v for k, v in os.environ.items() if k != "MINERVA_DATA_DIR"},
                          capture_output=True, text=True, timeout=60)
    assert lost.returncode != 0, lost.stderr
    assert f"{elsewhere / 'minerva-data'} holds no Minerva data" in lost.stderr, lost.stderr
    assert list(elsewhere.iterdir()) == []
    assert server.stop() == 0
    # On a terminal: a progress bar, redrawn in place (a carriage return, the line, then erase to
    # its end) through the phases, the reading one up to every object.
    code, terminal, table = on_terminal([binary(), "crawl", "s3://cli-lake/weather/", "--database", "onterm",
                                         "--data-dir", str(server.data_dir)])
    assert code == 0, terminal
    bars = re.findall(r"\r(\w+) +(?:\[([#.]{30})\] (\d+)/(\d+)|…)\x1b\[K", terminal)
    assert [b[0] for b in bars][:1] == ["listing"] and {"reading", "writing"} <= {b[0] for b in bars}, repr(terminal)
    reading = [(int(b[2]), int(b[3]), b[1]) for b in bars if b[0] == "reading"]
    assert [r[:2] for r in reading] == [(1, 3), (2, 3), (3, 3)], reading
    assert reading[-1][2] == "#" * 30 and reading[0][2].startswith("#" * 10) and reading[0][2].endswith(".")
    assert re.search(r"^weather\s+created\s+csv", table, re.M), table
    # Off a terminal: no bar at all, only the report.
    done = subprocess.run([binary(), "crawl", "s3://cli-lake/weather/", "--database", "cli", "--data-dir", str(server.data_dir)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "\x1b" not in done.stderr and "reading" not in done.stderr, repr(done.stderr)
    assert re.search(r"^weather\s+created\s+csv\s+3\s+2\s+200\s+s3://cli-lake/weather/$", done.stdout, re.M), done.stdout
    assert "skipped s3://cli-lake/weather/dt=2024-01-02/garbage.parquet" in done.stdout
    assert "created database cli" in done.stderr
    again = subprocess.run([binary(), "crawl", "s3://cli-lake/weather/", "--database", "cli", "--data-dir", str(server.data_dir)],
                           capture_output=True, text=True, timeout=120)
    assert "0 objects read, 3 unchanged" in again.stdout, again.stdout
    # A new partition: the table is updated, and only the new object read.
    server.start()
    server.client("s3").put_object(Bucket="cli-lake", Key="weather/dt=2024-01-03/w.csv", Body=rows.getvalue().encode())
    assert server.stop() == 0
    grown = subprocess.run([binary(), "crawl", "s3://cli-lake/weather/", "--database", "cli", "--data-dir", str(server.data_dir)],
                           capture_output=True, text=True, timeout=120)
    assert grown.returncode == 0, grown.stderr
    assert re.search(r"^weather\s+updated\s+csv\s", grown.stdout, re.M), grown.stdout
    assert "1 objects read, 3 unchanged" in grown.stdout, grown.stdout
    server.start()
    try:
        # Athena reads every file of a partition, as on AWS: the junk goes before the query.
        server.client("s3").delete_object(Bucket="cli-lake", Key="weather/dt=2024-01-02/garbage.parquet")
        athena = server.client("athena")
        assert athena_rows(athena, "SELECT dt, COUNT(*), MAX(temp) FROM weather GROUP BY dt ORDER BY dt", "cli") == [
            ["2024-01-01", "100", "49.5"], ["2024-01-02", "100", "49.5"], ["2024-01-03", "100", "49.5"]]
    finally:
        server.stop(signal.SIGKILL)


def test_a_crawl_that_finds_nothing_says_so(server, s3, glue, setup):
    bucket, db = setup
    crawler(glue, "finds-nothing", db, f"s3://{bucket}/empty/")
    last = run(glue, "finds-nothing")["LastCrawl"]
    assert last["Status"] == "SUCCEEDED"
    assert last["ErrorMessage"] == f"The crawl found no objects under s3://{bucket}/empty/: no table was made"
    s3.put_object(Bucket=bucket, Key="junk/a.bin", Body=b"\x00\x01\x02 not a table")
    crawler(glue, "finds-junk", db, f"s3://{bucket}/junk/")
    last = run(glue, "finds-junk")["LastCrawl"]
    assert last["Status"] == "SUCCEEDED" and last["ErrorMessage"].startswith(
        f"The crawl could not classify any of the 1 objects under s3://{bucket}/junk/, so no table was made (the first, s3://{bucket}/junk/a.bin: "), last
    assert glue.get_tables(DatabaseName=db)["TableList"] == []
    # Once it finds a table, the message is gone.
    s3.put_object(Bucket=bucket, Key="empty/t/a.csv", Body=b"a,b\n1,2\n")
    assert "ErrorMessage" not in run(glue, "finds-nothing")["LastCrawl"]
