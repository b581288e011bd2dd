"""Crawler benchmark: crawl 10,000 small CSV files in 100 Hive partitions and 1,000 Parquet
files, with `minerva crawl` (release build), and report time and peak memory, median of several
cold runs with min and max. As a reference measured in the same run on the same objects:
pyarrow's dataset discovery over the S3 API of the same server (it lists and reads every
Parquet footer too, but infers nothing from CSV beyond the first file).

Usage: python bench/crawler.py [--quick] [--runs N] [--out bench/results/crawler.md]
(`bench/run.sh crawler` builds the release binary and uses the test virtualenv.)
"""

import argparse
import concurrent.futures
import datetime
import io
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from botocore.config import Config

from common import free_port, summary, write_section

ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET, REGION = "bench", "bench-secret", "us-east-1"



def start_server(binary: str, data_dir: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([binary, "serve", "--address", f"127.0.0.1:{port}", "--data-dir", str(data_dir),
                             "--access-key", KEY, "--secret-key", SECRET], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_minerva/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def csv_body(p: int, f: int) -> bytes:
    out = io.StringIO()
    out.write("id,sku,qty,price,ok\n")
    for r in range(20):
        out.write(f"{p * 100_000 + f * 100 + r},SKU-{r},{r % 7},{r * 1.25:.2f},{'true' if r % 2 else 'false'}\n")
    return out.getvalue().encode()


def parquet_body(i: int) -> bytes:
    table = pa.table({"id": pa.array(range(i * 1000, i * 1000 + 1000), pa.int64()),
                      "value": pa.array([x * 0.5 for x in range(1000)], pa.float64()),
                      "label": pa.array([f"label {x % 13}" for x in range(1000)])})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def upload(port: int, partitions: int, files_per_partition: int, parquet_files: int):
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                      region_name=REGION, config=Config(max_pool_connections=32))
    s3.create_bucket(Bucket="bench")
    jobs = [(f"csv/dt={p:03}/part-{f:03}.csv", csv_body(p, f)) for p in range(partitions) for f in range(files_per_partition)]
    jobs += [(f"parquet/part={i % 10}/file-{i:04}.parquet", parquet_body(i)) for i in range(parquet_files)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: s3.put_object(Bucket="bench", Key=kv[0], Body=kv[1]), jobs))
    return len(jobs)


def timed_crawl(binary: str, data_dir: Path, path: str, name: str) -> tuple[float, int, str]:
    """Wall seconds and peak RSS (KiB) of one `minerva crawl`, and its report."""
    cmd = ["/usr/bin/time", "-f", "%e %M", binary, "crawl", path, "--database", "bench", "--data-dir", str(data_dir), "--name", name]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    seconds, rss = done.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(rss), done.stdout


def pyarrow_discovery(port: int) -> float:
    fs = pafs.S3FileSystem(access_key=KEY, secret_key=SECRET, region=REGION, scheme="http", endpoint_override=f"127.0.0.1:{port}")
    started = time.perf_counter()
    ds = pads.dataset("bench/parquet", filesystem=fs, format="parquet", partitioning="hive")
    rows = sum(f.count_rows() for f in ds.get_fragments())
    elapsed = time.perf_counter() - started
    assert rows > 0
    return elapsed



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a tenth of the data and two runs")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--binary", default=str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "minerva"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "crawler.md"))
    args = ap.parse_args()
    partitions, per_partition, parquet_files = (10, 100, 100) if args.quick else (100, 100, 1000)
    runs = args.runs or (2 if args.quick else 3)
    work = Path(tempfile.mkdtemp(prefix="minerva-bench-crawler-"))
    try:
        data = work / "data"
        port = free_port()
        server = start_server(args.binary, data, port)
        started = time.perf_counter()
        objects = upload(port, partitions, per_partition, parquet_files)
        upload_s = time.perf_counter() - started
        peer = [pyarrow_discovery(port) for _ in range(runs)]
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        results = {}
        for label, path in (("csv", "s3://bench/csv/"), ("parquet", "s3://bench/parquet/")):
            cold = [timed_crawl(args.binary, data, path, f"{label}-cold-{i}") for i in range(runs)]
            warm = [timed_crawl(args.binary, data, path, f"{label}-cold-0") for _ in range(runs)]
            results[label] = (cold, warm)
            report = cold[0][2]
            assert re.search(r"\b0 objects read\b", warm[0][2]), warm[0][2]
            assert "created" in report or "updated" in report, report
        version = subprocess.run([args.binary, "--version"], capture_output=True, text=True).stdout.strip()
        lines = [
            "# Crawler benchmark",
            "",
            f"- date: {datetime.date.today()}; machine: {platform.machine()}, {os.cpu_count()} cores; {version}, release build",
            f"- data: {partitions * per_partition} CSV files (20 rows each) in {partitions} Hive partitions, "
            f"{parquet_files} Parquet files (1,000 rows each) in 10 partitions; {objects} objects uploaded in {upload_s:.1f} s",
            f"- each figure: median of {runs} runs (min – max); cold = a new crawler, warm = the same crawler again (nothing changed)",
            "",
            "| crawl | cold time (s) | warm time (s) | peak RSS (MiB) |",
            "| --- | --- | --- | --- |",
        ]
        for label, (cold, warm) in results.items():
            c, w = summary([r[0] for r in cold]), summary([r[0] for r in warm])
            m = summary([r[1] / 1024 for r in cold + warm])
            lines.append(f"| {label} | {c[0]:.2f} ({c[1]:.2f} – {c[2]:.2f}) | {w[0]:.2f} ({w[1]:.2f} – {w[2]:.2f}) | {m[2]:.1f} |")
        p = summary(peer)
        cold_parquet = summary([r[0] for r in results["parquet"][0]])[0]
        lines += [
            "",
            f"Reference in the same run: pyarrow `dataset()` discovery and row counts of the {parquet_files} Parquet files over the "
            f"S3 API of the same server: {p[0]:.2f} s ({p[1]:.2f} – {p[2]:.2f}); Minerva's cold Parquet crawl takes "
            f"{cold_parquet / p[0]:.2f}x that (it reads the same footers, and also groups, types and writes the catalog).",
            "",
        ]
        write_section(args.out, lines)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
