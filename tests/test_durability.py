"""Nothing acknowledged is lost, nothing half-written is seen: SIGKILL in the middle of a stream
of PUTs and multipart uploads, restart, and read everything back."""

import hashlib
import os
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import BotoCoreError, ClientError


def body_for(key: str, size: int) -> bytes:
    # Deterministic bodies, so a partial or foreign body is recognisable.
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def test_sigkill_mid_stream_loses_nothing_acknowledged(own_server):
    s3 = own_server.client("s3", max_attempts=1)
    s3.create_bucket(Bucket="durable")
    acked: dict[str, bytes] = {}
    attempted: dict[str, list[bytes]] = {}
    lock = threading.Lock()
    enough = threading.Event()
    stop = threading.Event()

    def record(key, body):
        with lock:
            acked[key] = body
            if len(acked) >= 40:
                enough.set()

    def worker(n: int):
        rng = random.Random(n)
        i = 0
        while not stop.is_set():
            i += 1
            # Some keys are overwritten, so "old or new value" is exercised too.
            key = f"w{n}/k{i % 7 if rng.random() < 0.3 else i}"
            size = rng.choice([0, 1, 1000, 70_000, 600_000])
            multipart = rng.random() < 0.15
            body = body_for(f"{key}#{i}", 5 * 1024 * 1024 + 3 if multipart else size)
            with lock:
                attempted.setdefault(key, []).append(body)
            try:
                if multipart:
                    up = s3.create_multipart_upload(Bucket="durable", Key=key)["UploadId"]
                    half = 5 * 1024 * 1024
                    e1 = s3.upload_part(Bucket="durable", Key=key, UploadId=up, PartNumber=1, Body=body[:half])["ETag"]
                    e2 = s3.upload_part(Bucket="durable", Key=key, UploadId=up, PartNumber=2, Body=body[half:])["ETag"]
                    s3.complete_multipart_upload(
                        Bucket="durable", Key=key, UploadId=up,
                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
                    )
                else:
                    s3.put_object(Bucket="durable", Key=key, Body=body)
                record(key, body)
            except (BotoCoreError, ClientError, socket.error):
                return

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(worker, n) for n in range(4)]
        assert enough.wait(timeout=120), "the server acknowledged too few writes"
        own_server.kill()
        stop.set()
        for f in futures:
            f.result()

    own_server.start()
    s3 = own_server.client("s3")
    listed = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket="durable"):
        for o in page.get("Contents", []):
            listed[o["Key"]] = o["Size"]
    for key, body in acked.items():
        # The acknowledged value or one written after it (a later overwrite may have landed).
        got = s3.get_object(Bucket="durable", Key=key)["Body"].read()
        later = attempted[key][attempted[key].index(body):]
        assert got in later, f"{key}: acknowledged body lost or torn ({len(got)} bytes)"
    for key, size in listed.items():
        got = s3.get_object(Bucket="durable", Key=key)["Body"].read()
        assert len(got) == size
        assert got in attempted[key], f"{key} holds a body nobody wrote completely"
    # Interrupted multipart uploads may remain listed, but their parts are intact and abortable.
    for up in s3.list_multipart_uploads(Bucket="durable").get("Uploads", []):
        s3.abort_multipart_upload(Bucket="durable", Key=up["Key"], UploadId=up["UploadId"])
    assert os.listdir(own_server.data_dir / "tmp") == []


def test_sigterm_finishes_the_request_in_flight(own_server):
    """A PUT whose body is still arriving when SIGTERM comes completes, and the server exits 0."""
    s3 = own_server.client("s3")
    s3.create_bucket(Bucket="graceful")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "graceful", "Key": "slow"}, ExpiresIn=300)
    path = url[len(own_server.url):]
    body = b"z" * 200_000
    sock = socket.create_connection(("127.0.0.1", own_server.port), timeout=30)
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{own_server.port}\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    sock.sendall(head.encode())
    # The interim 100 proves the server is reading this request's body.
    interim = sock.recv(1024)
    assert interim.startswith(b"HTTP/1.1 100"), interim
    own_server.proc.send_signal(15)
    time.sleep(0.2)  # let the signal land while the body is still outstanding (not a sync point)
    sock.sendall(body)
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            break
        response += chunk
    sock.close()
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    assert own_server.proc.wait(timeout=30) == 0
    own_server.start()
    got = own_server.client("s3").get_object(Bucket="graceful", Key="slow")["Body"].read()
    assert got == body
