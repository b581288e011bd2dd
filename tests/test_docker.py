"""The image and the compose file users get (docker/), on this machine's Docker engine: build,
compose up until healthy, the seed, the end-to-end suite's core against the container, data that
outlives the container, compose down.

No image can be pulled here, so the image is the Dockerfile's `prebuilt` target: its root
filesystem is the binary the suite tests (and the libraries it loads). Users' builds take the
default target, which is the same stage plus a static binary from the Rust stage."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ACCESS_KEY, SECRET_KEY, ExternalServer, binary, free_port, unique, wait_query

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker" / "docker-compose.yml"
ROOTFS = ROOT / "docker" / "rootfs"


def docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = pytest.mark.skipif(not docker_answers(), reason="no Docker engine answers here (`docker info` failed): the image is not tested")


def prepare_rootfs():
    """docker/rootfs/: the binary under test, stripped, and the shared libraries it loads."""
    for p in ROOTFS.iterdir():
        if p.name != ".keep":
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    subprocess.run(["strip", "-o", str(ROOTFS / "minerva"), binary()], check=True)
    ldd = subprocess.run(["ldd", binary()], capture_output=True, text=True)
    for line in ldd.stdout.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if path.startswith("/"):
            dest = ROOTFS / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(path), dest)


class Compose:
    def __init__(self):
        self.project = unique("minervaci").replace("-", "")
        self.port = free_port()
        self.image = f"minerva:{self.project}"
        self.env = dict(
            os.environ,
            MINERVA_BUILD_TARGET="prebuilt",
            MINERVA_PORT=str(self.port),
            MINERVA_IMAGE=self.image,
            MINERVA_ACCESS_KEY=ACCESS_KEY,
            MINERVA_SECRET_KEY=SECRET_KEY,
            MINERVA_INIT_BUCKETS="seed-one,seed-two",
            # docker-compose builds through the engine's API, with no BuildKit plugin needed.
            COMPOSE_DOCKER_CLI_BUILD="0",
            DOCKER_BUILDKIT="0",
        )

    def __call__(self, *args, check=True, timeout=300) -> subprocess.CompletedProcess:
        proc = subprocess.run(["docker-compose", "-f", str(COMPOSE), "-p", self.project, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} failed: {proc.stdout}\n{proc.stderr}")
        return proc

    def container(self) -> str:
        return self("ps", "-q", "minerva").stdout.strip()

    def wait_healthy(self, timeout: float = 60.0) -> float:
        started = time.monotonic()
        cid = ""
        while time.monotonic() - started < timeout:
            # Each docker-compose call takes half a second to start: ask it once, then the engine.
            cid = cid or self.container()
            if cid:
                state = subprocess.run(["docker", "inspect", "--format", "{{.State.Health.Status}}", cid], capture_output=True, text=True).stdout.strip()
                if state == "healthy":
                    return time.monotonic() - started
                if state == "unhealthy":
                    break
            time.sleep(0.1)
        logs = self("logs", "--no-color", check=False).stdout
        raise AssertionError(f"the container did not become healthy:\n{logs}")


@pytest.fixture(scope="module")
def compose():
    prepare_rootfs()
    c = Compose()
    try:
        c("build")
        c("up", "-d")
        c.healthy_after = c.wait_healthy()
        yield c
    finally:
        c("down", "-v", check=False)
        subprocess.run(["docker", "rmi", "-f", c.image], capture_output=True)


def test_the_container_is_healthy_seeded_and_unprivileged(compose):
    print(f"compose up to healthy: {compose.healthy_after:.2f} s")
    server = ExternalServer(f"http://127.0.0.1:{compose.port}")
    s3, athena = server.client("s3"), server.client("athena")
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {"seed-one", "seed-two", "demo"} <= names
    assert s3.get_object(Bucket="demo", Key="reviews/reviews.csv")["Body"].read().startswith(b"id,product,stars\n")
    qid = athena.start_query_execution(QueryString="SELECT count(*), max(stars) FROM demo.reviews")["QueryExecutionId"]
    assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"
    rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
    assert [d["VarCharValue"] for d in rows[1]["Data"]] == ["3", "5"]
    user = subprocess.run(["docker", "inspect", "--format", "{{.Config.User}}", compose.container()], capture_output=True, text=True).stdout.strip()
    assert user == "10001:10001"


def test_the_core_suite_passes_against_the_container(compose):
    tests = ROOT / "tests"
    suite = ["test_s3_core.py", "test_glue.py", "test_athena_api.py", "test_product_reviews.py"]
    env = dict(os.environ, MINERVA_URL=f"http://127.0.0.1:{compose.port}")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *[str(tests / t) for t in suite]],
                          env=env, capture_output=True, text=True, timeout=900, cwd=tests)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def test_data_outlives_the_container(compose):
    server = ExternalServer(f"http://127.0.0.1:{compose.port}")
    s3, athena = server.client("s3"), server.client("athena")
    bucket = unique("kept")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"still here")
    qid = athena.start_query_execution(QueryString="CREATE TABLE demo.kept AS SELECT id, product FROM demo.reviews")["QueryExecutionId"]
    assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"
    # A restart, then a new container on the same volume.
    compose("restart")
    compose.wait_healthy()
    compose("down")
    compose("up", "-d")
    compose.wait_healthy()
    s3, athena = server.client("s3"), server.client("athena")
    assert s3.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read() == b"still here"
    qid = athena.start_query_execution(QueryString="SELECT count(*) FROM demo.kept")["QueryExecutionId"]
    assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"
    assert athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"][1]["Data"][0]["VarCharValue"] == "3"
    # The seed ran once: it is not applied again over what changed since.
    logs = compose("logs", "--no-color").stdout
    assert "the init folder was applied before; skipping it" in logs
