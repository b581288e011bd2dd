"""Docker benchmark: the size of the image users get (the static release binary on an empty
base, docker/Dockerfile) and the time from `docker-compose up` to healthy, and to the first
answered request, median of several runs with min and max.

The image is the Dockerfile's `prebuilt` target over the static binary `bench/run.sh docker`
builds (`RUSTFLAGS=-C target-feature=+crt-static`, what the Dockerfile's Rust stage builds), since
no base image can be pulled here. Goals (issue 6): image under 40 MB, healthy under 2 s.

Usage: python bench/docker.py [--quick] [--runs N] --static-binary PATH [--out bench/results/docker.md]
"""

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from common import free_port, summary, write_section

ROOT = Path(__file__).resolve().parent.parent
ROOTFS = ROOT / "docker" / "rootfs"
COMPOSE = ROOT / "docker" / "docker-compose.yml"




def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--static-binary", required=True)
    ap.add_argument("--binary", help="unused; accepted for bench/run.sh")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "docker.md"))
    args = ap.parse_args()
    runs = args.runs or (3 if args.quick else 7)
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        print("no Docker engine answers: skipping the Docker benchmark")
        return 0
    for p in ROOTFS.iterdir():
        if p.name != ".keep":
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    subprocess.run(["strip", "-o", str(ROOTFS / "minerva"), args.static_binary], check=True)
    ldd = subprocess.run(["ldd", str(ROOTFS / "minerva")], capture_output=True, text=True)
    if "not a dynamic executable" not in ldd.stdout + ldd.stderr and "statically linked" not in ldd.stdout + ldd.stderr:
        raise SystemExit(f"{args.static_binary} is not static:\n{ldd.stdout}")
    image = "minerva:bench"
    env = dict(os.environ, DOCKER_BUILDKIT="0", COMPOSE_DOCKER_CLI_BUILD="0", MINERVA_IMAGE=image, MINERVA_BUILD_TARGET="prebuilt")
    subprocess.run(["docker", "build", "-q", "-f", "docker/Dockerfile", "--target", "prebuilt", "-t", image, "."], cwd=ROOT, env=env, check=True, capture_output=True)
    size = int(subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", image], capture_output=True, text=True, check=True).stdout.strip())
    # What a pull transfers: registries store layers gzip-compressed.
    saved = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    packed = subprocess.run(["gzip", "-c"], stdin=saved.stdout, capture_output=True, check=True).stdout
    saved.wait()
    compressed = len(packed)
    binary_size = (ROOTFS / "minerva").stat().st_size
    healthy, answered = [], []
    for i in range(runs):
        port = free_port()
        project = f"minervabench{i}"
        run_env = dict(env, MINERVA_PORT=str(port))
        dc = ["docker-compose", "-f", str(COMPOSE), "-p", project]
        started = time.monotonic()
        subprocess.run(dc + ["up", "-d", "--no-build"], env=run_env, check=True, capture_output=True)
        first_answer = None
        while True:
            if first_answer is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_minerva/health", timeout=0.5):
                        first_answer = time.monotonic() - started
                except OSError:
                    pass
            cid = subprocess.run(dc + ["ps", "-q", "minerva"], env=run_env, capture_output=True, text=True).stdout.strip()
            state = subprocess.run(["docker", "inspect", "--format", "{{.State.Health.Status}}", cid], capture_output=True, text=True).stdout.strip()
            if state == "healthy":
                healthy.append(time.monotonic() - started)
                break
            if time.monotonic() - started > 60:
                raise SystemExit("the container did not become healthy within a minute")
            time.sleep(0.02)
        answered.append(first_answer if first_answer is not None else healthy[-1])
        subprocess.run(dc + ["down", "-v"], env=run_env, check=True, capture_output=True)
    subprocess.run(["docker", "rmi", "-f", image], capture_output=True)
    for p in ROOTFS.iterdir():
        if p.name != ".keep":
            p.unlink()
    h, a = summary(healthy), summary(answered)
    mib = 1024 * 1024
    lines = [
        "# Docker image and start-up",
        "",
        f"- date: {datetime.date.today()}; machine: {platform.machine()}, {os.cpu_count()} cores; Docker engine "
        f"{subprocess.run(['docker', 'version', '--format', '{{.Server.Version}}'], capture_output=True, text=True).stdout.strip()}; "
        f"docker-compose {subprocess.run(['docker-compose', 'version', '--short'], capture_output=True, text=True).stdout.strip()}",
        f"- image: docker/Dockerfile over the static release binary (stripped); each time: median of {runs} runs (min – max), "
        "`docker-compose up -d` of docker/docker-compose.yml (seeding the example init folder) until Docker reports the container healthy",
        "",
        "| figure | measured | goal |",
        "| --- | --- | --- |",
        f"| image size, as stored | {size / mib:.1f} MiB (binary {binary_size / mib:.1f} MiB) | under 40 MB |",
        f"| image size, compressed as a registry holds it (`docker save` \\| gzip) | {compressed / mib:.1f} MiB | |",
        f"| `compose up` to healthy | {h[0]:.2f} s ({h[1]:.2f} – {h[2]:.2f}) | under 2 s |",
        f"| `compose up` to the first answered request | {a[0]:.2f} s ({a[1]:.2f} – {a[2]:.2f}) | |",
        "",
        "Docker runs the first health check one `interval` (1 s) after the container starts, so "
        "`healthy` cannot come sooner than that; the first answered request shows when the server itself was ready.",
        "",
    ]
    write_section(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
