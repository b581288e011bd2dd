"""Iceberg benchmark (issue 18): Minerva's Iceberg tables against the same data as Hive Parquet
tables, and against the other Iceberg engines doing the same where they can.

1. TPC-H read: the 22 queries through the Athena API over Hive Parquet tables and over Iceberg
   tables made from them by CTAS (the same rows), and DuckDB (its iceberg extension over Minerva's
   S3) reading the same Parquet files and the same Iceberg tables. Each engine's Iceberg / Parquet
   ratio is the figure; every answer is checked against DuckDB's over the Parquet files.
2. MERGE INTO an Iceberg copy of lineitem of 1% of its rows (every line of the orders whose key is
   1 modulo 100, quantity changed), as Athena writes it (position deletes and new rows); the peer
   is pyiceberg making the same change into another copy through the same Glue catalog, as it
   can: copy-on-write, an `overwrite` filtered on those orders' keys.
3. 100 small INSERTs (1% of orders each) into an Iceberg table, then OPTIMIZE ... BIN_PACK: the
   inserts' time against pyiceberg appending the same 100 slices to a table of its own, and a scan
   of the table before and after the OPTIMIZE, by Minerva and by DuckDB (pyiceberg has no
   compaction to compare with).

Peak memory is the server's high-water mark over each step (reset through /proc/PID/clear_refs).

Usage: python bench/iceberg.py [--quick] [--scale 1] [--runs N] --binary PATH --tpchgen PATH
(`bench/run.sh iceberg` runs it with the Iceberg test virtualenv: pyiceberg, DuckDB and its
iceberg extension.)
"""

import argparse
import datetime
import importlib
import json
import os
import pathlib
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import pyarrow.parquet as pq
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from common import free_port, summary, write_section
from tpch import KEY, QUERIES, REGION, SECRET, TABLES, athena_run, generate, geomean, hive_type, same_answer, start_server

ROOT = Path(__file__).resolve().parent.parent


def status_mib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def reset_peak(pid: int) -> float:
    """Starts a new high-water mark of the process's resident memory; what it holds now (memory
    the allocator kept from earlier steps counts until it is reused)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return status_mib(pid, "VmRSS")


def peak_mib(pid: int) -> float:
    return status_mib(pid, "VmHWM")


def duckdb_connection(port: int):
    """DuckDB with its httpfs, avro and iceberg extensions from the package registry, its S3
    pointed at Minerva."""
    import duckdb
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    for name in ("httpfs", "avro", "iceberg"):
        package = pathlib.Path(importlib.import_module(f"duckdb_extension_{name}").__file__).parent
        (path,) = package.glob(f"extensions/*/{name}.duckdb_extension")
        con.execute(f"LOAD '{path}'")
    con.execute(f"CREATE SECRET minerva (TYPE s3, KEY_ID '{KEY}', SECRET '{SECRET}', ENDPOINT '127.0.0.1:{port}', "
                "URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')")
    return con


def pyiceberg_catalog(port: int):
    from pyiceberg.catalog import load_catalog
    url = f"http://127.0.0.1:{port}"
    return load_catalog("minerva", **{
        "type": "glue", "glue.endpoint": url, "glue.region": REGION, "glue.access-key-id": KEY, "glue.secret-access-key": SECRET,
        "s3.endpoint": url, "s3.region": REGION, "s3.access-key-id": KEY, "s3.secret-access-key": SECRET,
    })


def arrow_table(result):
    """A DuckDB result as a pyarrow table, read before the connection runs anything else (newer
    releases answer `.arrow()` with a reader over the live result)."""
    out = result.arrow()
    return out if hasattr(out, "num_rows") else out.read_all()


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="scale factor 0.1, two runs")
    ap.add_argument("--scale", type=float, default=None)
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--tpchgen", default="", help="tpchgen-cli (the benchmark virtualenv's)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "iceberg.md"))
    args = ap.parse_args()
    scale = args.scale or (0.1 if args.quick else 1)
    runs = args.runs or (2 if args.quick else 3)
    queries = {p.stem: p.read_text() for p in sorted(QUERIES.glob("q*.sql"), key=lambda p: int(p.stem[1:]))}
    data = Path.home() / ".cache" / "minerva" / "bench-data" / f"tpch-sf{scale}"
    generate(data, scale, ["parquet"], args.tpchgen)
    work = Path(tempfile.mkdtemp(prefix="minerva-bench-iceberg-"))
    port = free_port()
    log = open(work / "server.log", "wb")
    server = start_server(args.binary, work / "data", port, log)
    cfg = Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=16, read_timeout=3600)
    client = lambda s: boto3.client(s, endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION, config=cfg)
    s3, athena, glue = client("s3"), client("athena"), client("glue")
    sql = lambda q, db="tpch_hive": athena_run(athena, q, db)
    out = {}
    try:
        # ---- the tables: Hive Parquet, and Iceberg copies made by CTAS
        s3.create_bucket(Bucket="tpch")
        sql("CREATE DATABASE tpch_hive", "default")
        sql("CREATE DATABASE tpch_ice", "default")
        for t in TABLES:
            path = data / "parquet" / f"{t}.parquet"
            s3.upload_file(str(path), "tpch", f"parquet/{t}/{path.name}", Config=TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20))
            columns = ", ".join(f"{f.name} {hive_type(f.type)}" for f in pq.read_schema(path))
            sql(f"CREATE EXTERNAL TABLE tpch_hive.{t} ({columns}) STORED AS PARQUET LOCATION 's3://tpch/parquet/{t}/'")
        ctas = {}
        reset_peak(server.pid)
        for t in TABLES:
            ctas[t], _ = sql(f"CREATE TABLE tpch_ice.{t} WITH (table_type='ICEBERG', is_external=false, location='s3://tpch/iceberg/{t}/') "
                             f"AS SELECT * FROM tpch_hive.{t}")
        out["ctas_rss"] = peak_mib(server.pid)
        out["ctas"] = ctas
        metadata = {t: glue.get_table(DatabaseName="tpch_ice", Name=t)["Table"]["Parameters"]["metadata_location"] for t in TABLES}

        # ---- 1. TPC-H read
        read = {"hive": {}, "ice": {}}
        reset_peak(server.pid)
        for name, q in queries.items():
            for kind, db in (("hive", "tpch_hive"), ("ice", "tpch_ice")):
                times, rows = [], None
                for _ in range(runs):
                    t, rows = sql(q, db)
                    times.append(t)
                read[kind][name] = {"times": times, "rows": rows}
        out["read_rss"] = peak_mib(server.pid)
        duck = duckdb_connection(port)
        peer = {"parquet": {}, "iceberg": {}}
        for kind in peer:
            for t in TABLES:
                reader = f"read_parquet('s3://tpch/parquet/{t}/*.parquet')" if kind == "parquet" else f"iceberg_scan('{metadata[t]}')"
                duck.execute(f"CREATE OR REPLACE VIEW {t} AS SELECT * FROM {reader}")
            for name, q in queries.items():
                times, rows = [], None
                for _ in range(runs):
                    t, rows = timed(lambda: [list(map(str, r)) for r in duck.execute(q).fetchall()])
                    times.append(t)
                peer[kind][name] = {"times": times, "rows": rows}
        out["read"], out["read_peer"] = read, peer

        # ---- 2. MERGE of 1% of lineitem
        sql("CREATE TABLE tpch_hive.merge_src WITH (format='PARQUET', external_location='s3://tpch/merge_src/') AS "
            "SELECT l_orderkey, l_linenumber, l_quantity + 1 AS l_quantity FROM tpch_hive.lineitem WHERE l_orderkey % 100 = 1")
        _, [[source_rows]] = sql("SELECT count(*) FROM tpch_hive.merge_src")
        _, [[before]] = sql("SELECT sum(l_quantity) FROM tpch_hive.lineitem")
        merges, merge_rss, merge_base, merge_files = [], [], [], None
        for i in range(runs):
            sql(f"CREATE TABLE tpch_ice.lm{i} WITH (table_type='ICEBERG', is_external=false, location='s3://tpch/iceberg/lm{i}/') "
                "AS SELECT * FROM tpch_hive.lineitem")
            merge_base.append(reset_peak(server.pid))
            t, _ = sql(f"MERGE INTO tpch_ice.lm{i} t USING tpch_hive.merge_src s ON t.l_orderkey = s.l_orderkey AND t.l_linenumber = s.l_linenumber "
                       "WHEN MATCHED THEN UPDATE SET l_quantity = s.l_quantity")
            merge_rss.append(peak_mib(server.pid))
            merges.append(t)
            _, [[after, count]] = sql(f"SELECT sum(l_quantity), count(*) FROM tpch_ice.lm{i}")
            assert float(after) == float(before) + int(source_rows), (after, before, source_rows)
            _, merge_files = sql(f'SELECT content, count(*), sum(record_count) FROM tpch_ice."lm{i}$files" GROUP BY content ORDER BY content')
        # pyiceberg: the same change as it can make it, copy-on-write: the lines of those orders
        # deleted (the files holding them written again without them) and their new versions
        # appended, in one overwrite of a copy of its own.
        ice = pyiceberg_catalog(port)
        from pyiceberg.expressions import In
        local = data / "parquet" / "lineitem.parquet"
        updated = arrow_table(duck.execute(f"SELECT * REPLACE (l_quantity + 1 AS l_quantity) FROM read_parquet('{local}') WHERE l_orderkey % 100 = 1"))
        keys = sorted(set(updated.column("l_orderkey").to_pylist()))
        upserts, upsert_note = [], ""
        for i in range(runs):
            sql(f"CREATE TABLE tpch_ice.lp{i} WITH (table_type='ICEBERG', is_external=false, location='s3://tpch/iceberg/lp{i}/') "
                "AS SELECT * FROM tpch_hive.lineitem")
            table = ice.load_table(f"tpch_ice.lp{i}")
            rows = updated.cast(table.schema().as_arrow())
            try:
                t, _ = timed(lambda: table.overwrite(rows, overwrite_filter=In("l_orderkey", keys)))
                upserts.append(t)
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                upsert_note = f"pyiceberg's overwrite failed: {type(e).__name__}: {str(e)[:200]}"
                break
            _, [[after, count]] = sql(f"SELECT sum(l_quantity), count(*) FROM tpch_ice.lp{i}")
            assert float(after) == float(before) + int(source_rows), (after, before, source_rows)
        out["merge"] = {"source_rows": int(source_rows), "times": merges, "rss": merge_rss, "files": merge_files, "peer": upserts, "peer_note": upsert_note, "base": merge_base}

        # ---- 3. 100 small inserts, then OPTIMIZE
        orders = pq.read_schema(data / "parquet" / "orders.parquet")
        sql("CREATE TABLE tpch_ice.small (" + ", ".join(f"{f.name} {hive_type(f.type)}" for f in orders) + ") "
            "LOCATION 's3://tpch/iceberg/small/' TBLPROPERTIES ('table_type'='ICEBERG')")
        started = time.perf_counter()
        for i in range(100):
            sql(f"INSERT INTO tpch_ice.small SELECT * FROM tpch_hive.orders WHERE o_orderkey % 100 = {i}")
        inserts = time.perf_counter() - started
        scan = "SELECT o_orderstatus, count(*), sum(o_totalprice) FROM tpch_ice.small GROUP BY o_orderstatus ORDER BY o_orderstatus"
        _, [[files_before]] = sql("SELECT count(*) FROM tpch_ice.\"small$files\"")
        before_scan = [sql(scan)[0] for _ in range(runs)]
        small_meta = lambda: glue.get_table(DatabaseName="tpch_ice", Name="small")["Table"]["Parameters"]["metadata_location"]
        duck_scan = scan.replace("tpch_ice.small", "iceberg_scan('{}')")
        duck_before = [timed(lambda: duck.execute(duck_scan.format(small_meta())).fetchall())[0] for _ in range(runs)]
        optimize_base = reset_peak(server.pid)
        optimize, _ = sql("OPTIMIZE tpch_ice.small REWRITE DATA USING BIN_PACK")
        optimize_rss = peak_mib(server.pid)
        _, [[files_after]] = sql("SELECT count(*) FROM tpch_ice.\"small$files\"")
        after_scan = [sql(scan)[0] for _ in range(runs)]
        duck_after = [timed(lambda: duck.execute(duck_scan.format(small_meta())).fetchall())[0] for _ in range(runs)]
        mine_rows = sql(scan)[1]
        duck_rows = [list(map(str, r)) for r in duck.execute(duck_scan.format(small_meta())).fetchall()]
        assert same_answer(mine_rows, duck_rows), (mine_rows, duck_rows)
        # pyiceberg: the same 100 slices appended to a table of its own.
        local = data / "parquet" / "orders.parquet"
        slices = [arrow_table(duck.execute(f"SELECT * FROM read_parquet('{local}') WHERE o_orderkey % 100 = {i}")) for i in range(100)]
        own = ice.create_table("tpch_ice.small_py", schema=slices[0].schema, location="s3://tpch/iceberg/small_py")
        started = time.perf_counter()
        for part in slices:
            own.append(part)
        py_inserts = time.perf_counter() - started
        out["optimize"] = {"inserts": inserts, "py_inserts": py_inserts, "files_before": int(files_before), "files_after": int(files_after),
                           "optimize": optimize, "rss": optimize_rss, "base": optimize_base, "before": before_scan, "after": after_scan,
                           "duck_before": duck_before, "duck_after": duck_after, "rows": sum(len(p) for p in slices)}
        out["server_rss"] = peak_mib(server.pid)
        version = subprocess.run([args.binary, "--version"], capture_output=True, text=True).stdout.strip()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)

    import duckdb
    import pyiceberg
    fmt = lambda s: f"{s[0]:.3f} ({s[1]:.3f} – {s[2]:.3f})"
    lines = [
        "# Iceberg tables (issue 18)",
        "",
        f"- date: {datetime.date.today()}; machine: {platform.machine()}, {os.cpu_count()} cores; {version} (the `{Path(args.binary).parent.name}` build); "
        f"peers: DuckDB {duckdb.__version__} with its iceberg, avro and httpfs extensions from PyPI (over Minerva's S3), pyiceberg {pyiceberg.__version__}",
        f"- data: TPC-H scale factor {scale} from tpchgen-cli as Parquet, uploaded to Minerva's S3 and declared as Hive tables; the Iceberg "
        "tables are CTAS copies of them (zstd Parquet, unpartitioned)",
        f"- each time: median of {runs} runs (min – max), in seconds; Minerva's through the Athena API (start, poll every 5 ms, every result page)",
        f"- CTAS of the eight tables into Iceberg: {sum(out['ctas'].values()):.1f} s (lineitem {out['ctas']['lineitem']:.1f} s), server peak {out['ctas_rss']:.0f} MiB",
        "",
        "## TPC-H read: Iceberg against Hive Parquet, the same rows",
        "",
        "| query | Minerva Parquet | Minerva Iceberg | Minerva Iceberg / Parquet | DuckDB Parquet | DuckDB Iceberg | DuckDB Iceberg / Parquet | answers agree |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    read, peer = out["read"], out["read_peer"]
    cols = {k: [] for k in ("mh", "mi", "dp", "di")}
    agree = 0
    for name in queries:
        mh, mi = summary(read["hive"][name]["times"]), summary(read["ice"][name]["times"])
        dp, di = summary(peer["parquet"][name]["times"]), summary(peer["iceberg"][name]["times"])
        truth = peer["parquet"][name]["rows"]
        ok = all(same_answer(r, truth) for r in (read["hive"][name]["rows"], read["ice"][name]["rows"], peer["iceberg"][name]["rows"]))
        agree += ok
        for k, v in zip(cols, (mh, mi, dp, di)):
            cols[k].append(v[0])
        lines.append(f"| {name} | {fmt(mh)} | {fmt(mi)} | {mi[0] / mh[0]:.2f} | {fmt(dp)} | {fmt(di)} | {di[0] / dp[0]:.2f} | {'yes' if ok else 'NO'} |")
    g = {k: geomean(v) for k, v in cols.items()}
    lines += [f"| geometric mean | {g['mh']:.3f} | {g['mi']:.3f} | {g['mi'] / g['mh']:.2f} | {g['dp']:.3f} | {g['di']:.3f} | {g['di'] / g['dp']:.2f} | {agree}/{len(queries)} |", "",
              f"Minerva reads Iceberg at {g['mi'] / g['mh']:.2f}x its Parquet time (DuckDB: {g['di'] / g['dp']:.2f}x its own); over Iceberg, Minerva takes "
              f"{g['mi'] / g['di']:.2f}x DuckDB's time. Server peak over the 22 queries: {out['read_rss']:.0f} MiB. \"answers agree\": Minerva's over both "
              "table kinds and DuckDB's over Iceberg equal DuckDB's over Parquet.", ""]
    m = out["merge"]
    files = ", ".join(f"{'data' if r[0] == '0' else 'position deletes'}: {r[1]} files, {r[2]} rows" for r in (m["files"] or []))
    peer_text = fmt(summary(m["peer"])) if m["peer"] else "—"
    ratio = f"{summary(m['times'])[0] / summary(m['peer'])[0]:.2f}" if m["peer"] else "—"
    lines += ["## MERGE INTO of 1% of lineitem", "",
              f"{m['source_rows']} source rows (the lines of orders whose key is 1 modulo 100, quantity + 1) matched on (l_orderkey, l_linenumber) "
              "and updated in a fresh Iceberg copy of lineitem each run. Minerva writes them as Athena does (merge-on-read: position delete "
              f"files and new data files; the table after: {files}); pyiceberg makes the same change as it can, copy-on-write: `overwrite` with a filter on the orders' keys (the files holding their lines written again without them, the new lines appended).", "",
              "| | time (s) | Minerva / pyiceberg | server peak (MiB), and resident before |", "| --- | --- | --- | --- |",
              f"| Minerva `MERGE INTO ... WHEN MATCHED THEN UPDATE` | {fmt(summary(m['times']))} | {ratio} | {max(m['rss']):.0f} ({max(m['base']):.0f} before) |",
              f"| pyiceberg `overwrite(new lines, overwrite_filter=In(l_orderkey, keys))` | {peer_text} | | |", ""]
    if m["peer_note"]:
        lines += [m["peer_note"], ""]
    o = out["optimize"]
    lines += ["## OPTIMIZE after 100 small INSERTs", "",
              f"100 INSERTs of 1% of orders each ({o['rows']} rows in all) into an unpartitioned Iceberg table, then `OPTIMIZE ... REWRITE DATA USING BIN_PACK`; "
              f"the scan is `{scan}`.", "",
              "| step | Minerva | peer |", "| --- | --- | --- |",
              f"| 100 inserts (s) | {o['inserts']:.2f} (INSERT INTO ... SELECT through the Athena API) | {o['py_inserts']:.2f} (pyiceberg `append` of the same slices from memory) |",
              f"| data files | {o['files_before']} before, {o['files_after']} after | |",
              f"| OPTIMIZE (s) | {o['optimize']:.2f} (server peak {o['rss']:.0f} MiB, {o['base']:.0f} resident before) | pyiceberg has no compaction |",
              f"| scan before OPTIMIZE (s) | {fmt(summary(o['before']))} | DuckDB {fmt(summary(o['duck_before']))} |",
              f"| scan after OPTIMIZE (s) | {fmt(summary(o['after']))} | DuckDB {fmt(summary(o['duck_after']))} |", "",
              f"Server peak over the whole run: {out['server_rss']:.0f} MiB.", ""]
    write_section(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
