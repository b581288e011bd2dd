"""Storage benchmark: Minerva's S3 API over loopback HTTP, signed, driven by the Rust load generator
(bench/loadgen), against peers measured in the same run on the same machine:

- GET of a 1 GiB object against nginx serving a file of the same size (and the generator's ceiling);
- PUT of a 1 GiB object against `dd … conv=fdatasync` writing the same bytes to the same disk;
- 4 KiB PUT and GET ops/s at 1 and 16 connections, a 1 GiB multipart upload and ListObjectsV2
  over 100,000 keys, against moto's server and s3s-fs;
- footprint: idle RSS after start, time from exec to the first successful signed request, binary
  size, against moto and s3s-fs.

Every figure is the median of several runs with min and max. Usage:
    python bench/storage.py [--quick] --binary PATH --loadgen PATH --s3s-fs PATH [--out bench/results/storage.md]
(`bench/run.sh storage` builds and installs all of these.)
"""

import argparse
import datetime
import json
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

import boto3
from botocore.config import Config

from common import free_port, summary, write_section

ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET, REGION = "bench", "bench-secret", "us-east-1"
GIB = 1 << 30
MIB = 1 << 20




def fmt(values, digits=0, unit=""):
    m, lo, hi = summary(values)
    return f"{m:,.{digits}f}{unit} ({lo:,.{digits}f} – {hi:,.{digits}f})"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Peer:
    """One S3 server process on a free port: Minerva, moto or s3s-fs, or nginx for plain GETs."""

    def __init__(self, name: str, argv_for_port, work: Path, env=None):
        self.name = name
        self.argv_for_port = argv_for_port
        self.work = work
        self.env = env
        self.proc = None
        self.port = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Starts the server and returns the seconds from exec to its first successful signed request."""
        self.port = free_port()
        url = presigned_list_buckets(self.endpoint)
        log = open(self.work / f"{self.name}.log", "ab")
        started = time.monotonic()
        self.proc = subprocess.Popen(self.argv_for_port(self.port), stdout=log, stderr=log, env=self.env)
        while time.monotonic() - started < 60:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.work / (self.name + '.log')}")
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except OSError:
                time.sleep(0.002)
        raise RuntimeError(f"{self.name} did not answer within a minute")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def presigned_list_buckets(endpoint: str) -> str:
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION,
                      config=Config(signature_version="s3v4"))
    return s3.generate_presigned_url("list_buckets", ExpiresIn=600)


class Loadgen:
    def __init__(self, path: str):
        self.path = path

    def __call__(self, endpoint: str, *args) -> dict:
        argv = [self.path, "--endpoint", endpoint, "--access-key", KEY, "--secret-key", SECRET, *map(str, args)]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"loadgen {' '.join(map(str, args))} against {endpoint}: {proc.stderr.strip()}")
        return json.loads(proc.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="128 MiB objects, 10,000 keys, shorter runs")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--s3s-fs", dest="s3s_fs", required=True)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "storage.md"))
    args = ap.parse_args()
    runs = args.runs or (3 if args.quick else 5)
    large = 128 * MIB if args.quick else GIB
    list_keys = 10_000 if args.quick else 100_000
    seconds = 2 if args.quick else 5
    load = Loadgen(args.loadgen)
    work = Path(tempfile.mkdtemp(prefix="minerva-bench-storage-", dir=Path.home() / ".cache" / "minerva"))
    moto = str(Path(sys.executable).parent / "moto_server")
    peers = {
        "minerva": Peer("minerva", lambda p: [args.binary, "serve", "--address", f"127.0.0.1:{p}", "--data-dir", str(work / "minerva"),
                                             "--access-key", KEY, "--secret-key", SECRET], work,
                        env=dict(os.environ, MINERVA_LOG="warn")),
        "moto": Peer("moto", lambda p: [moto, "-H", "127.0.0.1", "-p", str(p)], work),
        "s3s-fs": Peer("s3s-fs", lambda p: [args.s3s_fs, "--host", "127.0.0.1", "--port", str(p), "--access-key", KEY,
                                           "--secret-key", SECRET, str(work / "s3s-fs")], work,
                       env=dict(os.environ, RUST_LOG="warn")),
    }
    (work / "s3s-fs").mkdir()
    size_label = f"{large // MIB} MiB" if large < GIB else f"{large // GIB} GiB"
    results = {}
    try:
        # Footprint first, on fresh processes: start-up to the first signed request, then idle RSS.
        startup, idle = {n: [] for n in peers}, {n: [] for n in peers}
        for i in range(runs):
            for name, peer in peers.items():
                if name == "minerva":
                    shutil.rmtree(work / "minerva", ignore_errors=True)
                startup[name].append(peer.start())
                time.sleep(1.0)  # idle: a second after the first request, nothing in flight
                idle[name].append(rss_kib(peer.proc.pid) / 1024)
                peer.stop()
        results["startup"], results["idle"] = startup, idle

        for peer in peers.values():
            peer.start()
            load(peer.endpoint, "make-bucket", "bench")

        # Large objects: Minerva against nginx (GET) and dd (PUT); s3s-fs for reference.
        www = work / "www" / "bench"
        www.mkdir(parents=True)
        with open(www / "large", "wb") as f:
            block = os.urandom(MIB)
            for _ in range(large // MIB):
                f.write(block)
        nginx = start_nginx(work)
        try:
            big = {"nginx GET": [], "minerva GET": [], "s3s-fs GET": [], "minerva PUT": [], "dd": [], "s3s-fs PUT": []}
            for i in range(runs):
                for name in ("minerva", "s3s-fs"):
                    big[f"{name} PUT"].append(load(peers[name].endpoint, "put", "bench", "large", "--size", large)["mib_per_s"])
                big["dd"].append(dd_mib_per_s(work / "dd.bin", large))
                big["nginx GET"].append(load(f"http://127.0.0.1:{nginx[1]}", "get", "bench", "large")["mib_per_s"])
                for name in ("minerva", "s3s-fs"):
                    big[f"{name} GET"].append(load(peers[name].endpoint, "get", "bench", "large")["mib_per_s"])
            results["large"] = big

            # Small objects: 4 KiB, 1 and 16 connections; nginx GETs show the generator's ceiling.
            (www / "small").mkdir()
            for n in range(1000):
                (www / "small" / f"{n:08}").write_bytes(os.urandom(4096))
            small = {}
            for name, peer in peers.items():
                load(peer.endpoint, "fill", "bench", "--prefix", "small/", "--count", 1000, "--size", 4096)
            for conc in (1, 16):
                for op in ("put", "get"):
                    for name, peer in [*peers.items(), ("nginx", None)]:
                        if name == "nginx" and op == "put":
                            continue
                        endpoint = peer.endpoint if peer else f"http://127.0.0.1:{nginx[1]}"
                        small[(op, conc, name)] = [
                            load(endpoint, "small", "bench", "--op", op, "--concurrency", conc, "--seconds", seconds, "--keys", 1000)["ops_per_s"]
                            for _ in range(runs)
                        ]
            results["small"] = small
        finally:
            nginx[0].send_signal(signal.SIGQUIT)
            nginx[0].wait(timeout=30)

        multipart = {name: [] for name in peers}
        for i in range(runs):
            for name, peer in peers.items():
                multipart[name].append(load(peer.endpoint, "multipart", "bench", f"mpu{i}", "--size", large, "--part-size", 64 * MIB if large >= GIB else 16 * MIB,
                                            "--concurrency", 4)["mib_per_s"])
        results["multipart"] = multipart

        listing, fill_rate = {name: [] for name in peers}, {}
        for name, peer in peers.items():
            fill_rate[name] = load(peer.endpoint, "fill", "bench", "--prefix", "many/", "--count", list_keys, "--size", 0, "--concurrency", 16)["ops_per_s"]
            for _ in range(runs):
                r = load(peer.endpoint, "list", "bench", "--prefix", "many/")
                assert r["keys"] == list_keys, f"{name} listed {r['keys']} keys, not {list_keys}"
                listing[name].append(r["seconds"])
                if r["seconds"] > 60:
                    break  # s3s-fs reads the whole folder for every page: one run says enough
        results["list"], results["fill"] = listing, fill_rate
    finally:
        for peer in peers.values():
            peer.stop()
        shutil.rmtree(work, ignore_errors=True)

    write_report(args, results, runs, size_label, list_keys, seconds)
    return 0


def start_nginx(work: Path):
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
error_log {work}/nginx-error.log;
pid {work}/nginx.pid;
user root;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    keepalive_requests 1000000;
    server {{ listen 127.0.0.1:{port}; root {work}/www; }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/large", timeout=1) as r:
                r.read(1)
                return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start")


def dd_mib_per_s(path: Path, size: int) -> float:
    started = time.monotonic()
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={size // MIB}", "conv=fdatasync"], check=True, capture_output=True)
    elapsed = time.monotonic() - started
    path.unlink()
    return size / MIB / elapsed


def versions(binary: str, s3s_fs: str) -> str:
    import moto
    mine = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip().replace("nginx version: ", "")
    return f"{mine} (release); moto {moto.__version__} (`moto_server`); s3s-fs 0.14.1 (release); {nginx}"


def write_report(args, r, runs, size_label, list_keys, seconds):
    med = lambda v: statistics.median(v)
    big, small = r["large"], r["small"]
    lines = [
        "# Storage over the S3 API",
        "",
        f"- date: {datetime.date.today()}; machine: {platform.machine()}, {os.cpu_count()} cores, one disk; {versions(args.binary, args.s3s_fs)}",
        f"- load: `bench/loadgen` (Rust, hyper, SigV4 with UNSIGNED-PAYLOAD, one keep-alive connection per worker, one runtime thread), "
        f"loopback HTTP; each figure: median of {runs} runs (min – max)",
        "",
        f"## Large objects ({size_label})",
        "",
        "| figure | MiB/s | ratio |",
        "| --- | --- | --- |",
        f"| GET, nginx serving the same size from a file | {fmt(big['nginx GET'])} | |",
        f"| GET, Minerva | {fmt(big['minerva GET'])} | {med(big['minerva GET']) / med(big['nginx GET']):.2f} of nginx (target ≥ 0.70) |",
        f"| GET, s3s-fs | {fmt(big['s3s-fs GET'])} | {med(big['s3s-fs GET']) / med(big['nginx GET']):.2f} of nginx |",
        f"| write, `dd if=/dev/zero bs=1M conv=fdatasync` | {fmt(big['dd'])} | |",
        f"| PUT, Minerva (durable: fsync of file and directory before the answer) | {fmt(big['minerva PUT'])} | {med(big['minerva PUT']) / med(big['dd']):.2f} of dd (target ≥ 0.80) |",
        f"| PUT, s3s-fs (no fsync) | {fmt(big['s3s-fs PUT'])} | {med(big['s3s-fs PUT']) / med(big['dd']):.2f} of dd |",
        f"| multipart upload, Minerva (4 parts at a time) | {fmt(r['multipart']['minerva'])} | |",
        f"| multipart upload, moto | {fmt(r['multipart']['moto'])} | Minerva {med(r['multipart']['minerva']) / med(r['multipart']['moto']):.1f}x |",
        f"| multipart upload, s3s-fs | {fmt(r['multipart']['s3s-fs'])} | Minerva {med(r['multipart']['minerva']) / med(r['multipart']['s3s-fs']):.1f}x |",
        "",
        f"## Small objects (4 KiB), ops/s over {seconds} s",
        "",
        "| operation | connections | Minerva | moto | s3s-fs | Minerva / moto | Minerva / s3s-fs | nginx (generator ceiling) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for op in ("put", "get"):
        for conc in (1, 16):
            m, mo, s = small[(op, conc, "minerva")], small[(op, conc, "moto")], small[(op, conc, "s3s-fs")]
            ceiling = fmt(small[(op, conc, "nginx")]) if (op, conc, "nginx") in small else "–"
            lines.append(f"| {op.upper()} | {conc} | {fmt(m)} | {fmt(mo)} | {fmt(s)} | {med(m) / med(mo):.1f}x (target ≥ 10x) | "
                         f"{med(m) / med(s):.2f}x | {ceiling} |")
    lines += [
        "",
        "Minerva's PUT is durable when it answers (body and index fsynced); s3s-fs writes without fsync and moto keeps objects in memory.",
        "",
        f"## ListObjectsV2 over {list_keys:,} keys (1,000 a page)",
        "",
        "| server | seconds to list all | keys/s | filling them (16 connections, PUT/s) |",
        "| --- | --- | --- | --- |",
    ]
    for name in ("minerva", "moto", "s3s-fs"):
        lines.append(f"| {name} | {fmt(r['list'][name], 3)} | {list_keys / med(r['list'][name]):,.0f} | {r['fill'][name]:,.0f} |")
    size = Path(args.binary).stat().st_size / MIB
    s3s_size = Path(args.s3s_fs).stat().st_size / MIB
    lines += [
        "",
        "## Footprint",
        "",
        "| server | start-up to the first signed request (s) | idle RSS (MiB) | binary |",
        "| --- | --- | --- | --- |",
        f"| Minerva | {fmt(r['startup']['minerva'], 3)} | {fmt(r['idle']['minerva'], 1)} | {size:.1f} MiB |",
        f"| moto (`moto_server`) | {fmt(r['startup']['moto'], 3)} | {fmt(r['idle']['moto'], 1)} | Python |",
        f"| s3s-fs | {fmt(r['startup']['s3s-fs'], 3)} | {fmt(r['idle']['s3s-fs'], 1)} | {s3s_size:.1f} MiB |",
        "",
        f"Minerva starts {med(r['startup']['moto']) / med(r['startup']['minerva']):.0f}x faster than moto and idles in "
        f"{med(r['idle']['minerva']) / med(r['idle']['moto']):.2f}x its memory (targets: start-up under 200 ms, idle RSS under 40 MB). "
        "Start-up is from exec to the first answered presigned ListBuckets, polled every 2 ms, on an empty data directory.",
        "",
    ]
    write_section(args.out, lines)


if __name__ == "__main__":
    sys.exit(main())
