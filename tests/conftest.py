"""Shared fixtures: the real `minerva` binary on a free port with a temporary data directory,
and the real AWS clients pointed at it."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import contextlib
import datetime
import importlib
from unittest import mock

import boto3
import botocore.auth
import botocore.httpchecksum
import botocore.signers
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "womens_clothing_ecommerce_reviews.csv"
ACCESS_KEY = "test-access"
SECRET_KEY = "test-secret-key"
REGION = "us-east-1"
RESULTS_BUCKET = f"aws-athena-query-results-000000000000-{REGION}"


def binary() -> str:
    path = os.environ.get("MINERVA_BIN")
    if not path:
        target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
        path = str(Path(target) / "debug" / "minerva")
    assert Path(path).exists(), f"build the binary first: {path} is missing"
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `minerva serve` process; can be stopped, killed and started again on the same data."""

    def __init__(self, data_dir: Path, log_path: Path, extra_args: tuple = ()):
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.proc = None
        self.extra_args = list(extra_args)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0):
        env = dict(os.environ, MINERVA_LOG=os.environ.get("MINERVA_LOG", "info"))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                binary(), "serve",
                "--address", f"127.0.0.1:{self.port}",
                "--data-dir", str(self.data_dir),
                "--access-key", ACCESS_KEY,
                "--secret-key", SECRET_KEY,
                "--region", REGION,
                *self.extra_args,
            ],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"minerva exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/_minerva/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)  # polling for readiness, not synchronising on a guess
        raise RuntimeError("minerva did not become ready")

    def stop(self, sig=signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)

    def client(self, service: str, secret: str = SECRET_KEY, access_key: str = ACCESS_KEY, **config):
        cfg = Config(retries={"max_attempts": config.pop("max_attempts", 3), "mode": "standard"}, **config)
        return boto3.client(
            service,
            endpoint_url=self.url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret,
            region_name=REGION,
            config=cfg,
        )

    def env(self) -> dict:
        """Environment for CLI tools and libraries that read AWS_* variables."""
        return dict(
            os.environ,
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            AWS_ENDPOINT_URL=self.url,
        )


@pytest.fixture(scope="session", autouse=True)
def isolated_aws_env():
    """No test may reach a real AWS account or read the developer's profile."""
    for k in list(os.environ):
        if k.startswith("AWS_"):
            del os.environ[k]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    yield


@pytest.fixture(scope="session")
def workdir():
    d = Path(tempfile.mkdtemp(prefix="minerva-tests-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


class ExternalServer(Server):
    """A server this suite did not start (MINERVA_URL): a container, say. It is not stopped."""

    def __init__(self, url: str):
        self._url = url.rstrip("/")
        self.port = int(self._url.rsplit(":", 1)[1])

    @property
    def url(self) -> str:
        return self._url

    def stop(self, sig=signal.SIGTERM, timeout: float = 30.0) -> int:
        return 0


@pytest.fixture(scope="session")
def server(workdir):
    """The shared server most tests talk to: the binary, or the one MINERVA_URL names."""
    external = os.environ.get("MINERVA_URL")
    s = ExternalServer(external) if external else Server(workdir / "shared-data", workdir / "shared-server.log").start()
    os.environ.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_ENDPOINT_URL=s.url,
    )
    yield s
    code = s.stop()
    assert code == 0, f"the server did not shut down cleanly on SIGTERM (exit {code})"


@pytest.fixture
def own_server(workdir, request):
    """A server of the test's own, for tests that kill or restart it."""
    name = request.node.name.replace("/", "_").replace("[", "_").replace("]", "")
    s = Server(workdir / f"{name}-data", workdir / f"{name}.log").start()
    yield s
    s.stop(signal.SIGKILL)


@pytest.fixture
def s3(server):
    return server.client("s3")


@pytest.fixture
def glue(server):
    return server.client("glue")


@pytest.fixture
def athena(server):
    return server.client("athena")


def wait_query(athena, qid: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        q = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if q["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return q
        time.sleep(0.05)  # polling the query state, as every Athena client does
    raise AssertionError(f"query {qid} did not finish")


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(4).hex()}"


def code(excinfo) -> str:
    """The error code of a ClientError caught by pytest.raises."""
    return excinfo.value.response["Error"]["Code"]


def status(excinfo) -> int:
    """The HTTP status of a ClientError caught by pytest.raises."""
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def bucket(s3):
    """A fresh bucket of the shared server."""
    name = unique("bkt")
    s3.create_bucket(Bucket=name)
    return name


@contextlib.contextmanager
def shifted_clock(delta: datetime.timedelta):
    """Makes botocore sign as if the time were now + delta: its own signers, its presigned POST
    policies and, with awscrt installed, the CRT signers."""
    real = botocore.auth.get_current_datetime

    def fake(remove_tzinfo=True):
        return real(remove_tzinfo) + delta

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(botocore.auth, "get_current_datetime", fake))
        stack.enter_context(mock.patch.object(botocore.signers, "get_current_datetime", fake))
        if botocore.httpchecksum.HAS_CRT:
            stack.enter_context(mock.patch.object(importlib.import_module("botocore.crt.auth"), "get_current_datetime", fake))
        yield
