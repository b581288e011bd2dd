"""Durability and concurrency: concurrent writers of one key, reads during overwrites, and a
loop of SIGKILLs at random points of PUT, overwrite, delete, multipart completion and
CopyObject. Nothing acknowledged is lost; nothing half-written is ever seen."""

import hashlib
import os
import random
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import BotoCoreError, ClientError

from conftest import staged_files, unique

PART = 5 * 1024 * 1024


def body_for(tag: str, size: int) -> bytes:
    seed = hashlib.sha256(tag.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def test_concurrent_writers_and_readers_of_one_key(server, s3):
    bucket = unique("hot")
    s3.create_bucket(Bucket=bucket)
    bodies = [body_for(f"writer {i}", 300_000 + i) for i in range(12)]
    s3.put_object(Bucket=bucket, Key="hot", Body=bodies[0])
    torn = []

    def write(i):
        server.client("s3").put_object(Bucket=bucket, Key="hot", Body=bodies[i])

    def read(_):
        client = server.client("s3")
        for _ in range(10):
            got = client.get_object(Bucket=bucket, Key="hot")["Body"].read()
            if got not in bodies:
                torn.append(len(got))

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(write, i) for i in range(len(bodies))] + [pool.submit(read, i) for i in range(4)]
        for f in futures:
            f.result()
    assert torn == [], "a read saw a body nobody wrote whole"
    assert s3.get_object(Bucket=bucket, Key="hot")["Body"].read() in bodies
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert len(versions) == 1 and versions[0]["Size"] in [len(b) for b in bodies]


def test_reads_during_overwrites_return_one_whole_version(server, s3):
    """Readers loop over GETs of one key while writers overwrite it with 8 MiB bodies. Every
    read must be one body that some writer sent whole; the test also proves that the reads
    really overlapped the writes (a read interval that crosses a write's), and that readers
    saw the key change under them."""
    bucket = unique("overlap")
    s3.create_bucket(Bucket=bucket)
    size = 8 * 1024 * 1024
    bodies = [os.urandom(size) for _ in range(4)]
    digests = {hashlib.sha256(b).hexdigest(): i for i, b in enumerate(bodies)}
    s3.put_object(Bucket=bucket, Key="big", Body=bodies[0])
    writes, reads = [], []  # (start, end) and (start, end, body index or None)
    lock = threading.Lock()
    writers_done = threading.Event()

    def write(n):
        client = server.client("s3")
        for i in range(5):
            body = bodies[1 + (n + i) % 3]  # never the first body, so a change is visible
            started = time.monotonic()
            client.put_object(Bucket=bucket, Key="big", Body=body)
            with lock:
                writes.append((started, time.monotonic()))

    def read(_):
        client = server.client("s3")
        while not writers_done.is_set():
            started = time.monotonic()
            got = client.get_object(Bucket=bucket, Key="big")["Body"].read()
            with lock:
                reads.append((started, time.monotonic(), digests.get(hashlib.sha256(got).hexdigest())))

    with ThreadPoolExecutor(5) as pool:
        readers = [pool.submit(read, i) for i in range(3)]
        writers = [pool.submit(write, n) for n in range(2)]
        try:
            for f in writers:
                f.result()
        finally:
            writers_done.set()  # or the readers would loop for ever after a failed write
        for f in readers:
            f.result()
    assert len(writes) == 10
    torn = [r for r in reads if r[2] is None]
    assert torn == [], f"{len(torn)} of {len(reads)} reads returned a body nobody wrote whole"
    overlapping = [r for r in reads if any(r[0] < w_end and w_start < r[1] for w_start, w_end in writes)]
    assert len(overlapping) >= 5, f"only {len(overlapping)} of {len(reads)} reads overlapped a write"
    assert len({r[2] for r in reads}) >= 2, "the readers never saw the key change"
    final = s3.get_object(Bucket=bucket, Key="big")["Body"].read()
    assert hashlib.sha256(final).hexdigest() in digests
    assert staged_files(server) == []


class Worker:
    """Runs random operations on keys only it touches, so each key's history is sequential:
    its last acknowledged state, and at most one operation in flight when the server dies."""

    def __init__(self, n: int, seed: int):
        self.n = n
        self.rng = random.Random(seed)
        self.keys = [f"w{n}/k{i}" for i in range(4)]
        self.acked = {}  # key -> body (bytes) or None (absent)
        self.in_flight = {}  # key -> the state an interrupted operation would have left
        self.counter = 0
        self.done_ops = {"put": 0, "overwrite": 0, "delete": 0, "multipart": 0, "copy": 0}

    def fresh(self, size: int) -> bytes:
        self.counter += 1
        return body_for(f"{self.n}:{self.counter}:{self.rng.random()}", size)

    def run(self, s3, bucket: str, stop: threading.Event):
        while not stop.is_set():
            key = self.rng.choice(self.keys)
            op = self.rng.choice(["put", "put", "delete", "multipart", "copy"])
            try:
                if op == "put":
                    body = self.fresh(self.rng.choice([0, 100, 70_000, 900_000]))
                    kind = "overwrite" if self.acked.get(key) is not None else "put"
                    self.in_flight[key] = body
                    s3.put_object(Bucket=bucket, Key=key, Body=body)
                elif op == "delete":
                    kind = "delete"
                    self.in_flight[key] = None
                    s3.delete_object(Bucket=bucket, Key=key)
                elif op == "multipart":
                    kind = "multipart"
                    body = self.fresh(PART + self.rng.randrange(1, 50_000))
                    up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
                    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=body[:PART])["ETag"]
                    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=2, Body=body[PART:])["ETag"]
                    self.in_flight[key] = body
                    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={
                        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
                else:
                    sources = [k for k in self.keys if k != key and self.acked.get(k) is not None]
                    if not sources:
                        continue
                    kind = "copy"
                    source = self.rng.choice(sources)
                    self.in_flight[key] = self.acked[source]
                    s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source})
            except (BotoCoreError, ClientError, socket.error, OSError):
                return
            self.acked[key] = self.in_flight.pop(key)
            self.done_ops[kind] += 1

    def check(self, s3, bucket: str):
        for key in self.keys:
            allowed = [self.acked.get(key)]
            if key in self.in_flight:
                allowed.append(self.in_flight[key])
            try:
                got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError as e:
                assert e.response["Error"]["Code"] == "NoSuchKey"
                got = None
            assert any(got == a for a in allowed), (
                f"{key}: holds {None if got is None else len(got)} bytes; allowed "
                f"{[None if a is None else len(a) for a in allowed]}"
            )
            # What survived is now the known state; an interrupted operation is settled.
            self.acked[key] = got
            self.in_flight.pop(key, None)


def test_sigkill_loop_loses_no_acknowledged_write(own_server):
    bucket = "crashes"
    own_server.client("s3").create_bucket(Bucket=bucket)
    workers = [Worker(n, seed=1000 + n) for n in range(3)]
    rng = random.Random(7)
    kills = 0
    while kills < 50:
        s3 = own_server.client("s3", max_attempts=1, connect_timeout=5, read_timeout=30)
        stop = threading.Event()
        threads = [threading.Thread(target=w.run, args=(s3, bucket, stop)) for w in workers]
        for t in threads:
            t.start()
        # Let the workers get somewhere random before the kill; one round in ten runs long
        # enough for the slowest operation (a two-part multipart upload) to complete as well.
        time.sleep(rng.uniform(0.05, 0.6) if kills % 10 else rng.uniform(0.6, 1.5))
        own_server.kill()
        kills += 1
        stop.set()
        for t in threads:
            t.join(timeout=60)
        own_server.start()
        checker = own_server.client("s3")
        for w in workers:
            w.check(checker, bucket)
        assert os.listdir(own_server.data_dir / "tmp") == []
    totals = {k: sum(w.done_ops[k] for w in workers) for k in workers[0].done_ops}
    # The loop exercised every kind of write, not just one.
    assert all(v > 0 for v in totals.values()), totals
    # Interrupted multipart uploads stay listed and can be aborted; their parts are intact.
    s3 = own_server.client("s3")
    for up in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.list_parts(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
        s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
    # Every start logged what recovery found, with counts.
    log = own_server.log_path.read_text()
    recoveries = re.findall(r"recovered the data directory.*?staged_removed=(\d+).*?orphans_removed=(\d+)", log)
    assert len(recoveries) >= kills
    assert sum(int(s) + int(o) for s, o in recoveries) > 0, "fifty kills never interrupted a write?"
