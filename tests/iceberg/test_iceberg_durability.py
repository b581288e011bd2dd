"""A crash at any point of an Iceberg commit leaves the table at its previous or its next
snapshot: inserts (and compactions) run one after another while the server is killed (SIGKILL)
in the middle of them, three times; after each restart every acknowledged insert is there whole,
no insert is there in part, and pyiceberg reads the same rows (no file a snapshot needs is
missing)."""

import threading
import time

from botocore.exceptions import BotoCoreError, ClientError
from pyiceberg.catalog import load_catalog

from conftest import ACCESS_KEY, REGION, SECRET_KEY

ROWS_PER_INSERT = 3


def catalog(server):
    return load_catalog("crashed", **{
        "type": "glue", "glue.endpoint": server.url, "glue.region": REGION, "glue.access-key-id": ACCESS_KEY,
        "glue.secret-access-key": SECRET_KEY, "s3.endpoint": server.url, "s3.region": REGION,
        "s3.access-key-id": ACCESS_KEY, "s3.secret-access-key": SECRET_KEY,
    })


def finish(athena, qid: str) -> str:
    while True:
        state = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"]
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return state
        time.sleep(0.02)  # polling the query's state, as Athena clients do


def test_sigkill_mid_commit_leaves_a_whole_table(own_server):
    s3, glue = own_server.client("s3"), own_server.client("glue")
    s3.create_bucket(Bucket="crash")
    glue.create_database(DatabaseInput={"Name": "crash"})
    context = {"QueryExecutionContext": {"Database": "crash"}, "ResultConfiguration": {"OutputLocation": "s3://crash/results/"}}
    athena = own_server.client("athena")
    qid = athena.start_query_execution(QueryString="CREATE TABLE t (batch int, n int, kind string) PARTITIONED BY (kind) "
                                                   "LOCATION 's3://crash/t' TBLPROPERTIES ('table_type'='ICEBERG')", **context)["QueryExecutionId"]
    assert finish(athena, qid) == "SUCCEEDED"
    acked: set[int] = set()
    attempted: set[int] = set()
    batch = 0
    for _round in range(3):
        athena = own_server.client("athena", max_attempts=1)
        enough = threading.Event()
        goal = len(acked) + 4

        def writer():
            nonlocal batch
            while True:
                batch += 1
                b = batch
                values = ", ".join(f"({b}, {n}, 'k{(b + n) % 3}')" for n in range(ROWS_PER_INSERT))
                sql = f"INSERT INTO t VALUES {values}" if b % 5 else "OPTIMIZE t REWRITE DATA USING BIN_PACK"
                try:
                    attempted.add(b)
                    qid = athena.start_query_execution(QueryString=sql, **context)["QueryExecutionId"]
                    if finish(athena, qid) == "SUCCEEDED" and b % 5:
                        acked.add(b)
                except (BotoCoreError, ClientError, OSError):
                    return
                if len(acked) >= goal:
                    enough.set()

        thread = threading.Thread(target=writer)
        thread.start()
        assert enough.wait(timeout=120), "too few inserts were acknowledged"
        own_server.kill()
        thread.join(timeout=60)
        own_server.start()

        athena = own_server.client("athena")
        qid = athena.start_query_execution(QueryString="SELECT batch, count(*) FROM t GROUP BY batch", **context)["QueryExecutionId"]
        assert finish(athena, qid) == "SUCCEEDED", athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"][1:]
        present = {int(r["Data"][0]["VarCharValue"]): int(r["Data"][1]["VarCharValue"]) for r in rows}
        assert acked <= set(present), f"acknowledged inserts lost: {sorted(acked - set(present))}"
        assert set(present) <= attempted and all(n == ROWS_PER_INSERT for n in present.values()), present
        # Another engine reads the same table, every file it names there.
        table = catalog(own_server).load_table("crash.t")
        seen = {}
        for r in table.scan().to_arrow().to_pylist():
            seen[r["batch"]] = seen.get(r["batch"], 0) + 1
        assert seen == present
        acked |= set(present)
