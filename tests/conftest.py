"""Shared fixtures: the real `minerva` binary on a free port with a temporary data directory,
and the real AWS clients pointed at it."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import base64
import contextlib
import datetime
import hashlib
import hmac
import importlib
import importlib.metadata
import json
import xml.etree.ElementTree as ET
import zlib
from unittest import mock

import boto3
import botocore
import botocore.auth
import botocore.session
import botocore.httpchecksum
import botocore.signers
import pytest
import urllib3
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


def clean_env() -> dict:
    """The environment of a user who set nothing: no MINERVA_ or AWS_ variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("MINERVA_", "AWS_"))} | {"MINERVA_LOG": "info"}


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "minerva exited early"
        try:
            with urllib.request.urlopen(url + "/_minerva/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)  # polling for readiness
    raise AssertionError("not ready")


def started(command: list, url: str, cwd=None) -> subprocess.Popen:
    """`minerva serve …` as a user starts it (clean environment), once it answers its health check."""
    proc = subprocess.Popen(command, cwd=cwd, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(url, proc)
    return proc


def stopped(proc: subprocess.Popen):
    """Stops a server as SIGTERM does, which must end it cleanly."""
    proc.terminate()
    assert proc.wait(timeout=30) == 0


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
        STARTED.append(self)
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

    def diagnose(self, failed: str):
        """Appends to the log what a failure cannot show later: the server's CPU time so far, the
        queries still running, and (with gdb) every thread's stack, in `<log>.threads`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks = os.sysconf("SC_CLK_TCK")
            with open(self.log_path, "a") as log:
                log.write(f"== {failed} failed; server cpu user {int(fields[11]) / ticks:.1f} s, system {int(fields[12]) / ticks:.1f} s\n")
        # The queries still running, with their text: what a hang is waiting on.
        with contextlib.suppress(Exception):
            athena = self.client("athena", max_attempts=1)
            ids = athena.list_query_executions(MaxResults=50)["QueryExecutionIds"]
            found = athena.batch_get_query_execution(QueryExecutionIds=ids)["QueryExecutions"] if ids else []
            with open(self.log_path, "a") as log:
                for q in found:
                    if q["Status"]["State"] in ("QUEUED", "RUNNING"):
                        text = " ".join(q["Query"].split())[:600]
                        log.write(f"== still {q['Status']['State']}: {q['QueryExecutionId']} since {q['Status']['SubmissionDateTime']}: {text}\n")
        gdb = shutil.which("gdb")
        if gdb:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                stacks = subprocess.run([gdb, "-p", str(self.proc.pid), "-batch", "-ex", "thread apply all bt 30"],
                                        capture_output=True, text=True, timeout=120).stdout
                Path(f"{self.log_path}.threads").write_text(f"== {failed}\n{stacks}")

    def client(self, service: str, secret: str = SECRET_KEY, access_key: str = ACCESS_KEY, region_name: str = REGION, **config):
        cfg = Config(retries={"max_attempts": config.pop("max_attempts", 3), "mode": "standard"}, **config)
        return boto3.client(
            service,
            endpoint_url=self.url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret,
            region_name=region_name,
            config=cfg,
        )

    def athena_over_json(self, directory: Path, **config):
        """An Athena client of the installed botocore that speaks AWS JSON 1.1 whatever its model
        says: the same model with the JSON protocol's metadata (`X-Amz-Target: AmazonAthena.<Op>`,
        `POST /`) and no HTTP bindings. What botocore up to 1.44.8 sent, from today's client."""
        loader = botocore.session.get_session().get_component("data_loader")
        model = loader.load_service_model("athena", "service-2")
        model["metadata"].update(protocol="json", protocols=["json"], jsonVersion="1.1", targetPrefix="AmazonAthena")
        for operation in model["operations"].values():
            operation["http"] = {"method": "POST", "requestUri": "/"}
        for shape in model["shapes"].values():
            for member in shape.get("members", {}).values():
                member.pop("location", None)
                member.pop("locationName", None)
        folder = directory / "athena" / model["metadata"]["apiVersion"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "service-2.json").write_text(json.dumps(model))
        session = botocore.session.get_session()
        session.get_component("data_loader").search_paths.insert(0, str(directory))
        cfg = Config(retries={"max_attempts": config.pop("max_attempts", 3), "mode": "standard"}, **config)
        return boto3.Session(botocore_session=session).client(
            "athena", endpoint_url=self.url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION, config=cfg)

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


def pytest_configure(config):
    config.addinivalue_line("markers", "core: the S3, Glue and Athena core, run with every client set of tests/clients/ too")


def pytest_report_header(config):
    """Which clients this run drives, and which protocol its botocore speaks to Athena."""
    versions = []
    for dist in ("boto3", "botocore", "awscli", "awswrangler", "PyAthena", "pandas", "pyarrow", "dbt-core", "dbt-athena"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
    return [f"clients: {', '.join(versions)}; Athena over {athena_protocol()}"]


def athena_protocol() -> str:
    """The wire protocol the installed botocore speaks to Athena: "json" (AWS JSON 1.1, up to
    botocore 1.44.8) or "rest-json" (since)."""
    return botocore.session.get_session().get_service_model("athena").protocol


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


# Tests that failed in this run, and the servers started, so that a failure leaves what is
# needed to understand it: the servers' logs (their directory is kept and their tails are printed
# at the end of the run) and, taken at the moment of the failure, each live server's CPU time and
# its threads' stacks (with gdb, where it is installed).
FAILED: list[str] = []
STARTED: list["Server"] = []
KEPT: list[Path] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.failed:
        FAILED.append(report.nodeid)
        for s in STARTED:
            s.diagnose(report.nodeid)


def pytest_terminal_summary(terminalreporter):
    for d in KEPT:
        terminalreporter.section(f"server logs of the failed run, kept in {d}")
        for log in sorted(d.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()
            terminalreporter.write_line(f"--- {log.name}: last {min(80, len(lines))} of {len(lines)} lines")
            for line in lines[-80:]:
                terminalreporter.write_line(line[:400])
        for stacks in sorted(d.glob("*.threads")):
            terminalreporter.write_line(f"--- the threads' stacks at the failure: {stacks}")


@pytest.fixture(scope="session")
def workdir():
    d = Path(tempfile.mkdtemp(prefix="minerva-tests-"))
    yield d
    if FAILED:
        KEPT.append(d)
    else:
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


_RAW_HTTP = urllib3.PoolManager(retries=False, timeout=60)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_chunked_request(server, method: str, path: str, body: bytes, *, query: str = "", chunk: int = 64 * 1024,
                           trailer: bool = False, tamper: str | None = None, at: int = 0) -> urllib3.BaseHTTPResponse:
    """Sends `body` as the Java, Go and .NET SDKs do: `aws-chunked` with a seed signature over the
    headers and a signature per chunk chained from it (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), and,
    with `trailer`, a trailing `x-amz-checksum-crc32` signed after the last chunk (…-TRAILER).
    Built here from the SigV4 streaming specification, independently of any client library.

    `tamper` spoils one thing after signing: "signature" (chunk `at`'s signature), "data" (a
    byte of chunk `at`), "trailer-signature", "trailer-value" (a wrong CRC32, signed), or
    "truncate" (the stream stops after chunk `at`, without its final chunk)."""
    amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    scope = f"{day}/{REGION}/s3/aws4_request"
    key = _hmac(("AWS4" + SECRET_KEY).encode(), day)
    for part in (REGION, "s3", "aws4_request"):
        key = _hmac(key, part)

    def sign(text: str) -> str:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    crc = zlib.crc32(body) ^ (1 if tamper == "trailer-value" else 0)
    trailer_line = "x-amz-checksum-crc32:" + base64.b64encode(crc.to_bytes(4, "big")).decode()
    pieces = [body[i:i + chunk] for i in range(0, len(body), chunk)] + [b""]
    sent = pieces[:at + 1] if tamper == "truncate" else pieces
    # `<hex size>;chunk-signature=<64 hex>\r\n<data>\r\n`; the final chunk has no data line
    # and is followed by the trailer lines, or by an empty line.
    length = sum(len(f"{len(p):x};chunk-signature=") + 64 + 2 + len(p) + (2 if p else 0) for p in sent)
    if tamper != "truncate":
        length += len(f"{trailer_line}\r\nx-amz-trailer-signature:") + 64 + 4 if trailer else 2
    headers = {
        "host": urllib.parse.urlsplit(server.url).netloc,
        "x-amz-date": amz_date,
        "x-amz-content-sha256": mode,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(body)),
        "content-length": str(length),
    }
    if trailer:
        headers["x-amz-trailer"] = "x-amz-checksum-crc32"
    pairs = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
    canonical_query = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}" for k, v in pairs)
    names = sorted(headers)
    canonical = "\n".join([method, path, canonical_query, "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names), mode])
    previous = sign("\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]))
    authorization = f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={';'.join(names)}, Signature={previous}"
    out = bytearray()
    for i, p in enumerate(pieces):
        previous = sign("\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY_SHA256, hashlib.sha256(p).hexdigest()]))
        signature = "f" * 64 if (tamper == "signature" and i == at) else previous
        data = bytes([p[0] ^ 1]) + p[1:] if (tamper == "data" and i == at) else p
        out += f"{len(p):x};chunk-signature={signature}\r\n".encode() + data + (b"\r\n" if p else b"")
        if tamper == "truncate" and i == at:
            break
    else:
        if trailer:
            trailer_signature = sign("\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous,
                                                hashlib.sha256((trailer_line + "\n").encode()).hexdigest()]))
            if tamper == "trailer-signature":
                trailer_signature = "f" * 64
            out += f"{trailer_line}\r\nx-amz-trailer-signature:{trailer_signature}\r\n\r\n".encode()
        else:
            out += b"\r\n"
    assert len(out) == int(headers["content-length"])
    url = f"{server.url}{path}" + (f"?{query}" if query else "")
    sent_headers = {k: v for k, v in headers.items() if k != "host"}
    sent_headers["Authorization"] = authorization
    return _RAW_HTTP.request(method, url, body=bytes(out), headers=sent_headers)


def error_code(response) -> str | None:
    """The S3 error code of a raw (urllib3) response, None when it has no body."""
    if not response.data:
        return None
    return ET.fromstring(response.data).findtext("Code")


def staged_files(server) -> list:
    """Bodies being received: a server at rest has none."""
    return os.listdir(Path(server.data_dir) / "tmp")
