"""Result delivery (issue 19): the rows of a 1,000,000-row query result fetched through
GetQueryResults, a page of 1,000 rows at a time as pyathena's cursor pages them, against reading
the same result file from S3 directly (GetObject and Python's CSV reader), in the same run.

Four readers of the same result, every one ending with the rows as lists of strings:
- `GetQueryResults, raw`: signed HTTP GETs of the REST-JSON binding on one connection, each
  page's JSON decoded with `json.loads`: what the server costs to deliver the rows;
- `GetQueryResults, boto3`: boto3's paginator, as the TPC-H benchmark and most scripts read
  results (botocore turns each page into dicts, shape by shape);
- `pyathena fetchall`: pyathena's default cursor (pages of 1,000 rows, values converted to
  Python types);
- `GetObject + csv`: the result file read from Minerva's S3 with boto3 and parsed by `csv`.

Usage: python bench/delivery.py [--quick] [--runs N] --binary PATH
"""

import argparse
import csv
import datetime
import http.client
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import boto3
import pyathena
from boto3.s3.transfer import TransferConfig
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from common import free_port, summary, write_section
from tpch import KEY, REGION, SECRET, athena_run, generate, start_server

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = "l_orderkey, l_linenumber, l_extendedprice, l_shipdate, l_comment"


def raw_pages(port: int, qid: str, page_rows: int) -> list:
    """Every page of GetQueryResults by signed GETs on one keep-alive connection."""
    creds = Credentials(KEY, SECRET)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    rows, token, pages = [], None, 0
    while True:
        query = {"MaxResults": str(page_rows)}
        if token:
            query["NextToken"] = token
        target = f"/query-executions/{qid}/results?{urllib.parse.urlencode(query)}"
        request = AWSRequest(method="GET", url=f"http://127.0.0.1:{port}{target}")
        SigV4Auth(creds, "athena", REGION).add_auth(request)
        conn.request("GET", target, headers=dict(request.headers))
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GetQueryResults: {response.status} {body[:200]!r}")
        page = json.loads(body)
        rows += [[d.get("VarCharValue") for d in r["Data"]] for r in page["ResultSet"]["Rows"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    conn.close()
    return rows[1:], pages


def boto3_pages(athena, qid: str, page_rows: int) -> list:
    rows = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid, PaginationConfig={"PageSize": page_rows}):
        rows += [[d.get("VarCharValue") for d in r["Data"]] for r in page["ResultSet"]["Rows"]]
    return rows[1:]


def s3_csv(s3, location: str) -> list:
    bucket, key = location[len("s3://"):].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    return rows[1:], len(body)


def timed(f):
    started = time.perf_counter()
    out = f()
    return time.perf_counter() - started, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100,000 rows, two runs")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--profile", default="dist", help="the cargo profile the binary was built with, for the report")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "delivery.md"))
    args = ap.parse_args()
    wanted = args.rows or (100_000 if args.quick else 1_000_000)
    runs = args.runs or (2 if args.quick else 3)
    scale = 0.1 if wanted <= 500_000 else 1
    data = Path.home() / ".cache" / "minerva" / "bench-data" / f"tpch-sf{scale}"
    generate(data, scale, ["parquet"])
    work = Path(tempfile.mkdtemp(prefix="minerva-bench-delivery-"))
    port = free_port()
    log = open(work / "server.log", "wb")
    server = start_server(args.binary, work / "data", port, log)
    cfg = Config(retries={"max_attempts": 3, "mode": "standard"})
    client = lambda s: boto3.client(s, endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION, config=cfg)
    s3, athena = client("s3"), client("athena")
    times = {"raw": [], "boto3": [], "pyathena": [], "s3": []}
    try:
        s3.create_bucket(Bucket="tpch")
        s3.create_bucket(Bucket="results")
        s3.upload_file(str(data / "parquet" / "lineitem.parquet"), "tpch", "lineitem/lineitem.parquet",
                       Config=TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20))
        athena_run(athena, "CREATE DATABASE d", "default")
        athena_run(athena, "CREATE EXTERNAL TABLE d.lineitem (l_orderkey bigint, l_partkey bigint, l_suppkey bigint, "
                   "l_linenumber int, l_quantity decimal(15,2), l_extendedprice decimal(15,2), l_discount decimal(15,2), "
                   "l_tax decimal(15,2), l_returnflag string, l_linestatus string, l_shipdate date, l_commitdate date, "
                   "l_receiptdate date, l_shipinstruct string, l_shipmode string, l_comment string) "
                   "STORED AS PARQUET LOCATION 's3://tpch/lineitem/'", "d")
        sql = f"SELECT {COLUMNS} FROM lineitem LIMIT {wanted}"
        qid = athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": "d"},
                                           ResultConfiguration={"OutputLocation": "s3://results/"})["QueryExecutionId"]
        while (q := athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"])["Status"]["State"] in ("QUEUED", "RUNNING"):
            time.sleep(0.01)
        assert q["Status"]["State"] == "SUCCEEDED", q["Status"]
        location = q["ResultConfiguration"]["OutputLocation"]
        cursor = pyathena.connect(s3_staging_dir="s3://results/", region_name=REGION, schema_name="d", endpoint_url=f"http://127.0.0.1:{port}",
                                  aws_access_key_id=KEY, aws_secret_access_key=SECRET, poll_interval=0.01).cursor()
        reference, pages, size = None, 0, 0
        for _ in range(runs):
            t, (rows, size) = timed(lambda: s3_csv(s3, location))
            times["s3"].append(t)
            reference = rows
            t, (rows, pages) = timed(lambda: raw_pages(port, qid, 1000))
            times["raw"].append(t)
            assert rows == reference, "GetQueryResults (raw) differs from the result file"
            t, rows = timed(lambda: boto3_pages(athena, qid, 1000))
            times["boto3"].append(t)
            assert rows == reference, "GetQueryResults (boto3) differs from the result file"
            cursor.execute(sql)
            t, rows = timed(cursor.fetchall)
            times["pyathena"].append(t)
            assert len(rows) == len(reference), "pyathena read another number of rows"
        version = subprocess.run([args.binary, "--version"], capture_output=True, text=True).stdout.strip()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)

    s = {k: summary(v) for k, v in times.items()}
    base = s["s3"][0]
    row = lambda name, k: f"| {name} | {s[k][0]:.2f} ({s[k][1]:.2f} – {s[k][2]:.2f}) | {s[k][0] / base:.2f} |"
    lines = [
        "# Result delivery: GetQueryResults against GetObject of the result file",
        "",
        f"- date: {datetime.date.today()}; machine: {platform.machine()}, {os.cpu_count()} cores; {version} (`{args.profile}` build); "
        f"boto3 {boto3.__version__}, pyathena {pyathena.__version__}",
        f"- the result: `{sql}` over TPC-H SF{scale} lineitem (Parquet), {len(reference):,} rows, "
        f"{size / 2**20:.1f} MiB as Athena's CSV; {pages:,} pages of at most 1,000 rows",
        f"- each time: median of {runs} runs (min – max), seconds, from the first request to every row as Python "
        "strings (pyathena: its typed values); ratio to GetObject + csv of the same run",
        "",
        "| reader | time (s) | / GetObject + csv |",
        "| --- | --- | --- |",
        row("GetObject + csv (the file from S3)", "s3"),
        row("GetQueryResults, raw (signed GETs, json.loads)", "raw"),
        row("GetQueryResults, boto3 paginator", "boto3"),
        row("pyathena cursor fetchall", "pyathena"),
        "",
        f"Delivery through GetQueryResults (raw) takes {s['raw'][0] / base:.2f}x reading the file (target: at most 1.5x).",
        "",
    ]
    write_section(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
