"""Product-review benchmark: the users' notebook end to end through awswrangler against Minerva
(upload, catalog, the three queries of the walking skeleton with `ctas_approach` True and False),
against DuckDB and pandas answering the same queries in process from the same CSV file. Every
answer is checked against pandas'. Median of several runs (min – max).

Usage: python bench/reviews.py [--quick] --binary PATH [--out bench/results/reviews.md]
"""

import argparse
import datetime
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import awswrangler as wr
import boto3
import duckdb
import pandas as pd

from common import free_port, write_section

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "womens_clothing_ecommerce_reviews.csv"
KEY, SECRET, REGION = "bench", "bench-secret", "us-east-1"
QUERIES = {
    "counts per sentiment": "SELECT sentiment, COUNT(*) AS n FROM reviews GROUP BY sentiment ORDER BY sentiment",
    "count and average sentiment per category": (
        "SELECT product_category, COUNT(*) AS n, AVG(sentiment) AS avg_sentiment FROM reviews GROUP BY product_category ORDER BY product_category"
    ),
    "words per review": "SELECT CARDINALITY(SPLIT(review_body, ' ')) AS words, COUNT(*) AS n FROM reviews GROUP BY 1 ORDER BY 1",
}


def prepare(path: Path) -> pd.DataFrame:
    """The preparation step of ../shared/data/README.md (as in tests/test_product_reviews.py)."""
    df = pd.read_csv(DATA)
    df = df[["Review Text", "Rating", "Class Name"]].rename(columns={"Review Text": "review_body", "Rating": "star_rating", "Class Name": "product_category"})
    df = df.dropna()
    df["sentiment"] = df["star_rating"].map({1: -1, 2: -1, 3: 0, 4: 1, 5: 1})
    counts = df["product_category"].value_counts()
    df = df[df["product_category"].isin(counts[counts > 10].index)]
    df = df[["sentiment", "review_body", "product_category"]].reset_index(drop=True)
    df.to_csv(path, index=False)
    return df


def pandas_answer(name: str, df: pd.DataFrame) -> list:
    if name == "counts per sentiment":
        g = df.groupby("sentiment").size()
        return [[k, v] for k, v in g.items()]
    if name == "count and average sentiment per category":
        g = df.groupby("product_category")["sentiment"].agg(["size", "mean"])
        return [[k, r["size"], round(r["mean"], 6)] for k, r in g.iterrows()]
    words = df["review_body"].str.split(" ").str.len()
    g = words.value_counts().sort_index()
    return [[k, v] for k, v in g.items()]


def rows(frame: pd.DataFrame) -> list:
    out = []
    for r in frame.itertuples(index=False):
        out.append([round(float(v), 6) if isinstance(v, float) else (int(v) if hasattr(v, "__int__") and not isinstance(v, str) else v) for v in r])
    return out



def timed(fn, runs):
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return times, result


def fmt(values):
    return f"{statistics.median(values):.3f} ({min(values):.3f} – {max(values):.3f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "reviews.md"))
    args = ap.parse_args()
    runs = args.runs or (3 if args.quick else 7)
    work = Path(tempfile.mkdtemp(prefix="minerva-bench-reviews-"))
    csv_path = work / "reviews.csv"
    df = prepare(csv_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([args.binary, "serve", "--address", f"127.0.0.1:{port}", "--data-dir", str(work / "data"), "--access-key", KEY,
                               "--secret-key", SECRET], stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "wb"))
    table = {}
    try:
        for _ in range(400):
            try:
                urllib.request.urlopen(url + "/_minerva/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        for service in ("s3", "athena", "glue", "sts"):
            setattr(wr.config, f"{service}_endpoint_url", url)
        session = boto3.Session(aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION)
        t = time.perf_counter()
        session.client("s3", endpoint_url=url).create_bucket(Bucket="lake")
        wr.s3.upload(str(csv_path), "s3://lake/reviews/reviews.csv", boto3_session=session)
        wr.catalog.create_database("shop", exist_ok=True, boto3_session=session)
        wr.catalog.create_csv_table(database="shop", table="reviews", path="s3://lake/reviews/",
                                    columns_types={"sentiment": "int", "review_body": "string", "product_category": "string"},
                                    skip_header_line_count=1, sep=",", boto3_session=session)
        setup = time.perf_counter() - t
        con = duckdb.connect()
        con.execute(f"CREATE VIEW reviews AS SELECT * FROM read_csv('{csv_path}', header=true)")
        checked = 0
        for name, sql in QUERIES.items():
            want = pandas_answer(name, df)
            for ctas in (True, False):
                times, got = timed(lambda: wr.athena.read_sql_query(sql, database="shop", ctas_approach=ctas, athena_query_wait_polling_delay=0.01, boto3_session=session), runs)
                assert rows(got) == want, f"{name} (ctas={ctas}) differs from pandas: {rows(got)[:5]} vs {want[:5]}"
                checked += 1
                table[(name, "ctas" if ctas else "plain")] = times
            duck_sql = sql.replace("CARDINALITY(SPLIT(review_body, ' '))", "len(string_split(review_body, ' '))")
            table[(name, "duckdb")], got = timed(lambda: con.execute(duck_sql).df(), runs)
            assert rows(got) == want, f"{name}: DuckDB differs from pandas"
            table[(name, "pandas")], _ = timed(lambda: pandas_answer(name, pd.read_csv(csv_path)), runs)
        version = subprocess.run([args.binary, "--version"], capture_output=True, text=True).stdout.strip()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)

    med = statistics.median
    lines = [
        "# Product reviews through awswrangler",
        "",
        f"- date: {datetime.date.today()}; machine: {platform.machine()}, {os.cpu_count()} cores; {version} (release); awswrangler {wr.__version__}, "
        f"DuckDB {duckdb.__version__}, pandas {pd.__version__}",
        f"- data: `womens_clothing_ecommerce_reviews.csv` prepared as the walking skeleton does ({len(df):,} rows, "
        f"{csv_path.name} of {os.path.getsize(DATA) / 2**20:.1f} MiB raw); upload, database and table through awswrangler took {setup:.2f} s",
        f"- each time: median of {runs} runs (min – max), seconds; Minerva's is `wr.athena.read_sql_query` whole (start, poll, read "
        "the result; with CTAS: a Parquet table written, read and dropped); DuckDB and pandas (read_csv + groupby) answer in process "
        f"from the same file; {checked} Minerva answers and 3 DuckDB answers checked equal to pandas'",
        "",
        "| query | Minerva, CTAS | Minerva, plain | DuckDB | pandas | Minerva plain / DuckDB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in QUERIES:
        c, p, d, pd_ = (table[(name, k)] for k in ("ctas", "plain", "duckdb", "pandas"))
        lines.append(f"| {name} | {fmt(c)} | {fmt(p)} | {fmt(d)} | {fmt(pd_)} | {med(p) / med(d):.1f}x |")
    lines += ["", "awswrangler polls GetQueryExecution every second by default; here every 10 ms (`athena_query_wait_polling_delay=0.01`), "
              "so that the times are the server's and not the client's sleep.", ""]
    write_section(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
