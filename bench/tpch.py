"""TPC-H benchmark: the 22 queries submitted through Minerva's Athena API (start, poll, fetch
every result page) over Parquet and CSV tables in its catalog, against in-process DataFusion
(Python bindings, the same major version) and DuckDB on the same files. Reports per-query times
(median of several runs, min and max), geometric means, the Athena path's overhead over
in-process DataFusion, peak memory, and checks every answer against DuckDB's.

Usage: python bench/tpch.py [--quick] [--scale 1] [--runs N] [--formats parquet,csv] --binary PATH
(`bench/run.sh tpch` builds the release binary and uses the benchmark virtualenv.)
"""

import argparse
import datetime
import decimal
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import pyarrow.parquet as pq
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from common import free_port, summary, write_section

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT.parent / "shared" / "bench" / "tpch-queries"
TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]
KEY, SECRET, REGION = "bench", "bench-secret", "us-east-1"



def hive_type(t) -> str:
    import pyarrow as pa
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_int32(t):
        return "int"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_date32(t):
        return "date"
    if pa.types.is_floating(t):
        return "double"
    return "string"


def generate(data: Path, scale: float, formats: list, tpchgen: str = ""):
    tpchgen = tpchgen or Path(sys.executable).parent / "tpchgen-cli"
    for fmt in formats:
        out = data / fmt
        if (out / ".complete").exists():
            continue
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        subprocess.run([str(tpchgen), fmt, "-s", str(scale), f"--output-dir={out}"], check=True)
        (out / ".complete").touch()


def start_server(binary: str, data_dir: Path, port: int, log) -> subprocess.Popen:
    proc = subprocess.Popen([binary, "serve", "--address", f"127.0.0.1:{port}", "--data-dir", str(data_dir),
                             "--access-key", KEY, "--secret-key", SECRET,
                             "--query-memory-mb", "12288", "--query-limit-mb", "8192", "--max-queries", "1"],
                            stdout=log, stderr=log)
    for _ in range(400):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_minerva/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def athena_run(athena, sql: str, database: str):
    """One query through the Athena API; its wall time and rows (strings, header dropped)."""
    started = time.perf_counter()
    qid = athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": database})["QueryExecutionId"]
    while True:
        q = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        state = q["Status"]["State"]
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.005)
    if state != "SUCCEEDED":
        raise RuntimeError(f"{state}: {q['Status'].get('StateChangeReason')}")
    rows = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid):
        rows += [[d.get("VarCharValue") for d in r["Data"]] for r in page["ResultSet"]["Rows"]]
    return time.perf_counter() - started, rows[1:]


PEER = r"""
import json, sys, time, os
engine, fmt, data, runs, queries = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5])
tables = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]
# CSV is read with the columns' types of the Parquet files, which Minerva's tables declare
# (decimal(15,2) prices, dates), not with types inferred from the text (doubles), so that every
# engine does the same arithmetic.
import pyarrow as pa, pyarrow.parquet as pq
schemas = {t: pq.read_schema(f"{data}/../parquet/{t}.parquet") for t in tables}
def duck_type(t):
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    return {"int64": "BIGINT", "int32": "INTEGER", "date32[day]": "DATE", "double": "DOUBLE"}.get(str(t), "VARCHAR")
if engine == "datafusion":
    import datafusion
    ctx = datafusion.SessionContext()
    for t in tables:
        if fmt == "parquet":
            ctx.register_parquet(t, f"{data}/{t}.parquet")
        else:
            ctx.register_csv(t, f"{data}/{t}.csv", schema=schemas[t], has_header=True)
    def run(sql):
        return [list(map(str, r.values())) for b in ctx.sql(sql).collect() for r in b.to_pylist()]
else:
    import duckdb
    con = duckdb.connect()
    # Its progress bar goes to stdout, before the result line, once a query takes long enough.
    con.execute("SET enable_progress_bar = false")
    for t in tables:
        columns = "{" + ", ".join(f"'{f.name}': '{duck_type(f.type)}'" for f in schemas[t]) + "}"
        reader = f"read_parquet('{data}/{t}.parquet')" if fmt == "parquet" else f"read_csv('{data}/{t}.csv', header=true, columns={columns})"
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM {reader}")
    def run(sql):
        return [list(map(str, r)) for r in con.execute(sql).fetchall()]
out = {}
for name, sql in queries.items():
    times, rows = [], None
    for _ in range(runs):
        t = time.perf_counter()
        rows = run(sql)
        times.append(time.perf_counter() - t)
    out[name] = {"times": times, "rows": rows}
print("RESULT " + json.dumps(out))
"""


def run_peer(engine: str, fmt: str, data: Path, runs: int, queries: dict):
    """Runs a peer in a child process: its results, and its peak memory (KiB)."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", PEER, engine, fmt, str(data), str(runs), json.dumps(queries)],
                                stdout=subprocess.PIPE, stderr=err, text=True)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        said = err.read()[-2000:]
    # Only the marked text: an engine may print notices of its own.
    result = next((line[line.index("RESULT "):] for line in out.splitlines() if "RESULT " in line), None)
    if proc.returncode != 0 or result is None:
        raise RuntimeError(f"{engine} over {fmt} failed (exit {proc.returncode}, {len(out)} bytes out): {said}")
    return json.loads(result[len("RESULT "):]), usage.ru_maxrss


def normal(v):
    """A value for comparing answers: numbers to 2 decimals, the rest as text."""
    if v is None or v == "None":
        return None
    try:
        return round(float(decimal.Decimal(v)), 2)
    except (decimal.InvalidOperation, ValueError):
        return v.strip()


def same_answer(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b):
        if len(ra) != len(rb):
            return False
        for x, y in zip(ra, rb):
            x, y = normal(x), normal(y)
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-6, abs_tol=0.011):
                    return False
            elif x != y:
                return False
    return True



def geomean(values):
    return math.exp(sum(math.log(max(v, 1e-6)) for v in values) / len(values))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="scale factor 0.1, two runs")
    ap.add_argument("--scale", type=float, default=None)
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--formats", default="parquet,csv")
    ap.add_argument("--binary", required=True)
    ap.add_argument("--profile", default="dist", help="the cargo profile the binary was built with, for the report")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "tpch.md"))
    args = ap.parse_args()
    scale = args.scale or (0.1 if args.quick else 1)
    runs = args.runs or (2 if args.quick else 3)
    formats = args.formats.split(",")
    queries = {p.stem: p.read_text() for p in sorted(QUERIES.glob("q*.sql"), key=lambda p: int(p.stem[1:]))}
    data = Path.home() / ".cache" / "minerva" / "bench-data" / f"tpch-sf{scale}"
    generate(data, scale, sorted(set(formats) | {"parquet"}))
    work = Path(tempfile.mkdtemp(prefix="minerva-bench-tpch-"))
    port = free_port()
    log = open(work / "server.log", "wb")
    server = start_server(args.binary, work / "data", port, log)
    cfg = Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=16)
    client = lambda s: boto3.client(s, endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION, config=cfg)
    s3, athena = client("s3"), client("athena")
    results = {}
    try:
        s3.create_bucket(Bucket="tpch")
        for fmt in formats:
            db = f"tpch_{fmt}"
            athena_run(athena, f"CREATE DATABASE {db}", "default")
            for t in TABLES:
                path = data / fmt / f"{t}.{fmt}"
                s3.upload_file(str(path), "tpch", f"{fmt}/{t}/{path.name}", Config=TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20))
                schema = pq.read_schema(data / "parquet" / f"{t}.parquet")
                columns = ", ".join(f"{f.name} {hive_type(f.type)}" for f in schema)
                if fmt == "parquet":
                    ddl = f"CREATE EXTERNAL TABLE {db}.{t} ({columns}) STORED AS PARQUET LOCATION 's3://tpch/{fmt}/{t}/'"
                else:
                    ddl = (f"CREATE EXTERNAL TABLE {db}.{t} ({columns}) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' "
                           f"LOCATION 's3://tpch/{fmt}/{t}/' TBLPROPERTIES ('skip.header.line.count'='1')")
                athena_run(athena, ddl, db)
            mine = {}
            for name, sql in queries.items():
                times, rows = [], None
                for _ in range(runs):
                    t, rows = athena_run(athena, sql, db)
                    times.append(t)
                mine[name] = {"times": times, "rows": rows}
            peers = {}
            for engine in ("datafusion", "duckdb"):
                peers[engine] = run_peer(engine, fmt, data / fmt, runs, queries)
            results[fmt] = (mine, peers)
        server_rss = peak_rss_kib(server.pid)
        version = subprocess.run([args.binary, "--version"], capture_output=True, text=True).stdout.strip()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)

    import datafusion
    import duckdb
    lines = [
        "# TPC-H through the Athena API",
        "",
        f"- date: {datetime.date.today()}; machine: {platform.machine()}, {os.cpu_count()} cores; {version} (`{args.profile}` build); "
        f"peers in process: DataFusion {datafusion.__version__} (Python), DuckDB {duckdb.__version__}",
        f"- data: TPC-H scale factor {scale} from tpchgen-cli, as Parquet and as CSV (header, quoted comments); Minerva reads it "
        "from its own S3 through catalog tables; the peers read the same files from disk, CSV with the column types of the "
        "catalog's tables (those of the Parquet files: decimal(15,2), date), not types inferred from the text",
        f"- each time: median of {runs} runs (min – max), in seconds; Minerva's is the whole Athena path "
        "(StartQueryExecution, polling GetQueryExecution every 5 ms, every GetQueryResults page)",
        f"- peak memory: Minerva's server {server_rss / 1024:.0f} MiB over the whole run",
        "",
    ]
    for fmt, (mine, peers) in results.items():
        df, df_rss = peers["datafusion"]
        duck, duck_rss = peers["duckdb"]
        lines += [f"## {fmt.upper()}", "", "| query | Minerva (Athena API) | DataFusion | DuckDB | Minerva / DataFusion | answer = DuckDB's |",
                  "| --- | --- | --- | --- | --- | --- |"]
        ratios, matched = [], 0
        m_all, d_all, k_all = [], [], []
        for name in queries:
            m, d, k = summary(mine[name]["times"]), summary(df[name]["times"]), summary(duck[name]["times"])
            ok = same_answer(mine[name]["rows"], duck[name]["rows"])
            matched += ok
            ratios.append(m[0] / d[0])
            m_all.append(m[0])
            d_all.append(d[0])
            k_all.append(k[0])
            lines.append(f"| {name} | {m[0]:.3f} ({m[1]:.3f} – {m[2]:.3f}) | {d[0]:.3f} ({d[1]:.3f} – {d[2]:.3f}) | "
                         f"{k[0]:.3f} ({k[1]:.3f} – {k[2]:.3f}) | {m[0] / d[0]:.2f} | {'yes' if ok else 'NO'} |")
        gm, gd, gk = geomean(m_all), geomean(d_all), geomean(k_all)
        lines += [f"| geometric mean | {gm:.3f} | {gd:.3f} | {gk:.3f} | {gm / gd:.2f} | {matched}/{len(queries)} |", "",
                  f"Athena-path overhead over in-process DataFusion (geometric mean): {100 * (gm / gd - 1):+.0f}% (target: at most +10%). "
                  f"Peak memory of the peers' processes: DataFusion {df_rss / 1024:.0f} MiB, DuckDB {duck_rss / 1024:.0f} MiB.", ""]
    write_section(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
