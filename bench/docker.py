"""Docker benchmark: the size of the image users get (the static `dist` binary on an empty
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
import re
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


NOOP_C = r"""
#include <string.h>
#include <unistd.h>
/* `minerva healthcheck` passes at once; anything else waits to be stopped. */
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "healthcheck") == 0) return 0;
    for (;;) pause();
}
"""


def clear_rootfs():
    for p in ROOTFS.iterdir():
        if p.name != ".keep":
            shutil.rmtree(p) if p.is_dir() else p.unlink()


def build(image, env):
    subprocess.run(["docker", "build", "-q", "-f", "docker/Dockerfile", "--target", "prebuilt", "-t", image, "."], cwd=ROOT, env=env, check=True, capture_output=True)


def container_of(project):
    """The service's container, asked of the engine (a docker-compose call takes half a second)."""
    return subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}",
                           "--filter", "label=com.docker.compose.service=minerva"], capture_output=True, text=True).stdout.strip()


def up_until_healthy(image, project, env, answers=True):
    """Seconds from `docker-compose up -d` to a healthy container, and to the first answered request."""
    port = free_port()
    run_env = dict(env, MINERVA_PORT=str(port), MINERVA_IMAGE=image)
    dc = ["docker-compose", "-f", str(COMPOSE), "-p", project]
    started = time.monotonic()
    subprocess.run(dc + ["up", "-d", "--no-build"], env=run_env, check=True, capture_output=True)
    cid, first_answer = container_of(project), None
    while True:
        if answers and first_answer is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_minerva/health", timeout=0.5):
                    first_answer = time.monotonic() - started
            except OSError:
                pass
        state = subprocess.run(["docker", "inspect", "--format", "{{.State.Health.Status}}", cid], capture_output=True, text=True).stdout.strip()
        if state == "healthy":
            healthy = time.monotonic() - started
            break
        if time.monotonic() - started > 60:
            raise SystemExit(f"{image} did not become healthy within a minute")
        time.sleep(0.01)
    subprocess.run(dc + ["down", "-v"], env=run_env, check=True, capture_output=True)
    return healthy, first_answer if first_answer is not None else healthy


def engine_cpu():
    """CPU seconds the Docker engine has used (dockerd, containerd, its shims and what they reaped)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip().startswith(("dockerd", "containerd")):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += sum(int(x) for x in fields[11:15])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def engine_cpu_while_idle(image, env, seconds=20.0):
    """Share of one core the engine spends running health probes of an idle, healthy container."""
    project = "minervabenchidle"
    run_env = dict(env, MINERVA_PORT=str(free_port()), MINERVA_IMAGE=image)
    dc = ["docker-compose", "-f", str(COMPOSE), "-p", project]
    subprocess.run(dc + ["up", "-d", "--no-build"], env=run_env, check=True, capture_output=True)
    try:
        time.sleep(3)
        before, t0 = engine_cpu(), time.monotonic()
        time.sleep(seconds)
        return (engine_cpu() - before) / (time.monotonic() - t0)
    finally:
        subprocess.run(dc + ["down", "-v"], env=run_env, check=True, capture_output=True)


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
    clear_rootfs()
    subprocess.run(["strip", "-o", str(ROOTFS / "minerva"), args.static_binary], check=True)
    ldd = subprocess.run(["ldd", str(ROOTFS / "minerva")], capture_output=True, text=True)
    if "not a dynamic executable" not in ldd.stdout + ldd.stderr and "statically linked" not in ldd.stdout + ldd.stderr:
        raise SystemExit(f"{args.static_binary} is not static:\n{ldd.stdout}")
    image = "minerva:bench"
    env = dict(os.environ, DOCKER_BUILDKIT="0", COMPOSE_DOCKER_CLI_BUILD="0", MINERVA_BUILD_TARGET="prebuilt")
    build(image, env)
    size = int(subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", image], capture_output=True, text=True, check=True).stdout.strip())
    # What a pull transfers: registries store layers gzip-compressed.
    saved = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    packed = subprocess.run(["gzip", "-c"], stdin=saved.stdout, capture_output=True, check=True).stdout
    saved.wait()
    compressed = len(packed)
    binary_size = (ROOTFS / "minerva").stat().st_size
    # The peer: the same Dockerfile and compose file over a program that does nothing and passes
    # its health check at once, so that its time is what docker-compose and the engine take.
    clear_rootfs()
    floor_image = "minerva:bench-floor"
    noop = ROOTFS.parent / "noop.c"
    noop.write_text(NOOP_C)
    try:
        subprocess.run(["gcc", "-static", "-O2", "-o", str(ROOTFS / "minerva"), str(noop)], check=True)
    finally:
        noop.unlink()
    build(floor_image, env)
    healthy, answered, floor = [], [], []
    for i in range(runs):
        h, a = up_until_healthy(image, f"minervabench{i}", env)
        healthy.append(h)
        answered.append(a)
        floor.append(up_until_healthy(floor_image, f"minervafloor{i}", env, answers=False)[0])
    probe_cpu = engine_cpu_while_idle(image, env)
    subprocess.run(["docker", "rmi", "-f", image, floor_image], capture_output=True)
    clear_rootfs()
    h, a, f = summary(healthy), summary(answered), summary(floor)
    interval = re.search(r"^\s+interval: (\S+)", COMPOSE.read_text(), re.M).group(1)
    mib = 1024 * 1024
    lines = [
        "# Docker image and start-up",
        "",
        f"- date: {datetime.date.today()}; machine: {platform.machine()}, {os.cpu_count()} cores; Docker engine "
        f"{subprocess.run(['docker', 'version', '--format', '{{.Server.Version}}'], capture_output=True, text=True).stdout.strip()}; "
        f"docker-compose {subprocess.run(['docker-compose', 'version', '--short'], capture_output=True, text=True).stdout.strip()}",
        f"- image: docker/Dockerfile over the static `dist` binary (stripped); each time: median of {runs} runs (min – max), "
        "`docker-compose up -d` of docker/docker-compose.yml (seeding the example init folder) until Docker reports the container healthy",
        f"- peer: the same Dockerfile and compose file over a static C program that does nothing and passes its health check at once "
        "(what docker-compose and the engine take for any image), measured in turn with Minerva's runs",
        "",
        "| figure | measured | goal |",
        "| --- | --- | --- |",
        f"| image size, as stored | {size / mib:.1f} MiB (binary {binary_size / mib:.1f} MiB) | under 40 MB |",
        f"| image size, compressed as a registry holds it (`docker save` \\| gzip) | {compressed / mib:.1f} MiB | |",
        f"| `compose up` to healthy | {h[0]:.2f} s ({h[1]:.2f} – {h[2]:.2f}) | under 2 s |",
        f"| `compose up` to healthy, the do-nothing peer | {f[0]:.2f} s ({f[1]:.2f} – {f[2]:.2f}); Minerva {h[0] / f[0]:.2f}x | |",
        f"| `compose up` to the first answered request | {a[0]:.2f} s ({a[1]:.2f} – {a[2]:.2f}) | |",
        f"| Docker engine CPU for the health probes of an idle container (interval {interval}) | {probe_cpu * 100:.1f}% of a core | |",
        "",
        f"Docker runs the first health check one `interval` ({interval}) after the container starts, so "
        "`healthy` cannot come sooner than that; the first answered request shows when the server itself was ready.",
        "",
    ]
    write_section(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
